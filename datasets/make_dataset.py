"""Write a generated dataset folder: scans in parallel, labels in order, a recipe, an optional preview.

Scan ``i`` of seed ``s`` depends only on (s, i, profile, anomaly rate), and labels are written in index
order, so the folder is byte-identical whatever the number of worker processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from quayscan.datasets.folder import LABELS, RECIPE, read_labels, write_images, write_labels
from quayscan.datasets.generator import GENERATOR_VERSION, generate_scan
from quayscan.datasets.preview import write_contact_sheet
from quayscan.datasets.profiles import Profile, profile_from_dict
from quayscan.datasets.readers import read_scan

log = logging.getLogger(__name__)
PREVIEW = "preview.png"
PREVIEW_SCANS = 12

_worker_state: dict[str, Any] = {}


def _init_worker(out: str, profile: dict[str, Any], seed: int, anomaly_rate: float) -> None:
    cv2.setNumThreads(1)  # one core per worker: parallelism comes from the processes
    _worker_state.update(out=Path(out), profile=profile_from_dict(profile), seed=seed, anomaly_rate=anomaly_rate)


def _make_one(index: int) -> dict[str, Any]:
    s = _worker_state
    scan = generate_scan(s["seed"], index, s["profile"], s["anomaly_rate"])
    write_images(s["out"], scan.labels, scan.images)
    return scan.labels


def generate_dataset(
    out: str | Path,
    count: int,
    seed: int,
    profile: Profile,
    *,
    anomaly_rate: float = 0.3,
    workers: int = 1,
    preview: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Generate ``count`` scans into the dataset folder ``out``; returns the label records.

    Raises:
        FileExistsError: ``out`` already holds a dataset and ``overwrite`` is False.
        ValueError: a bad count, seed, rate or worker number (the message names it).
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly rate must be in [0, 1], got {anomaly_rate!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out)
    if (out / LABELS).exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a dataset ({LABELS}); pass --overwrite to replace it")
    (out / "scans").mkdir(parents=True, exist_ok=True)
    recipe = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "count": count,
        "anomaly_rate": anomaly_rate,
        "profile": profile.to_dict(),
    }
    init = (str(out), profile.to_dict(), seed, anomaly_rate)
    bar = tqdm(total=count, desc=f"generate {out.name}", unit="scan", disable=not progress)
    records: list[dict[str, Any]] = []
    if workers == 1:
        _init_worker(*init)
        for i in range(count):
            records.append(_make_one(i))
            bar.update()
    else:
        # spawn: workers start clean, and BLAS in each uses one thread
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
            for rec in pool.imap(_make_one, range(count), chunksize=max(1, min(16, count // (workers * 4)))):
                records.append(rec)
                bar.update()
    bar.close()
    # labels last, atomically: a folder with labels.jsonl is a complete dataset
    (out / RECIPE).write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    write_labels(out, records)
    if preview:
        path = write_preview(out)
        log.info("contact sheet: %s", path)
    return records


def write_preview(folder: str | Path, n: int = PREVIEW_SCANS) -> Path:
    """A contact sheet of the first ``n`` scans of a dataset folder."""
    folder = Path(folder)
    items = []
    for rec in read_labels(folder)[:n]:
        low = rec["files"].get("low")
        scan = read_scan(folder / rec["files"]["high"], folder / low if low else None)
        items.append((scan.high, scan.low, rec))
    return write_contact_sheet(folder / PREVIEW, items)
