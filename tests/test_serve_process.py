"""The service as a real process: killed mid-burst, restarted with work left over, models swapped under load.

    python -m pytest -q tests/test_serve_process.py

Each test starts ``quayscan serve`` on 127.0.0.1 (a free port) with SQLite and a blob folder under
``tmp_path``, and talks to it over HTTP, as a scanner and an officer would.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections import Counter

import httpx
import numpy as np
import pytest

from quayscan.model.card import read_card, write_card
from quayscan.model.runner import DEFAULT_MODEL
from serve_helpers import ScanRequest, ServerProcess, client, make_keys, scan_pngs, scan_request_stream, scan_requests

DECISIONS = {"release", "inspect"}
PITCH_MM = 20.0


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    from quayscan.datasets.profiles import load_profile, profile_from_dict

    d = load_profile("linac-6-3").to_dict()
    d.update(name="test-coarse", pitch_mm=[PITCH_MM, PITCH_MM])
    return scan_pngs(profile_from_dict(d), 6)


def _all_cases(officer: httpx.Client, **params) -> dict:
    r = officer.get("/v1/cases", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_mid_burst_loses_no_acknowledged_scan_and_retries_make_no_duplicate(server, pngs):
    keys = make_keys(server.db_url)
    threads_n, per_thread, kill_after = 4, 60, 24
    plans = [scan_requests(pngs, per_thread, f"t{t}", PITCH_MM, seed=t) for t in range(threads_n)]
    acked: dict[str, tuple[str, bytes]] = {}  # idempotency key -> (case id, image bytes sent)
    attempted: dict[str, ScanRequest] = {}  # every key whose post was started, acknowledged or not
    unexpected: list[str] = []
    lock, enough = threading.Lock(), threading.Event()

    def burst(plan) -> None:
        with client(server, keys["scanner"]) as c:
            for req in plan:
                with lock:
                    attempted[req.key] = req
                try:
                    r = req.post(c)
                except httpx.TransportError:
                    return  # the server is gone: this post and the rest of the plan are unacknowledged
                with lock:
                    if r.status_code == 201:
                        acked[req.key] = (r.json()["case_id"], req.png)
                        if len(acked) >= kill_after:
                            enough.set()
                    else:
                        unexpected.append(f"{req.key}: {r.status_code} {r.text[:200]}")

    server.start()
    workers = [threading.Thread(target=burst, args=(plan,)) for plan in plans]
    for w in workers:
        w.start()
    try:
        # Posts are now at every stage: being uploaded, stored but not decided, decided but not answered.
        burst_under_way = enough.wait(60)
    finally:
        server.kill()
        for w in workers:
            w.join(60)
    assert burst_under_way, f"only {len(acked)} scans acknowledged in 60 s:\n{server.log_tail()}"
    assert not unexpected, unexpected
    assert len(acked) < threads_n * per_thread, "the burst finished before the kill; nothing was cut off"
    unacked = [req for key, req in attempted.items() if key not in acked]
    assert len(unacked) >= threads_n  # at least each thread's post that met the dead server

    server.start()  # same database and blobs; decides whatever the dead process left undecided
    with client(server, keys["officer"]) as officer:
        assert _all_cases(officer, status="received")["total"] == 0, "an undecided case survived the restart"
        for key, (case_id, png) in acked.items():
            r = officer.get(f"/v1/cases/{case_id}")
            assert r.status_code == 200, f"acknowledged case {case_id} ({key}) is lost: {r.status_code}"
            case = r.json()
            assert case["status"] == "decided" and case["decision"] in DECISIONS, case
            assert case["model_version"], case
            image = officer.get(f"/v1/cases/{case_id}/images/high")
            assert image.status_code == 200 and image.content == png, f"image of case {case_id} lost or changed"

        # The scanner retries everything it sent, acknowledged or not, with the same keys.
        case_of_key = {}
        with client(server, keys["scanner"]) as scanner:
            for key, req in attempted.items():
                r = req.post(scanner)
                assert r.status_code == 201, (key, r.status_code, r.text)
                body = r.json()
                assert body["status"] == "decided" and body["decision"] in DECISIONS, body
                case_of_key[key] = body["case_id"]
                if key in acked:
                    assert body["case_id"] == acked[key][0], f"retry of acknowledged {key} made a new case"
                    assert r.headers.get("idempotent-replayed") == "true"
            again = {key: req.post(scanner).json()["case_id"] for key, req in attempted.items() if key not in acked}
        assert again == {k: case_of_key[k] for k in again}, "a second retry answered with a different case"
        assert len(set(case_of_key.values())) == len(attempted), "two keys share a case"
        assert _all_cases(officer)["total"] == len(attempted), "a retry made a second case for its key"
        for key, case_id in case_of_key.items():
            assert officer.get(f"/v1/cases/{case_id}/images/high").content == attempted[key].png, key


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_case_stored_but_not_decided_is_decided_when_the_service_starts(server, pngs):
    from quayscan.datasets.iso6346 import random_id
    from quayscan.serve.storage.blobs import LocalBlobStore, scan_key
    from quayscan.serve.storage.cases import create_case
    from quayscan.serve.storage.db import make_engine, make_session_factory, new_id, utcnow

    keys = make_keys(server.db_url, ("officer",))  # also migrates the new database
    blobs = LocalBlobStore(server.blobs_dir)
    engine = make_engine(server.db_url)
    container_id = random_id(np.random.default_rng(0))
    stored = {}
    try:
        # What pipeline._store leaves behind when the process dies before the model runs: the image
        # bytes and a committed case in status "received". The second one's bytes are not an image.
        for name, data in (("readable", pngs[0]), ("unreadable", b"\x89PNG\r\n\x1a\n not an image")):
            case_id, now = new_id(), utcnow()
            high_key = scan_key(case_id, "high", now, "png")
            blobs.put(high_key, data)
            with make_session_factory(engine)() as session:
                case, created = create_case(
                    session, case_id=case_id, now=now, scanner_id="gate-1", container_id=container_id,
                    high_blob_key=high_key, pitch_mm=(PITCH_MM, PITCH_MM),
                    declared=[{"hs_code": "620342", "description": "MEN'S COTTON TROUSERS"}],
                    declared_commodity="garments", scanned_at=now, width_px=100, height_px=100,
                    source_format="png", idempotency_key=f"stored-{name}",
                )
            assert created and case.status == "received"
            stored[name] = case_id
    finally:
        engine.dispose()
    model_version = read_card(DEFAULT_MODEL).model_version

    server.start()  # no post follows: the start alone must decide both
    with client(server, keys["officer"]) as officer:
        readable = officer.get(f"/v1/cases/{stored['readable']}").json()
        assert readable["status"] == "decided" and readable["decision"] in DECISIONS, readable
        assert readable["model_version"] == model_version
        assert readable["decided_at"] and readable["score"] is not None
        unreadable = officer.get(f"/v1/cases/{stored['unreadable']}").json()
        assert unreadable["status"] == "decided", unreadable
        assert unreadable["decision"] == "inspect" and "model_unavailable" in unreadable["reasons"], unreadable
        assert _all_cases(officer, status="received")["total"] == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_promote_and_rollback_under_load_fail_no_request_and_switch_the_deciding_model(server, pngs, tmp_path):
    old = read_card(DEFAULT_MODEL)
    swap_file = tmp_path / "swap-2.onnx"
    shutil.copyfile(DEFAULT_MODEL, swap_file)
    write_card(swap_file, dataclasses.replace(old, model_version="swap-2"))
    keys = make_keys(server.db_url)
    threads_n = 3
    # per thread, in order: (sent, answered, HTTP status, model_version) with time.monotonic() times
    done: list[list[tuple[float, float, int, str | None]]] = [[] for _ in range(threads_n)]
    failures: list[str] = []
    stop = threading.Event()

    def load(t: int) -> None:
        plan = scan_request_stream(pngs, f"load{t}", PITCH_MM, seed=100 + t)
        with client(server, keys["scanner"]) as c:
            while not stop.is_set():
                req = next(plan)
                sent = time.monotonic()
                try:
                    r = req.post(c)
                except httpx.HTTPError as exc:
                    failures.append(f"{req.key}: {type(exc).__name__}: {exc}")
                    continue
                version = r.json().get("model_version") if r.status_code == 201 else None
                done[t].append((sent, time.monotonic(), r.status_code, version))

    def wait_for(n_each: int, after: float) -> None:
        deadline = time.monotonic() + 60
        while any(sum(1 for d in done_t if d[0] > after) < n_each for done_t in done):
            assert time.monotonic() < deadline and not failures, (failures, server.log_tail())
            time.sleep(0.02)

    server.start()
    workers = [threading.Thread(target=load, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    try:
        with client(server, keys["admin"]) as admin:
            wait_for(4, 0.0)
            promote_sent = time.monotonic()
            r = admin.post("/v1/models", content=swap_file.read_bytes(),
                           headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201 and r.json()["version"] == "swap-2", r.text
            r = admin.post("/v1/models/swap-2/promote", json={"force": True, "reason": "swap under load"})
            assert r.status_code == 200 and r.json()["current"], r.text
            promoted = time.monotonic()
            wait_for(6, promoted)
            models = admin.get("/v1/models").json()
            assert models["current"] == models["serving"] == "swap-2", models
            rollback_sent = time.monotonic()
            r = admin.post("/v1/models/rollback")
            assert r.status_code == 200 and r.json()["version"] == old.model_version, r.text
            rolled_back = time.monotonic()
            wait_for(6, rolled_back)
            models = admin.get("/v1/models").json()
            assert models["current"] == models["serving"] == old.model_version, models
    finally:
        stop.set()
        for w in workers:
            w.join(60)

    assert not failures, failures
    answers = [d for done_t in done for d in done_t]
    assert Counter(status for _, _, status, _ in answers) == Counter({201: len(answers)})
    for t, done_t in enumerate(done):
        for sent, answered, _, version in done_t:
            if answered < promote_sent:
                expected = {old.model_version}
            elif sent > promoted and answered < rollback_sent:
                expected = {"swap-2"}
            elif sent > rolled_back:
                expected = {old.model_version}
            else:  # in flight while the model changed: either is right
                expected = {old.model_version, "swap-2"}
            assert version in expected, (t, sent, answered, version, promote_sent, promoted, rollback_sent, rolled_back)
        # Each thread's requests are sequential: its versions change at most twice, old -> swap-2 -> old.
        runs = [v for i, (*_, v) in enumerate(done_t) if i == 0 or done_t[i - 1][3] != v]
        assert runs in ([old.model_version], [old.model_version, "swap-2"],
                        [old.model_version, "swap-2", old.model_version]), (t, runs)
    assert sum(1 for *_, v in answers if v == "swap-2") >= threads_n * 6
