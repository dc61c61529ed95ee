"""The dataset folder format, shared by the generator, training, evaluation and the case export.

    DIR/dataset.json     the recipe: generator version, seed, count, profile, arguments
    DIR/labels.jsonl     one JSON object per scan (see README, "Dataset folder")
    DIR/scans/<id>_high.png, <id>_low.png   16-bit transmission images
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from quayscan.datasets.png16 import encode_png16
from quayscan.datasets.readers import read_scan
from quayscan.datasets.scan import Scan

LABELS = "labels.jsonl"
RECIPE = "dataset.json"


def write_images(out: Path, labels: dict[str, Any], images: list[np.ndarray], compression: int = 0) -> None:
    """Write a scan's images where its label record says (high first, then low if any)."""
    for key, image in zip(("high", "low"), images):
        (out / labels["files"][key]).write_bytes(encode_png16(image, compression))


def write_labels(out: Path, records: list[dict[str, Any]]) -> None:
    """Write labels.jsonl atomically: a folder that has one holds a complete dataset."""
    tmp = out / (LABELS + ".tmp")
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    tmp.replace(out / LABELS)


def read_labels(folder: str | Path) -> list[dict[str, Any]]:
    """All label records of a dataset folder, in file order."""
    path = Path(folder) / LABELS
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a dataset folder: {LABELS} not found")
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n} is not valid JSON: {exc}") from None
    return records


def load_scan(folder: str | Path, record: dict[str, Any]) -> Scan:
    """The Scan of one label record, with the record as its metadata."""
    folder = Path(folder)
    low = record["files"].get("low")
    return read_scan(
        folder / record["files"]["high"],
        folder / low if low else None,
        pitch_mm=tuple(record.get("pixel_pitch_mm", (5.0, 5.0))),
        air_value=record.get("air_value"),
        meta=record,
    )


def iter_scans(folder: str | Path) -> Iterator[tuple[dict[str, Any], Scan]]:
    for record in read_labels(folder):
        yield record, load_scan(folder, record)


def read_recipe(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RECIPE
    return json.loads(path.read_text()) if path.is_file() else {}
