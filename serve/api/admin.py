"""Users and API keys, as an admin manages them (the review desk's admin page calls these).

    GET  /v1/users                      (admin)  name, role, disabled, created_at of everyone
    POST /v1/users                      (admin)  {"name": ..., "role": ..., "password": ...}  -> 201
    POST /v1/users/{name}/disable       (admin)  the user can no longer log in
    POST /v1/users/{name}/enable        (admin)
    GET  /v1/keys?all=false             (admin)  prefix, name, role, created_at, revoked_at; all=true adds revoked
    POST /v1/keys                       (admin)  {"name": ..., "role": ...}  -> 201 with the token, shown once
    POST /v1/keys/{prefix}/revoke       (admin)  it stops working at once

No answer carries a password hash or a key hash. Bad names, roles or passwords are 422; a taken name is 409.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from quayscan.serve.auth import Principal, require
from quayscan.serve.storage.credentials import (
    create_api_key,
    create_user,
    get_user,
    list_api_keys,
    list_users,
    revoke_api_key,
    set_user_disabled,
)
from quayscan.serve.storage.models import ApiKey, User

log = logging.getLogger(__name__)
router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]


class UserCreate(BaseModel):
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    password: str = Field(max_length=1024)


class KeyCreate(BaseModel):
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_public(u: User) -> dict:
    return {"name": u.name, "role": u.role, "disabled": bool(u.disabled), "created_at": _iso(u.created_at)}


def key_public(k: ApiKey) -> dict:
    return {"prefix": k.prefix, "name": k.name, "role": k.role, "created_at": _iso(k.created_at),
            "revoked_at": _iso(k.revoked_at)}


@router.get("/v1/users", dependencies=[Depends(require("admin"))])
def get_users(request: Request) -> dict:
    with request.app.state.db() as session:
        return {"users": [user_public(u) for u in list_users(session)]}


@router.post("/v1/users", status_code=201)
async def post_user(request: Request, body: UserCreate, principal: Admin) -> dict:
    def create() -> User:  # hashing the password takes a while: off the event loop
        with request.app.state.db() as session:
            return create_user(session, body.name, body.role, body.password)

    user = await asyncio.to_thread(create)
    log.info("%s added user %r (%s)", principal.name, user.name, user.role)
    return user_public(user)


def _set_disabled(request: Request, name: str, disabled: bool, by: str) -> dict:
    with request.app.state.db() as session:
        set_user_disabled(session, name, disabled)
        user = get_user(session, name)
    log.info("%s %s user %r", by, "disabled" if disabled else "enabled", name)
    return user_public(user)


@router.post("/v1/users/{name}/disable")
def disable_user(request: Request, name: str, principal: Admin) -> dict:
    return _set_disabled(request, name, True, principal.name)


@router.post("/v1/users/{name}/enable")
def enable_user(request: Request, name: str, principal: Admin) -> dict:
    return _set_disabled(request, name, False, principal.name)


@router.get("/v1/keys", dependencies=[Depends(require("admin"))])
def get_keys(request: Request, all: bool = Query(False, description="include revoked keys")) -> dict:
    with request.app.state.db() as session:
        return {"keys": [key_public(k) for k in list_api_keys(session, include_revoked=all)]}


@router.post("/v1/keys", status_code=201)
def post_key(request: Request, body: KeyCreate, principal: Admin) -> dict:
    with request.app.state.db() as session:
        key, token = create_api_key(session, body.name, body.role)
    log.info("%s created API key %s (%r, %s)", principal.name, key.prefix, key.name, key.role)
    # the only time the token is told: only its hash is stored
    return {**key_public(key), "token": token}


@router.post("/v1/keys/{prefix}/revoke")
def revoke_key(request: Request, prefix: str, principal: Admin) -> dict:
    with request.app.state.db() as session:
        key = revoke_api_key(session, prefix)
    log.info("%s revoked API key %s (%r)", principal.name, key.prefix, key.name)
    return key_public(key)
