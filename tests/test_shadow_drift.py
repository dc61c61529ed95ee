"""Shadow mode (a candidate scores every live scan, changing no decision; compare reads its scores) and
score drift (PSI of live scores against the card's validation histogram, in /metrics and the drift route)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from serve_fixtures import Service, app_in, make_keys, make_scans

from quayscan.cli import main
from quayscan.model.card import read_card, write_card
from quayscan.model.policy import Thresholds
from quayscan.model.runner import DEFAULT_MODEL
from quayscan.serve.metrics import psi, score_histogram
from quayscan.serve.registry import reference_histogram

#: a validation histogram of mostly low scores, as a calibrated model's clean majority gives
REFERENCE = [400, 150, 60, 40, 30, 25, 20, 20, 25, 30]


# -- PSI -------------------------------------------------------------------------------------------------
def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    ref = rng.beta(2, 8, 20_000)
    same = rng.beta(2, 8, 2_000)
    shifted = rng.beta(8, 2, 2_000)
    assert psi(score_histogram(ref), score_histogram(ref)) == 0.0
    assert 0.0 <= psi(score_histogram(ref), score_histogram(same)) < 0.05
    big = psi(score_histogram(ref), score_histogram(shifted))
    assert math.isfinite(big) and big > 1.0
    assert psi([1] * 10, [0] * 9 + [5]) > psi([1] * 10, [1] * 9 + [5]) > 0  # empty bins stay finite
    with pytest.raises(ValueError, match="same bins"):
        psi([1] * 10, [1] * 5)
    with pytest.raises(ValueError, match="empty"):
        psi([0] * 10, [1] * 10)


def test_score_histogram_bins_the_unit_interval():
    assert score_histogram([0.0, 0.05, 0.1, 0.95, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_reference_histogram_comes_from_the_card_or_is_missing():
    shipped = reference_histogram(read_card(DEFAULT_MODEL).to_dict())  # measured on its validation set
    assert len(shipped) == 10 and sum(shipped) == read_card(DEFAULT_MODEL).evaluation["validation"]["n_scans"]
    assert reference_histogram({"evaluation": {"validation": {"auc": 0.8}}}) is None  # an older card has none
    assert reference_histogram({"evaluation": {"validation": {"score_histogram": REFERENCE}}}) == REFERENCE
    assert reference_histogram({"evaluation": {"score_histogram": {"counts": REFERENCE}}}) == REFERENCE
    assert reference_histogram({"evaluation": {"score_histogram": [1, 2]}}) is None  # not 10 bins


# -- shadow mode -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scans():
    return make_scans(5, seed=21)


@pytest.fixture
def service(tmp_path):
    # no random audit sample: the same scan must get the same decision twice
    app = app_in(tmp_path, audit_share=0.0)
    with TestClient(app) as client:
        yield Service(client, app, make_keys(app), tmp_path)


def shadow_copy(tmp_path) -> bytes:
    """The shipped model that inspects everything, with a validation score histogram in its card."""
    path = tmp_path / "shadow-2.onnx"
    path.write_bytes(DEFAULT_MODEL.read_bytes())
    card = read_card(path)
    evaluation = {**card.evaluation, "validation": {**card.evaluation["validation"], "score_histogram": REFERENCE}}
    write_card(path, dataclasses.replace(card, model_version="shadow-2", evaluation=evaluation,
                                         thresholds=Thresholds(inspect=0.0, commodity=card.thresholds.commodity)))
    return path.read_bytes()


def samples(service) -> dict:
    r = service.client.get("/metrics", headers=service.auth("supervisor"))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(r.text) for s in f.samples}


def test_shadow_scores_every_live_scan_without_changing_decisions(service, scans, tmp_path):
    admin, engine = service.auth("admin"), service.app.state.services.engine
    before = [service.post(s).json() for s in scans]
    assert service.client.post("/v1/models", headers=admin, content=shadow_copy(tmp_path)).status_code == 201
    r = service.client.post("/v1/models/shadow-2/shadow", headers=admin, json={"reason": "try the candidate"})
    assert r.status_code == 200 and r.json()["shadow"] and engine.shadow.version == "shadow-2"
    after = [service.post(s).json() for s in scans]
    assert engine.wait_shadow(60)
    # the deciding model decides exactly as before; the shadow changes nothing on the case
    assert [(c["decision"], c["score"], c["model_version"]) for c in after] == \
        [(c["decision"], c["score"], c["model_version"]) for c in before]

    # an officer clears one flagged case: compare says which model matched the officer
    flagged = next(c for c in after if c["decision"] == "inspect")
    r = service.client.post(f"/v1/cases/{flagged['case_id']}/reviews", headers=service.auth("officer"),
                            json={"action": "clear", "note": "as declared"})
    assert r.status_code == 201, r.text
    db = service.app.state.services.settings.db_url
    assert main(["compare", "--db", db, "--shadow", "shadow-2", "--out", str(tmp_path / "cmp")]) == 0
    report = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert report["n_cases"] == len(scans) and report["deciding_versions"] == [before[0]["model_version"]]
    # the shadow inspects everything: it agrees exactly where the deciding model inspected
    inspected = sum(c["decision"] == "inspect" for c in after)
    assert report["matrix"]["inspect"]["inspect"] == inspected
    assert report["matrix"]["release"]["inspect"] == len(scans) - inspected
    assert report["release_rate"]["shadow"] == 0.0
    assert report["officer"] == {"reviewed": 1, "both": 0, "deciding_only": 0, "shadow_only": 0, "neither": 1}
    assert (tmp_path / "cmp" / "scores.png").is_file() and (tmp_path / "cmp" / "report.html").is_file()

    # drift: both cards carry a validation score histogram, so both get a PSI
    drift = {d["role"]: d for d in service.client.get("/v1/models/drift", headers=service.auth("supervisor"))
             .json()["models"]}
    assert math.isfinite(drift["current"]["psi"]) and drift["current"]["n_scores"] == 2 * len(scans)
    assert drift["shadow"]["n_scores"] == len(scans) and math.isfinite(drift["shadow"]["psi"])
    assert drift["shadow"]["psi"] >= 0 and sum(drift["shadow"]["live"]) == len(scans)
    values = samples(service)
    labels = (("role", "shadow"), ("version", "shadow-2"))
    assert values[("quayscan_score_psi", labels)] == pytest.approx(drift["shadow"]["psi"])
    assert values[("quayscan_score_psi_scores", labels)] == len(scans)
    assert values[("quayscan_shadow_scored_total", ())] == len(scans)
    current = (("role", "current"), ("version", before[0]["model_version"]))
    assert values[("quayscan_score_psi", current)] == pytest.approx(drift["current"]["psi"])

    # stop shadowing: nothing more is scored
    assert service.client.delete("/v1/models/shadow", headers=admin).json() == {"shadow": None}
    assert engine.shadow is None
    service.post(scans[0])
    assert engine.wait_shadow(10) and samples(service)[("quayscan_shadow_scored_total", ())] == len(scans)
    events = [(e["action"], e["user"]) for m in service.client.get("/v1/models", headers=admin).json()["models"]
              if m["version"] == "shadow-2" for e in m["events"]]
    assert events == [("register", "test-admin"), ("shadow", "test-admin"), ("unshadow", "test-admin")]


def test_a_failing_shadow_never_fails_a_request(service, scans, tmp_path, monkeypatch):
    admin, engine = service.auth("admin"), service.app.state.services.engine
    service.client.post("/v1/models", headers=admin, content=shadow_copy(tmp_path))
    service.client.post("/v1/models/shadow-2/shadow", headers=admin)

    def broken(_scans):
        raise RuntimeError("shadow broke")

    monkeypatch.setattr(engine.shadow.runner, "predict", broken)
    r = service.post(scans[0])
    assert r.status_code == 201 and r.json()["decision"] in ("release", "inspect")
    assert engine.wait_shadow(30) and samples(service)[("quayscan_shadow_failures_total", ())] == 1
