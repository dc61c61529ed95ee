"""Model versions: which are known, which decides, which shadows; add one, promote it, roll back, watch drift.

    GET    /v1/models                       (officer+)     versions, cards, the current one, each one's history
    POST   /v1/models                       (admin)        body: the .onnx file (raw, or multipart field "model")
    POST   /v1/models/{version}/promote     (admin)        {"gate": <report.json of quayscan compare>}
                                                           or {"force": true, "reason": "..."}
    POST   /v1/models/rollback              (admin)        {"reason": "..."} optional
    POST   /v1/models/{version}/shadow      (admin)        it scores every live scan, deciding nothing
    DELETE /v1/models/shadow                (admin)        stop shadowing
    GET    /v1/models/drift?window=500      (supervisor+)  PSI of live scores against the card's validation

Every change is written to the registry's audit trail with the caller's name. Other workers and replicas
follow within ``model_poll_s``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from quayscan.serve.api.scans import read_body
from quayscan.serve.auth import Principal, require
from quayscan.serve.intake import BadRequest, parse_multipart
from quayscan.serve.registry import DRIFT_WINDOW, drift_report, previous_model, register_bytes
from quayscan.serve.storage.models import ModelEvent, ModelVersion
from quayscan.serve.storage.registry import current_model, get_model, list_events, list_models, set_shadow_model

router = APIRouter(tags=["models"])
Admin = Annotated[Principal, Depends(require("admin"))]
MAX_MODEL_BYTES = 512 * 2**20
GATE_KEYS = ("data", "n_scans", "a", "b", "difference", "n_disagreements", "gate")


class PromoteRequest(BaseModel):
    gate: dict[str, Any] | None = None  # report.json of `quayscan compare --a CURRENT --b CANDIDATE`
    force: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class ChangeRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


def event_json(e: ModelEvent) -> dict:
    return {"action": e.action, "version": e.version, "user": e.user_name, "reason": e.reason, "forced": e.forced,
            "details": e.details, "at": e.created_at.isoformat() if e.created_at else None}


def model_json(m: ModelVersion, loaded: str | None, events: list[ModelEvent] | None = None) -> dict:
    out = {
        "version": m.version, "current": m.is_current, "shadow": m.is_shadow, "loaded": m.version == loaded,
        "registered_by": m.registered_by, "registered_at": m.registered_at.isoformat() if m.registered_at else None,
        "promoted_by": m.promoted_by, "promoted_at": m.promoted_at.isoformat() if m.promoted_at else None,
        "artifact_sha256": m.artifact_sha256, "card": m.card,
    }
    if events is not None:
        out["events"] = [event_json(e) for e in events]
    return out


def _serving(request: Request) -> str | None:
    engine = request.app.state.services.engine
    return engine.current.version if engine.current else None


@router.get("/v1/models", dependencies=[Depends(require("officer"))])
def get_models(request: Request) -> dict:
    svc = request.app.state.services
    with svc.db() as session:
        models = list_models(session)
        events = list_events(session)
    history: dict[str | None, list[ModelEvent]] = defaultdict(list)
    for e in events:
        history[e.version].append(e)
    loaded = _serving(request)
    current = next((m.version for m in models if m.is_current), None)
    shadow = next((m.version for m in models if m.is_shadow), None)
    return {"current": current, "serving": loaded, "shadow": shadow,
            "models": [model_json(m, loaded, history[m.version]) for m in models]}


@router.get("/v1/models/drift", dependencies=[Depends(require("supervisor"))])
def get_drift(request: Request, window: Annotated[int, Query(ge=10, le=100_000)] = DRIFT_WINDOW) -> dict:
    """PSI (10 bins on [0, 1]) of the last ``window`` live scores of the deciding and the shadow model
    against the validation score histogram in their card; ``psi`` is null for a card without one."""
    with request.app.state.services.db() as session:
        return {"models": drift_report(session, window)}


@router.post("/v1/models", status_code=201)
async def post_model(request: Request, principal: Admin) -> dict:
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
    return model_json(row, _serving(request))


def _gate_details(report: dict[str, Any], current: str, candidate: str) -> dict[str, Any]:
    """The report's figures, if it is a passed gate of ``candidate`` (b) against ``current`` (a)."""
    try:
        a, b, passed = report["a"]["model_version"], report["b"]["model_version"], report["gate"]["passed"]
    except (KeyError, TypeError):
        raise BadRequest("bad_gate_report", "gate must be the report.json written by quayscan compare "
                         "(with a.model_version, b.model_version and gate.passed)") from None
    if (a, b) != (current, candidate):
        raise BadRequest("gate_mismatch", f"the gate report compares {a!r} (a) with {b!r} (b); promoting "
                         f"{candidate!r} over the current {current!r} needs --a {current} --b {candidate}", status=409)
    if passed is not True:
        problems = "; ".join(report["gate"].get("problems") or []) or "gate.passed is not true"
        raise BadRequest("gate_failed", f"{candidate!r} fails the promotion gate against {current!r}: {problems}; "
                         "send force with a reason to promote it anyway", status=409)
    return {k: report[k] for k in GATE_KEYS if k in report}


@router.post("/v1/models/{version}/promote")
async def promote(request: Request, version: str, principal: Admin,
                  body: Annotated[PromoteRequest | None, Body()] = None) -> dict:
    """Make ``version`` decide, if it passed the promotion gate against the current model.

    The server holds no gate data set of its own: the gate runs where the data is (``quayscan compare
    --a CURRENT --b CANDIDATE --data GATE_DIR --out REPORT``, or ``quayscan models promote --gate-data``),
    and its ``report.json`` comes in the body as ``gate``. Without a passed gate report, promotion needs
    ``force`` with a ``reason``; both are logged with the caller's name.
    """
    svc = request.app.state.services
    body = body or PromoteRequest()
    with svc.db() as session:
        get_model(session, version)  # 404 first
        current = current_model(session)
    reason = (body.reason or "").strip() or None
    forced, details = False, {}
    if current is not None and current.version == version:
        raise BadRequest("already_current", f"model {version!r} already decides", status=409)
    if body.force:
        if reason is None:
            raise BadRequest("reason_required", "a forced promotion needs a reason (it is logged)")
        forced = True
        if body.gate is not None:
            details = {"gate_report": {k: body.gate[k] for k in GATE_KEYS if k in body.gate}}
    elif current is not None:
        if body.gate is None:
            raise BadRequest("gate_required", f"promoting {version!r} needs the report.json of `quayscan compare "
                             f"--a {current.version} --b {version} --data GATE_DIR --out DIR` as \"gate\" "
                             "(the server has no gate data), or force with a reason")
        details = {"gate_report": _gate_details(body.gate, current.version, version)}
    row = await asyncio.to_thread(svc.engine.promote, version, by=principal.name, reason=reason, forced=forced,
                                  details=details)
    return model_json(row, _serving(request))


@router.post("/v1/models/rollback")
async def rollback(request: Request, principal: Admin, body: Annotated[ChangeRequest | None, Body()] = None) -> dict:
    """The previously promoted version decides again (no gate: it decided before)."""
    svc = request.app.state.services
    with svc.db() as session:
        previous = previous_model(session)
    if previous is None:
        raise BadRequest("no_previous_model", "no model was promoted before the current one", status=409)
    row = await asyncio.to_thread(svc.engine.promote, previous.version, by=principal.name,
                                  reason=body.reason if body else None, action="rollback")
    return model_json(row, _serving(request))


@router.post("/v1/models/{version}/shadow")
async def shadow(request: Request, version: str, principal: Admin,
                 body: Annotated[ChangeRequest | None, Body()] = None) -> dict:
    """``version`` scores every live scan after the deciding model has answered; it decides nothing."""
    svc = request.app.state.services

    def change() -> ModelVersion | None:
        with svc.db() as session:
            row = set_shadow_model(session, version, by=principal.name, reason=body.reason if body else None)
        svc.engine.sync()  # this worker now; the others within model_poll_s
        return row

    row = await asyncio.to_thread(change)
    assert row is not None
    return model_json(row, _serving(request))


@router.delete("/v1/models/shadow")
async def unshadow(request: Request, principal: Admin) -> dict:
    svc = request.app.state.services

    def change() -> None:
        with svc.db() as session:
            set_shadow_model(session, None, by=principal.name)
        svc.engine.sync()

    await asyncio.to_thread(change)
    return {"shadow": None}
