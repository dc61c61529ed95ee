"""The model path end to end: tiny training, export with metadata, parity torch vs ONNX, evaluate, predict."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from quayscan.cli import main  # noqa: E402
from quayscan.datasets.generator import generate_scan  # noqa: E402
from quayscan.datasets.scan import Scan  # noqa: E402
from quayscan.model.card import read_card  # noqa: E402
from quayscan.model.runner import Runner  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A few training steps on a few generated scans, exported: a loadable (if useless) model."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--synth", "10:3:linac-6-3:0.5", "--out", str(out), "--epochs", "1", "--batch-size", "4",
                 "--val-fraction", "0.3", "--workers", "1", "--no-progress"]) == 0
    assert main(["export", "--checkpoint", str(out / "best.pt"), "--out", str(out / "model.onnx")]) == 0
    return out


def test_training_writes_checkpoints_config_and_history(tiny_run):
    assert (tiny_run / "last.pt").is_file() and (tiny_run / "best.pt").is_file()
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["epochs"] == 1 and config["preprocess"]["pitch_mm"] == 20.0
    assert config["data_recipe"]["train"][0]["profile"] == "linac-6-3"
    history = [json.loads(line) for line in (tiny_run / "history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and np.isfinite(history[0]["loss"]["cls"])
    state = torch.load(tiny_run / "best.pt", map_location="cpu", weights_only=False)
    assert {"model", "net_config", "preprocess", "class_names", "thresholds", "data_recipe"} <= set(state)


def test_export_metadata_round_trip(tiny_run):
    card = read_card(tiny_run / "model.onnx")
    state = torch.load(tiny_run / "best.pt", map_location="cpu", weights_only=False)
    assert card.class_names == state["class_names"]
    assert card.thresholds.inspect == pytest.approx(state["thresholds"]["inspect"])
    assert card.preprocess.to_dict() == state["preprocess"]
    assert card.data_recipe["generator_version"] and card.data_recipe["train"][0]["seed"] == 3
    assert card.model_version.endswith("-e1") and "validation" in card.evaluation


def test_training_eval_path_and_serving_path_agree(tiny_run):
    """Training-time eval preprocessing + torch versus serving preprocessing + onnxruntime, on one scan."""
    from quayscan.training.data import make_sample
    from quayscan.training.export_checkpoint import load_checkpoint
    from quayscan.training.train import batches
    from quayscan.model.preprocess import PreprocessConfig

    net, state = load_checkpoint(tiny_run / "best.pt")
    g = generate_scan(99, 1, __import__("quayscan.datasets.profiles", fromlist=["x"]).load_profile("linac-9-6"))
    scan = Scan(g.images[0], g.images[1], tuple(g.labels["pixel_pitch_mm"]), g.labels["air_value"], g.labels)
    sample = make_sample(g.labels, scan, PreprocessConfig.from_dict(state["preprocess"]), exact=True)
    width = sample.x.shape[2] + (-sample.x.shape[2]) % 32
    x, _, _, _ = next(batches([sample], 1, width, None, None))
    with torch.no_grad():
        logit, cls, heat = net(x)
    pred = Runner(tiny_run / "model.onnx").predict([scan])[0]
    assert pred.anomaly_prob == pytest.approx(float(torch.sigmoid(logit)[0]), abs=1e-4)
    assert np.allclose(pred.commodity_probs, torch.softmax(cls, 1)[0].numpy(), atol=1e-4)
    assert np.allclose(pred.heatmap, heat[0].numpy(), atol=1e-4)


def test_evaluate_writes_a_valid_report(tiny_run, tmp_path, fast_profile):
    from quayscan.datasets.make_dataset import generate_dataset

    generate_dataset(tmp_path / "test", 6, 5, fast_profile, anomaly_rate=0.5, progress=False)
    assert main(["evaluate", "--model", str(tiny_run / "model.onnx"), "--data", str(tmp_path / "test"),
                 "--out", str(tmp_path / "report"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    for key in ("auc", "threshold", "inspect_recall", "release_rate", "recall_by_type", "commodity_top1", "n_scans"):
        assert key in report
    assert report["n_scans"] == 6
    focus = report["heatmap_focus"]
    assert sum(v["n"] for v in focus["clean"].values()) + sum(v["n"] for v in focus["objects"].values()) <= 6
    assert all(0.0 <= v["hottest_inside_share"] <= 1.0 for v in focus["objects"].values())
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "roc.png").is_file()


def test_predict_prints_one_json_object_per_scan(tiny_run, tmp_path, capsys, fast_profile):
    from quayscan.datasets.make_dataset import generate_dataset

    recs = generate_dataset(tmp_path / "d", 2, 6, fast_profile, progress=False)
    files = [str(tmp_path / "d" / r["files"]["high"]) for r in recs]
    assert main(["predict", "--model", str(tiny_run / "model.onnx"), "--json", "--heatmaps",
                 str(tmp_path / "heat"), *files]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["decision"] in ("release", "inspect") and line["reasons"] is not None
        assert line["model_version"] and os.path.isfile(line["heatmap"])


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    cmd = [torchrun, "--nproc_per_node=2", "--master_port=29533", "-m", "quayscan.cli", "train",
           "--synth", "8:4:linac-6-3:0.5", "--twins", "--val-synth", "4:5:linac-6-3:0.5", "--out", str(tmp_path / "ddp"),
           "--epochs", "1", "--batch-size", "2", "--workers", "1", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(tmp_path / "ddp" / "best.pt", map_location="cpu", weights_only=False)
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["world_size"] == 2
    assert "thresholds" in state


def test_the_shipped_model_is_complete_and_used_by_default(tmp_path, capsys, fast_profile):
    """model/default holds a model whose card has everything serving needs; predict uses it by default."""
    from quayscan.datasets.commodities import class_names
    from quayscan.datasets.make_dataset import generate_dataset
    from quayscan.model.runner import DEFAULT_MODEL

    card = read_card(DEFAULT_MODEL)
    assert card.class_names == class_names()
    assert 0 < card.thresholds.inspect < 1 and card.thresholds.target_recall == pytest.approx(0.99)
    assert card.data_recipe["train"] and "validation" in card.evaluation
    assert DEFAULT_MODEL.stat().st_size < 10e6
    recs = generate_dataset(tmp_path / "d", 1, 8, fast_profile, progress=False)
    assert main(["predict", "--json", str(tmp_path / "d" / recs[0]["files"]["high"])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == card.model_version and out["decision"] in ("release", "inspect")


@pytest.mark.parametrize("stride", [8, 16])
def test_heatmap_stride(stride):
    from quayscan.model.network import NetConfig, TriageNet

    net = TriageNet(NetConfig(heat_stride=stride)).eval()
    with torch.no_grad():
        logit, cls, heat = net(torch.rand(2, 3, 192, 320))
    assert logit.shape == (2,) and cls.shape == (2, 12) and heat.shape == (2, 192 // stride, 320 // stride)
    with pytest.raises(ValueError, match="heat_stride"):
        TriageNet(NetConfig(heat_stride=4))
    assert NetConfig.from_dict({"num_classes": 12}).heat_stride == 16  # checkpoints from before the field


def test_paste_dense_conceals_an_object_inside_the_hold(fast_profile):
    from quayscan.model.preprocess import PreprocessConfig, preprocess
    from quayscan.training.augment import PasteDense

    g = generate_scan(7, 0, fast_profile, anomaly_rate=0.0)
    lab = g.labels
    x = preprocess(Scan(g.images[0], g.images[1], tuple(lab["pixel_pitch_mm"]), lab["air_value"]), PreprocessConfig())
    mask = np.zeros(x.shape[1:], np.uint8)
    paste = PasteDense(max_attenuation=8.0, p=1.0)
    y, m, pasted = paste(x, mask, np.random.default_rng(3))
    assert pasted and mask.sum() == 0 and m.sum() > 0  # inputs untouched
    rows, cols = np.nonzero(m)
    assert 36 <= rows.min() and rows.max() < 146
    changed = np.abs(y[:2] - x[:2]).max(axis=0) > 1e-6
    assert changed.any() and not (changed & (m == 0)).any()  # attenuation added inside the box only
    assert (y[:2] >= x[:2] - 1e-6).all() and (y[0][m > 0] > x[0][m > 0] + 0.01).any()
    assert np.median(x[0][:, cols.min() : cols.max() + 1][36:146]) > 0.004  # inside a container
    assert PasteDense(max_attenuation=8.0, p=0.0)(x, mask, np.random.default_rng(3))[2] is False


def test_unconfirmed_commodity_teaches_the_commodity_head_nothing():
    """An exported finding's declared goods are not known to be true: no commodity loss comes from it."""
    from quayscan.model.network import NetConfig, TriageNet
    from quayscan.training.data import Sample
    from quayscan.training.train import UNKNOWN_COMMODITY, commodity_target, loss_fn

    x = np.zeros((3, 192, 64), np.float16)
    mask = np.zeros((192, 64), np.uint8)
    confirmed = Sample(x, mask, 0, 4, {"truth": {"commodity": "garments", "commodity_confirmed": True}})
    unconfirmed = Sample(x, mask, 1, 4, {"truth": {"commodity": "garments", "commodity_confirmed": False}})
    generated = Sample(x, mask, 0, 4, {"truth": {"commodity": "garments"}})
    assert [commodity_target(s) for s in (confirmed, unconfirmed, generated)] == [4, UNKNOWN_COMMODITY, 4]
    net = TriageNet(NetConfig())
    xb = torch.zeros((2, 3, 192, 64))
    mb = torch.zeros((2, 192, 64))
    _, parts = loss_fn(net, xb, mb, torch.tensor([1.0, 1.0]), torch.tensor([UNKNOWN_COMMODITY, UNKNOWN_COMMODITY]))
    assert parts["cls"] == 0.0
    _, parts = loss_fn(net, xb, mb, torch.tensor([1.0, 1.0]), torch.tensor([4, UNKNOWN_COMMODITY]))
    assert parts["cls"] > 0.0


def test_heat_cells_caps_the_weight_of_large_boxes_only():
    """With --heat-cells a large box counts as one finding; a small object keeps its full weight per cell."""
    from quayscan.model.network import NetConfig, TriageNet
    from quayscan.training.train import loss_fn

    torch.manual_seed(0)
    net = TriageNet(NetConfig()).eval()
    x = torch.rand((1, 3, 192, 256))
    small, large = torch.zeros((1, 192, 256)), torch.zeros((1, 192, 256))
    small[0, 80:96, 100:116] = 1  # 2 x 2 cells at stride 8
    large[0, 40:160, 20:240] = 1  # 15 x 28 cells
    heat = {}
    for name, mask in (("small", small), ("large", large)):
        for cap in (0.0, 16.0):
            heat[name, cap] = loss_fn(net, x, mask, torch.ones(1), torch.tensor([4]), 20.0, cap)[1]["heat"]
    assert heat["small", 16.0] == pytest.approx(heat["small", 0.0])
    assert heat["large", 16.0] < 0.2 * heat["large", 0.0]


def test_scene_boxes_ignore_leaves_the_map_free_inside_scene_boxes_only():
    """With --scene-boxes ignore the heatmap loss does not look inside a false wall's or undeclared goods'
    box (the image label decides there), but still inside an object's box and everywhere else."""
    from quayscan.training.data import OBJECT, SCENE
    from quayscan.training.train import loss_fn

    def fake_net(heat):
        return lambda x, heat_logits: (torch.zeros(1), torch.zeros((1, 12)), heat)

    mask = torch.zeros((1, 192, 256))
    mask[0, 40:120, 160:240] = SCENE
    mask[0, 80:96, 40:56] = OBJECT
    base = torch.full((1, 24, 32), -3.0)
    in_scene, in_object, outside = base.clone(), base.clone(), base.clone()
    in_scene[0, 8:14, 22:28] = 3.0
    in_object[0, 10:12, 5:7] = 3.0
    outside[0, 20:23, 2:4] = 3.0
    x, v, c = torch.zeros((1, 3, 192, 256)), torch.ones(1), torch.tensor([4])

    def heat(h, mode):
        return loss_fn(fake_net(h), x, mask, v, c, 20.0, 0.0, mode)[1]["heat"]

    assert heat(in_scene, "ignore") == pytest.approx(heat(base, "ignore"))
    assert heat(in_scene, "target") < heat(base, "target")
    assert heat(in_object, "ignore") < heat(base, "ignore")
    assert heat(outside, "ignore") > heat(base, "ignore")
    with pytest.raises(ValueError, match="scene_boxes"):
        heat(base, "sometimes")


def test_anomaly_mask_marks_objects_over_scenes():
    from quayscan.model.preprocess import PreprocessConfig
    from quayscan.training.data import OBJECT, SCENE, anomaly_mask

    scan = Scan(np.full((100, 400), 50000, np.uint16), None, (20.0, 20.0), 60000, {})
    record = {"truth": {"anomalies": [
        {"type": "dense_concealment", "bbox": [50, 20, 60, 30]},
        {"type": "undeclared_goods", "bbox": [40, 10, 200, 90]},
        {"type": "manifest_mismatch", "bbox": [0, 0, 400, 100]},
    ]}}
    mask = anomaly_mask(record, scan, np.zeros((3, 192, 400), np.float32), PreprocessConfig())
    assert mask[25, 55] == OBJECT and mask[50, 100] == SCENE and mask[5, 5] == 0 and mask[150, 300] == 0


def test_heat_weight_scales_the_heatmap_term_only():
    from quayscan.training.train import loss_fn

    heat = torch.full((1, 24, 32), -3.0)
    net = lambda x, heat_logits: (torch.zeros(1), torch.zeros((1, 12)), heat)  # noqa: E731
    mask = torch.zeros((1, 192, 256))
    mask[0, 80:96, 40:56] = 1
    args = (net, torch.zeros((1, 3, 192, 256)), mask, torch.ones(1), torch.tensor([4]), 20.0, 0.0, "ignore")
    one, parts = loss_fn(*args, heat_weight=1.0)
    thirty, _ = loss_fn(*args, heat_weight=30.0)
    assert float(thirty - one) == pytest.approx(29.0 * parts["heat"], rel=1e-4)


def test_hard_negatives_learn_the_hottest_cells_outside_the_boxes_only():
    """A hot cell far from the box raises the hard-negative term; one in the box or its ring does not."""
    from quayscan.training.train import loss_fn

    mask = torch.zeros((1, 192, 256))
    mask[0, 80:96, 40:56] = 1  # cells 10-11 x 5-6
    x, v, c = torch.zeros((1, 3, 192, 256)), torch.ones(1), torch.tensor([4])

    def hard(h, k=4):
        net = lambda x, heat_logits: (torch.zeros(1), torch.zeros((1, 12)), h)  # noqa: E731
        return loss_fn(net, x, mask, v, c, 20.0, 0.0, "ignore", 1.0, k)[1]

    base = torch.full((1, 24, 32), -3.0)
    in_box, in_ring, far = base.clone(), base.clone(), base.clone()
    in_box[0, 10, 5] = 3.0
    in_ring[0, 12, 7] = 3.0
    far[0, 20, 25] = 3.0
    assert hard(in_box)["hard"] == pytest.approx(hard(base)["hard"])
    assert hard(in_ring)["hard"] == pytest.approx(hard(base)["hard"])
    assert hard(far)["hard"] > 10 * hard(base)["hard"]
    assert "hard" not in hard(far, k=0)


def test_heat_focus_tells_a_map_on_the_object_from_a_map_on_the_cargo():
    from quayscan.model.preprocess import PreprocessConfig
    from quayscan.model.runner import Prediction
    from quayscan.training.focus import HeatFocus

    scan = Scan(np.zeros((192, 640), np.uint16), None, (20.0, 20.0), 60000, {})
    record = {"truth": {"commodity": "garments", "anomalies": [
        {"type": "dense_concealment", "bbox": [320, 80, 344, 104]}]}}  # cells 40-42 x 10-12 at stride 8
    on_object, on_cargo = np.full((24, 80), 0.3, np.float32), np.full((24, 80), 0.3, np.float32)
    on_object[11, 41] = 0.9
    on_cargo[5, 60] = 0.9
    focus = HeatFocus(PreprocessConfig())
    for heat in (on_object, on_cargo):
        focus.add(record, scan, Prediction(0.5, np.zeros(12), heat, 640))
    focus.add({"truth": {"commodity": "garments", "anomalies": []}}, scan, Prediction(0.5, np.zeros(12), on_cargo, 640))
    summary = focus.summary()
    assert summary["objects"]["dense_concealment"] == {"n": 2, "inside_max_median": pytest.approx(0.6),
                                                       "hottest_inside_share": 0.5}
    assert summary["clean"] == {"garments": {"n": 1, "hottest_median": pytest.approx(0.9)}}
