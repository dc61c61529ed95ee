"""``POST /v1/scans``: a scanner posts a scan, the decision comes back (scanner keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from quayscan.serve.auth import Principal, require
from quayscan.serve.errors import PayloadTooLarge
from quayscan.serve.pipeline import case_json, post_scan

router = APIRouter(tags=["scans"])


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/v1/scans", status_code=201)
async def post_scans(request: Request, principal: Principal = Depends(require("scanner"))) -> JSONResponse:
    """Triage one scan: multipart fields ``high`` (file), optional ``low`` (file) and ``meta`` (JSON).

    Header ``Idempotency-Key``: a retry with the same key returns the same case and answer.
    """
    svc = request.app.state.services
    body = await read_body(request, svc.settings.max_upload_bytes)
    case, created = await post_scan(svc, principal, body, request.headers.get("content-type"),
                                    request.headers.get("idempotency-key"))
    headers = {"Location": f"/v1/cases/{case.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(case_json(case), status_code=201, headers=headers)
