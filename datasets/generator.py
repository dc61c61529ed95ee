"""The synthetic scan generator: a pure function from (seed, index, profile) to images and labels.

    spec = sample_spec(np.random.default_rng([seed, index]), scan_id, anomaly_rate=0.3)
    scan = render_scan(spec, load_profile("linac-6-3"))        # scan.images, scan.labels

Every random choice comes from generators seeded by the spec, one stream per stage (layout, each hold's
cargo, each anomaly, structure, noise), so ``render_scan(spec, profile, anomalies=False)`` renders the
very same scan without its anomalies: the tests compare the two to prove every box marks a real change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quayscan.datasets import anomalies as anom
from quayscan.datasets.cargo import build_cargo
from quayscan.datasets.commodities import EMPTY, class_names
from quayscan.datasets.container import FRAME_BOTTOM_MM, FRAME_TOP_MM, paint_vehicle, plan_vehicle
from quayscan.datasets.declarations import declare, declare_outside, other_commodity
from quayscan.datasets.detector import detect
from quayscan.datasets.iso6346 import random_id
from quayscan.datasets.physics import transmission
from quayscan.datasets.profiles import Profile
from quayscan.datasets.scene import Box, Canvas

GENERATOR_VERSION = "1.0.0"
LAYOUT_WEIGHTS = {"40ft": 0.55, "20ft": 0.3, "2x20ft": 0.15}
#: share of declarations whose HS code is outside the commodity library
OUTSIDE_LIBRARY_RATE = 0.03
#: share of scans declared empty
EMPTY_RATE = 0.08
STAGES = ("layout", "cargo", "anomaly", "structure", "noise")


@dataclass
class ScanSpec:
    """Everything drawn before rendering: the scan's identity, declaration, truth and stage seeds."""

    scan_id: str
    layout: str
    container_ids: list[str]
    declared: dict[str, Any]
    truth_commodity: str  # what the load really is
    declared_look: str  # what an honest load of this declaration looks like
    anomaly_types: list[str]
    undeclared_commodity: str | None
    seeds: dict[str, int] = field(default_factory=dict)


@dataclass
class RenderedScan:
    images: list[np.ndarray]  # uint16, high energy first
    labels: dict[str, Any]


def _check_rate(anomaly_rate: float) -> float:
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly rate must be in [0, 1], got {anomaly_rate!r}")
    return float(anomaly_rate)


def sample_spec(rng: np.random.Generator, scan_id: str, anomaly_rate: float = 0.3) -> ScanSpec:
    """Draw a scan's layout, declaration, true load and anomaly types."""
    _check_rate(anomaly_rate)
    layouts = list(LAYOUT_WEIGHTS)
    layout = str(rng.choice(layouts, p=list(LAYOUT_WEIGHTS.values())))
    n_boxes = 2 if layout == "2x20ft" else 1
    ids = [random_id(rng) for _ in range(n_boxes)]
    if rng.random() < OUTSIDE_LIBRARY_RATE:
        declared, look = declare_outside(rng)
    else:
        look = EMPTY if rng.random() < EMPTY_RATE else str(rng.choice([n for n in class_names() if n != EMPTY]))
        declared = declare(look, rng)
    types: list[str] = []
    if rng.random() < anomaly_rate:
        n = 2 if rng.random() < 0.15 else 1
        types = [str(t) for t in rng.choice(anom.TYPES, size=n, replace=False)]
        if "undeclared_goods" in types and (look == EMPTY or "manifest_mismatch" in types):
            types.remove("undeclared_goods")
            if "manifest_mismatch" not in types:
                types.append("manifest_mismatch")
    truth, undeclared = look, None
    if "manifest_mismatch" in types:
        truth = EMPTY if (look != EMPTY and rng.random() < 0.15) else other_commodity(rng, look)
    if "undeclared_goods" in types:
        undeclared = "vehicles" if rng.random() < 0.3 and look != "vehicles" else other_commodity(rng, look)
    seeds = {s: int(v) for s, v in zip(STAGES, rng.integers(0, 2**62, len(STAGES)))}
    return ScanSpec(scan_id, layout, ids, declared, truth, look, types, undeclared, seeds)


def canvas_for(length_mm: float, profile: Profile) -> Canvas:
    px, py = profile.pitch_mm
    width = int(np.ceil(length_mm / px))
    height = int(round((FRAME_TOP_MM - FRAME_BOTTOM_MM) / py))
    return Canvas(width, height, (px, py), FRAME_TOP_MM)


def render_scan(spec: ScanSpec, profile: Profile, *, anomalies: bool = True,
                timings: dict[str, float] | None = None) -> RenderedScan:
    """Render a spec into detector images and its label record.

    Args:
        spec: from :func:`sample_spec`.
        profile: the scanner.
        anomalies: False renders the honest version of the same scan (declared load, nothing hidden).
        timings: if given, seconds spent per stage are added to it (for the benchmark).
    """
    clock = _Clock(timings)
    types = spec.anomaly_types if anomalies else []
    vehicle = plan_vehicle(spec.layout, np.random.default_rng(spec.seeds["layout"]))
    c = canvas_for(vehicle.length_mm, profile)
    anomaly_rng = np.random.default_rng(spec.seeds["anomaly"])
    target = int(anomaly_rng.integers(len(vehicle.holds)))  # the hold the anomalies go into
    truth = spec.truth_commodity if "manifest_mismatch" in types else spec.declared_look
    found: list[anom.Anomaly] = []
    all_items: list[Box] = []
    cargo_seeds = np.random.default_rng(spec.seeds["cargo"]).integers(0, 2**62, len(vehicle.holds))
    for i, hold in enumerate(vehicle.holds):
        cargo_rng = np.random.default_rng(int(cargo_seeds[i]))
        region = hold.box
        compartment = None
        if i == target and "hidden_compartment" in types:
            variant, cbox, region = anom.plan_compartment(anomaly_rng, hold.box)
            compartment = (variant, cbox)
        if i == target and "undeclared_goods" in types:
            # the front part of the hold holds other goods; a car needs at least its own length
            least = 3300.0 / region.w if spec.undeclared_commodity == "vehicles" else 0.25
            share = float(anomaly_rng.uniform(min(least, 0.7), max(min(least, 0.7), 0.6)))
            split = region.x0 + share * region.w
            other = build_cargo(spec.undeclared_commodity, c, anomaly_rng, Box(region.x0, region.y0, split, region.y1),
                                hold.width_cm)
            items = build_cargo(truth, c, cargo_rng, Box(split + 50, region.y0, region.x1, region.y1), hold.width_cm)
            if other:  # a builder that found no room places nothing: then there is nothing to flag
                found.append(anom.Anomaly("undeclared_goods", anom.union(other), {"commodity": spec.undeclared_commodity}))
            items = items + other
        else:
            items = build_cargo(truth, c, cargo_rng, region, hold.width_cm)
        all_items += items
        if compartment is not None:
            found.append(anom.hidden_compartment(c, anomaly_rng, compartment[0], compartment[1], hold.width_cm))
        if i == target:
            for t in types:
                if t == "dense_concealment":
                    found.append(anom.dense_concealment(c, anomaly_rng, hold.box, items, hold.width_cm))
                elif t == "organic_concealment":
                    found.append(anom.organic_concealment(c, anomaly_rng, hold.box, items, hold.width_cm))
    if "manifest_mismatch" in types:
        extent = anom.union(all_items) if all_items else anom.union([h.box for h in vehicle.holds])
        found.append(anom.Anomaly("manifest_mismatch", extent, {"declared": spec.declared_look, "actual": truth}))
    clock.lap("cargo")
    paint_vehicle(c, np.random.default_rng(spec.seeds["structure"]), vehicle)
    clock.lap("structure")
    t = transmission(c.maps, profile.energies_mev, sorted(c.used))
    clock.lap("transmission")
    images = detect(t, profile, np.random.default_rng(spec.seeds["noise"]))
    clock.lap("detector")
    return RenderedScan(images, _labels(spec, profile, vehicle, c, truth, found))


class _Clock:
    def __init__(self, timings: dict[str, float] | None):
        self.timings, self.t = timings, time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


def _labels(spec: ScanSpec, profile: Profile, vehicle, c: Canvas, truth: str, found: list[anom.Anomaly]) -> dict[str, Any]:
    dual = len(profile.energies_mev) == 2
    anomalies = [{"type": a.type, "bbox": c.to_pixels(a.box), **a.detail} for a in found]
    return {
        "id": spec.scan_id,
        "files": {"high": f"scans/{spec.scan_id}_high.png", "low": f"scans/{spec.scan_id}_low.png" if dual else None},
        "container": spec.layout,
        "container_id": spec.container_ids[0],
        "container_ids": spec.container_ids,
        "container_height": "high_cube" if vehicle.height_mm > 2700 else "standard",
        "pixel_pitch_mm": list(profile.pitch_mm),
        "air_value": profile.air_value,
        "energies_mev": list(profile.energies_mev),
        "declared": spec.declared,
        "truth": {"commodity": truth, "anomalies": anomalies},
        "label": "inspect" if anomalies else "release",
        "profile": profile.name,
        "generator_version": GENERATOR_VERSION,
    }


def scan_spec(seed: int, index: int, anomaly_rate: float = 0.3) -> ScanSpec:
    """The spec of scan number ``index`` of the data set ``seed``: independent of how work is split over
    processes."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative integer, got {index!r}")
    return sample_spec(np.random.default_rng([int(seed), int(index)]), f"s{seed}-{index:06d}", anomaly_rate)


def generate_scan(seed: int, index: int, profile: Profile, anomaly_rate: float = 0.3) -> RenderedScan:
    """Scan number ``index`` of the data set ``seed``, rendered."""
    return render_scan(scan_spec(seed, index, anomaly_rate), profile)
