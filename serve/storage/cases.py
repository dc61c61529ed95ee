"""Cases: store a posted scan, decide it, find it again.

Each function is one short transaction: writers start as writers and commit (``db.begin_write``), readers
end their read transaction (``db.done``), so a long-lived session never reads an old snapshot.

The scanner API's order of work (issue 4) maps onto these calls::

    case_id = new_id()                                   # before the blobs, whose keys contain it
    store.put(scan_key(case_id, "high", now), high_bytes)
    case, created = create_case(session, case_id=case_id, idempotency_key=key, ...)   # committed
    if not created: delete the blobs just written; answer from `case`
    ... infer ...
    case = decide_case(session, case.id, decision="inspect", reasons=[...], ...)       # committed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quayscan.serve.storage.db import begin_write, done, fresh, new_id, require_aware, utcnow
from quayscan.serve.storage.errors import IdempotencyKeyReusedError, InvalidValueError, NotFoundError
from quayscan.serve.storage.models import Case, CaseStatus
from quayscan.serve.storage.outbox import case_event, enqueue_event

DECISIONS = ("release", "inspect")
ORDERS = ("oldest", "newest", "score")
MAX_PAGE = 500


def get_case(session: Session, case_id: str) -> Case:
    """The case with this id, as stored now; raises :class:`NotFoundError` if there is none."""
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        session.rollback()
        raise NotFoundError(f"no case with id {case_id!r}")
    return done(session, case)


def _by_key(session: Session, key: str) -> Case | None:
    return session.scalar(fresh(select(Case).where(Case.idempotency_key == key)))


def find_case_by_idempotency_key(session: Session, key: str) -> Case | None:
    """The case an idempotency key made, if any."""
    return done(session, _by_key(session, key))


def _same_request(case: Case, request_sha256: str | None) -> Case:
    if request_sha256 and case.request_sha256 and request_sha256 != case.request_sha256:
        raise IdempotencyKeyReusedError(
            f"idempotency key {case.idempotency_key!r} was already used for a different scan (case {case.id})"
        )
    return case


def create_case(
    session: Session,
    *,
    scanner_id: str,
    container_id: str,
    high_blob_key: str,
    pitch_mm: Sequence[float],
    low_blob_key: str | None = None,
    declared: Sequence[dict[str, Any]] = (),
    declared_empty: bool = False,
    declared_commodity: str | None = None,
    scanned_at: datetime | None = None,
    air_value: float | None = None,
    meta: dict[str, Any] | None = None,
    width_px: int | None = None,
    height_px: int | None = None,
    source_format: str | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    case_id: str | None = None,
    now: datetime | None = None,
) -> tuple[Case, bool]:
    """Commit a new case in status ``received``, or return the one this idempotency key already made.

    Under concurrency the unique constraint on the key decides: the loser of a race gets an
    IntegrityError, rolls back and returns the winner's case. Idempotency keys are global; the API may
    prefix them with the caller's key id to scope them per scanner.

    Args:
        session: a session; anything pending in it is committed first, then this case.
        pitch_mm: pixel pitch (x, y) in mm.
        declared: the declaration, ``[{"hs_code", "description"}]``.
        declared_commodity: the library class of the declaration, "empty", or None if not in the library.
        meta: the scanner's meta as received, kept verbatim for audit.
        request_sha256: a digest of the request; a retry whose digest differs is refused.
        case_id: the id to use (the blob keys contain it); a new ULID if omitted.
        now: creation time (default: the current time).

    Returns:
        ``(case, created)``: ``created`` is False when the key was already known.

    Raises:
        IdempotencyKeyReusedError: the key is known but came with a different request.
        InvalidValueError: a malformed pixel pitch, an empty scanner or container id, a naive time.
    """
    try:
        pitch = tuple(float(p) for p in pitch_mm)
    except (TypeError, ValueError):
        pitch = ()
    if len(pitch) != 2 or not all(p > 0 for p in pitch):
        raise InvalidValueError(f"pixel pitch must be two positive numbers (x, y) in mm, got {pitch_mm!r}")
    for name, value in (("scanner_id", scanner_id), ("container_id", container_id)):
        if not value:
            raise InvalidValueError(f"{name} must not be empty, got {value!r}")
    require_aware(scanned_at, "scanned_at")
    require_aware(now, "now")
    begin_write(session)
    if idempotency_key is not None:
        # The common retry finds its case here; the unique constraint below settles true races.
        existing = _by_key(session, idempotency_key)
        if existing is not None:
            session.commit()  # nothing written; just end the transaction and its lock
            return _same_request(existing, request_sha256), False
    case = Case(
        id=case_id or new_id(),
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
        scanner_id=scanner_id,
        container_id=container_id,
        declared=[dict(d) for d in declared],
        declared_empty=bool(declared_empty),
        declared_commodity=declared_commodity,
        scanned_at=scanned_at,
        pitch_x_mm=pitch[0],
        pitch_y_mm=pitch[1],
        air_value=air_value,
        meta=dict(meta or {}),
        width_px=width_px,
        height_px=height_px,
        source_format=source_format,
        high_blob_key=high_blob_key,
        low_blob_key=low_blob_key,
        status=CaseStatus.RECEIVED,
        reasons=[],
        created_at=now or utcnow(),
    )
    session.add(case)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _by_key(session, idempotency_key) if idempotency_key else None
        session.commit()
        if existing is None:
            raise
        return _same_request(existing, request_sha256), False
    return case, True


def decide_case(
    session: Session,
    case_id: str,
    *,
    decision: str,
    reasons: Sequence[str],
    score: float | None = None,
    threshold: float | None = None,
    commodity: dict[str, Any] | None = None,
    model_version: str | None = None,
    heatmap_blob_key: str | None = None,
    latency_ms: float | None = None,
    now: datetime | None = None,
) -> Case:
    """Record the model's (or the fail-closed path's) decision on a received case.

    The first decision wins: if the case was already decided (a restart recovery racing the original
    request, or another replica), nothing changes and the stored case is returned, so every caller
    answers the same. A release is final, so its webhook event is queued in the same transaction.

    Returns:
        The case as stored after the call.
    """
    if decision not in DECISIONS:
        raise InvalidValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if isinstance(reasons, str) or not all(isinstance(r, str) for r in reasons):
        raise InvalidValueError(f"reasons must be a list of reason codes, got {reasons!r}")
    now = now or utcnow()
    begin_write(session)
    result = session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.RECEIVED)
        .values(
            status=CaseStatus.DECIDED, decision=decision, reasons=list(reasons), score=score,
            threshold=threshold, commodity=commodity, model_version=model_version,
            heatmap_blob_key=heatmap_blob_key, latency_ms=latency_ms, decided_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        session.rollback()
        raise NotFoundError(f"no case with id {case_id!r}")
    if result.rowcount == 1 and decision == "release":
        enqueue_event(session, case_event(case, "case.released", by="model", now=now), case_id=case.id, now=now)
    session.commit()
    return case


def undecided_cases(session: Session, *, older_than: datetime | None = None, limit: int = 100) -> list[Case]:
    """Cases stored but never decided (the process died in between), oldest first, for restart recovery.

    Args:
        older_than: only cases created before this time, to leave alone requests still in flight.
        limit: at most this many.
    """
    query = select(Case).where(Case.status == CaseStatus.RECEIVED)
    if older_than is not None:
        query = query.where(Case.created_at < older_than)
    return done(session, list(session.scalars(fresh(query.order_by(Case.created_at, Case.id).limit(limit)))))


@dataclass(frozen=True)
class CaseFilters:
    """What ``list_cases`` selects; None means "any". Times bound ``created_at``, ``until`` exclusive."""

    decision: str | None = None
    status: str | Sequence[str] | None = None
    reviewed: bool | None = None
    scanner_id: str | None = None
    container_id: str | None = None
    declared_commodity: str | None = None
    reason: str | None = None
    model_version: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class CasePage:
    items: list[Case]
    total: int  # matching cases in all pages
    limit: int
    offset: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(query: Select[Any], f: CaseFilters) -> Select[Any]:
    if f.decision is not None:
        query = query.where(Case.decision == f.decision)
    if isinstance(f.status, str):
        query = query.where(Case.status == f.status)
    elif f.status is not None:
        query = query.where(Case.status.in_(list(f.status)))
    if f.reviewed is not None:
        query = query.where(Case.reviewed_at.is_not(None) if f.reviewed else Case.reviewed_at.is_(None))
    for column, value in (
        (Case.scanner_id, f.scanner_id), (Case.container_id, f.container_id),
        (Case.declared_commodity, f.declared_commodity), (Case.model_version, f.model_version),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.reason is not None:
        # Reason codes are plain identifiers, so matching the quoted code in the JSON text is exact and
        # works the same on SQLite and PostgreSQL.
        pattern = f'%"{_escape_like(f.reason)}"%'
        query = query.where(cast(Case.reasons, Text).like(pattern, escape="\\"))
    if f.since is not None:
        query = query.where(Case.created_at >= f.since)
    if f.until is not None:
        query = query.where(Case.created_at < f.until)
    return query


def list_cases(
    session: Session, filters: CaseFilters | None = None, *, limit: int = 50, offset: int = 0, order: str = "oldest"
) -> CasePage:
    """One page of cases matching ``filters``.

    Args:
        order: "oldest" (the review queue's default), "newest", or "score" (highest first).
        limit: page size, 1 to 500.
    """
    if order not in ORDERS:
        raise InvalidValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidValueError(f"limit must be in [1, {MAX_PAGE}] and offset >= 0, got {limit}, {offset}")
    f = filters or CaseFilters()
    total = session.scalar(_where(select(func.count()).select_from(Case), f)) or 0
    ordering = {
        "oldest": (Case.created_at, Case.id),
        "newest": (Case.created_at.desc(), Case.id.desc()),
        "score": (Case.score.desc().nulls_last(), Case.created_at, Case.id),
    }[order]
    items = list(session.scalars(fresh(_where(select(Case), f).order_by(*ordering).limit(limit).offset(offset))))
    return done(session, CasePage(items=items, total=total, limit=limit, offset=offset))


def review_queue(session: Session, filters: CaseFilters | None = None, **kwargs: Any) -> CasePage:
    """Flagged cases no officer has decided yet: ``list_cases`` with decision inspect, status decided."""
    base = filters or CaseFilters()
    f = CaseFilters(**{**base.__dict__, "decision": "inspect", "status": CaseStatus.DECIDED})
    return list_cases(session, f, **kwargs)

