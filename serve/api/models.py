"""Model versions: which are known, which decides; add one and make it current without a restart.

    GET  /v1/models                         (officer+)  versions, cards, the current one
    POST /v1/models                         (admin)     body: the .onnx file (raw, or multipart field "model")
    POST /v1/models/{version}/promote       (admin)     load + warm it, then it decides
    POST /v1/models/rollback                (admin)     the previously promoted version decides again
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request

from quayscan.serve.api.scans import read_body
from quayscan.serve.auth import Principal, require
from quayscan.serve.intake import BadRequest, parse_multipart
from quayscan.serve.registry import previous_model, register_bytes
from quayscan.serve.storage.models import ModelVersion
from quayscan.serve.storage.registry import list_models

router = APIRouter(tags=["models"])
MAX_MODEL_BYTES = 512 * 2**20


def model_json(m: ModelVersion, loaded: str | None) -> dict:
    return {
        "version": m.version, "current": m.is_current, "shadow": m.is_shadow, "loaded": m.version == loaded,
        "registered_by": m.registered_by, "registered_at": m.registered_at.isoformat() if m.registered_at else None,
        "promoted_at": m.promoted_at.isoformat() if m.promoted_at else None, "artifact_sha256": m.artifact_sha256,
        "card": m.card,
    }


@router.get("/v1/models", dependencies=[Depends(require("officer"))])
def get_models(request: Request) -> dict:
    svc = request.app.state.services
    with svc.db() as session:
        models = list_models(session)
    loaded = svc.engine.current.version if svc.engine.current else None
    current = next((m.version for m in models if m.is_current), None)
    return {"current": current, "serving": loaded, "models": [model_json(m, loaded) for m in models]}


@router.post("/v1/models", status_code=201)
async def post_model(request: Request, principal: Principal = Depends(require("admin"))) -> dict:
    svc = request.app.state.services
    body = await read_body(request, MAX_MODEL_BYTES)
    if (request.headers.get("content-type") or "").startswith("multipart/"):
        data = parse_multipart(body, request.headers.get("content-type")).get("model")
        if data is None:
            raise BadRequest("missing_field", "multipart field 'model' (the .onnx file) is required")
        body = data

    def register() -> ModelVersion:
        with svc.db() as session:
            return register_bytes(session, svc.blobs, body, by=principal.name)

    row = await asyncio.to_thread(register)
    return model_json(row, svc.engine.current.version if svc.engine.current else None)


@router.post("/v1/models/{version}/promote")
async def promote(request: Request, version: str, principal: Principal = Depends(require("admin"))) -> dict:
    svc = request.app.state.services
    row = await asyncio.to_thread(svc.engine.promote, version)
    return model_json(row, svc.engine.current.version if svc.engine.current else None)


@router.post("/v1/models/rollback")
async def rollback(request: Request, principal: Principal = Depends(require("admin"))) -> dict:
    svc = request.app.state.services
    with svc.db() as session:
        previous = previous_model(session)
    if previous is None:
        raise BadRequest("no_previous_model", "no model was promoted before the current one", status=409)
    row = await asyncio.to_thread(svc.engine.promote, previous.version)
    return model_json(row, svc.engine.current.version if svc.engine.current else None)
