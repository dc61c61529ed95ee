"""Cargo builders: each paints its commodity inside the region only, differently per seed, with sane physics."""

from __future__ import annotations

import numpy as np
import pytest

from quayscan.datasets.cargo import BUILDERS, build_cargo
from quayscan.datasets.physics import MATERIAL_INDEX, transmission
from quayscan.datasets.scene import Box, Canvas

PITCH = 20.0  # mm: coarse, so the tests stay fast
REGION = Box(500.0, 300.0, 6500.0, 2700.0)  # a 6 m x 2.4 m hold
WIDTH_CM = 235.2
LOADED = sorted(k for k in BUILDERS if k != "empty")
TOL = 2.0  # mm


def paint(commodity: str, seed: int, region: Box = REGION) -> tuple[Canvas, list[Box]]:
    c = Canvas(int(7000 / PITCH), int(3000 / PITCH), (PITCH, PITCH), 3000.0)
    boxes = build_cargo(commodity, c, np.random.default_rng(seed), region, WIDTH_CM)
    return c, boxes


def outside(c: Canvas, region: Box) -> np.ndarray:
    """Pixels that do not touch the region (grown by the tolerance)."""
    x0, y0, x1, y1 = c.to_pixels(Box(region.x0 - TOL, region.y0 - TOL, region.x1 + TOL, region.y1 + TOL))
    mask = np.ones((c.height, c.width), bool)
    mask[y0:y1, x0:x1] = False
    return mask


def attenuation(c: Canvas) -> np.ndarray:
    """-ln of the 6 MeV transmission."""
    return -np.log(transmission(c.maps, (6.0,))[0])


def test_empty_paints_nothing() -> None:
    c, boxes = paint("empty", 0)
    assert boxes == []
    assert not c.maps.any()


def test_unknown_commodity_is_named() -> None:
    with pytest.raises(ValueError, match="'gold'"):
        paint("gold", 0)


@pytest.mark.parametrize("commodity", LOADED)
def test_paints_inside_region_only(commodity: str) -> None:
    for seed in range(3):
        c, boxes = paint(commodity, seed)
        assert c.maps.any(), f"{commodity} seed {seed} painted nothing"
        assert boxes, f"{commodity} seed {seed} placed no items"
        assert not c.maps[:, outside(c, REGION)].any(), f"{commodity} seed {seed} painted outside its region"
        assert c.maps.min() >= 0.0
        painted = {i for i in range(len(c.maps)) if c.maps[i].any()}
        assert painted <= c.used, f"{commodity}: rendering would skip materials {painted - c.used}"
        for b in boxes:
            assert isinstance(b, Box) and b.w > 0 and b.h > 0
            assert REGION.x0 - TOL <= b.x0 and b.x1 <= REGION.x1 + TOL, (commodity, b)
            assert REGION.y0 - TOL <= b.y0 and b.y1 <= REGION.y1 + TOL, (commodity, b)


@pytest.mark.parametrize("commodity", LOADED)
def test_seeds_differ(commodity: str) -> None:
    a, _ = paint(commodity, 1)
    b, _ = paint(commodity, 2)
    assert np.abs(a.maps - b.maps).sum() > 0.05 * a.maps.sum()


@pytest.mark.parametrize("commodity", LOADED)
def test_small_and_low_regions_stay_inside(commodity: str) -> None:
    """Regions left beside other goods or under a false roof: short or low, never painted outside."""
    for region in (Box(800.0, 300.0, 3800.0, 2700.0), Box(500.0, 300.0, 2100.0, 2700.0), Box(500.0, 300.0, 6500.0, 1900.0)):
        c, boxes = paint(commodity, 3, region)
        assert not c.maps[:, outside(c, region)].any(), (commodity, region)
        assert all(region.x0 - TOL <= b.x0 and b.x1 <= region.x1 + TOL and b.y1 <= region.y1 + TOL for b in boxes)
        if commodity != "vehicles" or region.w >= 2800:
            assert c.maps.any() and boxes, (commodity, region)


def test_garments_are_lighter_than_wood_pulp() -> None:
    for seed in range(3):
        atts = {}
        for commodity in ("garments", "wood_pulp"):
            c, _ = paint(commodity, seed)
            loaded = c.maps.sum(axis=0) > 0
            atts[commodity] = attenuation(c)[loaded].mean()
        assert atts["garments"] < 0.5 * atts["wood_pulp"], atts


def test_steel_coils_have_the_most_thick_steel() -> None:
    """Pixels behind more than ~3 cm of steel (250 g/cm^2): coils have far more than any other load."""
    iron = MATERIAL_INDEX["iron"]
    for seed in range(3):
        thick = {k: int((paint(k, seed)[0].maps[iron] > 250).sum()) for k in LOADED}
        assert max(thick, key=thick.get) == "steel_coils", thick


@pytest.mark.parametrize("commodity", ["steel_coils", "wood_pulp", "beverages"])
def test_heavy_loads_respect_the_payload(commodity: str) -> None:
    """A 40 ft box carries ~26.5 t: weight, not volume, limits these loads."""
    for seed in range(3):
        c, _ = paint(commodity, seed, Box(300.0, 300.0, 6900.0, 2700.0))
        kg = c.maps.sum() * (PITCH / 10) ** 2 / 1000
        assert 1000 < kg < 30000, (commodity, seed, kg)


@pytest.mark.parametrize(
    ("commodity", "materials"),
    [
        ("tires", {"polyethylene", "iron"}),  # rubber and steel belts / beads
        ("beverages", {"water"}),
        ("electronics", {"cellulose", "iron"}),
        ("vehicles", {"iron", "glass", "polyethylene", "lead"}),  # body, windows, tyres, battery
        ("plastic_pellets", {"polyethylene"}),
        ("furniture", set()),
    ],
)
def test_materials(commodity: str, materials: set[str]) -> None:
    c, _ = paint(commodity, 0)
    present = {m for m, i in MATERIAL_INDEX.items() if c.maps[i].any()}
    assert materials <= present, present


def test_low_density_loads() -> None:
    """Garments and pellets: organic or plastic, no steel; furniture: frames around much air."""
    iron = MATERIAL_INDEX["iron"]
    for seed in range(3):
        for commodity in ("garments", "plastic_pellets", "furniture"):
            c, _ = paint(commodity, seed)
            total = c.maps.sum(axis=0)
            loaded = total > 0.5
            limit = 30 if commodity == "furniture" else 150  # g/cm^2, mean over what the load covers
            assert total[loaded].mean() < limit, (commodity, seed, total[loaded].mean())
            if commodity != "furniture":
                assert not c.maps[iron].any(), (commodity, seed)
