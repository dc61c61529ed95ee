"""Pictures of a scan for people: material colour, the model's heatmap over it, boxes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from quayscan.datasets.material import colourise
from quayscan.datasets.scan import Scan


def overlay(scan: Scan, heat: np.ndarray | None = None, boxes: Sequence[Sequence[int]] = (), *,
            energies_mev: Sequence[float] = (6.0, 3.0), opacity: float = 0.45, width: int | None = None) -> np.ndarray:
    """A BGR picture: the scan in material colour, the heatmap (scan-sized, [0, 1]) blended where it is
    high, boxes ([x0, y0, x1, y1] in scan pixels) in red; optionally scaled to ``width`` px."""
    pic = colourise(scan.high, scan.low, scan.air_value, tuple(energies_mev))
    if heat is not None:
        colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = (opacity * np.clip(heat, 0, 1))[..., None]
        pic = (pic * (1 - alpha) + colour * alpha).astype(np.uint8)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(pic, (int(x0), int(y0)), (int(x1), int(y1)), (40, 40, 255), 3)
    if width is not None and pic.shape[1] != width:
        h = max(1, int(round(pic.shape[0] * width / pic.shape[1])))
        pic = cv2.resize(pic, (width, h), interpolation=cv2.INTER_AREA)
    return pic
