"""The retraining loop end to end, as an ML engineer runs it against a live server.

Serve a model, post scans, review some as an officer, export the reviewed cases, fine-tune from the
current model, compare, register, shadow, promote, roll back; the server's decisions follow the
registry and the audit trail says who did each step.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("torch")

from serve_helpers import ServerProcess, client, make_keys, scan_pngs, scan_requests  # noqa: E402
from serve_fixtures import coarse_profile  # noqa: E402

from quayscan.cli import main  # noqa: E402

PITCH = 20.0


def cli(*args: str) -> int:
    return main([str(a) for a in args])


def wait_for_version(api, requests, version: str, timeout_s: float = 20.0) -> dict:
    """Post scans until one is decided by ``version`` (the server follows the registry within ~2 s)."""
    deadline = time.monotonic() + timeout_s
    seen = []
    for req in requests:
        r = req.post(api)
        assert r.status_code == 201, r.text
        seen.append(r.json()["model_version"])
        if seen[-1] == version:
            return r.json()
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    raise AssertionError(f"no decision by {version} after {len(seen)} posts: {seen}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_serve_review_export_finetune_compare_shadow_promote_rollback(tmp_path, capsys):
    # a current model the port serves, with its checkpoint (fine-tuning starts from it)
    run_a = tmp_path / "run-a"
    assert cli("train", "--synth", "12:3:linac-6-3:0.5", "--out", run_a, "--epochs", "1", "--batch-size", "4",
               "--val-fraction", "0.3", "--workers", "1", "--no-progress") == 0
    assert cli("export", "--checkpoint", run_a / "best.pt", "--out", run_a / "model.onnx", "--version", "loop-a") == 0

    # every would-be release goes to an officer as an audit sample: tiny test models release almost everything
    server = ServerProcess(tmp_path / "srv", args=("--audit-share", "1"))
    db, blobs = server.db_url, str(server.blobs_dir)
    keys = make_keys(db, ("scanner", "officer"))
    assert cli("models", "register", run_a / "model.onnx", "--db", db, "--blobs", blobs, "--by", "mlops") == 0
    assert cli("models", "promote", "loop-a", "--db", db, "--blobs", blobs, "--by", "mlops", "--force",
               "--reason", "first model of this port") == 0
    server.start()
    try:
        pngs = scan_pngs(coarse_profile(), 6, seed=21)
        requests = iter(scan_requests(pngs, 400, "gate-1", PITCH, seed=4))
        with client(server, keys["scanner"]) as scanner, client(server, keys["officer"]) as officer:
            posted = [next(requests).post(scanner).json() for _ in range(8)]
            assert {p["model_version"] for p in posted} == {"loop-a"}
            flagged = [p["case_id"] for p in posted if p["decision"] == "inspect"]
            assert len(flagged) >= 3, posted
            # an officer clears one; another is opened and something found (with a box); one opened, nothing found
            review = lambda cid, **body: officer.post(f"/v1/cases/{cid}/reviews", json=body)  # noqa: E731
            assert review(flagged[0], action="clear", note="matches the declaration").status_code == 201
            assert review(flagged[1], action="inspect").status_code == 201
            assert review(flagged[1], action="finding", category="dense_concealment", box=[10, 10, 60, 60],
                          note="steel block behind the pallets").status_code == 201
            assert review(flagged[2], action="inspect").status_code == 201
            assert review(flagged[2], action="no_finding").status_code == 201

            # export what officers and inspections established
            export = tmp_path / "export"
            assert cli("dataset", "export", "--db", db, "--blobs", blobs, "--out", export, "--no-progress") == 0
            records = [json.loads(line) for line in (export / "labels.jsonl").read_text().splitlines()]
            by_case = {r["provenance"]["case_id"]: r for r in records}
            assert set(by_case) == set(flagged[:3])
            assert by_case[flagged[0]]["label"] == by_case[flagged[2]]["label"] == "release"
            assert by_case[flagged[1]]["label"] == "inspect"
            assert by_case[flagged[1]]["truth"]["anomalies"][0]["type"] == "dense_concealment"

            # fine-tune from the current model on synthetic + exported scans, export as a new version
            run_b = tmp_path / "run-b"
            assert cli("train", "--init", run_a / "best.pt", "--synth", "8:5:linac-6-3:0.5", "--data", export,
                       "--out", run_b, "--epochs", "1", "--batch-size", "4", "--val-fraction", "0.3",
                       "--workers", "1", "--no-progress") == 0
            assert cli("export", "--checkpoint", run_b / "best.pt", "--out", run_b / "model.onnx",
                       "--version", "loop-b") == 0
            assert cli("compare", "--a", run_a / "model.onnx", "--b", run_b / "model.onnx", "--data", export,
                       "--out", tmp_path / "cmp", "--no-progress") == 0
            report = json.loads((tmp_path / "cmp" / "report.json").read_text())
            assert (report["a"]["model_version"], report["b"]["model_version"]) == ("loop-a", "loop-b")
            assert report["n_scans"] == 3

            # register and shadow: the candidate scores live scans without deciding any
            assert cli("models", "register", run_b / "model.onnx", "--db", db, "--blobs", blobs, "--by", "mlops") == 0
            assert cli("models", "shadow", "loop-b", "--db", db, "--blobs", blobs, "--by", "mlops") == 0
            time.sleep(3)  # one registry poll
            shadowed = [next(requests).post(scanner).json() for _ in range(3)]
            assert {s["model_version"] for s in shadowed} == {"loop-a"}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                capsys.readouterr()
                assert cli("compare", "--db", db, "--shadow", "loop-b", "--out", tmp_path / "shadow") == 0
                live = json.loads((tmp_path / "shadow" / "report.json").read_text())
                if live.get("n_cases", 0) >= 3:
                    break
                time.sleep(1)
            assert live["n_cases"] >= 3, live

            # promote through the gate (the exported cases are the gate set); a refusal needs force + reason
            capsys.readouterr()
            gated = cli("models", "promote", "loop-b", "--db", db, "--blobs", blobs, "--gate-data", export,
                        "--by", "alice", "--no-progress")
            if gated != 0:
                said = capsys.readouterr()
                assert gated == 1 and "refused" in said.err and "gate fails" in said.err, said
                assert cli("models", "promote", "loop-b", "--db", db, "--blobs", blobs, "--gate-data", export,
                           "--by", "alice", "--force", "--reason", "tiny test models", "--no-progress") == 0
            assert wait_for_version(scanner, requests, "loop-b")["model_version"] == "loop-b"

            # roll back: the previous model decides again
            assert cli("models", "rollback", "--db", db, "--blobs", blobs, "--by", "alice",
                       "--reason", "practice") == 0
            assert wait_for_version(scanner, requests, "loop-a")["model_version"] == "loop-a"
    finally:
        server.stop()

    # the audit trail: who did each step
    capsys.readouterr()
    assert cli("models", "list", "--db", db, "--blobs", blobs, "--json") == 0
    models = {m["version"]: m for m in json.loads(capsys.readouterr().out)}
    steps = [(e["action"], e["user"]) for e in models["loop-b"]["events"]]
    assert ("register", "mlops") in steps and ("shadow", "mlops") in steps and ("promote", "alice") in steps
    assert any(action == "rollback" and user == "alice" for action, user in
               [(e["action"], e["user"]) for m in models.values() for e in m["events"]])
    assert models["loop-a"]["current"] and not models["loop-b"]["current"]
