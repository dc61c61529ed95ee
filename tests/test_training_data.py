"""Training samples drawn from the generator: honest twins, and batches and splits that keep them paired."""

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from quayscan.datasets.generator import generate_scan  # noqa: E402
from quayscan.datasets.profiles import load_profile  # noqa: E402
from quayscan.model.preprocess import PreprocessConfig  # noqa: E402
from quayscan.training.data import OBJECTS, load_samples  # noqa: E402
from quayscan.training.train import _groups, split, units  # noqa: E402

SPEC = "10:7:linac-6-3:1.0"


@pytest.fixture(scope="module")
def with_twins():
    return load_samples([], [SPEC], PreprocessConfig(), progress=False, twins=True)


def test_synth_draws_exactly_what_the_generator_writes():
    samples, recipe = load_samples([], ["3:7:linac-6-3:1.0"], PreprocessConfig(), progress=False)
    assert [s.record for s in samples] == [generate_scan(7, i, load_profile("linac-6-3"), 1.0).labels for i in range(3)]
    assert "honest_twins" not in recipe[0]


def test_every_scan_that_shows_an_anomaly_is_followed_by_its_honest_twin(with_twins):
    samples, recipe = with_twins
    shown = [s for s in samples if s.visible]
    twins = [s for s in samples if s.record["id"].endswith("-honest")]
    assert recipe[0]["honest_twins"] is True
    assert shown and len(twins) == len(shown) == len(samples) - 10
    for i, s in enumerate(samples):
        if s.record["id"].endswith("-honest"):
            scan = samples[i - 1]
            assert s.record["id"] == scan.record["id"] + "-honest" and scan.visible
            assert s.visible == 0 and not s.mask.any() and s.record["label"] == "release"
            assert s.record["truth"]["anomalies"] == [] and s.x.shape == scan.x.shape


def test_a_concealment_twin_differs_only_around_the_concealed_object(with_twins):
    samples, _ = with_twins
    pairs = [(samples[i - 1], s) for i, s in enumerate(samples) if s.record["id"].endswith("-honest")
             and {a["type"] for a in samples[i - 1].record["truth"]["anomalies"]} <= set(OBJECTS) | {"manifest_mismatch"}
             and "manifest_mismatch" not in {a["type"] for a in samples[i - 1].record["truth"]["anomalies"]}]
    assert pairs, "the fixture should hold a concealment"
    for scan, twin in pairs:
        diff = np.abs(scan.x.astype(np.float32) - twin.x.astype(np.float32)).max(axis=0)
        near = cv2.dilate((scan.mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # the object shows; elsewhere the same load and noise, only the detector's faint spread along its columns
        assert diff[~near].max() < 0.01 and diff[near].max() > 5 * diff[~near].max()


def test_batches_splits_and_shards_keep_a_scan_with_its_twin(with_twins):
    samples, _ = with_twins
    pairs = [u for u in units(samples) if len(u) == 2]
    assert len(pairs) == sum(s.record["id"].endswith("-honest") for s in samples)
    batches = [set(idx) for _, idx in _groups(samples, 64, 736, np.random.default_rng(0))]
    assert all(any(set(p) <= b for b in batches) for p in pairs)
    train, val = split(samples, 0.5)
    for part in (train, val):
        ids = {s.record["id"] for s in part}
        assert all(i[: -len("-honest")] in ids for i in ids if i.endswith("-honest"))


def test_shards_of_a_distributed_run_draw_disjoint_scans_that_make_up_the_whole():
    whole, recipe = load_samples([], ["5:7:linac-6-3:0.5"], PreprocessConfig(), progress=False)
    parts = [load_samples([], ["5:7:linac-6-3:0.5"], PreprocessConfig(), progress=False, shard=(r, 2)) for r in (0, 1)]
    ids = [[s.record["id"] for s in p[0]] for p in parts]
    assert sorted(ids[0] + ids[1]) == sorted(s.record["id"] for s in whole) and not set(ids[0]) & set(ids[1])
    assert parts[0][1] == parts[1][1] == recipe  # each process records the whole data set
