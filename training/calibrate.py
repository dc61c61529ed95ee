"""Threshold calibration: the operating point that reaches a target recall of "inspect" on validation data.

Two thresholds, in this order:
1. commodity: honest loads must rarely look like a mismatch; the threshold on the model's probability
   of the declared class is the ``honest_flag_rate`` quantile of that probability on clean, honestly
   declared scans.
2. inspect: with the commodity rule in place, the highest anomaly threshold at which the policy still
   inspects ``target_recall`` of the scans that must be inspected.
The release rate of clean scans at that point is what a port saves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quayscan.model.policy import Thresholds
from quayscan.model.stats import wilson
from quayscan.training.metrics import compute_metrics, decisions


def calibrate(anomaly: np.ndarray, commodity: np.ndarray, records: list[dict[str, Any]], class_names: list[str],
              target_recall: float = 0.99, honest_flag_rate: float = 0.01) -> Thresholds:
    """Choose thresholds on validation outputs (anomaly probabilities and commodity probabilities)."""
    if not 0.5 <= target_recall < 1.0:
        raise ValueError(f"target recall must be in [0.5, 1), got {target_recall!r}")
    # clean loads declared as what they are: a commodity flag there is a false alarm (on a load that hides
    # something it is a catch), so the share is independent of how many calibration scans hold anomalies
    honest = [i for i, r in enumerate(records)
              if r["declared"].get("commodity") and r["declared"]["commodity"] == r["truth"]["commodity"]
              and not r["truth"]["anomalies"]]
    if honest:
        p_declared = np.array([commodity[i, class_names.index(records[i]["declared"]["commodity"])] for i in honest])
        tau_c = float(np.clip(np.quantile(p_declared, honest_flag_rate), 1e-4, 0.5))
    else:
        tau_c = 0.1
    # which must-inspect scans are caught whatever the anomaly score is (commodity rule, library, quality)
    never = Thresholds(inspect=np.inf, commodity=tau_c, target_recall=target_recall)
    caught = np.array([d.decision == "inspect" for d in decisions(np.zeros(len(records)), commodity, records,
                                                                  class_names, never)])
    positive = np.array([r["label"] == "inspect" for r in records])
    need = int(np.ceil(target_recall * positive.sum())) - int((caught & positive).sum())
    rest = np.sort(anomaly[positive & ~caught])[::-1]  # scores of the positives only the score can catch
    if need <= 0 or len(rest) == 0:
        tau = float(np.max(anomaly)) + 1e-6 if len(rest) == 0 else float(rest[0]) + 1e-6
        tau = min(tau, 0.999)
    else:
        tau = float(rest[min(need, len(rest)) - 1])
    return Thresholds(inspect=float(np.clip(tau, 1e-6, 0.999)), commodity=tau_c, target_recall=target_recall)


def recall_lower_bound(caught: int, total: int, confidence: float = 0.95) -> float:
    """One-sided Wilson lower bound on a recall of ``caught`` out of ``total``: what a calibration set of that
    size can vouch for. 188 of 190 (0.99) vouch for 0.969; 1,188 of 1,200 (0.99) for 0.984."""
    z = {0.90: 1.2816, 0.95: 1.6449, 0.99: 2.3263}.get(confidence)
    if z is None:
        raise ValueError(f"confidence must be 0.90, 0.95 or 0.99, got {confidence!r}")
    interval = wilson(caught, total, z)
    return float("nan") if interval is None else interval[0]


def calibration_record(anomaly: np.ndarray, commodity: np.ndarray, records: list[dict[str, Any]],
                       class_names: list[str], thresholds: Thresholds, data: list[Any]) -> dict[str, Any]:
    """What the card says about a calibration: its data and the figures at the chosen thresholds."""
    m = compute_metrics(anomaly, commodity, records, class_names, thresholds)
    caught = int(round(m["inspect_recall"] * m["n_inspect"]))
    return {"data": data, "n_scans": m["n_scans"], "n_inspect": m["n_inspect"], "auc": m["auc"],
            "threshold": thresholds.inspect, "commodity_threshold": thresholds.commodity,
            "inspect_recall": m["inspect_recall"], "release_rate": m["release_rate"],
            "commodity_top1": m["commodity_top1"],
            "recall_lower_95": recall_lower_bound(caught, m["n_inspect"], 0.95)}
