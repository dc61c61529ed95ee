"""Final decisions reach the webhooks: a receiver on 127.0.0.1 that is down, then up; signatures; back-off;
a restart with events pending; the supervisor's outbox view and redelivery; refused configurations."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import Service, app_in, make_keys, make_scans

from quayscan.cli import main as cli_main
from quayscan.serve.storage.db import make_engine, make_session_factory
from quayscan.serve.storage.outbox import enqueue_event, list_events
from quayscan.serve.storage.reviews import append_review
from quayscan.serve.storage.schema import migrate
from quayscan.serve.webhooks import Dispatcher, WebhookConfigError, sign, verify

SECRET = "test-webhook-secret-0123456789"


class Receiver:
    """A webhook endpoint on 127.0.0.1: down (nothing listens on its port) until :meth:`up`."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def up(self, status: int = 200) -> Receiver:
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None

    def event_ids(self) -> list[str]:
        with self.lock:
            return [h["x-quayscan-event-id"] for h, _ in self.received]


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.down()


@pytest.fixture(scope="module")
def scans():
    return make_scans(2, seed=11)


def start(tmp_path, urls, *, poll_s: float = 0.05, secret: str | None = SECRET):
    app = app_in(tmp_path, webhook_urls=list(urls), webhook_secret=secret)
    d = app.state.webhooks
    d.poll_s, d.timeout_s, d.backoff_base_s, d.backoff_cap_s, d.gauges_every_s = poll_s, 2.0, 0.05, 0.4, 0.0
    return app


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def outbox(svc: Service, pending: bool = False) -> dict:
    r = svc.client.get(f"/v1/outbox?pending={str(pending).lower()}&limit=500", headers=svc.auth("supervisor"))
    assert r.status_code == 200, r.text
    return r.json()


def review(app, case_id: str, action: str, **kw) -> None:
    with app.state.db() as session:
        append_review(session, case_id, user="alice", action=action, **kw)


def decide(svc: Service, scans) -> list[str]:
    """Two scans decided by the model, then officers: case 0 cleared then sent to inspection (a correction),
    case 1 sent to inspection, then no finding."""
    ids = []
    for scan in scans:
        r = svc.post(scan)
        assert r.status_code == 201, r.text
        ids.append(r.json()["case_id"])
    review(svc.app, ids[0], "clear")
    review(svc.app, ids[1], "inspect")
    review(svc.app, ids[0], "inspect")
    review(svc.app, ids[1], "no_finding")
    return ids


def check_signed(headers: dict[str, str], body: bytes) -> dict:
    """What a receiver does, written out independently of the service's own helper."""
    signed = headers["x-quayscan-timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["x-quayscan-signature"])
    assert abs(time.time() - int(headers["x-quayscan-timestamp"])) < 60
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["event_id"] == headers["x-quayscan-event-id"] and payload["kind"] == headers["x-quayscan-event"]
    return payload


def test_receiver_down_then_up_gets_every_event_signed_and_in_order(tmp_path, receivers, scans):
    steady, late = receivers().up(), receivers()  # ``late``: nothing listens until it comes up
    app = start(tmp_path, [steady.url, late.url])
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app))
        ids = decide(svc, scans)
        with app.state.db() as s:
            expected = [(e.event_id, e.case_id, e.kind) for e in reversed(list_events(s, limit=100))]
        kinds = [k for _, c, k in expected if c == ids[0]]
        assert kinds[-2:] == ["case.cleared", "case.inspection_ordered"]
        assert [k for _, c, k in expected if c == ids[1]][-2:] == ["case.inspection_ordered",
                                                                     "case.inspection_completed"]

        # ``late`` down: the first event of each case is retried there; later ones wait for it (order), while
        # ``steady`` hears everything at once and is not asked again
        firsts = {next(e for e, c, _ in expected if c == case_id) for case_id in ids}

        def retried() -> bool:
            events = outbox(svc)["events"]
            return all(e["attempts"] >= 3 for e in events if e["event_id"] in firsts) and \
                all(e["delivered_to"] == [steady.url] for e in events)

        wait_for(retried, what="three failed attempts at the late receiver")
        view = outbox(svc, pending=True)
        assert view["summary"]["pending"] == len(expected) and view["summary"]["delivered"] == 0
        assert view["summary"]["failing"] >= len(firsts) and view["webhooks"] == [steady.url, late.url]
        for e in view["events"]:
            assert e["delivered_at"] is None and e["next_attempt_at"]
            if e["event_id"] in firsts:
                assert e["state"] == "failing" and late.url in e["last_error"] and steady.url not in e["last_error"]
        metrics = client.get("/metrics", headers=svc.auth("supervisor")).text
        assert f"quayscan_webhook_events_pending {float(len(expected))}" in metrics

        late.up()
        wait_for(lambda: outbox(svc)["summary"]["pending"] == 0, what="every event delivered")
        view = outbox(svc)
        assert view["summary"]["delivered"] == len(expected) and outbox(svc, pending=True)["events"] == []
        assert all(e["state"] == "delivered" and e["last_error"] is None for e in view["events"])

    want = [event_id for event_id, _, _ in expected]
    assert sorted(steady.event_ids()) == sorted(want)  # acknowledged once, never sent again
    assert set(late.event_ids()) == set(want)
    for receiver in (steady, late):
        payloads = [check_signed(h, b) for h, b in receiver.received]
        for case_id in ids:  # first arrival of each event follows the order the case was decided in
            seen = list(dict.fromkeys(p["event_id"] for p in payloads if p["case_id"] == case_id))
            assert seen == [event_id for event_id, c, _ in expected if c == case_id]
    last = [check_signed(h, b) for h, b in late.received if json.loads(b)["case_id"] == ids[0]][-1]
    assert last["decision"] == "inspect" and last["decided_by"] == "alice" and last["container_id"]


def test_backoff_doubles_up_to_the_cap(tmp_path, receivers):
    url = f"sqlite:///{tmp_path}/q.db"
    migrate(url)
    db = make_session_factory(make_engine(url))
    t = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
    with db() as s:
        enqueue_event(s, {"kind": "case.released", "case_id": None}, now=t)
        s.commit()
    unavailable = receivers().up(status=503)
    dispatcher = Dispatcher([unavailable.url], SECRET, db, backoff_base_s=1.0, backoff_cap_s=4.0, timeout_s=2.0)
    for attempts, delay in enumerate((1, 2, 4, 4), start=1):
        assert dispatcher.deliver_due(now=t - timedelta(milliseconds=1)) == 0  # not due yet: nothing sent
        assert dispatcher.deliver_due(now=t) == 1
        with db() as s:
            (event,) = list_events(s)
        assert event.attempts == attempts and "HTTP 503" in event.last_error
        assert event.next_attempt_at - t == timedelta(seconds=delay)
        t = event.next_attempt_at
    assert len(unavailable.received) == 4
    headers = unavailable.received[-1][0]
    assert headers["x-quayscan-attempt"] == "4" and verify(SECRET, headers, unavailable.received[-1][1])
    unavailable.status = 200
    assert dispatcher.deliver_due(now=t) == 1
    with db() as s:
        (event,) = list_events(s)
    assert event.delivered_at == t and event.delivered_to == [unavailable.url]
    assert dispatcher.deliver_due(now=t + timedelta(days=1)) == 0


def test_pending_event_survives_a_restart_and_a_decision_wakes_the_dispatcher(tmp_path, receivers, scans):
    receiver = receivers()
    app = start(tmp_path, [receiver.url])
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app))
        # goods outside the commodity library: inspected whatever the model scores, so no release event
        # comes first (a case's events are delivered in order)
        case_id = svc.post(scans[0], declared=[{"hs_code": "950300", "description": "TOYS"}]).json()["case_id"]
        review(app, case_id, "inspect")
        wait_for(lambda: outbox(svc)["events"][0]["attempts"] >= 1, what="a failed attempt")
    with make_session_factory(make_engine(f"sqlite:///{tmp_path}/q.db"))() as s:
        pending = list_events(s, pending_only=True)
    assert pending and all(e.delivered_at is None for e in pending)

    receiver.up()
    app = start(tmp_path, [receiver.url])  # a new process on the same database
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app))
        wait_for(lambda: outbox(svc)["summary"]["pending"] == 0, what="delivery after the restart")
        assert {e.event_id for e in pending} <= set(receiver.event_ids())
        # no poll for a minute: only the wake-up after the commit can deliver this one promptly
        app.state.webhooks.poll_s = 60.0
        time.sleep(0.2)  # the thread is now in its long wait
        review(app, case_id, "no_finding")
        wait_for(lambda: outbox(svc)["summary"]["pending"] == 0, timeout=5.0, what="delivery on wake-up")
    kinds = [h["x-quayscan-event"] for h, _ in receiver.received]
    assert kinds[-2:] == ["case.inspection_ordered", "case.inspection_completed"]


def test_supervisor_redelivers_an_event(tmp_path, receivers, scans):
    receiver = receivers().up()
    app = start(tmp_path, [receiver.url])
    with TestClient(app) as client:
        svc = Service(client, app, make_keys(app))
        review(app, svc.post(scans[1]).json()["case_id"], "clear")
        wait_for(lambda: outbox(svc)["summary"]["pending"] == 0 and receiver.received, what="delivery")
        event_id = outbox(svc)["events"][0]["event_id"]
        r = client.post(f"/v1/outbox/{event_id}/redeliver", headers=svc.auth("supervisor"))
        assert r.status_code == 200, r.text
        assert r.json()["event_id"] == event_id and r.json()["delivered_to"] == []
        wait_for(lambda: receiver.event_ids().count(event_id) == 2, what="the event sent again")
        wait_for(lambda: outbox(svc)["summary"]["pending"] == 0, what="delivered again")
        missing = client.post("/v1/outbox/NOSUCHEVENT/redeliver", headers=svc.auth("supervisor"))
        assert missing.status_code == 404 and "NOSUCHEVENT" in missing.json()["error"]["message"]
        assert client.get("/v1/outbox?limit=0", headers=svc.auth("supervisor")).status_code == 422


def test_signature_checks():
    body = b'{"event_id":"E1"}'
    headers = {"X-Quayscan-Timestamp": "1795334400", "X-Quayscan-Signature": sign(SECRET, "1795334400", body)}
    assert verify(SECRET, headers, body, now=1795334400 + 10)
    assert not verify(SECRET, headers, body + b" ", now=1795334400)
    assert not verify("another-secret-0123456789", headers, body, now=1795334400)
    assert not verify(SECRET, headers, body, now=1795334400 + 3600)  # a replay an hour later


@pytest.mark.parametrize(("urls", "secret", "message"), [
    (["ftp://tos.example/hook"], SECRET, "http:// or https://"),
    (["tos.example/hook"], SECRET, "http:// or https://"),
    (["https://user:pw@tos.example/hook"], SECRET, "credentials"),
    (["https://tos.example/hook"], None, "no secret"),
    (["https://tos.example/hook"], "short", "at least"),
])
def test_unsafe_webhook_configuration_refuses_to_start(tmp_path, urls, secret, message):
    with pytest.raises(WebhookConfigError, match=message):
        start(tmp_path, urls, secret=secret)


def test_cli_needs_a_secret_and_reads_it_from_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("QUAYSCAN_WEBHOOK_SECRET", raising=False)
    assert cli_main(["serve", "--webhook", "http://127.0.0.1:9/hook"]) == 2
    assert "no secret" in capsys.readouterr().err
    assert cli_main(["serve", "--webhook", "gopher://x", "--webhook-secret-file", str(tmp_path / "none")]) == 2
    secret_file = tmp_path / "secret"
    secret_file.write_text("ab\n")
    assert cli_main(["serve", "--webhook", "http://127.0.0.1:9/hook", "--webhook-secret-file", str(secret_file)]) == 2
    assert "has 2 characters" in capsys.readouterr().err
