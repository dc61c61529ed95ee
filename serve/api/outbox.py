"""Delivery of final decisions to the webhooks, as a supervisor sees it.

    GET  /v1/outbox?pending=true&limit=50&offset=0   (supervisor+)  counts, then events newest first
    POST /v1/outbox/{event_id}/redeliver             (supervisor+)  due now; a delivered one goes to every URL again
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from quayscan.serve.auth import Principal, require
from quayscan.serve.storage.models import OutboxEvent
from quayscan.serve.storage.outbox import list_events, outbox_summary
from quayscan.serve.webhooks import redeliver_event

log = logging.getLogger(__name__)
router = APIRouter(tags=["outbox"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_json(e: OutboxEvent) -> dict[str, Any]:
    state = "delivered" if e.delivered_at else ("failing" if e.attempts else "pending")
    return {
        "event_id": e.event_id, "kind": e.kind, "case_id": e.case_id, "state": state,
        "created_at": _iso(e.created_at), "attempts": e.attempts, "last_error": e.last_error,
        "delivered_at": _iso(e.delivered_at), "next_attempt_at": None if e.delivered_at else _iso(e.next_attempt_at),
        "delivered_to": list(e.delivered_to or []), "payload": e.payload,
    }


@router.get("/v1/outbox", dependencies=[Depends(require("supervisor"))])
def get_outbox(
    request: Request,
    pending: bool = Query(False, description="only events not yet delivered to every URL"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    svc = request.app.state.services
    with svc.db() as session:
        summary = outbox_summary(session)
        events = list_events(session, pending_only=pending, limit=limit, offset=offset)
    summary["oldest_pending_at"] = _iso(summary["oldest_pending_at"])
    return {"summary": summary, "webhooks": list(svc.settings.webhook_urls),
            "events": [event_json(e) for e in events]}


@router.post("/v1/outbox/{event_id}/redeliver")
async def redeliver(request: Request, event_id: str, principal: Principal = Depends(require("supervisor"))) -> dict:
    svc = request.app.state.services

    def run() -> OutboxEvent:
        with svc.db() as session:
            return redeliver_event(session, event_id)

    event = await asyncio.to_thread(run)
    log.info("%s asked to redeliver webhook event %s (%s)", principal.name, event_id, event.kind)
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None:
        dispatcher.wake()
    return event_json(event)
