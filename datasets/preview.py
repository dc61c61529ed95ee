"""Contact sheets: generated scans side by side, log-scaled, material-coloured, anomaly boxes drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quayscan.datasets.material import colourise

BOX_COLOUR = (40, 40, 255)  # BGR red
CAPTION_H = 22


def tile(high: np.ndarray, low: np.ndarray | None, labels: dict[str, Any], width: int = 1200) -> np.ndarray:
    """One scan as a captioned picture ``width`` px wide."""
    pic = colourise(high, low, labels["air_value"], tuple(labels.get("energies_mev", (6.0, 3.0))))
    h, w = pic.shape[:2]
    scale = width / w
    pic = cv2.resize(pic, (width, max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
    for a in labels["truth"]["anomalies"]:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in a["bbox"])
        cv2.rectangle(pic, (x0, y0), (x1, y1), BOX_COLOUR, 2)
        cv2.putText(pic, a["type"], (x0 + 2, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, BOX_COLOUR, 1, cv2.LINE_AA)
    d = labels["declared"]
    caption = (f"{labels['id']}  {labels['container']}  {labels['profile']}  declared: {d.get('commodity') or 'not in library'}"
               f" ({d.get('hs_code') or '-'})  truth: {labels['truth']['commodity']}  -> {labels['label'].upper()}")
    bar = np.full((CAPTION_H, width, 3), 32, np.uint8)
    colour = (80, 80, 255) if labels["label"] == "inspect" else (120, 220, 120)
    cv2.putText(bar, caption, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return np.vstack([bar, pic])


def contact_sheet(items: list[tuple[np.ndarray, np.ndarray | None, dict[str, Any]]], width: int = 1200) -> np.ndarray:
    """Tiles stacked vertically with a thin gap."""
    if not items:
        raise ValueError("a contact sheet needs at least one scan")
    gap = np.full((6, width, 3), 255, np.uint8)
    rows = []
    for high, low, labels in items:
        rows += [tile(high, low, labels, width), gap]
    return np.vstack(rows[:-1])


def write_contact_sheet(path: str | Path, items: list[tuple[np.ndarray, np.ndarray | None, dict[str, Any]]],
                        width: int = 1200) -> Path:
    path = Path(path)
    if not cv2.imwrite(str(path), contact_sheet(items, width)):
        raise ValueError(f"could not write contact sheet to {path}")
    return path
