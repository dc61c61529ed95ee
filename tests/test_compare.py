"""``quayscan compare``: paired differences with intervals, disagreements as pictures, the promotion gate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serve_fixtures import gate_folder, model_copy

from quayscan.model.policy import Thresholds
from quayscan.model.runner import DEFAULT_MODEL
from quayscan.training.compare import Tolerance, compare, compare_outputs, gate


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return gate_folder(tmp_path_factory)


def test_a_model_against_itself_has_no_difference(folder, tmp_path):
    r = compare(DEFAULT_MODEL, model_copy(tmp_path, "same"), folder, tmp_path / "cmp", progress=False)
    assert r["n_disagreements"] == 0 and r["gate"]["passed"]
    for d in r["difference"].values():
        assert d["b_minus_a"] == 0 and d["ci95"] == [0.0, 0.0]
    saved = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert saved["b"]["model_version"] == "same" and (tmp_path / "cmp" / "report.html").is_file()


def test_a_model_that_releases_everything_fails_the_gate(folder, tmp_path):
    lax = model_copy(tmp_path, "lax", thresholds=Thresholds(inspect=1.01, commodity=0.0))
    r = compare(DEFAULT_MODEL, lax, folder, tmp_path / "cmp", progress=False)
    assert not r["gate"]["passed"] and "inspect recall" in r["gate"]["problems"][0]
    assert r["difference"]["inspect_recall"]["b_minus_a"] < 0 and r["n_disagreements"] > 0
    lo, hi = r["difference"]["inspect_recall"]["ci95"]
    assert lo <= r["difference"]["inspect_recall"]["b_minus_a"] <= hi and hi < 0
    pictures = list((tmp_path / "cmp" / "disagreements").glob("*.png"))
    assert 0 < len(pictures) == min(r["n_disagreements"], 12)


def test_gate_tolerance():
    current = {"inspect_recall": 0.99, "release_rate": 0.80}
    assert gate(current, {"inspect_recall": 0.987, "release_rate": 0.79}) == []
    assert len(gate(current, {"inspect_recall": 0.98, "release_rate": 0.70})) == 2
    assert gate(current, {"inspect_recall": 0.98, "release_rate": 0.80}, Tolerance(recall=0.02)) == []


def test_bootstrap_interval_covers_a_known_difference():
    rng = np.random.default_rng(3)
    n = 400
    records = [{"label": "inspect" if i % 2 else "release", "declared": {"hs_code": "620342", "commodity": "garments"},
                "truth": {"commodity": "garments", "anomalies": [{"type": "dense_concealment"}] if i % 2 else []}}
               for i in range(n)]
    names = ["garments", "other"]
    commodity = np.tile([0.9, 0.1], (n, 1))
    must = np.array([r["label"] == "inspect" for r in records])
    a_scores = np.where(must, 0.9, 0.1)
    b_scores = np.where(must & (rng.random(n) < 0.2), 0.1, a_scores)  # b misses ~20% of the positives
    t = Thresholds(inspect=0.5, commodity=0.05)
    out = compare_outputs({"anomaly": a_scores, "commodity": commodity, "class_names": names, "thresholds": t},
                          {"anomaly": b_scores, "commodity": commodity, "class_names": names, "thresholds": t},
                          records, rng=np.random.default_rng(0), n_boot=300)
    d = out["difference"]["inspect_recall"]
    expected = -float((b_scores[must] < 0.5).mean())
    assert d["b_minus_a"] == pytest.approx(expected)
    assert d["ci95"][0] < expected < d["ci95"][1] and d["ci95"][1] - d["ci95"][0] < 0.15
    assert out["difference"]["release_rate"]["b_minus_a"] == 0
