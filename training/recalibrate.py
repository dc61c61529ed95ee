"""Recalibrate an exported model on labelled scans: new thresholds in a copy of the ONNX file.

    quayscan calibrate --model runs/default/model.onnx --data data/cal-a --data data/cal-b --out model.onnx

The inspect threshold for a 0.99 recall rests on the 1% of must-inspect scans the model scores lowest:
two scans of a 200-scan validation set. A larger calibration set (or scans from the port's own scanner,
exported from officers' decisions) gives a threshold that carries over to new scans; the card records
the data, the recall reached on it and the lower bound that set can vouch for.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from quayscan.model.card import write_card
from quayscan.model.runner import Runner
from quayscan.training.calibrate import calibrate, calibration_record
from quayscan.training.evaluate import run_model

log = logging.getLogger(__name__)


def model_selected(record: dict[str, Any]) -> bool:
    """Whether an exported case is in the data only because a model flagged it (``quayscan dataset export``
    writes ``provenance``). Scans a model released never reach review, so among such cases the ones to inspect
    are those the model already scored above its threshold, and a threshold chosen on them would rise to meet
    them; audit samples (releases sent to review at random) are an unbiased sample and are kept."""
    prov = record.get("provenance")
    return bool(prov) and not prov.get("audit_sample", False)


def recalibrate(model: str | Path | None, folders: list[str | Path], out: str | Path, target_recall: float = 0.99,
                progress: bool = True) -> dict[str, Any]:
    """Run ``model`` on every scan of ``folders`` as serving does, choose the thresholds for
    ``target_recall`` on them, and write a copy of the model with them at ``out``.

    Exported cases a model flagged for review are left out (see :func:`model_selected`).

    Returns:
        the calibration record stored in the card (``evaluation.calibration``), with the old thresholds.
    Raises:
        ValueError: no folders, or none of their (kept) scans must be inspected.
    """
    if not folders:
        raise ValueError("calibration needs at least one dataset folder")
    runner = Runner(model)
    names = runner.card.class_names
    parts = [run_model(runner, f, progress) for f in folders]
    anomaly = np.concatenate([p[0] for p in parts])
    commodity = np.concatenate([p[1] for p in parts])
    records = [r for p in parts for r in p[2]]
    keep = np.array([not model_selected(r) for r in records], bool)
    if not keep.all():
        log.warning("left out %d exported cases that reached review because a model flagged them: their labels "
                    "depend on that model's threshold (audit samples are kept)", int((~keep).sum()))
        anomaly, commodity = anomaly[keep], commodity[keep]
        records = [r for r, k in zip(records, keep) if k]
    if not any(r["label"] == "inspect" for r in records):
        raise ValueError(f"no scan in {', '.join(map(str, folders))} must be inspected: nothing to calibrate recall on")
    thresholds = calibrate(anomaly, commodity, records, names, target_recall)
    record = calibration_record(anomaly, commodity, records, names, thresholds, [str(f) for f in folders])
    record["previous_thresholds"] = runner.card.thresholds.to_dict()
    record["left_out_model_selected"] = int((~keep).sum())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".calibrating")
    card = runner.card
    card.thresholds = thresholds
    card.evaluation["calibration"] = record
    try:
        shutil.copyfile(runner.path, tmp)
        write_card(tmp, card)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("calibrated %s on %d scans: inspect threshold %.4f -> %.4f", out, len(records),
             record["previous_thresholds"]["inspect"], thresholds.inspect)
    return record
