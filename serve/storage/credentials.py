"""Users (people, with passwords) and API keys (machines, with bearer tokens) in the database.

    quayscan users add alice --role officer      ->  create_user(session, "alice", "officer", password)
    quayscan keys create --role scanner --name gate-3  ->  create_api_key(session, "gate-3", "scanner")
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quayscan.serve.storage import security
from quayscan.serve.storage.db import begin_write, done, fresh, insert_unique, utcnow
from quayscan.serve.storage.errors import ConflictError, InvalidValueError, NotFoundError
from quayscan.serve.storage.models import ApiKey, User

#: every role, least to most privileged (scanner keys may only post scans)
ROLES = ("scanner", "officer", "supervisor", "admin")
#: roles a person may have; "scanner" is for machines only
USER_ROLES = ("officer", "supervisor", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidValueError(
            f"{what} name {name!r} must be 1-128 letters, digits or ._@- and start with a letter or digit"
        )
    return name


def _check_role(role: str, allowed: tuple[str, ...]) -> str:
    if role not in allowed:
        raise InvalidValueError(f"role must be one of {', '.join(allowed)}, got {role!r}")
    return role


def check_password_strength(password: str) -> None:
    """Refuse passwords too short to resist guessing (length matters more than character classes)."""
    if not isinstance(password, str) or len(password) < security.MIN_PASSWORD_LENGTH:
        raise InvalidValueError(f"password must have at least {security.MIN_PASSWORD_LENGTH} characters")


def create_user(session: Session, name: str, role: str, password: str) -> User:
    """Add a person who can log in.

    Raises:
        InvalidValueError: bad name, role or too short a password.
        ConflictError: the name is taken.
    """
    _check_name(name, "user")
    _check_role(role, USER_ROLES)
    check_password_strength(password)
    user = User(name=name, role=role, password_hash=security.hash_password(password), created_at=utcnow())
    return insert_unique(session, user, f"user {name!r} already exists")


def _user(session: Session, name: str) -> User:
    user = session.scalar(fresh(select(User).where(User.name == name)))
    if user is None:
        session.rollback()
        raise NotFoundError(f"no user named {name!r}")
    return user


def get_user(session: Session, name: str) -> User:
    """The user called ``name``; raises :class:`NotFoundError` if there is none."""
    return done(session, _user(session, name))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return done(session, list(session.scalars(fresh(select(User).order_by(User.name)))))


def authenticate_user(session: Session, name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` match an enabled account, else None.

    Unknown names cost as much time as wrong passwords. A hash made with older parameters is replaced.
    """
    user = done(session, session.scalar(fresh(select(User).where(User.name == name))))
    # With no such user this still verifies (against a dummy hash) and fails: same time, same answer.
    if not security.verify_password(user.password_hash if user is not None else None, password):
        return None
    if user is None or user.disabled:
        return None
    if security.password_needs_rehash(user.password_hash):
        begin_write(session)
        user.password_hash = security.hash_password(password)
        session.commit()
    return user


def set_password(session: Session, name: str, password: str) -> None:
    """Replace a user's password (same strength rule as ``create_user``)."""
    check_password_strength(password)
    password_hash = security.hash_password(password)
    begin_write(session)
    _user(session, name).password_hash = password_hash
    session.commit()


def set_user_disabled(session: Session, name: str, disabled: bool = True) -> None:
    """Disable (or re-enable) an account; a disabled user can no longer log in."""
    begin_write(session)
    _user(session, name).disabled = disabled
    session.commit()


def create_api_key(session: Session, name: str, role: str) -> tuple[ApiKey, str]:
    """Make a key for a machine.

    Returns:
        The stored row and the token; the token is shown once and never stored in clear.
    """
    _check_name(name, "key")
    _check_role(role, ROLES)
    for _ in range(3):  # a prefix collision is a ~1e-18 event, but costs only a retry
        new = security.generate_api_key()
        key = ApiKey(name=name, role=role, prefix=new.prefix, key_hash=new.key_hash, created_at=utcnow())
        try:
            return insert_unique(session, key, "API key prefix taken"), new.token
        except ConflictError:
            continue
    raise ConflictError("could not find a free API key prefix")  # pragma: no cover


def authenticate_api_key(session: Session, token: str) -> ApiKey | None:
    """The key row if ``token`` is a valid, unrevoked key, else None."""
    prefix = security.api_key_prefix(token)
    if prefix is None:
        return None
    key = done(session, session.scalar(fresh(select(ApiKey).where(ApiKey.prefix == prefix))))
    if key is None or key.revoked_at is not None or not security.verify_api_key(token, key.key_hash):
        return None
    return key


def list_api_keys(session: Session, include_revoked: bool = False) -> list[ApiKey]:
    """Keys oldest first; revoked ones only if asked."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return done(session, list(session.scalars(fresh(query))))


def revoke_api_key(session: Session, key_id_or_prefix: str, now: datetime | None = None) -> ApiKey:
    """Revoke a key by id or prefix (revoking twice keeps the first time); it stops working at once."""
    begin_write(session)
    key = session.scalar(
        select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
    )
    if key is None:
        session.rollback()
        raise NotFoundError(f"no API key with id or prefix {key_id_or_prefix!r}")
    session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now or utcnow())
    )
    session.commit()
    session.refresh(key)
    return key
