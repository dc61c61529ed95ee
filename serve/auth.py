"""Who is calling, and may they: API keys (``Authorization: Bearer qsk_...``) and role checks.

    @router.get("/v1/cases", dependencies=[Depends(require("officer"))])

Roles: ``scanner`` may post scans and nothing else; ``officer`` reads and reviews cases; ``supervisor``
also sees audit and metrics; ``admin`` also manages users, keys and models. ``require("officer")`` admits
officer, supervisor and admin; ``require("scanner")`` admits scanner keys only.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from quayscan.serve.storage.credentials import authenticate_api_key

#: people's roles, least to most privileged; each admits the ones after it
STAFF = ("officer", "supervisor", "admin")
#: methods that change nothing; any other method sent with a session cookie needs the CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    kind: str  # "key" or "user"
    id: str


def admits(required: str, role: str) -> bool:
    if required == "scanner" or role == "scanner":
        return role == required
    return STAFF.index(role) >= STAFF.index(required)


def authenticate(request: Request) -> Principal:
    """The caller, from a bearer API key (or a browser session, when the review page set one)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if header and scheme.lower() == "bearer" and token.strip():
        with request.app.state.db() as session:
            key = authenticate_api_key(session, token.strip())
        if key is None:
            raise AuthError(401, "bad_credentials", "the API key is unknown or revoked")
        return Principal(key.name, key.role, "key", key.id)
    sessions = getattr(request.app.state, "web_sessions", None)
    if sessions is not None and (user := sessions.principal(request)) is not None:
        # A cookie rides along with any request the browser makes, so a change also needs the page's token.
        if request.method not in SAFE_METHODS and not sessions.csrf_ok(request):
            raise AuthError(403, "csrf", "send the session's CSRF token (GET /v1/session) as X-CSRF-Token")
        return user
    raise AuthError(401, "unauthenticated", "send an API key as 'Authorization: Bearer KEY', or log in")


def require(role: str):
    """A FastAPI dependency: the caller, if their role admits ``role``; else 401/403."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not admits(role, principal.role):
            raise AuthError(403, "forbidden", f"this needs the {role} role; {principal.name!r} is {principal.role}")
        request.state.principal = principal
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]  # read by the route audit test
    return dependency
