"""Auth on every route: a table of who may call what; a route missing from the table fails the test."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from serve_fixtures import ROLES, app_in, make_keys


OPEN = "open"
#: (method, path template) -> the least role admitted ("scanner" admits scanner keys only)
EXPECTED = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("POST", "/v1/scans"): "scanner",
    ("GET", "/v1/cases"): "officer",
    ("GET", "/v1/cases/{case_id}"): "officer",
    ("GET", "/v1/cases/{case_id}/images/{energy}"): "officer",
    ("GET", "/v1/cases/{case_id}/heatmap.png"): "officer",
    ("GET", "/v1/models"): "officer",
    ("POST", "/v1/models"): "admin",
    ("POST", "/v1/models/{version}/promote"): "admin",
    ("POST", "/v1/models/rollback"): "admin",
    ("POST", "/v1/models/{version}/shadow"): "admin",
    ("DELETE", "/v1/models/shadow"): "admin",
    ("GET", "/v1/models/drift"): "supervisor",
    ("GET", "/v1/openapi.json"): "officer",
    ("GET", "/metrics"): "supervisor",
    ("GET", "/v1/outbox"): "supervisor",
    ("POST", "/v1/outbox/{event_id}/redeliver"): "supervisor",
    ("GET", "/v1/users"): "admin",
    ("POST", "/v1/users"): "admin",
    ("POST", "/v1/users/{name}/disable"): "admin",
    ("POST", "/v1/users/{name}/enable"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("POST", "/v1/keys/{prefix}/revoke"): "admin",
    ("GET", "/login"): OPEN,
    ("GET", "/review"): "officer",
    ("GET", "/review/cases/{case_id}"): "officer",
    ("GET", "/review/audit"): "supervisor",
    ("GET", "/review/dashboard"): "supervisor",
    ("GET", "/review/admin"): "admin",
    ("GET", "/review/physics.json"): "officer",
    ("GET", "/review/static/{name:path}"): OPEN,
    ("POST", "/login"): OPEN,
    ("POST", "/logout"): OPEN,
    ("GET", "/v1/session"): "officer",
    ("GET", "/v1/queue"): "officer",
    ("POST", "/v1/cases/{case_id}/claim"): "officer",
    ("DELETE", "/v1/cases/{case_id}/claim"): "officer",
    ("POST", "/v1/cases/{case_id}/reviews"): "officer",
    ("GET", "/v1/cases/{case_id}/reviews"): "officer",
    ("GET", "/v1/cases/{case_id}/references"): "officer",
    ("GET", "/v1/audit"): "supervisor",
    ("GET", "/v1/dashboard"): "supervisor",
    ("GET", "/v2"): "officer",
    ("GET", "/v2/health/live"): OPEN,
    ("GET", "/v2/health/ready"): OPEN,
    ("GET", "/v2/models/{name}"): "officer",
    ("GET", "/v2/models/{name}/versions/{version}"): "officer",
    ("GET", "/v2/models/{name}/ready"): "officer",
    ("GET", "/v2/models/{name}/versions/{version}/ready"): "officer",
    ("POST", "/v2/models/{name}/infer"): "officer",
    ("POST", "/v2/models/{name}/versions/{version}/infer"): "officer",
}
STAFF = ("officer", "supervisor", "admin")


def admitted(least: str, role: str) -> bool:
    if least == OPEN:
        return True
    if least == "scanner" or role == "scanner":
        return role == least
    return STAFF.index(role) >= STAFF.index(least)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    app = app_in(root)
    with TestClient(app) as client:
        yield app, client, make_keys(app)


def api_routes(routes) -> list[APIRoute]:
    """Every API route, including those of included routers (held as the router's own routes)."""
    out = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out += api_routes(r.original_router.routes)
    return out


def routes(app) -> set[tuple[str, str]]:
    return {(m, r.path) for r in api_routes(app.routes) for m in r.methods}


def test_every_route_is_in_the_table(service):
    app, _, _ = service
    assert routes(app) == {k for k in EXPECTED if k in routes(app)} and not routes(app) - set(EXPECTED)
    missing = {k for k in EXPECTED if k[1].startswith("/v1") or k[1] in ("/healthz", "/readyz", "/metrics")} - routes(app)
    assert not missing, f"routes in the table the app does not have: {missing}"


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_checks_the_role(service, route):
    app, client, keys = service
    method, path = route
    if route not in routes(app):
        pytest.skip("route not served by this build")
    url = path.replace("{case_id}", "NOCASE").replace("{energy}", "high").replace("{version}", "v0") \
        .replace("{name}", "quayscan").replace("{event_id}", "NOEVENT")
    least = EXPECTED[route]
    callers = {None: None, **{role: {"Authorization": f"Bearer {keys[role]}"} for role in ROLES},
               "bad key": {"Authorization": "Bearer qsk_aaaaaaaaaaaa_notarealkey"}}
    for who, headers in callers.items():
        r = client.request(method, url, headers=headers or {})
        if least == OPEN:
            assert r.status_code not in (401, 403), (who, r.status_code)
        elif who is None or who == "bad key":
            assert r.status_code == 401, (who, r.status_code, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"
        elif admitted(least, who):
            assert r.status_code not in (401, 403), (who, r.status_code, r.text)
        else:
            assert r.status_code == 403, (who, r.status_code, r.text)
            err = r.json()["error"]  # the inference protocol's routes give the message as a string
            assert least in (err if isinstance(err, str) else err["message"])


def test_no_documentation_route_is_open(service):
    _, client, _ = service
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_revoked_key_stops_working_at_once(service):
    app, client, _ = service
    from quayscan.serve.storage.credentials import create_api_key, revoke_api_key

    with app.state.db() as s:
        row, token = create_api_key(s, "temp", "officer")
    assert client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.state.db() as s:
        revoke_api_key(s, row.prefix)
    assert client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401
