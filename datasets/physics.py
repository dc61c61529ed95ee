"""X-ray physics of a linac cargo scanner: attenuation tables, spectra, Beer-Lambert transmission.

Transmission is computed polychromatically: for each pixel the areal density of every material
(g/cm^2, summed along the beam) is turned into a transmitted signal

    T(E0) = sum_k w_k(E0) * exp(-sum_m (mu/rho)_m(E_k) * A_m)

where w_k are the energy-integrating detector's signal weights of a bremsstrahlung beam with endpoint
E0 on a shared energy grid E_k. The high/low ratio therefore comes from the physics (Compton versus pair
production versus photoelectric absorption), beam hardening included, not from a painted channel.

Mass attenuation coefficients (total, with coherent scattering, cm^2/g) are NIST XCOM values
(Hubbell & Seltzer, NISTIR 5632) for the elements; compounds follow the mixture rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

#: energies (MeV) of the element table
TABLE_MEV = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0])

#: NIST XCOM mass attenuation coefficients (cm^2/g) at TABLE_MEV
ELEMENTS: dict[str, list[float]] = {
    "H": [0.2429, 0.2112, 0.1893, 0.1729, 0.1599, 0.1405, 0.1263, 0.1129, 0.1027, 0.08769,
          0.06921, 0.05806, 0.05049, 0.04498, 0.03746, 0.03254],
    "C": [0.1227, 0.1066, 0.09549, 0.08715, 0.08058, 0.07076, 0.06361, 0.05690, 0.05179, 0.04442,
          0.03562, 0.03047, 0.02708, 0.02469, 0.02154, 0.01959],
    "N": [0.1233, 0.1070, 0.09567, 0.08728, 0.08069, 0.07083, 0.06370, 0.05697, 0.05185, 0.04451,
          0.03578, 0.03068, 0.02734, 0.02498, 0.02193, 0.02004],
    "O": [0.1237, 0.1070, 0.09566, 0.08729, 0.08070, 0.07087, 0.06372, 0.05702, 0.05191, 0.04459,
          0.03597, 0.03091, 0.02763, 0.02535, 0.02238, 0.02057],
    "Al": [0.1223, 0.1042, 0.09276, 0.08445, 0.07802, 0.06841, 0.06146, 0.05496, 0.05006, 0.04324,
           0.03541, 0.03106, 0.02836, 0.02655, 0.02437, 0.02318],
    "Si": [0.1282, 0.1089, 0.09694, 0.08824, 0.08150, 0.07147, 0.06361, 0.05690, 0.05183, 0.04480,
           0.03678, 0.03240, 0.02967, 0.02788, 0.02574, 0.02462],
    "Fe": [0.1460, 0.1099, 0.09400, 0.08414, 0.07704, 0.06699, 0.05995, 0.05350, 0.04883, 0.04265,
           0.03621, 0.03312, 0.03146, 0.03057, 0.02991, 0.02994],
    "Pb": [0.9985, 0.4031, 0.2323, 0.1614, 0.1248, 0.08870, 0.07102, 0.05876, 0.05222, 0.04606,
           0.04234, 0.04197, 0.04272, 0.04391, 0.04675, 0.04972],
}


@dataclass(frozen=True)
class Material:
    """A material of the areal-density maps: elemental mass fractions and its bulk density."""

    name: str
    fractions: dict[str, float]
    density: float  # g/cm^3, of the solid material

    def mu(self, energies_mev: np.ndarray) -> np.ndarray:
        """Mass attenuation coefficient (cm^2/g) at the given energies, log-log interpolated."""
        total = sum(self.fractions.values())
        table = sum(f / total * np.asarray(ELEMENTS[el]) for el, f in self.fractions.items())
        return np.exp(np.interp(np.log(energies_mev), np.log(TABLE_MEV), np.log(table)))


#: the materials of a scene, in map order; builders refer to them by name
MATERIALS: tuple[Material, ...] = (
    Material("iron", {"Fe": 1.0}, 7.87),
    Material("aluminium", {"Al": 1.0}, 2.70),
    Material("lead", {"Pb": 1.0}, 11.35),
    Material("water", {"H": 0.1119, "O": 0.8881}, 1.00),
    Material("cellulose", {"H": 0.0622, "C": 0.4445, "O": 0.4933}, 1.50),
    Material("polyethylene", {"H": 0.1437, "C": 0.8563}, 0.94),
    Material("glass", {"Si": 0.4674, "O": 0.5326}, 2.50),
    Material("protein", {"H": 0.07, "C": 0.53, "N": 0.16, "O": 0.24}, 1.35),
)
MATERIAL_INDEX = {m.name: i for i, m in enumerate(MATERIALS)}

#: inherent filtration of the beam (target, flattening filter, collimator), lead-equivalent g/cm^2
FILTER_PB_G_CM2 = 3.4
#: detector: ~30 mm CdWO4, approximated by its lead-equivalent areal density (g/cm^2)
DETECTOR_PB_G_CM2 = 17.0
#: number of shared energy points the transmission is evaluated at
N_ENERGIES = 8


def material_index(name: str) -> int:
    try:
        return MATERIAL_INDEX[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {sorted(MATERIAL_INDEX)}") from None


def mu_matrix(energies_mev: np.ndarray) -> np.ndarray:
    """(n_energies, n_materials) mass attenuation coefficients in cm^2/g."""
    return np.stack([m.mu(energies_mev) for m in MATERIALS], axis=1)


def spectrum_weights(endpoint_mev: float, energies_mev: np.ndarray) -> np.ndarray:
    """Detector signal weights of a filtered thick-target bremsstrahlung beam on an energy grid.

    Kramers' photon spectrum N(E) ~ (E0 - E) / E, hardened by the inherent filtration, times an
    energy-integrating detector's response E * (1 - exp(-mu * t)). Each grid point stands for the
    band between the midpoints to its neighbours (in log energy); weights sum to 1.
    """
    fine = np.geomspace(0.1, endpoint_mev, 400)[:-1]
    lead = Material("lead", {"Pb": 1.0}, 11.35)
    photons = (endpoint_mev - fine) / fine * np.exp(-lead.mu(np.clip(fine, 0.2, None)) * FILTER_PB_G_CM2)
    signal = photons * fine * (1.0 - np.exp(-lead.mu(np.clip(fine, 0.2, None)) * DETECTOR_PB_G_CM2))
    dE = np.gradient(fine)
    log_grid = np.log(energies_mev)
    edges = np.concatenate([[-np.inf], (log_grid[1:] + log_grid[:-1]) / 2, [np.inf]])
    band = np.digitize(np.log(fine), edges) - 1
    weights = np.bincount(band, weights=signal * dE, minlength=len(energies_mev))[: len(energies_mev)]
    return weights / weights.sum()


@dataclass(frozen=True)
class Beam:
    """The precomputed physics of one energy pair: grid, attenuation matrix, per-energy weights."""

    endpoints_mev: tuple[float, ...]
    energies_mev: np.ndarray  # (K,)
    mu: np.ndarray  # (K, n_materials) float32
    weights: np.ndarray  # (n_endpoints, K) float32


@lru_cache(maxsize=16)
def beam(endpoints_mev: tuple[float, ...]) -> Beam:
    """Physics for scanner endpoint energies, e.g. (6.0, 3.0); cached per energy pair."""
    if not endpoints_mev or any(e <= 0.3 or e > 10.0 for e in endpoints_mev):
        raise ValueError(f"endpoint energies must lie in (0.3, 10] MeV, got {endpoints_mev!r}")
    top = max(endpoints_mev)
    energies = np.geomspace(0.25, 0.8 * top, N_ENERGIES)
    weights = np.stack([spectrum_weights(e, energies) for e in endpoints_mev])
    return Beam(tuple(endpoints_mev), energies, mu_matrix(energies).astype(np.float32), weights.astype(np.float32))


def transmission(maps: np.ndarray, endpoints_mev: tuple[float, ...], used: list[int] | None = None) -> np.ndarray:
    """Beer-Lambert transmission of areal-density maps.

    Args:
        maps: (n_materials, H, W) areal densities in g/cm^2.
        endpoints_mev: beam endpoint energies, one output image each.
        used: indices of the materials present (others are all zero and skipped); default all.

    Returns:
        (n_endpoints, H, W) float32 transmission in (0, 1].
    """
    b = beam(tuple(float(e) for e in endpoints_mev))
    n, h, w = maps.shape
    if n != len(MATERIALS):
        raise ValueError(f"expected {len(MATERIALS)} material maps, got {n}")
    idx = list(range(n)) if used is None else sorted(used)
    if not idx:
        return np.ones((len(b.endpoints_mev), h, w), np.float32)
    flat = maps.reshape(n, h * w)[idx]
    neg_mu = -b.mu[:, idx]
    out = np.empty((len(b.endpoints_mev), h * w), np.float32)
    step = 4096  # small chunks keep the (K, step) intermediate in cache
    for s in range(0, h * w, step):
        att = neg_mu @ flat[:, s : s + step]  # (K, step) minus the optical depth per energy
        cv2.exp(att, att)  # OpenCV's vectorised exp: several times numpy's on this kind of machine
        out[:, s : s + step] = b.weights @ att
    return out.reshape(-1, h, w)


def steel_equivalent_mm(transmission_high: np.ndarray, endpoint_mev: float) -> np.ndarray:
    """Iron thickness (mm) that would transmit the same high-energy signal: a density readout."""
    b = beam((float(endpoint_mev),))
    iron = b.mu[:, MATERIAL_INDEX["iron"]]
    depth = np.linspace(0, 600, 601)  # mm of iron
    t = (b.weights[0][None, :] * np.exp(-np.outer(depth / 10 * 7.87, iron))).sum(axis=1)
    return np.interp(-np.log(np.clip(transmission_high, 1e-9, 1)), -np.log(t), depth)
