"""Browser sessions of the review page: a random token in a cookie, its SHA-256 in the database.

    sessions = WebSessions(db)                       # app.state.web_sessions
    token, row = sessions.start(user)                # after authenticate_user; set_cookie(response, token, ...)
    principal = sessions.principal(request)          # auth.authenticate calls this when no key is sent
    sessions.revoke_request(request)                 # logout

A session lasts a fixed 12 hours (an officer's shift) from login; it is not extended by use, so a stolen
cookie is worth at most one shift. It stops working at once when revoked (logout) or when its user is
disabled. The cookie is HttpOnly, SameSite=Strict and, over https, Secure. Every unsafe request made with
the cookie must also carry the session's CSRF token in ``X-CSRF-Token`` (checked in ``auth.authenticate``):
SameSite alone is not honoured by every browser and does not cover a sibling site on the same domain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from quayscan.serve.auth import Principal
from quayscan.serve.storage.db import begin_write, done, fresh, utcnow
from quayscan.serve.storage.models import User, WebSession

COOKIE = "quayscan_session"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_TTL = timedelta(hours=12)
#: expired or revoked rows are deleted this long after they stop working (kept a while for forensics)
KEEP_DEAD = timedelta(days=7)


def token_id(token: str) -> str:
    """The row id of a cookie token: its SHA-256 (a 256-bit random token needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_https(request: Request) -> bool:
    """Whether the browser reached us over TLS (uvicorn's proxy headers set the scheme behind a proxy)."""
    return request.url.scheme == "https"


class WebSessions:
    """Logins of the review page, stored in the database so that every replica knows them."""

    def __init__(self, db: sessionmaker[Session], *, ttl: timedelta = DEFAULT_TTL) -> None:
        self.db = db
        self.ttl = ttl

    def start(self, user: User, now: datetime | None = None) -> tuple[str, WebSession]:
        """A new session for an authenticated ``user``; returns the cookie's token (never stored) and the row."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        row = WebSession(id=token_id(token), user_name=user.name, role=user.role,
                         csrf_token=secrets.token_urlsafe(32), created_at=now, expires_at=now + self.ttl)
        with self.db() as session:
            begin_write(session)
            session.execute(delete(WebSession).where(WebSession.expires_at < now - KEEP_DEAD))
            session.add(row)
            session.commit()
        return token, row

    def lookup(self, token: str, now: datetime | None = None) -> tuple[WebSession, User] | None:
        """The live session of ``token`` and its user, or None (unknown, expired, revoked, user disabled)."""
        now = now or utcnow()
        query = (
            select(WebSession, User).join(User, User.name == WebSession.user_name)
            .where(WebSession.id == token_id(token), WebSession.revoked_at.is_(None), WebSession.expires_at > now,
                   User.disabled.is_(False))
        )
        with self.db() as session:
            found = done(session, session.execute(fresh(query)).first())
        return (found[0], found[1]) if found is not None else None

    def principal(self, request: Request) -> Principal | None:
        """The logged-in user of a request carrying a valid session cookie, else None.

        The user's current role applies (a demotion takes effect at once). The session row is kept on
        ``request.state.web_session`` for the CSRF check and ``GET /v1/session``.
        """
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        found = self.lookup(token)
        if found is None:
            return None
        row, user = found
        request.state.web_session = row
        return Principal(user.name, user.role, "user", user.id)

    @staticmethod
    def csrf_ok(request: Request) -> bool:
        """Whether the request's ``X-CSRF-Token`` is its session's token (call after :meth:`principal`)."""
        row = getattr(request.state, "web_session", None)
        sent = request.headers.get(CSRF_HEADER, "")
        return row is not None and bool(sent) and hmac.compare_digest(sent.encode(), row.csrf_token.encode())

    def revoke(self, token: str, now: datetime | None = None) -> bool:
        """End the session of ``token``; returns whether a live one was ended."""
        with self.db() as session:
            begin_write(session)
            result = session.execute(
                update(WebSession).where(WebSession.id == token_id(token), WebSession.revoked_at.is_(None))
                .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False)
            )
            session.commit()
        return result.rowcount == 1

    def revoke_request(self, request: Request) -> bool:
        """End the session whose cookie ``request`` carries, if any."""
        token = request.cookies.get(COOKIE)
        return self.revoke(token) if token else False

    def set_cookie(self, response: Response, token: str, request: Request) -> None:
        response.set_cookie(COOKIE, token, max_age=int(self.ttl.total_seconds()), path="/", httponly=True,
                            samesite="strict", secure=is_https(request))

    @staticmethod
    def clear_cookie(response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))
