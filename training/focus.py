"""Where the heatmap looks: does it fire on concealed objects, or on the cargo around them?

For every scan with a concealed object (dense or organic), compare the hottest heatmap cell inside the
object's box with the hottest cell elsewhere; for clean scans, record the hottest cell per commodity. A
map that has learnt the objects puts its hottest cell inside the box; one that has learnt "cargo is
suspicious" is as hot on any loaded clean scan.

    focus = HeatFocus(cfg)
    focus.add(record, scan, prediction)      # per scan, while evaluating
    focus.summary()                          # -> report.json "heatmap_focus"
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quayscan.datasets.scan import Scan
from quayscan.model.preprocess import PreprocessConfig
from quayscan.model.runner import Prediction, scan_columns
from quayscan.training.data import OBJECT, OBJECTS, anomaly_mask


def object_cells(record: dict[str, Any], scan: Scan, heat_shape: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """Heatmap cells (bool, heat_shape) touched by the boxes of concealed objects: the training targets'
    boxes (:func:`anomaly_mask`), pooled to the heatmap's cells as the training loss pools them."""
    h, w = heat_shape
    stride = cfg.height // h
    frame = np.empty((0, cfg.height, w * stride), np.float32)  # only its shape is read
    objects = anomaly_mask(record, scan, frame, cfg) == OBJECT
    return objects.reshape(h, stride, w, stride).any(axis=(1, 3))


class HeatFocus:
    """Collects, scan by scan, how hot the heatmap is inside concealed objects' boxes and elsewhere."""

    def __init__(self, cfg: PreprocessConfig):
        self.cfg = cfg
        self.objects: dict[str, list[tuple[float, float]]] = {}
        self.clean: dict[str, list[float]] = {}

    def add(self, record: dict[str, Any], scan: Scan, pred: Prediction) -> None:
        heat = pred.heatmap[:, : scan_columns(pred)]  # the scan, not the padding
        anomalies = record.get("truth", {}).get("anomalies", [])
        if not anomalies:
            self.clean.setdefault(record["truth"]["commodity"], []).append(float(heat.max()))
            return
        inside = object_cells(record, scan, heat.shape, self.cfg)
        if inside.any() and (~inside).any():
            kind = next(a["type"] for a in anomalies if a["type"] in OBJECTS)
            self.objects.setdefault(kind, []).append((float(heat[inside].max()), float(heat[~inside].max())))

    def summary(self) -> dict[str, Any]:
        """Per object type: scans, median hottest cell inside the box, share of scans whose hottest cell is
        inside the box; per clean commodity: median hottest cell."""
        objects = {}
        for kind, pairs in sorted(self.objects.items()):
            a = np.array(pairs)
            objects[kind] = {"n": len(a), "inside_max_median": float(np.median(a[:, 0])),
                             "hottest_inside_share": float(np.mean(a[:, 0] > a[:, 1]))}
        clean = {k: {"n": len(v), "hottest_median": float(np.median(v))} for k, v in sorted(self.clean.items())}
        return {"objects": objects, "clean": clean}
