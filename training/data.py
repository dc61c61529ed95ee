"""Training samples: preprocessed scans with their targets, from dataset folders or straight from the generator.

A sample keeps the preprocessed input as float16 (3 x 192 x ~700 is ~0.8 MB), so a few thousand scans fit
in memory and are preprocessed once, by the very function serving uses. Drawing from the generator
writes nothing to disk; the recipe (seed, count, profile) is recorded either way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from quayscan.datasets.commodities import class_names
from quayscan.datasets.folder import load_scan, read_labels, read_recipe
from quayscan.datasets.generator import GENERATOR_VERSION, render_scan, scan_spec
from quayscan.datasets.profiles import load_profile
from quayscan.datasets.scan import Scan
from quayscan.model.preprocess import PreprocessConfig, preprocess

#: anomalies the image itself shows; a manifest mismatch needs the declaration, so the commodity check catches it
VISIBLE = ("dense_concealment", "organic_concealment", "undeclared_goods", "hidden_compartment")
#: visible anomalies that are an object among the cargo; the others (a block of other goods, a false wall)
#: are a change of the scene, boxed around ordinary-looking cargo or structure
OBJECTS = ("dense_concealment", "organic_concealment")
#: mask values: an object's box, and a scene anomaly's box (the loss may treat it as "don't care")
OBJECT, SCENE = 1, 2


@dataclass
class Sample:
    x: np.ndarray  # (3, H, W) float16
    mask: np.ndarray  # (H, W) uint8: OBJECT or SCENE inside boxes of visible anomalies, else 0
    visible: int  # 1 if the image shows an anomaly
    commodity: int  # index of the true (main) commodity
    record: dict[str, Any]  # the label record


def anomaly_mask(record: dict[str, Any], scan: Scan, x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Boxes of visible anomalies, mapped from scan pixels to the preprocessed frame: OBJECT inside an
    object's box (it wins where boxes overlap), SCENE inside the box of a scene anomaly."""
    h, w = x.shape[1:]
    mask = np.zeros((h, w), np.uint8)
    sx, sy = scan.pitch_mm[0] / cfg.pitch_mm, scan.pitch_mm[1] / cfg.pitch_mm
    anomalies = [a for a in record.get("truth", {}).get("anomalies", []) if a["type"] in VISIBLE]
    for a in sorted(anomalies, key=lambda a: a["type"] in OBJECTS):  # scenes first, objects over them
        x0, y0, x1, y1 = a["bbox"]
        c0, c1 = int(np.floor(x0 * sx)), int(np.ceil(x1 * sx))
        r0, r1 = int(np.floor(y0 * sy)), int(np.ceil(y1 * sy))
        mask[max(0, r0) : min(h, max(r1, r0 + 1)), max(0, c0) : min(w, max(c1, c0 + 1))] = \
            OBJECT if a["type"] in OBJECTS else SCENE
    return mask


def make_sample(record: dict[str, Any], scan: Scan, cfg: PreprocessConfig, exact: bool = False) -> Sample:
    """A training sample; ``exact`` keeps float32 (validation: calibration must see what serving sees)."""
    x = preprocess(scan, cfg)
    names = class_names()
    visible = int(any(a["type"] in VISIBLE for a in record["truth"]["anomalies"]))
    return Sample(x if exact else x.astype(np.float16), anomaly_mask(record, scan, x, cfg), visible,
                  names.index(record["truth"]["commodity"]), record)


# -- sources --------------------------------------------------------------------------------------
def _from_folder(args: tuple[str, dict[str, Any], dict[str, Any], bool]) -> Sample:
    folder, record, cfg, exact = args
    return make_sample(record, load_scan(folder, record), PreprocessConfig.from_dict(cfg), exact)


def _from_generator(args: tuple[int, int, str, float, dict[str, Any], bool, bool]) -> list[Sample]:
    """Scan ``index`` of the generator's data set ``seed`` (what ``generate_scan`` draws); with
    ``twins``, a scan that shows an anomaly comes with its honest twin: the same load, vehicle and detector
    noise with nothing hidden, so the pair differs only by the anomaly."""
    seed, index, profile, rate, cfg, exact, twins = args
    prof, pcfg = load_profile(profile), PreprocessConfig.from_dict(cfg)
    spec = scan_spec(seed, index, rate)
    out = [_sample(render_scan(spec, prof), pcfg, exact)]
    if twins and out[0].visible:
        honest = render_scan(spec, prof, anomalies=False)
        honest.labels["id"] += "-honest"
        out.append(_sample(honest, pcfg, exact))
    return out


def _sample(rendered, cfg: PreprocessConfig, exact: bool) -> Sample:
    lab = rendered.labels
    s = Scan(rendered.images[0], rendered.images[1] if len(rendered.images) > 1 else None,
             tuple(lab["pixel_pitch_mm"]), lab["air_value"], lab)
    return make_sample(lab, s, cfg, exact)


def parse_synth(spec: str) -> tuple[int, int, str, float]:
    """'COUNT:SEED:PROFILE[:RATE]' -> (count, seed, profile, anomaly rate)."""
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"--synth must be COUNT:SEED:PROFILE[:ANOMALY_RATE], got {spec!r}")
    try:
        count, seed = int(parts[0]), int(parts[1])
        rate = float(parts[3]) if len(parts) == 4 else 0.3
    except ValueError:
        raise ValueError(f"--synth must be COUNT:SEED:PROFILE[:ANOMALY_RATE] with numbers, got {spec!r}") from None
    load_profile(parts[2])  # fails early, naming the profile
    return count, seed, parts[2], rate


def _pool_map(fn, jobs: list, workers: int, desc: str, progress: bool) -> list:
    if workers <= 1 or len(jobs) < 4:
        return [fn(j) for j in tqdm(jobs, desc=desc, unit="scan", disable=not progress)]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with mp.get_context("spawn").Pool(workers) as pool:
        it = pool.imap(fn, jobs, chunksize=8)
        return list(tqdm(it, total=len(jobs), desc=desc, unit="scan", disable=not progress))


def load_samples(
    folders: list[str], synth: list[str], cfg: PreprocessConfig, *, workers: int = 1, progress: bool = True,
    exact: bool = False, twins: bool = False, shard: tuple[int, int] = (0, 1),
) -> tuple[list[Sample], list[dict[str, Any]]]:
    """All samples of the given sources, and the data recipe that describes them.

    Args:
        exact: keep inputs in float32 (for validation) instead of float16 (half the memory, for training).
        twins: add the honest twin of every generated scan that shows an anomaly (see ``_from_generator``).
        shard: (rank, world): read or draw only every world-th scan from the rank-th on (one process of a
            distributed run); the recipe still describes the whole data set.
    """
    rank, world = shard
    samples: list[Sample] = []
    recipe: list[dict[str, Any]] = []
    for folder in folders:
        records = read_labels(folder)
        jobs = [(str(folder), r, cfg.to_dict(), exact) for r in records[rank::world]]
        samples += _pool_map(_from_folder, jobs, workers, f"read {Path(folder).name}", progress)
        recipe.append({"folder": str(folder), "count": len(records), **{k: v for k, v in read_recipe(folder).items()
                                                                     if k in ("generator_version", "seed", "anomaly_rate")},
                       "profile": read_recipe(folder).get("profile", {}).get("name")})
    for spec in synth:
        count, seed, profile, rate = parse_synth(spec)
        jobs = [(seed, i, profile, rate, cfg.to_dict(), exact, twins) for i in range(rank, count, world)]
        samples += [s for group in _pool_map(_from_generator, jobs, workers, f"generate {profile}", progress) for s in group]
        recipe.append({"generator": GENERATOR_VERSION, "seed": seed, "count": count, "profile": profile,
                       "anomaly_rate": rate, **({"honest_twins": True} if twins else {})})
    return samples, recipe
