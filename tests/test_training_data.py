"""Training samples and batches: honest twins kept paired, training windows, averaged weights."""

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


def test_training_windows_never_cut_a_box_and_label_what_they_hold():
    from quayscan.training.augment import crop

    x = np.random.default_rng(0).random((3, 8, 700), dtype=np.float32)
    mask = np.zeros((8, 700), np.uint8)
    mask[2:5, 100:140] = 1  # an object
    mask[1:7, 500:620] = 2  # a scene anomaly
    rng = np.random.default_rng(1)
    held = set()
    for _ in range(300):
        y, m, shows = crop(x, mask, 200, rng)
        assert y.shape == (3, 8, 200) and m.shape == (8, 200)
        boxes = {int(m[2:5].any(axis=0).sum()) if (m == 1).any() else 0, int((m == 2).any(axis=0).sum())}
        assert boxes <= {0, 40, 120}  # a box is whole in the window or not in it
        assert shows == bool(m.any())
        held.add(((m == 1).any(), (m == 2).any()))
    assert (True, False) in held and (False, True) in held and (False, False) in held  # each box, and neither
    y, m, shows = crop(x, np.zeros_like(mask), 200, rng)
    assert shows is None and y.shape[2] == 200  # no boxes: the scan's own label stands
    narrow = x[:, :, :150]
    assert crop(narrow, mask[:, :150], 200, rng)[0] is narrow  # narrower than the window: as it is
    wide = np.zeros_like(mask)
    wide[:, 100:400] = 1  # wider than the window: cut, labelled by what is left
    _, m, shows = crop(x, wide, 200, rng)
    assert shows == bool(m.any())


def test_windowed_training_with_averaged_weights_checkpoints_and_resumes(tmp_path, monkeypatch, capsys):
    import torch

    from quayscan.cli import main
    from quayscan.training import train

    out = tmp_path / "run"
    args = ["train", "--synth", "8:3:linac-6-3:0.5", "--out", str(out), "--batch-size", "4", "--val-fraction", "0.3",
            "--workers", "1", "--no-progress", "--window", "256", "--window-epochs", "1", "--ema", "0.9", "--epochs", "2"]
    one_epoch = train.train_one_epoch
    calls = []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return one_epoch(*a, **kw)

    monkeypatch.setattr(train, "train_one_epoch", interrupted)
    assert main(args) == 130  # interrupted (Ctrl-C) during epoch 2
    first = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert first["epoch"] == 0 and set(first["live_model"]) == set(first["model"])
    assert [k for k in first["model"] if first["model"][k].is_floating_point()
            and not torch.equal(first["model"][k], first["live_model"][k])]  # the average is not the live weights
    monkeypatch.setattr(train, "train_one_epoch", one_epoch)
    assert main(args) == 0  # resumes at epoch 2, from the live weights and the average
    second = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert second["epoch"] == 1 and second["args"]["window"] == 256 and second["args"]["ema"] == 0.9
    assert len((out / "history.jsonl").read_text().splitlines()) == 2
    assert main([*args[:-1], "3"]) == 2  # a finished schedule is not stretched: a clear error instead
    assert "planned for 2 epochs" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(out / "best.pt"), "--out", str(out / "model.onnx")]) == 0


def test_window_epochs_come_first_then_whole_frames():
    from argparse import Namespace

    from quayscan.training.train import train_width

    args = Namespace(window=384, window_epochs=2, width=736)
    assert [train_width(args, e) for e in range(4)] == [384, 384, 736, 736]
    assert [train_width(Namespace(window=384, window_epochs=None, width=736), e) for e in range(2)] == [384, 384]
    assert train_width(Namespace(window=0, window_epochs=None, width=736), 0) == 736
