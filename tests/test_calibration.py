"""Calibration: the inspect threshold for a target recall, the bound a calibration set vouches for, and
recalibrating a model (exported, or at the end of training) on more scans."""

import json

import numpy as np
import pytest

from quayscan.cli import main
from quayscan.datasets.commodities import class_names
from quayscan.model.card import read_card
from quayscan.model.runner import DEFAULT_MODEL
from quayscan.training.calibrate import calibrate, recall_lower_bound
from quayscan.training.metrics import compute_metrics

GARMENTS = "620342"  # an HS code of the library's garments


def _records(labels: list[str]) -> list[dict]:
    return [{"label": label, "declared": {"commodity": "garments", "hs_code": GARMENTS},
             "truth": {"commodity": "garments", "anomalies": [{"type": "dense_concealment"}] if label == "inspect" else []}}
            for label in labels]


def test_calibrate_picks_the_highest_threshold_that_reaches_the_target_recall():
    rng = np.random.default_rng(3)
    labels = ["inspect"] * 200 + ["release"] * 300
    anomaly = np.concatenate([rng.beta(5, 2, 200), rng.beta(2, 5, 300)])
    names = class_names()
    commodity = np.full((500, len(names)), 0.01)
    commodity[:, names.index("garments")] = 0.9  # an honest, confidently recognised load: no mismatch
    records = _records(labels)
    t = calibrate(anomaly, commodity, records, names, target_recall=0.95)
    m = compute_metrics(anomaly, commodity, records, names, t)
    assert m["inspect_recall"] >= 0.95
    # the next score up would miss one more scan to inspect and fall below the target
    higher = np.min(anomaly[:200][anomaly[:200] > t.inspect])
    m_higher = compute_metrics(anomaly, commodity, records, names, type(t)(higher, t.commodity, 0.95))
    assert m_higher["inspect_recall"] < 0.95
    assert 0.0 < m["release_rate"] < 1.0


def test_commodity_threshold_flags_one_percent_of_clean_honest_loads_whatever_the_anomaly_rate():
    names = class_names()
    labels = ["release"] * 100 + ["inspect"] * 300
    records = _records(labels)
    commodity = np.full((400, len(names)), 0.01)
    g = names.index("garments")
    commodity[:100, g] = np.linspace(0.3, 0.9, 100)  # clean honest loads
    commodity[100:, g] = 0.02  # loads that hide something may look unlike their declaration: a catch, not a false alarm
    t = calibrate(np.linspace(0, 1, 400), commodity, records, names)
    assert 0.3 <= t.commodity <= 0.32


def test_recall_lower_bound_grows_with_the_calibration_set():
    small, large = recall_lower_bound(188, 190), recall_lower_bound(1188, 1200)
    assert small == pytest.approx(0.9687, abs=1e-3) and large == pytest.approx(0.9841, abs=1e-3)
    assert small < large < 0.99
    assert recall_lower_bound(10, 10) < 1.0 and recall_lower_bound(0, 5) == 0.0
    assert recall_lower_bound(188, 190, 0.99) < small
    with pytest.raises(ValueError, match="confidence"):
        recall_lower_bound(1, 2, 0.5)


def test_calibrate_command_writes_a_recalibrated_copy(tmp_path, fast_profile, capsys):
    from quayscan.datasets.make_dataset import generate_dataset

    generate_dataset(tmp_path / "cal", 8, 11, fast_profile, anomaly_rate=0.75, progress=False)
    before = read_card(DEFAULT_MODEL)
    out = tmp_path / "calibrated.onnx"
    assert main(["calibrate", "--data", str(tmp_path / "cal"), "--out", str(out), "--target-recall", "0.9",
                 "--no-progress"]) == 0
    record = json.loads(capsys.readouterr().out.split("\ncalibrated model:")[0])
    card = read_card(out)
    assert card.evaluation["calibration"] == record and record["n_scans"] == 8
    assert record["previous_thresholds"] == before.thresholds.to_dict()
    assert card.thresholds.inspect == pytest.approx(record["threshold"]) and card.thresholds.target_recall == 0.9
    assert read_card(DEFAULT_MODEL).thresholds == before.thresholds  # the shipped model is left alone
    # the copy reaches the target on the scans it was calibrated on, judged as evaluate judges
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "cal"), "--out", str(tmp_path / "rep"),
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["inspect_recall"] >= 0.9


def test_calibrate_leaves_out_exported_cases_a_model_flagged(tmp_path, fast_profile):
    from quayscan.datasets.make_dataset import generate_dataset
    from quayscan.training.recalibrate import recalibrate

    folder = tmp_path / "port"
    recs = generate_dataset(folder, 8, 13, fast_profile, anomaly_rate=0.75, progress=False)
    # as `quayscan dataset export` writes them: three cases reached review through the model's flag, one
    # through the random audit of releases
    for i, r in enumerate(recs[:4]):
        r["provenance"] = {"source": "officer", "audit_sample": i == 3, "model_decision": "inspect"}
    (folder / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    record = recalibrate(None, [folder], tmp_path / "m.onnx", 0.9, progress=False)
    assert record["left_out_model_selected"] == 3 and record["n_scans"] == 5


def test_calibrate_refuses_scans_with_nothing_to_inspect(tmp_path, fast_profile, capsys):
    from quayscan.datasets.make_dataset import generate_dataset

    generate_dataset(tmp_path / "clean", 2, 12, fast_profile, anomaly_rate=0.0, progress=False)
    assert main(["calibrate", "--data", str(tmp_path / "clean"), "--out", str(tmp_path / "m.onnx"),
                 "--no-progress"]) != 0
    assert "must be inspected" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_training_calibrates_the_best_checkpoint_on_the_calibration_scans_too(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "run"
    assert main(["train", "--synth", "8:3:linac-6-3:0.5", "--val-synth", "4:4:linac-6-3:0.5",
                 "--cal-synth", "6:5:linac-6-3:0.9", "--out", str(out), "--epochs", "1", "--batch-size", "4",
                 "--workers", "1", "--no-progress"]) == 0
    state = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    cal = state["calibration"]
    assert cal["n_scans"] == 10 and cal["threshold"] == pytest.approx(state["thresholds"]["inspect"])
    assert cal["data"][1]["seed"] == 5 and state["data_recipe"]["calibration"][0]["count"] == 6
    assert state["val_metrics"]["threshold"] == pytest.approx(state["thresholds"]["inspect"])
    assert main(["export", "--checkpoint", str(out / "best.pt"), "--out", str(out / "model.onnx")]) == 0
    assert read_card(out / "model.onnx").evaluation["calibration"]["n_scans"] == 10
