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
from quayscan.model.runner import Prediction
from quayscan.training.data import OBJECTS


def object_cells(record: dict[str, Any], scan: Scan, heat_shape: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """Heatmap cells (bool, heat_shape) touched by the boxes of concealed objects."""
    h, w = heat_shape
    stride = cfg.height / h
    sx, sy = scan.pitch_mm[0] / cfg.pitch_mm / stride, scan.pitch_mm[1] / cfg.pitch_mm / stride
    cells = np.zeros(heat_shape, bool)
    for a in record.get("truth", {}).get("anomalies", []):
        if a["type"] in OBJECTS:
            x0, y0, x1, y1 = a["bbox"]
            r0, c0 = int(np.floor(y0 * sy)), int(np.floor(x0 * sx))
            r1, c1 = max(r0 + 1, int(np.ceil(y1 * sy))), max(c0 + 1, int(np.ceil(x1 * sx)))
            cells[max(0, r0) : min(h, r1), max(0, c0) : min(w, c1)] = True
    return cells


class HeatFocus:
    """Collects, scan by scan, how hot the heatmap is inside concealed objects' boxes and elsewhere."""

    def __init__(self, cfg: PreprocessConfig):
        self.cfg = cfg
        self.objects: dict[str, list[tuple[float, float]]] = {}
        self.clean: dict[str, list[float]] = {}

    def add(self, record: dict[str, Any], scan: Scan, pred: Prediction) -> None:
        heat = pred.heatmap
        padded = heat.shape[1] * self.cfg.height / heat.shape[0]  # the padded input width, in pixels
        cols = max(1, int(round(heat.shape[1] * pred.input_width / padded)))
        heat = heat[:, :cols]  # the scan, not the padding
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
