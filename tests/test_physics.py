"""Physics sanity: attenuation tables, spectra, Beer-Lambert, dual-energy material separation."""

import numpy as np
import pytest

from quayscan.datasets import physics
from quayscan.datasets.detector import detect
from quayscan.datasets.material import INORGANIC, METAL, ORGANIC, classify
from quayscan.datasets.physics import MATERIAL_INDEX, MATERIALS, transmission
from quayscan.datasets.profiles import load_profile


def slab(material: str, areal: float) -> np.ndarray:
    maps = np.zeros((len(MATERIALS), 1, 1), np.float32)
    maps[MATERIAL_INDEX[material]] = areal
    return maps


@pytest.mark.parametrize(("material", "mev", "nist"), [("water", 1.0, 0.07072), ("water", 6.0, 0.02770),
                                                        ("iron", 2.0, 0.04265), ("lead", 5.0, 0.04272)])
def test_mass_attenuation_matches_nist_xcom(material, mev, nist):
    mu = MATERIALS[MATERIAL_INDEX[material]].mu(np.array([mev]))[0]
    assert mu == pytest.approx(nist, rel=0.01)


def test_spectrum_weights_are_a_distribution_and_low_energy_is_softer():
    b = physics.beam((6.0, 3.0))
    assert np.allclose(b.weights.sum(axis=1), 1.0, atol=1e-5)
    mean = b.weights @ b.energies_mev
    assert mean[0] > mean[1] * 1.3


@pytest.mark.parametrize("energies", [(6.0, 3.0), (9.0, 6.0), (4.0, 2.0)])
def test_thicker_steel_transmits_less(energies):
    ts = [transmission(slab("iron", 7.87 * cm), energies)[:, 0, 0] for cm in (0, 1, 5, 10, 20, 30)]
    for thinner, thicker in zip(ts, ts[1:]):
        assert (thicker < thinner).all()
    assert ts[0] == pytest.approx([1.0, 1.0])
    # the low-energy beam is attenuated more by the same steel
    assert (ts[-1][1] < ts[-1][0]) and (ts[2][1] < ts[2][0])


def test_absent_materials_can_be_skipped():
    maps = np.zeros((len(MATERIALS), 4, 5), np.float32)
    maps[MATERIAL_INDEX["cellulose"], 1:3, 1:4] = 40.0
    full = transmission(maps, (6.0, 3.0))
    skipped = transmission(maps, (6.0, 3.0), used=[MATERIAL_INDEX["cellulose"]])
    assert np.allclose(full, skipped, atol=1e-6)


def matched_blocks(energies):
    """Organic, aluminium and iron blocks of equal high-energy attenuation, side by side."""
    target = 1.5  # -ln T at the high energy
    areal = {}
    for name in ("cellulose", "aluminium", "iron"):
        grid = np.linspace(1, 200, 2000, dtype=np.float32)
        maps = np.zeros((len(MATERIALS), 1, grid.size), np.float32)
        maps[MATERIAL_INDEX[name], 0] = grid
        lh = -np.log(transmission(maps, energies)[0, 0])
        areal[name] = float(np.interp(target, lh, grid))
    maps = np.zeros((len(MATERIALS), 60, 180), np.float32)
    for k, name in enumerate(("cellulose", "aluminium", "iron")):
        maps[MATERIAL_INDEX[name], :, 60 * k : 60 * (k + 1)] = areal[name]
    return maps


@pytest.mark.parametrize(("profile_name", "per_pixel"), [("linac-6-3", True), ("linac-9-6", True), ("mobile-4-2", False)])
def test_dual_energy_ratio_separates_organic_inorganic_metal(profile_name, per_pixel, rng):
    """Equal high-energy attenuation, different atomic number: the noisy detector images still separate."""
    profile = load_profile(profile_name)
    high, low = detect(transmission(matched_blocks(profile.energies_mev), profile.energies_mev), profile, rng)
    lh = -np.log(high[5:-5].astype(float) / profile.air_value)
    ll = -np.log(low[5:-5].astype(float) / profile.air_value)
    ratio = [float(np.mean(ll[:, 60 * k + 5 : 60 * k + 55]) / np.mean(lh[:, 60 * k + 5 : 60 * k + 55])) for k in range(3)]
    assert ratio[0] > ratio[1] > ratio[2]
    # a lower energy pair separates less (less pair production at its high energy), but still clearly
    assert ratio[0] - ratio[2] > 0.008
    if not per_pixel:
        return  # a noisy 4/2 MV mobile scanner separates regions, not single pixels
    classes = classify(high, low, profile.air_value, profile.energies_mev)
    for k, expected in enumerate((ORGANIC, INORGANIC, METAL)):
        block = classes[10:-10, 60 * k + 10 : 60 * k + 50]
        assert np.mean(block == expected) > 0.8, (k, np.bincount(block.ravel(), minlength=4))


def test_steel_equivalent_readout_inverts_iron_transmission():
    t = transmission(slab("iron", 7.87 * 12.0), (6.0,))[0, 0, 0]
    assert physics.steel_equivalent_mm(np.array([t]), 6.0)[0] == pytest.approx(120.0, abs=1.0)
