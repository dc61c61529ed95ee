"""The evaluation report: every promised file is written, from normal and from degenerate inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from quayscan.datasets.commodities import class_names
from quayscan.model.policy import Thresholds
from quayscan.training.metrics import compute_metrics
from quayscan.training.report import Example, write_report

TYPES = ["dense_concealment", "organic_concealment", "undeclared_goods", "manifest_mismatch", "hidden_compartment"]
PLOTS = ["roc.png", "pr.png", "release_vs_recall.png", "recall_by_type.png", "recall_by_size.png",
         "confusion.png", "score_hist.png"]


def fake_outputs(rng: np.random.Generator, n: int = 40, anomalous: bool = True):
    """Records declared as garments, a third of them anomalous; scores loosely follow the truth."""
    names = class_names()
    records = []
    for i in range(n):
        anomalies = []
        if anomalous and i % 3 == 0:
            t = TYPES[(i // 3) % len(TYPES)]
            anomalies = [{"type": t, "bbox": [0, 0, 10, 10], "size_mm": int(rng.integers(100, 1200))}]
        truth = "machinery" if anomalies and anomalies[0]["type"] == "manifest_mismatch" else "garments"
        records.append({
            "id": f"s900-{i:06d}",
            "label": "inspect" if anomalies else "release",
            "declared": {"hs_code": "620342", "commodity": "garments", "description": "x"},
            "truth": {"commodity": truth, "anomalies": anomalies},
        })
    anomaly = np.clip(rng.normal(0.2, 0.15, n) + 0.5 * np.array([bool(r["label"] == "inspect") for r in records]),
                      0, 1)
    commodity = rng.dirichlet(np.ones(len(names)), n)
    return anomaly, commodity, records


def tiny_examples(rng: np.random.Generator) -> list[Example]:
    wide = rng.integers(0, 255, (40, 1600, 3), dtype=np.uint8)  # wider than the report keeps
    return [Example("missed: s900-000003 <dense> & co (score 0.031)", wide),
            Example("false alarm: s900-000001 clean", rng.integers(0, 255, (30, 60, 3), dtype=np.uint8))]


def check_report(page: Path, n_misses: int, n_alarms: int) -> dict:
    out = page.parent
    assert page == out / "report.html"
    for name in ["report.json", "report.html", "report.md", *PLOTS]:
        assert (out / name).is_file(), name
    assert len(list((out / "misses").glob("miss_*.png"))) == n_misses
    assert len(list((out / "false_alarms").glob("fa_*.png"))) == n_alarms
    report = json.loads((out / "report.json").read_text())
    for key in ("auc", "release_rate", "recall_by_type", "commodity_top1", "n_scans"):
        assert key in report, key
    text = page.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text
    for png in out.rglob("*.png"):
        assert f'src="{png.relative_to(out).as_posix()}"' in text, png
    # every image the page links to exists
    for src in re.findall(r'src="([^"]+)"', text):
        assert (out / src).is_file(), src
    return report


def test_report_writes_every_file(tmp_path: Path, rng: np.random.Generator):
    import cv2

    anomaly, commodity, records = fake_outputs(rng)
    metrics = compute_metrics(anomaly, commodity, records, class_names(), Thresholds())
    examples = tiny_examples(rng)
    write_report(tmp_path / "rep", metrics, anomaly, records, examples, examples)
    # a rerun into the same folder with fewer examples leaves no stale pictures behind
    page = write_report(tmp_path / "rep", metrics, anomaly, records, examples[:1], examples[1:], title="test <run>")
    report = check_report(page, 1, 1)
    assert report["n_scans"] == 40
    assert set(report["recall_by_type"]) == set(TYPES)
    text = page.read_text()
    assert "test &lt;run&gt;" in text and "&lt;dense&gt; &amp; co" in text
    assert cv2.imread(str(tmp_path / "rep" / "misses" / "miss_00.png")).shape[1] == 1400
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| release rate of clean scans |" in md and "![" in md


@pytest.mark.parametrize("case", ["no_anomalies", "all_anomalous", "single"])
def test_report_degenerate_inputs(tmp_path: Path, rng: np.random.Generator, case: str):
    anomaly, commodity, records = fake_outputs(rng, n={"single": 1}.get(case, 12), anomalous=case != "no_anomalies")
    if case == "all_anomalous":
        keep = [i for i, r in enumerate(records) if r["label"] == "inspect"]
        anomaly, commodity, records = anomaly[keep], commodity[keep], [records[i] for i in keep]
    metrics = compute_metrics(anomaly, commodity, records, class_names(), Thresholds())
    metrics["auc"] = np.float64("nan")  # also as a numpy scalar
    page = write_report(tmp_path, metrics, anomaly, records, [], [])
    report = check_report(page, 0, 0)
    assert report["auc"] is None
    assert "n/a" in page.read_text()


def test_report_rejects_mismatched_lengths(tmp_path: Path, rng: np.random.Generator):
    anomaly, commodity, records = fake_outputs(rng, n=6)
    metrics = compute_metrics(anomaly, commodity, records, class_names(), Thresholds())
    with pytest.raises(ValueError, match="5 anomaly scores for 6 records"):
        write_report(tmp_path, metrics, anomaly[:5], records, [], [])


def test_decisions_inspect_a_scan_serving_would_not_trust_whatever_its_score(rng: np.random.Generator):
    from quayscan.training.metrics import decisions

    anomaly, commodity, records = fake_outputs(rng, n=6, anomalous=False)
    commodity[:] = np.eye(len(class_names()))[class_names().index("garments")]
    records[2]["quality"] = ["underexposed"]
    made = decisions(np.zeros(6), commodity, records, class_names(), Thresholds())
    assert [d.decision for d in made] == ["release", "release", "inspect", "release", "release", "release"]
    assert made[2].reasons == ["image_quality"]
