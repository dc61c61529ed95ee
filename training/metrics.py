"""Quality figures of a model on labelled scans, computed from its outputs and the decision policy.

The same function serves validation during training (torch outputs) and ``quayscan evaluate`` (onnxruntime
outputs): decisions come from ``model.policy.decide``, so a manifest mismatch counts as caught only if
the decision says inspect.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quayscan.model.policy import Thresholds, decide

SIZE_BINS_MM = ((0, 250), (250, 500), (500, 1000), (1000, 100000))


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney), ties counted half."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    # average ranks of ties
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def decisions(anomaly: np.ndarray, commodity: np.ndarray, records: list[dict[str, Any]], class_names: list[str],
              thresholds: Thresholds) -> list:
    """The policy's decision for each scan, as serving makes it: a record's ``quality`` problems (from
    ``check_quality``, when the images were read) make it ``inspect`` whatever the scores."""
    out = []
    for a, c, r in zip(anomaly, commodity, records):
        d = r["declared"]
        declared_empty = d.get("commodity") == "empty" and not d.get("hs_code")
        out.append(decide(float(a), c, class_names, [] if declared_empty else [d], thresholds,
                          declared_empty=declared_empty, quality_problems=r.get("quality", ())))
    return out


def compute_metrics(anomaly: np.ndarray, commodity: np.ndarray, records: list[dict[str, Any]], class_names: list[str],
                    thresholds: Thresholds) -> dict[str, Any]:
    """Figures of merit at the given thresholds (see README, "Evaluation")."""
    n = len(records)
    truth_inspect = np.array([r["label"] == "inspect" for r in records])
    decided = decisions(anomaly, commodity, records, class_names, thresholds)
    inspected = np.array([d.decision == "inspect" for d in decided])
    clean = ~truth_inspect
    recall_by_type: dict[str, float] = {}
    count_by_type: dict[str, int] = {}
    types = sorted({a["type"] for r in records for a in r["truth"]["anomalies"]})
    for t in types:
        has = np.array([any(a["type"] == t for a in r["truth"]["anomalies"]) for r in records])
        recall_by_type[t] = float(inspected[has].mean())
        count_by_type[t] = int(has.sum())
    recall_by_size = {}
    for lo, hi in SIZE_BINS_MM:
        has = np.array([any(a["type"] == "dense_concealment" and lo <= a.get("size_mm", 0) < hi
                            for a in r["truth"]["anomalies"]) for r in records])
        if has.any():
            recall_by_size[f"dense_{lo}-{hi}mm"] = {"recall": float(inspected[has].mean()), "n": int(has.sum())}
    true_cls = np.array([class_names.index(r["truth"]["commodity"]) for r in records])
    pred_cls = commodity.argmax(axis=1)
    confusion = np.zeros((len(class_names), len(class_names)), int)
    np.add.at(confusion, (true_cls, pred_cls), 1)
    visible = np.array([any(a["type"] != "manifest_mismatch" for a in r["truth"]["anomalies"]) for r in records])
    reasons: dict[str, int] = {}
    for d in decided:
        for reason in d.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "n_scans": n,
        "n_inspect": int(truth_inspect.sum()),
        "auc": roc_auc(anomaly, visible),
        "threshold": thresholds.inspect,
        "commodity_threshold": thresholds.commodity,
        "inspect_recall": float(inspected[truth_inspect].mean()) if truth_inspect.any() else float("nan"),
        "release_rate": float((~inspected[clean]).mean()) if clean.any() else float("nan"),
        "false_alarm_rate": float(inspected[clean].mean()) if clean.any() else float("nan"),
        "recall_by_type": recall_by_type,
        "count_by_type": count_by_type,
        "recall_by_size": recall_by_size,
        "commodity_top1": float((pred_cls == true_cls).mean()),
        "confusion": confusion.tolist(),
        "class_names": list(class_names),
        "reasons": reasons,
        # 10 equal bins on [0, 1]: the reference live scores are compared with (drift, as PSI)
        "score_histogram": np.histogram(np.clip(anomaly, 0.0, 1.0), bins=10, range=(0.0, 1.0))[0].tolist(),
    }
