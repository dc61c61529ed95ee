"""``quayscan models``: register, list, promote through the gate (refused, forced with a logged reason),
roll back, shadow; every step in the registry's audit trail with who did it. And the same over the API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import Service, app_in, gate_folder, make_keys, model_copy

from quayscan.cli import main
from quayscan.model.card import read_card
from quayscan.model.policy import Thresholds
from quayscan.model.runner import DEFAULT_MODEL
from quayscan.serve.storage import make_engine, make_session_factory
from quayscan.serve.storage.registry import current_model, list_events


@pytest.fixture(scope="module")
def gate_data(tmp_path_factory):
    return gate_folder(tmp_path_factory)


@pytest.fixture
def registry(tmp_path):
    """``--db`` and ``--blobs`` flags of a new registry whose current model is the shipped one."""
    flags = ["--db", f"sqlite:///{tmp_path}/q.db", "--blobs", str(tmp_path / "blobs")]
    assert main(["models", "register", str(DEFAULT_MODEL), "--by", "ops", *flags]) == 0
    default = read_card(DEFAULT_MODEL).model_version
    assert main(["models", "promote", default, "--by", "ops", *flags]) == 0  # the first model needs no gate
    return flags


def events(flags):
    engine = make_engine(flags[1])
    try:
        with make_session_factory(engine)() as session:
            return [(e.version, e.action, e.user_name, e.forced, e.reason) for e in list_events(session)], \
                current_model(session).version
    finally:
        engine.dispose()


def test_register_list_promote_refused_forced_rollback_shadow(registry, gate_data, tmp_path, capsys):
    default = read_card(DEFAULT_MODEL).model_version
    lax = model_copy(tmp_path, "lax-2", thresholds=Thresholds(inspect=1.01, commodity=0.0))  # releases everything
    assert main(["models", "register", str(lax), "--by", "alice", *registry]) == 0
    capsys.readouterr()

    # worse than the current model: refused with the figures, nothing changes
    code = main(["models", "promote", "lax-2", "--gate-data", str(gate_data), "--by", "alice", "--no-progress",
                 *registry])
    out, err = capsys.readouterr()
    assert code == 1 and "refused" in err and "inspect recall" in err
    assert f"current   {default}: recall" in out and "candidate lax-2: recall" in out
    assert events(registry)[1] == default

    # --force needs a reason; with one it goes through and the reason and gate figures are logged
    assert main(["models", "promote", "lax-2", "--force", "--by", "alice", *registry]) == 2
    assert main(["models", "promote", "lax-2", "--gate-data", str(gate_data), "--force", "--reason",
                 "audit week: inspect everything", "--by", "alice", "--no-progress", *registry]) == 0
    log, current = events(registry)
    assert current == "lax-2"
    assert log[-1] == ("lax-2", "promote", "alice", True, "audit week: inspect everything")

    assert main(["models", "rollback", "--by", "bob", "--reason", "audit week over", *registry]) == 0
    assert main(["models", "shadow", "lax-2", "--by", "bob", *registry]) == 0
    assert main(["models", "shadow", default, *registry]) == 2  # the current model cannot also shadow
    assert main(["models", "shadow", "--off", "--by", "bob", *registry]) == 0
    log, current = events(registry)
    assert current == default
    assert [(v, a, u) for v, a, u, _, _ in log] == [
        (default, "register", "ops"), (default, "promote", "ops"), ("lax-2", "register", "alice"),
        ("lax-2", "promote", "alice"), (default, "rollback", "bob"), ("lax-2", "shadow", "bob"),
        ("lax-2", "unshadow", "bob")]

    capsys.readouterr()
    assert main(["models", "list", *registry[:2]]) == 0
    table = capsys.readouterr().out
    assert "lax-2" in table and "FORCED  reason: audit week: inspect everything" in table
    assert main(["models", "list", "--json", *registry[:2]]) == 0
    listing = {m["version"]: m for m in json.loads(capsys.readouterr().out)}
    assert listing[default]["current"] and listing[default]["promoted_by"] == "bob"
    gate = listing["lax-2"]["events"][1]["details"]["gate_report"]
    assert gate["gate"]["passed"] is False and gate["b"]["model_version"] == "lax-2"


def test_a_candidate_as_good_as_the_current_one_passes_the_gate(registry, gate_data, tmp_path, capsys):
    same = model_copy(tmp_path, "same-2")
    assert main(["models", "register", str(same), "--by", "alice", *registry]) == 0
    assert main(["models", "promote", "same-2", "--gate-data", str(gate_data), "--by", "alice", "--no-progress",
                 *registry]) == 0
    assert "gate passes" in capsys.readouterr().out
    log, current = events(registry)
    assert current == "same-2" and log[-1][:4] == ("same-2", "promote", "alice", False)


def test_promote_without_gate_data_or_force_is_a_usage_error(registry):
    assert main(["models", "promote", "anything", *registry]) == 2
    assert main(["models", "shadow", *registry]) == 2  # neither a version nor --off


def test_api_promotion_needs_a_passed_gate_report_or_force(tmp_path):
    app = app_in(tmp_path)
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app), tmp_path)
        admin = svc.auth("admin")
        current = client.get("/v1/models", headers=admin).json()["current"]
        assert client.post("/v1/models", headers=admin,
                           content=model_copy(tmp_path, "cand-2").read_bytes()).status_code == 201
        report = {"a": {"model_version": current}, "b": {"model_version": "cand-2"},
                  "gate": {"passed": False, "problems": ["inspect recall 0.5 is below ..."]}}
        r = client.post("/v1/models/cand-2/promote", headers=admin, json={"gate": report})
        assert r.status_code == 409 and r.json()["error"]["code"] == "gate_failed"
        report["gate"] = {"passed": True, "problems": []}
        r = client.post("/v1/models/cand-2/promote", headers=admin,
                        json={"gate": {**report, "a": {"model_version": "other"}}})
        assert r.status_code == 409 and r.json()["error"]["code"] == "gate_mismatch"
        r = client.post("/v1/models/cand-2/promote", headers=admin, json={"force": True})
        assert r.status_code == 422 and r.json()["error"]["code"] == "reason_required"
        r = client.post("/v1/models/cand-2/promote", headers=admin, json={"gate": report})
        assert r.status_code == 200 and r.json()["current"] and r.json()["promoted_by"] == "test-admin"
        r = client.post("/v1/models/rollback", headers=admin, json={"reason": "just checking"})
        assert r.status_code == 200 and r.json()["version"] == current
        history = {m["version"]: m["events"] for m in client.get("/v1/models", headers=svc.auth("officer"))
                   .json()["models"]}
        assert [(e["action"], e["user"], e["forced"]) for e in history["cand-2"]] == [
            ("register", "test-admin", False), ("promote", "test-admin", False)]
        assert history["cand-2"][1]["details"]["gate_report"]["gate"]["passed"] is True
        assert history[current][-1]["action"] == "rollback" and history[current][-1]["reason"] == "just checking"
