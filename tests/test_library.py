"""The commodity library's HS lookup, and ISO 6346 container ids."""

import numpy as np
import pytest

from quayscan.datasets.commodities import class_names, commodity_for_hs, library
from quayscan.datasets.iso6346 import ContainerIdError, random_id, validate


def test_twelve_classes_in_design_order():
    assert class_names() == ["empty", "wood_pulp", "tires", "machinery", "garments", "grain_bags", "vehicles",
                             "beverages", "steel_coils", "electronics", "furniture", "plastic_pellets"]


@pytest.mark.parametrize(("hs", "expected"), [
    ("470321", "wood_pulp"), ("4011.10", "tires"), ("841950", "machinery"), ("847989", "machinery"),
    ("848340", "machinery"), ("8480", None), ("610910", "garments"), ("6203 42", "garments"),
    ("100630", "grain_bags"), ("110100", "grain_bags"), ("1009", None), ("870323", "vehicles"),
    ("220300", "beverages"), ("2205", None), ("720851", "steel_coils"), ("7213", None),
    ("847130", "electronics"), ("851712", "electronics"), ("852872", "electronics"), ("940161", "furniture"),
    ("940330", "furniture"), ("390110", "plastic_pellets"), ("390760", "plastic_pellets"), ("3908", None),
    ("950300", None), ("640399", None),
])
def test_hs_prefix_lookup(hs, expected):
    assert commodity_for_hs(hs) == expected


@pytest.mark.parametrize("bad", ["", "abc", "1", "12345678901", None])
def test_bad_hs_codes_are_refused(bad):
    with pytest.raises(ValueError, match="HS code"):
        commodity_for_hs(bad)


def test_every_class_has_descriptions():
    assert all(c.descriptions for c in library().values())


def test_container_ids():
    assert validate("CSQU3054383") == "CSQU3054383"
    assert validate("csqu 305438 3") == "CSQU3054383"
    with pytest.raises(ContainerIdError, match="check digit 4, expected 3"):
        validate("CSQU3054384")
    with pytest.raises(ContainerIdError, match="not ISO 6346"):
        validate("CSQ3054383")
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert validate(random_id(rng))
