"""The random audit sample: a share of would-be releases goes to review, and the dashboard estimates misses."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import Service, app_in, make_keys, make_scans

from quayscan.datasets.scan import Scan
from quayscan.model.policy import Decision
from quayscan.model.runner import Runner
from quayscan.model.stats import wilson
from quayscan.serve.api.reviews import audit_figures
from quayscan.serve.pipeline import AUDIT_SAMPLE, audit_sample
from quayscan.serve.settings import Settings

@pytest.fixture(scope="module")
def scans():
    """Three scans the shipped model flags by their anomaly score and, third, one it releases: picked by
    asking the model, so the tests hold whichever model ships."""
    runner = Runner()
    flagged, released = [], []
    for s in make_scans(16):
        scan = Scan(s.high, s.low, tuple(s.labels["pixel_pitch_mm"]), s.labels["air_value"])
        decision = runner.triage(scan, [s.labels["declared"]]).decision
        if decision.reasons == ["anomaly_score"]:
            flagged.append(s)
        elif decision.decision == "release":
            released.append(s)
    assert len(flagged) >= 3 and released, "the shipped model should flag some of these scans and release one"
    return [flagged[0], flagged[1], released[0], flagged[2]]


def start(root, share: float) -> tuple[Service, TestClient]:
    app = app_in(root, audit_share=share)
    client = TestClient(app)
    client.__enter__()
    return Service(client, app, make_keys(app), root), client


@pytest.fixture
def service_factory(tmp_path):
    clients: list[TestClient] = []

    def make(share: float, name: str = "q") -> Service:
        service, client = start(tmp_path / name, share)
        clients.append(client)
        return service

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def release_everything(service: Service) -> None:
    """Make the model decide release for every scan, keeping its real score, thresholds and version."""
    engine = service.app.state.services.engine
    triage = engine.triage

    async def releasing(*args, **kwargs):
        out = await triage(*args, **kwargs)
        d = out.decision
        return dataclasses.replace(out, decision=Decision("release", [], d.score, d.commodity))

    engine.triage = releasing


def review(service: Service, case_id: str, action: str, **body) -> dict:
    r = service.client.post(f"/v1/cases/{case_id}/reviews", json={"action": action, **body},
                            headers=service.auth("officer"))
    assert r.status_code == 201, r.text
    return r.json()


# -- the sample --------------------------------------------------------------------------------------------
def test_every_would_be_release_is_audited_at_share_one(service_factory, scans):
    plain, audited = service_factory(0.0, "plain"), service_factory(1.0, "audited")
    releases = 0
    for scan in scans:
        before, after = plain.post(scan).json(), audited.post(scan).json()
        releases += before["decision"] == "release"
        assert after["score"] == pytest.approx(before["score"]) and after["threshold"] == before["threshold"]
        if before["decision"] == "release":
            assert after["decision"] == "inspect" and after["reasons"] == [AUDIT_SAMPLE]
            assert after["score"] < after["threshold"]  # the release it replaced is visible
        else:  # a flagged scan is not touched
            assert (after["decision"], after["reasons"]) == (before["decision"], before["reasons"])
    assert releases >= 1  # scans[2] is one the shipped model releases
    # The audited cases wait in the officers' queue like any flagged case.
    queue = audited.client.get("/v1/queue?reason=audit_sample", headers=audited.auth("officer")).json()
    assert queue["total"] == releases and all(c["reasons"] == [AUDIT_SAMPLE] for c in queue["items"])


def test_no_audit_at_share_zero(service_factory, scans):
    service = service_factory(0.0)
    release_everything(service)
    answers = [service.post(scans[i % len(scans)]).json() for i in range(12)]
    assert all(a["decision"] == "release" and a["reasons"] == [] for a in answers)


def test_half_share_with_a_seeded_source_is_plausible_and_repeatable(service_factory, scans):
    picked = []
    for name in ("a", "b"):
        service = service_factory(0.5, name)
        release_everything(service)
        service.app.state.services.audit_rng = random.Random(11)
        picked.append([service.post(scans[i % len(scans)]).json()["decision"] == "inspect" for i in range(24)])
    assert picked[0] == picked[1]  # same seed, same scans sampled
    assert 6 <= sum(picked[0]) <= 18  # P(outside) < 1 % for a fair coin; fixed by the seed anyway


def test_audit_sample_only_ever_turns_a_release_into_an_inspect():
    rng = random.Random(5)
    release = Decision("release", [], 0.04, {"predicted": "tires"})
    flagged = Decision("inspect", ["anomaly_score"], 0.9, {})
    draws = [audit_sample(release, 0.5, rng) for _ in range(4000)]
    share = sum(d.decision == "inspect" for d in draws) / len(draws)
    assert share == pytest.approx(0.5, abs=0.03)
    sampled = next(d for d in draws if d.decision == "inspect")
    assert sampled.reasons == [AUDIT_SAMPLE] and sampled.score == 0.04 and sampled.commodity == {"predicted": "tires"}
    assert audit_sample(flagged, 1.0, rng) is flagged
    assert audit_sample(release, 0.0, rng) is release
    with pytest.raises(ValueError, match="audit share"):
        Settings(audit_share=1.5)
    assert Settings.from_env({"QUAYSCAN_AUDIT_SHARE": "0.1"}).audit_share == 0.1
    assert Settings().audit_share == 0.02


# -- the estimate ------------------------------------------------------------------------------------------
def test_wilson_interval_matches_known_values():
    lo, hi = wilson(2, 5)
    assert (lo, hi) == (pytest.approx(0.1176, abs=1e-4), pytest.approx(0.7693, abs=1e-4))
    lo, hi = wilson(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.0370, abs=1e-4)  # no miss seen still leaves up to 3.7 %
    assert wilson(0, 0) is None


def row(decision, reasons=(), status="decided", outcome=None, reviewed=False):
    return SimpleNamespace(decision=decision, reasons=list(reasons), status=status, outcome=outcome,
                           reviewed_at=object() if reviewed else None)


def test_audit_figures_on_a_known_set():
    rows = (
        [row("release")] * 94  # released by the model, never seen
        + [row("inspect", [AUDIT_SAMPLE], "cleared", reviewed=True)] * 3
        + [row("inspect", [AUDIT_SAMPLE], "closed", "finding", reviewed=True)]  # a miss, confirmed
        + [row("inspect", [AUDIT_SAMPLE], "closed", "no_finding", reviewed=True)]  # opened, nothing: not a miss
        + [row("inspect", [AUDIT_SAMPLE])]  # sampled, still in the queue
        + [row("inspect", ["anomaly_score"], "closed", "finding", reviewed=True)] * 3  # caught
        + [row("inspect", ["anomaly_score"], "inspection", reviewed=True)]  # caught, outcome pending
        + [row("inspect", ["anomaly_score"], "cleared", reviewed=True)] * 5  # flagged, clean
    )
    a = audit_figures(rows)
    assert (a["sampled"], a["reviewed"], a["found"]) == (6, 5, 1)
    assert a["release_side_miss_rate"] == pytest.approx(0.2)
    assert a["ci95"] == [pytest.approx(v, abs=1e-4) for v in wilson(1, 5)]
    assert a["would_be_releases"] == 100 and a["caught"] == 4
    assert a["estimated_misses"] == pytest.approx(20.0)
    assert a["release_side_recall_estimate"] == pytest.approx(4 / 24)
    lo, hi = a["release_side_recall_ci95"]
    assert lo == pytest.approx(4 / (4 + a["ci95"][1] * 100)) and hi == pytest.approx(4 / (4 + a["ci95"][0] * 100))
    assert lo < a["release_side_recall_estimate"] < hi

    empty = audit_figures([row("release")] * 3)
    assert empty["sampled"] == 0 and empty["release_side_miss_rate"] is None and empty["ci95"] is None
    assert empty["release_side_recall_estimate"] is None and empty["release_side_recall_ci95"] is None


def test_dashboard_shows_the_audit_through_the_api(service_factory, scans):
    service = service_factory(1.0)
    engine = service.app.state.services.engine
    real = engine.triage
    release_everything(service)
    ids = [service.post(scans[i % len(scans)]).json()["case_id"] for i in range(6)]
    engine.triage = real
    caught = service.post(scans[1]).json()  # the shipped model flags it
    assert caught["reasons"] != [AUDIT_SAMPLE]
    review(service, ids[0], "clear")
    review(service, ids[1], "clear")
    review(service, ids[2], "inspect")  # ordered opened: counts as found until the outcome comes
    review(service, ids[3], "inspect")
    review(service, ids[3], "finding", category="dense_concealment")
    review(service, ids[4], "inspect")
    review(service, ids[4], "no_finding")
    review(service, caught["case_id"], "inspect")
    review(service, caught["case_id"], "finding", category="organic_concealment")

    a = service.client.get("/v1/dashboard?hours=2", headers=service.auth("supervisor")).json()["audit"]
    assert (a["sampled"], a["reviewed"], a["found"], a["caught"]) == (6, 5, 2, 1)
    assert a["release_side_miss_rate"] == pytest.approx(0.4)
    assert a["ci95"] == [pytest.approx(0.1176, abs=1e-4), pytest.approx(0.7693, abs=1e-4)]
    assert a["release_side_recall_estimate"] == pytest.approx(1 / (1 + 0.4 * 6))
