"""The review page's API through the real app: login and CSRF, claims and conflicts, decisions, audit, dashboard."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from serve_fixtures import Service, make_scans, running_service

from quayscan.serve.storage.credentials import create_user, set_user_disabled
from quayscan.serve.storage.models import WebSession

PASSWORD = "correct horse battery"
HORSES = [{"hs_code": "0101", "description": "live horses"}]  # not in the library: always flagged
CARS = [{"hs_code": "870323", "description": "MOTOR VEHICLE, SEDAN"}]


@pytest.fixture(scope="module")
def scans():
    return make_scans(2)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    users = {"alice": "officer", "bob": "officer", "sue": "supervisor", "dave": "officer", "olga": "officer"}
    with running_service(tmp_path_factory.mktemp("review"), users, PASSWORD) as svc:
        yield svc


def browser(service: Service, name: str, *, https: bool = False) -> TestClient:
    """A logged-in browser: its own cookie jar, sending the session's CSRF token on every request."""
    b = TestClient(service.app, base_url=f"{'https' if https else 'http'}://testserver", follow_redirects=False)
    r = b.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/review", r.text
    b.headers["X-CSRF-Token"] = b.get("/v1/session").json()["csrf_token"]
    return b


def flagged(service: Service, scan, **meta) -> dict:
    r = service.post(scan, declared=HORSES, **meta)
    assert r.status_code == 201 and r.json()["decision"] == "inspect", r.text
    return r.json()


def review(client: TestClient, case_id: str, action: str, **body):
    return client.post(f"/v1/cases/{case_id}/reviews", json={"action": action, **body})


# -- login, cookie, CSRF --------------------------------------------------------------------------------
def test_login_sets_a_strict_http_only_cookie_and_opens_the_session(service):
    b = TestClient(service.app, follow_redirects=False)
    r = b.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/review/cases/X?tab=2"})
    assert r.status_code == 303 and r.headers["location"] == "/review/cases/X?tab=2"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("quayscan_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http: a Secure cookie would never come back
    me = b.get("/v1/session").json()
    assert me["user"] == "alice" and me["role"] == "officer" and len(me["csrf_token"]) >= 32
    assert b.get("/v1/queue").status_code == 200
    # The database holds the token's hash, never the token.
    token = b.cookies["quayscan_session"]
    with service.app.state.db() as session:
        ids = set(session.scalars(select(WebSession.id)))
    assert hashlib.sha256(token.encode()).hexdigest() in ids and token not in ids

    secure = TestClient(service.app, base_url="https://testserver", follow_redirects=False)
    r = secure.post("/login", data={"username": "alice", "password": PASSWORD})
    assert "Secure" in r.headers["set-cookie"] and secure.get("/v1/session").status_code == 200


@pytest.mark.parametrize("username, password", [("alice", "wrong password!"), ("nobody", PASSWORD), ("", "")])
def test_bad_credentials_redirect_with_an_error_and_no_cookie(service, username, password):
    b = TestClient(service.app, follow_redirects=False)
    r = b.post("/login", data={"username": username, "password": password})
    assert r.status_code == 303 and r.headers["location"] == "/login?error=1"
    assert "set-cookie" not in r.headers and b.get("/v1/session").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "review"])
def test_login_goes_only_to_local_paths(service, target):
    b = TestClient(service.app, follow_redirects=False)
    r = b.post("/login", data={"username": "alice", "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/review"


def test_login_form_from_another_site_is_refused(service):
    b = TestClient(service.app, follow_redirects=False)
    r = b.post("/login", data={"username": "alice", "password": PASSWORD}, headers={"Origin": "https://evil.example"})
    assert r.headers["location"] == "/login?error=1" and "set-cookie" not in r.headers


def test_unsafe_requests_with_the_cookie_need_the_csrf_token(service, scans):
    case_id = flagged(service, scans[0])["case_id"]
    b = browser(service, "olga")
    token = b.headers.pop("X-CSRF-Token")
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        r = b.post(f"/v1/cases/{case_id}/claim", headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf", r.text
        r = b.delete(f"/v1/cases/{case_id}/claim", headers=headers)
        assert r.status_code == 403
    assert b.get(f"/v1/cases/{case_id}").status_code == 200  # reading needs no token
    r = b.post(f"/v1/cases/{case_id}/claim", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["claimed_by"] == "olga"
    # A bearer key is not sent by browsers on their own, so it needs no CSRF token.
    r = service.client.post(f"/v1/cases/{case_id}/reviews", json={"action": "comment", "note": "seen"},
                            headers=service.auth("officer"))
    assert r.status_code == 201 and r.json()["review"]["user"] == "test-officer"


# -- two officers ----------------------------------------------------------------------------------------
def test_second_officer_learns_who_took_or_decided_the_case(service, scans):
    case_id = flagged(service, scans[1])["case_id"]
    alice, bob = browser(service, "alice"), browser(service, "bob")
    assert alice.post(f"/v1/cases/{case_id}/claim").json()["claimed_by"] == "alice"
    assert alice.post(f"/v1/cases/{case_id}/claim").status_code == 200  # renewing one's own claim
    r = bob.post(f"/v1/cases/{case_id}/claim")
    assert r.status_code == 409 and r.json()["error"]["code"] == "taken" and r.json()["error"]["by"] == "alice"

    r = review(alice, case_id, "clear", note="tyres as declared", expected_status="decided")
    assert r.status_code == 201, r.text
    assert r.json()["case"]["status"] == "cleared" and r.json()["case"]["claimed_by"] is None
    r = review(bob, case_id, "inspect", expected_status="decided")
    assert r.status_code == 409 and r.json()["error"]["by"] == "alice"
    assert "cleared" in r.json()["error"]["message"]
    items = bob.get(f"/v1/cases/{case_id}/reviews").json()["items"]
    assert [(e["user"], e["action"]) for e in items] == [("alice", "clear")]
    assert case_id not in {c["case_id"] for c in bob.get("/v1/queue?limit=500").json()["items"]}


def test_releasing_a_claim_lets_another_officer_take_it(service, scans):
    case_id = flagged(service, scans[0])["case_id"]
    alice, bob = browser(service, "alice"), browser(service, "bob")
    assert alice.post(f"/v1/cases/{case_id}/claim").status_code == 200
    assert alice.delete(f"/v1/cases/{case_id}/claim").status_code == 204
    assert bob.post(f"/v1/cases/{case_id}/claim").json()["claimed_by"] == "bob"


# -- decisions ------------------------------------------------------------------------------------------
def test_inspect_then_outcome_closes_the_case_and_corrections_append(service, scans):
    alice = browser(service, "alice")
    before = alice.get("/v1/queue").json()["counts"]
    case_id = flagged(service, scans[0])["case_id"]
    queue = alice.get("/v1/queue?limit=500").json()
    assert case_id in {c["case_id"] for c in queue["items"]}
    assert queue["counts"]["queue"] == before["queue"] + 1

    r = review(alice, case_id, "inspect", note="dense block behind the bales", box=[10, 5, 60, 40],
               expected_status="decided")
    assert r.status_code == 201 and r.json()["case"]["status"] == "inspection"
    assert r.json()["review"]["box"] == [10, 5, 60, 40]
    counts = alice.get("/v1/queue").json()["counts"]
    assert counts["inspection"] == before["inspection"] + 1 and counts["queue"] == before["queue"]
    assert counts["reviewed_today"] == before["reviewed_today"] + 1

    assert review(alice, case_id, "finding").status_code == 422  # a finding needs its category
    assert review(alice, case_id, "inspect", box=[0, 0, 10**6, 5]).status_code == 422  # off the image
    r = review(alice, case_id, "finding", category="dense_concealment", note="two boxes of rounds")
    assert r.status_code == 201
    case = r.json()["case"]
    assert case["status"] == "closed" and case["outcome"] == "finding"
    assert case["outcome_category"] == "dense_concealment" and case["closed_at"]
    # A correction of the outcome is a new entry; the first stays as it was.
    r = review(alice, case_id, "no_finding", note="rounds were declared tools after all")
    assert r.status_code == 201 and r.json()["case"]["outcome"] == "no_finding"
    items = alice.get(f"/v1/cases/{case_id}/reviews").json()["items"]
    assert [(e["action"], e["from_status"], e["to_status"]) for e in items] == [
        ("inspect", "decided", "inspection"), ("finding", "inspection", "closed"), ("no_finding", "closed", "closed")]
    assert items[1]["category"] == "dense_concealment" and items[1]["note"] == "two boxes of rounds"
    model_version = service.client.get(f"/v1/cases/{case_id}", headers=service.auth("officer")).json()["model_version"]
    assert {e["model_version"] for e in items} == {model_version} and all(e["user"] == "alice" for e in items)
    assert set(items[0]) == {"id", "case_id", "user", "action", "from_status", "to_status", "category", "note",
                             "box", "model_version", "created_at"}
    assert review(alice, case_id, "clear").status_code == 409  # a closed case cannot be released again


def test_queue_filters_orders_and_pages(service, scans):
    alice = browser(service, "alice")
    ids = [flagged(service, s, scanner_id="gate-7")["case_id"] for s in scans]
    page = alice.get("/v1/queue?scanner=gate-7").json()
    assert [c["case_id"] for c in page["items"]] == ids and page["total"] == 2  # oldest first
    by_score = alice.get("/v1/queue?scanner=gate-7&order=score").json()["items"]
    assert [c["score"] for c in by_score] == sorted((c["score"] for c in by_score), reverse=True)
    assert alice.get("/v1/queue?scanner=gate-7&limit=1&offset=1").json()["items"][0]["case_id"] == ids[1]
    assert alice.get("/v1/queue?scanner=gate-7&reason=commodity_not_in_library").json()["total"] == 2
    assert alice.get("/v1/queue?scanner=gate-7&commodity=tires").json()["total"] == 0
    naive = alice.get("/v1/queue?since=2026-01-01T00:00:00")  # no time zone
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "bad_time"
    assert alice.get("/v1/queue?order=newest").status_code == 422


def test_references_are_earlier_released_scans_of_the_declared_commodity(service, scans):
    alice = browser(service, "alice")
    cars = []
    for scan in (scans[0], scans[1], scans[0]):
        r = service.post(scan, declared=CARS, scanner_id="gate-r")
        assert r.status_code == 201
        cars.append(r.json())
    for case in cars[:2]:  # let the earlier ones go, whatever the model said
        if case["decision"] == "inspect":
            assert review(alice, case["case_id"], "clear").status_code == 201
    refs = alice.get(f"/v1/cases/{cars[2]['case_id']}/references").json()["items"]
    assert [c["case_id"] for c in refs] == [cars[1]["case_id"], cars[0]["case_id"]]
    assert all(c["declared_commodity"] == "vehicles" for c in refs)
    assert len(alice.get(f"/v1/cases/{cars[2]['case_id']}/references?limit=1").json()["items"]) == 1
    horses = flagged(service, scans[0])["case_id"]  # not in the library: nothing to compare with
    assert alice.get(f"/v1/cases/{horses}/references").json()["items"] == []
    assert alice.get("/v1/cases/NOCASE/references").status_code == 404


# -- supervisor -----------------------------------------------------------------------------------------
def test_audit_is_for_supervisors_and_filters(service, scans):
    case_id = flagged(service, scans[1])["case_id"]
    dave = browser(service, "dave")
    assert review(dave, case_id, "inspect").status_code == 201
    assert review(dave, case_id, "clear", note="correction: seals intact").status_code == 201
    assert dave.get("/v1/audit").status_code == 403
    sue = browser(service, "sue")
    items = sue.get("/v1/audit?user=dave").json()["items"]
    assert [(e["action"], e["to_status"]) for e in items] == [("clear", "cleared"), ("inspect", "inspection")]
    assert items[0]["note"] == "correction: seals intact" and items[0]["case_id"] == case_id
    assert items[0]["model_version"] == service.app.state.services.engine.current.version
    assert [e["action"] for e in sue.get(f"/v1/audit?case_id={case_id}&action=inspect").json()["items"]] == ["inspect"]
    assert sue.get("/v1/audit?user=dave&since=2100-01-01T00:00:00Z").json()["items"] == []


def test_dashboard_counts_the_window(service, scans):
    flagged(service, scans[0], scanner_id="gate-d")
    sue = browser(service, "sue")
    assert browser(service, "alice").get("/v1/dashboard").status_code == 403
    d = sue.get("/v1/dashboard?hours=3").json()
    every = service.client.get("/v1/cases?limit=500", headers=service.auth("officer")).json()["items"]
    assert len(d["scans_per_hour"]) == 3 and len(d["score_by_hour"]) == 3
    assert sum(h["scans"] for h in d["scans_per_hour"]) == len(every)
    released = sum(c["decision"] == "release" for c in every)
    assert sum(h["released"] for h in d["scans_per_hour"]) == released
    assert sum(h["inspected"] for h in d["scans_per_hour"]) == len(every) - released
    assert d["release_rate"] == pytest.approx(released / len(every))
    assert d["reasons"] == dict(Counter(r for c in every for r in c["reasons"]))
    assert d["backlog"] == sue.get("/v1/queue").json()["counts"]["queue"] >= 1
    assert sum(d["score_histogram"]["counts"]) == len(every) and len(d["score_histogram"]["edges"]) == 11
    reviewed = [c for c in every if c["reviewed_at"]]
    assert (d["time_to_review_minutes"]["p50"] is None) == (not reviewed)
    assert d["score_by_hour"][-1]["p50"] is not None  # the scans just posted
    assert sue.get("/v1/dashboard?hours=0").status_code == 422


# -- the session ends -----------------------------------------------------------------------------------
def test_a_disabled_users_session_stops_working(service):
    with service.app.state.db() as session:
        create_user(session, "temp-officer", "officer", PASSWORD)
    b = browser(service, "temp-officer")
    assert b.get("/v1/queue").status_code == 200
    with service.app.state.db() as session:
        set_user_disabled(session, "temp-officer")
    assert b.get("/v1/queue").status_code == 401
    assert b.post("/login", data={"username": "temp-officer", "password": PASSWORD}).headers["location"] \
        == "/login?error=1"


def test_logout_revokes_the_session(service):
    b = browser(service, "bob")
    token = b.cookies["quayscan_session"]
    r = b.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert 'quayscan_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert b.get("/v1/session").status_code == 401
    replay = TestClient(service.app, cookies={"quayscan_session": token})
    assert replay.get("/v1/session").status_code == 401  # a copied cookie is dead too
