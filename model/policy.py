"""The decision policy (numpy only): model outputs + declaration -> release or inspect, with reasons.

Evaluation and serving call this same function, so a threshold means the same thing in both. It fails
closed: a missing model output, a declaration it cannot check or an image it does not trust all give
``inspect``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quayscan.datasets.commodities import EMPTY, commodity_for_hs

# machine-readable reasons
ANOMALY_SCORE = "anomaly_score"
COMMODITY_MISMATCH = "commodity_mismatch"
NOT_EMPTY = "not_empty"
NOT_IN_LIBRARY = "commodity_not_in_library"
MISSING_DECLARATION = "missing_declaration"
IMAGE_QUALITY = "image_quality"
MODEL_UNAVAILABLE = "model_unavailable"


@dataclass(frozen=True)
class Thresholds:
    """Calibrated operating point, stored in the model file.

    Attributes:
        inspect: anomaly probability at or above which a scan is inspected.
        commodity: the model's probability of the declared class below which the load is a mismatch.
        target_recall: the inspect recall the thresholds were calibrated for.
    """

    inspect: float = 0.5
    commodity: float = 0.1
    target_recall: float = 0.99

    def to_dict(self) -> dict[str, float]:
        return {"inspect": self.inspect, "commodity": self.commodity, "target_recall": self.target_recall}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Thresholds:
        return cls(float(d["inspect"]), float(d["commodity"]), float(d.get("target_recall", 0.99)))


@dataclass
class Decision:
    decision: str  # "release" | "inspect"
    reasons: list[str]
    score: float | None
    commodity: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons, "score": self.score, "commodity": self.commodity}


def declared_classes(declared: Sequence[dict[str, Any]] | None, declared_empty: bool = False) -> tuple[list[str], bool]:
    """Library classes of a declaration, and whether every HS code in it is in the library."""
    if declared_empty:
        return [EMPTY], True
    classes, all_known = [], True
    for item in declared or []:
        hs = item.get("hs_code")
        cls = commodity_for_hs(hs) if hs else None
        if cls is None:
            all_known = False
        elif cls not in classes:
            classes.append(cls)
    return classes, all_known


def decide(
    anomaly_prob: float | None,
    commodity_probs: np.ndarray | None,
    class_names: Sequence[str],
    declared: Sequence[dict[str, Any]] | None,
    thresholds: Thresholds,
    *,
    declared_empty: bool = False,
    quality_problems: Sequence[str] = (),
) -> Decision:
    """Decide one scan.

    Args:
        anomaly_prob: the model's probability that something must be inspected (None: model failed).
        commodity_probs: (C,) class probabilities (None: model failed).
        class_names: the model's class order.
        declared: declared goods, each ``{"hs_code": ..., "description": ...}``.
        thresholds: the calibrated operating point.
        declared_empty: the container is declared empty.
        quality_problems: image-quality findings (any makes the scan ``inspect``).
    """
    reasons: list[str] = []
    classes, all_known = declared_classes(declared, declared_empty)
    if not declared and not declared_empty:
        reasons.append(MISSING_DECLARATION)
    elif not all_known:
        reasons.append(NOT_IN_LIBRARY)
    if quality_problems:
        reasons.append(IMAGE_QUALITY)
    commodity: dict[str, Any] = {"declared": classes or None}
    if anomaly_prob is None or commodity_probs is None or not np.all(np.isfinite(commodity_probs)) \
            or not np.isfinite(anomaly_prob):
        reasons.append(MODEL_UNAVAILABLE)
        return Decision("inspect", reasons, None, commodity)
    top = int(np.argmax(commodity_probs))
    commodity.update(predicted=class_names[top], confidence=float(commodity_probs[top]))
    if anomaly_prob >= thresholds.inspect:
        reasons.append(ANOMALY_SCORE)
    if classes:
        p_declared = float(sum(commodity_probs[list(class_names).index(c)] for c in classes if c in class_names))
        commodity["declared_probability"] = p_declared
        commodity["match"] = p_declared >= thresholds.commodity
        if not commodity["match"]:
            reasons.append(NOT_EMPTY if classes == [EMPTY] else COMMODITY_MISMATCH)
    else:
        commodity["match"] = None
    return Decision("inspect" if reasons else "release", reasons, float(anomaly_prob), commodity)
