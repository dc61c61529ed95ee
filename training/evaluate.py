"""Evaluate an ONNX model on a dataset folder exactly as serving decides, and write the report.

    quayscan evaluate --data data/test --out runs/report            # the shipped model
    quayscan evaluate --model model.onnx --data data/test --out runs/report
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from quayscan.datasets.folder import load_scan, read_labels
from quayscan.model.overlay import overlay
from quayscan.model.quality import check_quality
from quayscan.model.runner import Runner, heatmap_to_scan
from quayscan.training.focus import HeatFocus
from quayscan.training.metrics import compute_metrics, decisions
from quayscan.training.report import Example, write_report

log = logging.getLogger(__name__)
N_EXAMPLES = 8


def run_model(runner: Runner, folder: str | Path, progress: bool = True,
              focus: HeatFocus | None = None) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Anomaly probabilities, commodity probabilities and label records of every scan in a folder; each
    record gets the image-quality problems serving would find (``quality``), so the decisions made from
    them are serving's; with ``focus``, each scan's heatmap is added to it."""
    records = read_labels(folder)
    anomaly = np.zeros(len(records))
    commodity = np.zeros((len(records), len(runner.card.class_names)))
    for i, rec in enumerate(tqdm(records, desc="evaluate", unit="scan", disable=not progress)):
        scan = load_scan(folder, rec)
        rec["quality"] = check_quality(scan)
        pred = runner.predict([scan])[0]
        anomaly[i], commodity[i] = pred.anomaly_prob, pred.commodity_probs
        if focus is not None:
            focus.add(rec, scan, pred)
    return anomaly, commodity, records


def _example(runner: Runner, folder: str | Path, rec: dict[str, Any], title: str) -> Example:
    scan = load_scan(folder, rec)
    pred = runner.predict([scan])[0]
    heat = heatmap_to_scan(pred, scan, runner.card.preprocess)
    boxes = [a["bbox"] for a in rec["truth"]["anomalies"]]
    return Example(title, overlay(scan, heat, boxes, energies_mev=rec.get("energies_mev", (6.0, 3.0)), width=1400))


def evaluate(model: str | Path | None, folder: str | Path, out: str | Path, progress: bool = True) -> dict[str, Any]:
    runner = Runner(model)
    focus = HeatFocus(runner.card.preprocess)
    anomaly, commodity, records = run_model(runner, folder, progress, focus)
    names = runner.card.class_names
    metrics = compute_metrics(anomaly, commodity, records, names, runner.thresholds)
    metrics["heatmap_focus"] = focus.summary()
    metrics["model_version"] = runner.version
    metrics["data"] = str(folder)
    decided = decisions(anomaly, commodity, records, names, runner.thresholds)
    inspected = np.array([d.decision == "inspect" for d in decided])
    must = np.array([r["label"] == "inspect" for r in records])
    missed = [i for i in np.argsort(anomaly) if must[i] and not inspected[i]][:N_EXAMPLES]
    false = [i for i in np.argsort(-anomaly) if not must[i] and inspected[i]][:N_EXAMPLES]

    def describe(i: int) -> str:
        r = records[i]
        kinds = ", ".join(f"{a['type']} {a.get('size_mm', '')} mm".strip() for a in r["truth"]["anomalies"]) or "clean"
        return (f"{r['id']} ({r['profile']}, {r['container']}): {kinds}; declared {r['declared'].get('commodity')}, "
                f"truth {r['truth']['commodity']}; score {anomaly[i]:.3f}; reasons {decided[i].reasons or ['-']}")

    misses = [_example(runner, folder, records[i], "missed: " + describe(i)) for i in missed]
    alarms = [_example(runner, folder, records[i], "false alarm: " + describe(i)) for i in false]
    write_report(out, metrics, anomaly, records, misses, alarms, title=f"quayscan evaluation of {runner.version}")
    return metrics
