"""The generator: determinism, labels that match the pixels, physics sanity on whole scans."""

from pathlib import Path

import numpy as np
import pytest

from quayscan.datasets import anomalies as anom
from quayscan.datasets.commodities import class_names, commodity_for_hs
from quayscan.datasets.generator import generate_scan, render_scan, sample_spec
from quayscan.datasets.make_dataset import generate_dataset
from quayscan.datasets.readers import read_scan
from quayscan.datasets.scene import Box

REQUIRED = {"id", "files", "container", "pixel_pitch_mm", "air_value", "declared", "truth", "label", "profile"}


def specs_with(anomaly_type: str, n: int, start: int = 0):
    """The first n specs (anomaly rate 1) that contain ``anomaly_type``."""
    found, i = [], start
    while len(found) < n:
        spec = sample_spec(np.random.default_rng([77, i]), f"t{i}", anomaly_rate=1.0)
        if anomaly_type in spec.anomaly_types:
            found.append(spec)
        i += 1
    return found


def log_high(scan, air):
    return -np.log(np.clip(scan.images[0].astype(np.float64), 1, None) / air)


def test_same_seed_same_scan_different_index_different_scan(fast_profile):
    a = generate_scan(3, 5, fast_profile)
    b = generate_scan(3, 5, fast_profile)
    c = generate_scan(3, 6, fast_profile)
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert a.labels == b.labels
    assert a.labels["id"] != c.labels["id"]
    assert a.images[0].shape != c.images[0].shape or not np.array_equal(a.images[0], c.images[0])


@pytest.mark.slow
def test_dataset_is_byte_identical_whatever_the_workers(tmp_path, fast_profile):
    one = generate_dataset(tmp_path / "w1", 6, 11, fast_profile, workers=1, progress=False)
    two = generate_dataset(tmp_path / "w2", 6, 11, fast_profile, workers=2, progress=False)
    assert one == two
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*") if p.is_file())
    assert len(files) == 6 * 2 + 2
    for f in files:
        assert (tmp_path / "w1" / f).read_bytes() == (tmp_path / "w2" / f).read_bytes(), f


def test_labels_have_the_documented_fields_and_agree_with_each_other(fast_profile):
    for i in range(12):
        scan = generate_scan(1, i, fast_profile, anomaly_rate=0.5)
        rec = scan.labels
        assert REQUIRED <= set(rec)
        assert rec["label"] == ("inspect" if rec["truth"]["anomalies"] else "release")
        assert rec["container"] in ("20ft", "40ft", "2x20ft")
        d = rec["declared"]
        if d["hs_code"] is not None:
            assert commodity_for_hs(d["hs_code"]) == d["commodity"]
        h, w = scan.images[0].shape
        assert scan.images[1].shape == (h, w) and scan.images[0].dtype == np.uint16
        # 40 ft at 20 mm is ~650 px long, a 20 ft ~350 px
        assert (w > 600) == (rec["container"] != "20ft")


@pytest.mark.parametrize("anomaly_type", anom.TYPES)
def test_every_anomaly_box_is_inside_the_image_and_marks_a_real_change(anomaly_type, fast_profile):
    for spec in specs_with(anomaly_type, 3):
        with_it = render_scan(spec, fast_profile)
        without = render_scan(spec, fast_profile, anomalies=False)
        assert with_it.images[0].shape == without.images[0].shape
        h, w = with_it.images[0].shape
        diff = np.abs(log_high(with_it, fast_profile.air_value) - log_high(without, fast_profile.air_value))
        boxes = with_it.labels["truth"]["anomalies"]
        assert {b["type"] for b in boxes} == set(spec.anomaly_types)
        for b in boxes:
            x0, y0, x1, y1 = b["bbox"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, b
            inside = diff[y0:y1, x0:x1]
            assert inside.mean() > 0.01, (b, inside.mean())
        if anomaly_type in anom.CONCEALMENTS and len(boxes) == 1:
            x0, y0, x1, y1 = boxes[0]["bbox"]
            mask = np.ones_like(diff, bool)
            mask[max(0, y0 - 3) : y1 + 3, max(0, x0 - 3) : x1 + 3] = False
            # the change is in the box: outside it only scatter and blur carry any of it
            assert diff[y0:y1, x0:x1].mean() > 5 * diff[mask].mean()


def test_anomaly_free_render_is_a_release(fast_profile):
    spec = specs_with("dense_concealment", 1)[0]
    clean = render_scan(spec, fast_profile, anomalies=False)
    assert clean.labels["label"] == "release" and clean.labels["truth"]["anomalies"] == []


def test_every_class_and_anomaly_type_is_drawn():
    seen_truth, seen_declared, seen_types, outside = set(), set(), set(), 0
    for i in range(600):
        spec = sample_spec(np.random.default_rng([5, i]), f"x{i}", anomaly_rate=0.3)
        seen_truth.add(spec.truth_commodity)
        seen_declared.add(spec.declared["commodity"])
        seen_types.update(spec.anomaly_types)
        outside += spec.declared["commodity"] is None
    assert seen_truth == set(class_names())
    assert set(class_names()) <= seen_declared
    assert seen_types == set(anom.TYPES)
    assert 3 <= outside <= 45  # about 3% outside the library


def test_hard_cases_are_in_range(rng):
    hold = Box(0, 0, 12000, 2400)
    items = [Box(1000, 0, 3000, 1500)]
    c_sizes, inside_items = [], 0
    from quayscan.datasets.scene import Canvas

    for _ in range(200):
        c = Canvas(300, 60, (40.0, 40.0), 2400.0)
        a = anom.dense_concealment(c, rng, hold, items, 235.0)
        c_sizes.append(a.detail["size_mm"])
        inside_items += items[0].x0 <= a.box.x0 and a.box.x1 <= items[0].x1
    assert min(c_sizes) < 150 and max(c_sizes) > 500  # 10-60 cm, small ones included
    assert inside_items > 150  # mostly hidden inside the load
    variants = {anom.plan_compartment(rng, hold)[0] for _ in range(100)}
    assert variants == {"false_wall", "partial_wall", "false_floor", "false_roof"}


def test_empty_container_is_bright_and_steel_coils_are_dark(fast_profile):
    empties, coils = [], []
    i = 0
    while len(empties) < 2 or len(coils) < 2:
        spec = sample_spec(np.random.default_rng([8, i]), f"e{i}", anomaly_rate=0.0)
        i += 1
        if spec.truth_commodity == "empty" and len(empties) < 2:
            empties.append(render_scan(spec, fast_profile))
        elif spec.truth_commodity == "steel_coils" and len(coils) < 2:
            coils.append(render_scan(spec, fast_profile))
    for scan in empties:
        t = scan.images[0].astype(float) / fast_profile.air_value
        h, w = t.shape
        hold = t[int(h * 0.2) : int(h * 0.55), int(w * 0.3) : int(w * 0.7)]  # mid-height of the box
        assert np.median(hold) > 0.8
    for scan in coils:
        t = scan.images[0].astype(float) / fast_profile.air_value
        assert t.min() < 0.02  # a coil stops most of the beam


def test_bad_arguments_are_refused_with_the_value(tmp_path, fast_profile):
    with pytest.raises(ValueError, match="anomaly rate"):
        sample_spec(np.random.default_rng(0), "x", anomaly_rate=1.5)
    with pytest.raises(ValueError, match="seed"):
        generate_scan(-1, 0, fast_profile)
    with pytest.raises(ValueError, match="count"):
        generate_dataset(tmp_path / "d", 0, 1, fast_profile, progress=False)
    generate_dataset(tmp_path / "d", 1, 1, fast_profile, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_dataset(tmp_path / "d", 1, 1, fast_profile, progress=False)


def test_written_dataset_reads_back(tmp_path, fast_profile):
    records = generate_dataset(tmp_path / "d", 3, 2, fast_profile, progress=False, preview=True)
    assert (tmp_path / "d" / "preview.png").is_file()
    for rec in records:
        scan = read_scan(tmp_path / "d" / rec["files"]["high"])  # finds its _low twin
        assert scan.low is not None and scan.high.dtype == np.uint16
        assert Path(tmp_path / "d" / rec["files"]["low"]).is_file()
