"""The decision policy fails closed and gives machine-readable reasons."""

import numpy as np
import pytest

from quayscan.datasets.commodities import class_names
from quayscan.model.policy import Thresholds, decide
from quayscan.model.quality import check_quality
from quayscan.datasets.scan import Scan

NAMES = class_names()
T = Thresholds(inspect=0.5, commodity=0.2)


def probs(cls: str, p: float = 0.9) -> np.ndarray:
    out = np.full(len(NAMES), (1 - p) / (len(NAMES) - 1))
    out[NAMES.index(cls)] = p
    return out


def test_clean_matching_scan_is_released():
    d = decide(0.1, probs("garments"), NAMES, [{"hs_code": "620342"}], T)
    assert d.decision == "release" and d.reasons == []
    assert d.commodity["predicted"] == "garments" and d.commodity["match"] is True


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"anomaly_prob": 0.7}, "anomaly_score"),
    ({"commodity_probs": probs("tires")}, "commodity_mismatch"),
    ({"declared": [{"hs_code": "950300"}]}, "commodity_not_in_library"),
    ({"declared": []}, "missing_declaration"),
    ({"anomaly_prob": None}, "model_unavailable"),
    ({"commodity_probs": None}, "model_unavailable"),
    ({"anomaly_prob": float("nan")}, "model_unavailable"),
    ({"quality_problems": ["underexposed"]}, "image_quality"),
])
def test_every_doubt_inspects_with_its_reason(kwargs, reason):
    args = {"anomaly_prob": 0.1, "commodity_probs": probs("garments"), "declared": [{"hs_code": "620342"}]}
    args.update(kwargs)
    quality = args.pop("quality_problems", ())
    d = decide(args["anomaly_prob"], args["commodity_probs"], NAMES, args["declared"], T, quality_problems=quality)
    assert d.decision == "inspect" and reason in d.reasons


def test_declared_empty_but_loaded_is_not_empty():
    d = decide(0.1, probs("machinery"), NAMES, [], T, declared_empty=True)
    assert d.decision == "inspect" and d.reasons == ["not_empty"]
    assert decide(0.1, probs("empty"), NAMES, [], T, declared_empty=True).decision == "release"


def test_several_declared_codes_share_the_probability():
    p = np.zeros(len(NAMES))
    p[NAMES.index("garments")], p[NAMES.index("electronics")] = 0.15, 0.15
    p[NAMES.index("furniture")] = 0.7
    d = decide(0.1, p, NAMES, [{"hs_code": "620342"}, {"hs_code": "847130"}], T)
    assert d.commodity["declared_probability"] == pytest.approx(0.3) and d.decision == "release"


def test_thresholds_round_trip():
    assert Thresholds.from_dict(T.to_dict()) == T


def test_quality_checks():
    good = np.full((200, 1200), 30000, np.uint16)
    assert check_quality(Scan(good, pitch_mm=(10, 10), air_value=60000)) == []
    dark = np.full((200, 1200), 3, np.uint16)
    assert "underexposed" in check_quality(Scan(dark, pitch_mm=(10, 10), air_value=60000))
    bright = np.full((200, 1200), 65000, np.uint16)
    assert "air_value_mismatch" in check_quality(Scan(bright, pitch_mm=(10, 10), air_value=30000))
    assert "implausible_length" in check_quality(Scan(good[:, :100], pitch_mm=(10, 10), air_value=60000))
