"""Cases for people and systems that read decisions (officer role and above): list, one case, its images.

    GET /v1/cases?decision=inspect&reviewed=false&scanner=gate-3&since=2026-11-22T00:00:00Z&limit=50
    GET /v1/cases/{case_id}
    GET /v1/cases/{case_id}/images/high            # the bytes the scanner sent (PNG, TIFF or DICOS)
    GET /v1/cases/{case_id}/images/high?format=raw # little-endian uint16 pixels, for the review viewer
    GET /v1/cases/{case_id}/heatmap.png            # 8-bit heat on the scan's pixel grid
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from types import SimpleNamespace
from typing import Literal

import cv2
import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from quayscan.datasets.readers import read_scan_bytes
from quayscan.model.preprocess import PreprocessConfig
from quayscan.model.runner import Prediction, heatmap_to_scan
from quayscan.serve.auth import require
from quayscan.serve.intake import BadRequest
from quayscan.serve.pipeline import case_json
from quayscan.serve.storage.cases import MAX_PAGE, CaseFilters, get_case, list_cases
from quayscan.serve.storage.errors import NotFoundError

router = APIRouter(tags=["cases"], dependencies=[Depends(require("officer"))])
MEDIA = {"png": "image/png", "tiff": "image/tiff", "dcm": "application/dicom"}


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadRequest("bad_time", f"{name} needs a time zone, e.g. 2026-11-22T08:00:00Z")
    return value


@router.get("/v1/cases")
def get_cases(
    request: Request,
    decision: Literal["release", "inspect"] | None = None,
    status: str | None = Query(None, description="received, decided, reviewed, closed; comma-separated for several"),
    reviewed: bool | None = None,
    scanner: str | None = None,
    container: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    order: Literal["oldest", "newest", "score"] = "newest",
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
) -> dict:
    filters = CaseFilters(
        decision=decision, status=status.split(",") if status and "," in status else status, reviewed=reviewed,
        scanner_id=scanner, container_id=container, reason=reason, since=_aware(since, "since"),
        until=_aware(until, "until"),
    )
    with request.app.state.services.db() as session:
        page = list_cases(session, filters, limit=limit, offset=offset, order=order)
    return {"items": [case_json(c) for c in page.items], "total": page.total, "limit": page.limit,
            "offset": page.offset}


@router.get("/v1/cases/{case_id}")
def get_one(request: Request, case_id: str) -> dict:
    with request.app.state.services.db() as session:
        return case_json(get_case(session, case_id))


@router.get("/v1/cases/{case_id}/images/{energy}")
def get_image(request: Request, case_id: str, energy: Literal["high", "low"],
              format: Literal["original", "raw"] = "original") -> Response:
    svc = request.app.state.services
    with svc.db() as session:
        case = get_case(session, case_id)
    key = case.high_blob_key if energy == "high" else case.low_blob_key
    if key is None:
        raise NotFoundError(f"case {case_id} has no {energy}-energy image")
    data = svc.blobs.get(key)
    if format == "original":
        return Response(data, media_type=MEDIA.get(key.rsplit(".", 1)[-1], "application/octet-stream"))
    if energy == "high":
        scan = read_scan_bytes(data, None, pitch_mm=(case.pitch_x_mm, case.pitch_y_mm))
        image = scan.high
    else:
        image = read_scan_bytes(svc.blobs.get(case.high_blob_key), data,
                                pitch_mm=(case.pitch_x_mm, case.pitch_y_mm)).low
    h, w = image.shape
    return Response(image.astype("<u2").tobytes(), media_type="application/octet-stream",
                    headers={"X-Width": str(w), "X-Height": str(h), "X-Air-Value": str(case.air_value or "")})


def render_heatmap(npz: bytes, width: int, height: int, pitch_mm: tuple[float, float]) -> bytes:
    """The stored coarse heatmap drawn on the scan's pixel grid as an 8-bit grayscale PNG."""
    z = np.load(io.BytesIO(npz))
    pred = Prediction(0.0, np.zeros(0), z["heatmap"].astype(np.float32), int(z["input_width"]))
    cfg = PreprocessConfig(height=int(z["height"]), pitch_mm=float(z["pitch_mm"]))
    heat = heatmap_to_scan(pred, SimpleNamespace(shape=(height, width), pitch_mm=pitch_mm), cfg)
    ok, png = cv2.imencode(".png", np.round(np.clip(heat, 0, 1) * 255).astype(np.uint8))
    assert ok
    return png.tobytes()


@router.get("/v1/cases/{case_id}/heatmap.png")
async def get_heatmap(request: Request, case_id: str) -> Response:
    svc = request.app.state.services
    with svc.db() as session:
        case = get_case(session, case_id)
    if not case.heatmap_blob_key:
        raise NotFoundError(f"case {case_id} has no heatmap (the model did not run on it)")
    png = await asyncio.to_thread(render_heatmap, svc.blobs.get(case.heatmap_blob_key), case.width_px,
                                  case.height_px, (case.pitch_x_mm, case.pitch_y_mm))
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
