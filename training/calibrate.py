"""Threshold calibration: the operating point that reaches a target recall of "inspect" on validation data.

Two thresholds, in this order:
1. commodity: honest loads must rarely look like a mismatch; the threshold on the model's probability
   of the declared class is the ``honest_flag_rate`` quantile of that probability on honest scans.
2. inspect: with the commodity rule in place, the highest anomaly threshold at which the policy still
   inspects ``target_recall`` of the scans that must be inspected.
The release rate of clean scans at that point is what a port saves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quayscan.model.policy import Thresholds
from quayscan.training.metrics import decisions


def calibrate(anomaly: np.ndarray, commodity: np.ndarray, records: list[dict[str, Any]], class_names: list[str],
              target_recall: float = 0.99, honest_flag_rate: float = 0.01) -> Thresholds:
    """Choose thresholds on validation outputs (anomaly probabilities and commodity probabilities)."""
    if not 0.5 <= target_recall < 1.0:
        raise ValueError(f"target recall must be in [0.5, 1), got {target_recall!r}")
    honest = [i for i, r in enumerate(records)
              if r["declared"].get("commodity") and r["declared"]["commodity"] == r["truth"]["commodity"]
              and not any(a["type"] == "manifest_mismatch" for a in r["truth"]["anomalies"])]
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
