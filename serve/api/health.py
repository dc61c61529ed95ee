"""Liveness, readiness and Prometheus metrics.

    GET /healthz   (open)         the process answers
    GET /readyz    (open)         a model is loaded, the database and the blob store take writes
    GET /metrics   (supervisor+)  Prometheus text format
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from quayscan.serve.auth import require
from quayscan.serve.storage.db import begin_write

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


def readiness(svc) -> dict[str, str]:
    """What is and is not ready, each as "ok" or the problem."""
    checks = {"model": f"ok ({svc.engine.current.version})" if svc.engine.current else "no model loaded"}
    try:
        with svc.db() as session:
            begin_write(session)  # takes the write lock on SQLite: proves a writer can get in
            session.execute(text("SELECT 1"))
            session.rollback()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"not writable: {type(exc).__name__}: {exc}"[:300]
    checks["blobs"] = "ok" if svc.blobs.writable() else f"not writable: {svc.blobs.root}"
    return checks


def is_ready(checks: dict[str, str]) -> bool:
    return all(v.startswith("ok") for v in checks.values())


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = await asyncio.to_thread(readiness, request.app.state.services)
    ready = is_ready(checks)
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[Depends(require("supervisor"))])
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.services.metrics.render()
    return Response(body, media_type=content_type)
