"""The admin API through the real app: users, API keys, who may manage them, and that no hash leaves."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import Service, running_service

from quayscan.serve.storage.security import api_key_prefix

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("admin"), {"ada": "admin", "otto": "officer"}, PASSWORD) as svc:
        yield svc


def no_hash(service: Service, body) -> None:
    """Neither a field named like a hash nor any stored password or key hash is in ``body``."""
    from sqlalchemy import select

    from quayscan.serve.storage.models import ApiKey, User

    def keys(value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield k
                yield from keys(v)
        elif isinstance(value, list):
            for v in value:
                yield from keys(v)

    assert not [k for k in keys(body) if "hash" in k.lower()], body
    with service.app.state.db() as session:
        stored = list(session.scalars(select(User.password_hash))) + list(session.scalars(select(ApiKey.key_hash)))
    text = str(body)
    assert stored and not [h for h in stored if h in text] and "$argon2" not in text, body


def test_admin_lists_creates_disables_and_enables_users(service):
    admin = service.auth("admin")
    r = service.client.post("/v1/users", headers=admin, json={"name": "nina", "role": "officer", "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "nina" and r.json()["role"] == "officer" and r.json()["disabled"] is False
    no_hash(service, r.json())
    users = service.client.get("/v1/users", headers=admin).json()["users"]
    no_hash(service, users)
    nina = next(u for u in users if u["name"] == "nina")
    assert set(nina) == {"name", "role", "disabled", "created_at"} and nina["created_at"]

    login = {"username": "nina", "password": PASSWORD}
    browser = TestClient(service.app, follow_redirects=False)
    assert browser.post("/login", data=login).status_code == 303
    r = service.client.post("/v1/users/nina/disable", headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert TestClient(service.app, follow_redirects=False).post("/login", data=login).headers["location"] \
        .startswith("/login?error")
    r = service.client.post("/v1/users/nina/enable", headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert TestClient(service.app, follow_redirects=False).post("/login", data=login).headers["location"] == "/review"


@pytest.mark.parametrize("body, status", [
    ({"name": "ada", "role": "officer", "password": PASSWORD}, 409),  # the name is taken
    ({"name": "newbie", "role": "scanner", "password": PASSWORD}, 422),  # scanner is for keys only
    ({"name": "newbie", "role": "officer", "password": "short"}, 422),
    ({"name": "bad name!", "role": "officer", "password": PASSWORD}, 422),
    ({"name": "newbie", "role": "officer"}, 422),
])
def test_bad_users_are_refused_with_a_message(service, body, status):
    r = service.client.post("/v1/users", headers=service.auth("admin"), json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_unknown_user_is_404(service):
    assert service.client.post("/v1/users/nobody/disable", headers=service.auth("admin")).status_code == 404


def test_a_created_key_works_until_it_is_revoked(service):
    admin = service.auth("admin")
    r = service.client.post("/v1/keys", headers=admin, json={"name": "gate-9", "role": "officer"})
    assert r.status_code == 201, r.text
    key = r.json()
    no_hash(service, key)
    assert api_key_prefix(key["token"]) == key["prefix"] and key["revoked_at"] is None
    bearer = {"Authorization": f"Bearer {key['token']}"}
    assert service.client.get("/v1/cases", headers=bearer).status_code == 200

    listed = service.client.get("/v1/keys", headers=admin).json()["keys"]
    no_hash(service, listed)
    assert all("token" not in k for k in listed)
    assert {k["prefix"]: k["name"] for k in listed}[key["prefix"]] == "gate-9"

    r = service.client.post(f"/v1/keys/{key['prefix']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    assert service.client.get("/v1/cases", headers=bearer).status_code == 401
    assert key["prefix"] not in {k["prefix"] for k in service.client.get("/v1/keys", headers=admin).json()["keys"]}
    revoked = service.client.get("/v1/keys?all=true", headers=admin).json()["keys"]
    assert next(k for k in revoked if k["prefix"] == key["prefix"])["revoked_at"]
    assert service.client.post("/v1/keys/nosuchprefix/revoke", headers=admin).status_code == 404


def test_a_key_with_an_unknown_role_is_refused(service):
    r = service.client.post("/v1/keys", headers=service.auth("admin"), json={"name": "gate-9", "role": "root"})
    assert r.status_code == 422 and "role" in r.json()["error"]["message"]


@pytest.mark.parametrize("role", ["officer", "supervisor", "scanner"])
def test_only_admins_manage_users_and_keys(service, role):
    headers = service.auth(role)
    calls = [("GET", "/v1/users", None), ("POST", "/v1/users", {"name": "x1", "role": "admin", "password": PASSWORD}),
             ("POST", "/v1/users/otto/disable", None), ("POST", "/v1/users/otto/enable", None),
             ("GET", "/v1/keys", None), ("POST", "/v1/keys", {"name": "x1", "role": "admin"}),
             ("POST", f"/v1/keys/{api_key_prefix(service.keys['admin'])}/revoke", None)]
    for method, path, body in calls:
        r = service.client.request(method, path, headers=headers, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert service.client.get("/v1/cases", headers=service.auth("admin")).status_code == 200  # nothing revoked


def test_a_logged_in_admin_needs_the_csrf_token(service):
    browser = TestClient(service.app, follow_redirects=False)
    assert browser.post("/login", data={"username": "ada", "password": PASSWORD}).status_code == 303
    assert browser.get("/v1/users").status_code == 200
    body = {"name": "cookie-key", "role": "scanner"}
    assert browser.post("/v1/keys", json=body).json()["error"]["code"] == "csrf"
    token = browser.get("/v1/session").json()["csrf_token"]
    assert browser.post("/v1/keys", json=body, headers={"X-CSRF-Token": token}).status_code == 201
