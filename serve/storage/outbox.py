"""The durable outbox of webhook events (issue 5: the workflow hears every final decision).

An event is added in the same transaction as the decision it announces, so a decision is never committed
without its event, nor an event without its decision. A dispatcher then loops::

    for event in due_events(session):             # leased, so other replicas skip them meanwhile
        try: post(event.payload) to each URL not in event.delivered_to
        except ...: mark_failed(session, event.event_id, str(exc), delivered_to=urls_that_answered)
        else: mark_delivered(session, event.event_id)

Delivery is at least once: receivers de-duplicate on ``event_id``. Failed events are retried with
exponential back-off, capped, forever (a receiver down for a day still gets every event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from quayscan.serve.storage.db import begin_write, done, fresh, new_id, utcnow
from quayscan.serve.storage.errors import NotFoundError
from quayscan.serve.storage.models import Case, OutboxEvent

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0
#: how long a dispatcher owns the events it took before another one may try them
LEASE_S = 60.0
_MAX_ERROR = 2000


def backoff_delay(attempts: int, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait after the ``attempts``-th failure: base, 2 x base, 4 x base, ... up to ``cap_s``."""
    if attempts < 1:
        return 0.0
    return min(cap_s, base_s * 2.0 ** min(attempts - 1, 60))


def case_event(case: Case, kind: str, *, by: str, now: datetime, **extra: Any) -> dict[str, Any]:
    """The JSON body announcing a final decision on ``case`` (``event_id`` is added on enqueue).

    Args:
        kind: "case.released" (model), "case.cleared" or "case.inspection_ordered" (officer),
            "case.inspection_completed" (physical inspection outcome).
        by: "model" or the officer's user name.
        **extra: further fields, e.g. ``outcome`` and ``category``.
    """
    decision = {"case.released": "release", "case.cleared": "release", "case.inspection_ordered": "inspect"}
    return {
        "kind": kind,
        "occurred_at": now.isoformat(),
        "case_id": case.id,
        "container_id": case.container_id,
        "scanner_id": case.scanner_id,
        "decision": decision.get(kind),
        "decided_by": by,
        "reasons": list(case.reasons or []),
        "model_version": case.model_version,
        **extra,
    }


def enqueue_event(
    session: Session, payload: dict[str, Any], *, case_id: str | None = None, now: datetime | None = None
) -> OutboxEvent:
    """Add an event to the caller's transaction (it is not committed here: the caller commits both).

    Returns:
        The pending event; ``payload["event_id"]`` equals its ``event_id``.
    """
    event_id = new_id()
    now = now or utcnow()
    event = OutboxEvent(
        event_id=event_id, case_id=case_id, kind=str(payload.get("kind", "event")),
        payload={"event_id": event_id, **payload}, created_at=now, next_attempt_at=now,
        attempts=0, delivered_to=[],
    )
    session.add(event)
    return event


def due_events(
    session: Session, *, limit: int = 20, lease_s: float = LEASE_S, now: datetime | None = None
) -> list[OutboxEvent]:
    """Take up to ``limit`` undelivered events whose time has come, oldest first, and lease them.

    The lease moves their next attempt ``lease_s`` ahead, so another dispatcher (another replica)
    leaves them alone while this one delivers; if this one dies, they come due again after the lease.
    """
    now = now or utcnow()
    begin_write(session)
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.next_attempt_at <= now)
        .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: replicas take disjoint batches
    )
    events = list(session.scalars(fresh(query)))
    for event in events:
        event.next_attempt_at = now + timedelta(seconds=lease_s)
    session.commit()
    return events


def _get(session: Session, event_id: str) -> OutboxEvent:
    event = session.scalar(fresh(select(OutboxEvent).where(OutboxEvent.event_id == event_id)))
    if event is None:
        session.rollback()
        raise NotFoundError(f"no outbox event with id {event_id!r}")
    return event


def mark_delivered(
    session: Session, event_id: str, *, delivered_to: Iterable[str] = (), now: datetime | None = None
) -> OutboxEvent:
    """Record that every receiver acknowledged the event; it will not be sent again."""
    begin_write(session)
    event = _get(session, event_id)
    event.attempts += 1
    event.delivered_at = now or utcnow()
    event.delivered_to = sorted({*event.delivered_to, *delivered_to})
    event.last_error = None
    session.commit()
    return event


def mark_failed(
    session: Session,
    event_id: str,
    error: str,
    *,
    delivered_to: Iterable[str] = (),
    now: datetime | None = None,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
) -> OutboxEvent:
    """Record a failed attempt and schedule the next one after the back-off delay.

    Args:
        error: what went wrong (kept, shortened, for the supervisor's delivery page).
        delivered_to: receivers that did acknowledge this time; later attempts skip them.
    """
    now = now or utcnow()
    begin_write(session)
    event = _get(session, event_id)
    event.attempts += 1
    event.next_attempt_at = now + timedelta(seconds=backoff_delay(event.attempts, base_s=base_s, cap_s=cap_s))
    event.delivered_to = sorted({*event.delivered_to, *delivered_to})
    event.last_error = error[:_MAX_ERROR]
    session.commit()
    return event


def list_events(
    session: Session, *, pending_only: bool = False, limit: int = 100, offset: int = 0
) -> list[OutboxEvent]:
    """Events newest first, for the supervisor's delivery page."""
    query = select(OutboxEvent)
    if pending_only:
        query = query.where(OutboxEvent.delivered_at.is_(None))
    query = query.order_by(OutboxEvent.id.desc()).limit(limit).offset(offset)
    return done(session, list(session.scalars(fresh(query))))


def outbox_summary(session: Session) -> dict[str, Any]:
    """Counts of delivered and pending events, how many are failing, and the oldest pending one's age."""
    pending = OutboxEvent.delivered_at.is_(None)
    delivered = session.scalar(select(func.count()).where(OutboxEvent.delivered_at.is_not(None))) or 0
    waiting = session.scalar(select(func.count()).where(pending)) or 0
    failing = session.scalar(select(func.count()).where(pending, OutboxEvent.attempts > 0)) or 0
    oldest = session.scalar(select(func.min(OutboxEvent.created_at)).where(pending))
    return done(session, {"delivered": delivered, "pending": waiting, "failing": failing, "oldest_pending_at": oldest})


def redeliver(session: Session, event_id: str, *, now: datetime | None = None) -> None:
    """Make an event due now (a supervisor's "retry now"), whether or not it was delivered."""
    begin_write(session)
    session.execute(
        update(OutboxEvent).where(OutboxEvent.event_id == event_id)
        .values(delivered_at=None, next_attempt_at=now or utcnow()).execution_options(synchronize_session=False)
    )
    session.commit()
