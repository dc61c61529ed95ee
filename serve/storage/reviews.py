"""Officer reviews and physical-inspection outcomes: an append-only audit trail (issue 5).

Each entry moves the case along::

    decided --clear--> cleared            decided --inspect--> inspection --finding/no_finding--> closed

A correction (e.g. clear after inspect, before the container is opened) is a new entry; nothing is ever
overwritten. A "comment" adds a note without changing the case. The page passes the status it showed
the officer as ``expected_status``: if someone decided the case meanwhile, the second officer gets a
:class:`ReviewConflictError` naming who, instead of silently deciding twice.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from quayscan.serve.storage.db import begin_write, done, utcnow
from quayscan.serve.storage.errors import InvalidValueError, NotFoundError, ReviewConflictError
from quayscan.serve.storage.models import Case, CaseStatus, Review
from quayscan.serve.storage.outbox import case_event, enqueue_event

S = CaseStatus
#: action -> (statuses it may follow, status it leads to; None keeps the status)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "clear": (frozenset({S.DECIDED, S.CLEARED, S.INSPECTION}), S.CLEARED),
    "inspect": (frozenset({S.DECIDED, S.CLEARED, S.INSPECTION}), S.INSPECTION),
    "no_finding": (frozenset({S.INSPECTION, S.CLOSED}), S.CLOSED),
    "finding": (frozenset({S.INSPECTION, S.CLOSED}), S.CLOSED),
    "comment": (frozenset({S.DECIDED, S.CLEARED, S.INSPECTION, S.CLOSED}), None),
}
#: webhook event of each final decision
EVENTS = {
    "clear": "case.cleared",
    "inspect": "case.inspection_ordered",
    "no_finding": "case.inspection_completed",
    "finding": "case.inspection_completed",
}
MAX_NOTE = 4000


def _check_box(box: Any, case: Case) -> list[float] | None:
    if box is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise InvalidValueError(f"box must be four numbers [x0, y0, x1, y1], got {box!r}") from None
    w, h = case.width_px or math.inf, case.height_px or math.inf
    if not (all(map(math.isfinite, (x0, y0, x1, y1))) and 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InvalidValueError(f"box {box!r} must satisfy 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h}")
    return [x0, y0, x1, y1]


def append_review(
    session: Session,
    case_id: str,
    *,
    user: str,
    action: str,
    note: str | None = None,
    category: str | None = None,
    box: Any = None,
    expected_status: str | None = None,
    now: datetime | None = None,
) -> Review:
    """Record an officer's decision, an inspection outcome or a comment, and update the case with it.

    Final decisions (clear, inspect, finding, no_finding) queue their webhook event in the same transaction.

    Args:
        user: who decided (the logged-in user's name).
        action: one of "clear", "inspect", "no_finding", "finding", "comment".
        category: what was found; required for "finding".
        box: ``[x0, y0, x1, y1]`` in scan pixels, marking what the officer saw.
        expected_status: the case status the officer was shown; a different current status is a conflict.

    Returns:
        The new entry.

    Raises:
        InvalidValueError: unknown action, missing category, malformed box, overlong note.
        ReviewConflictError: the case is not in a state this action may follow, or not as expected.
        NotFoundError: no such case.
    """
    if action not in TRANSITIONS:
        raise InvalidValueError(f"action must be one of {', '.join(TRANSITIONS)}, got {action!r}")
    if not user:
        raise InvalidValueError("a review needs the user who made it")
    if action == "finding" and not category:
        raise InvalidValueError("a finding needs a category (e.g. dense_concealment)")
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidValueError(f"note has {len(note)} characters; at most {MAX_NOTE} are kept")
    now = now or utcnow()
    begin_write(session)
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        session.rollback()
        raise NotFoundError(f"no case with id {case_id!r}")
    allowed, to_status = TRANSITIONS[action]
    current = case.status
    if (expected_status is not None and current != expected_status) or current not in allowed:
        session.rollback()
        who = f" by {case.reviewed_by}" if case.reviewed_by else ""
        raise ReviewConflictError(
            f"case {case_id} is {current}{who}; cannot {action} it"
            + (f" (the page showed it {expected_status})" if expected_status else ""),
            status=current, by=case.reviewed_by,
        )
    clean_box = _check_box(box, case)

    values: dict[str, Any] = {}
    if action in ("clear", "inspect"):
        values = {"reviewed_by": user, "reviewed_at": now, "claimed_by": None, "claimed_at": None}
    elif action in ("finding", "no_finding"):
        values = {"outcome": action, "outcome_category": category, "closed_at": now,
                  "claimed_by": None, "claimed_at": None}
    if to_status is not None:
        # Conditional on the status just read: on PostgreSQL a concurrent review makes this match nothing.
        result = session.execute(
            update(Case).where(Case.id == case_id, Case.status == current)
            .values(status=to_status, **values).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            session.rollback()
            raise ReviewConflictError(f"case {case_id} changed while it was being reviewed", status=current)
        session.refresh(case)

    review = Review(
        case_id=case_id, user_name=user, action=action, from_status=current, to_status=to_status or current,
        category=category, note=note, box=clean_box, model_version=case.model_version, created_at=now,
    )
    session.add(review)
    if action in EVENTS:
        extra = {"outcome": action, "category": category} if action in ("finding", "no_finding") else {}
        enqueue_event(session, case_event(case, EVENTS[action], by=user, now=now, **extra), case_id=case_id, now=now)
    session.commit()
    return review


def reviews_for_case(session: Session, case_id: str) -> list[Review]:
    """A case's entries in the order they were made."""
    return done(session, list(session.scalars(select(Review).where(Review.case_id == case_id).order_by(Review.id))))


def audit_log(
    session: Session,
    *,
    user: str | None = None,
    case_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Review]:
    """Entries newest first, filtered, for the supervisor's audit page (``until`` exclusive)."""
    query = select(Review)
    for column, value in ((Review.user_name, user), (Review.case_id, case_id), (Review.action, action)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Review.created_at >= since)
    if until is not None:
        query = query.where(Review.created_at < until)
    return done(session, list(session.scalars(query.order_by(Review.id.desc()).limit(limit).offset(offset))))


def claim_case(
    session: Session, case_id: str, user: str, *, ttl: timedelta = timedelta(minutes=15), now: datetime | None = None
) -> Case:
    """Mark a case as being reviewed by ``user``, so a second officer opening it sees it is taken.

    A claim is advisory (``append_review`` does not check it) and expires after ``ttl``; the same user
    may renew it; a decision releases it.

    Raises:
        ReviewConflictError: someone else holds a live claim (the message names them), or the case is
            not decided yet.
        NotFoundError: no such case.
    """
    now = now or utcnow()
    begin_write(session)
    result = session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status != CaseStatus.RECEIVED)
        .where(or_(Case.claimed_by.is_(None), Case.claimed_by == user, Case.claimed_at < now - ttl))
        .values(claimed_by=user, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    case = session.get(Case, case_id, populate_existing=True)
    session.commit()
    if case is None:
        raise NotFoundError(f"no case with id {case_id!r}")
    if result.rowcount != 1:
        holder = f"is being reviewed by {case.claimed_by}" if case.claimed_by else f"is still {case.status}"
        raise ReviewConflictError(f"case {case_id} {holder}", status=case.status, by=case.claimed_by)
    return case


def release_claim(session: Session, case_id: str, user: str) -> None:
    """Drop ``user``'s claim on a case (the officer closed the case view without deciding)."""
    begin_write(session)
    session.execute(
        update(Case).where(Case.id == case_id, Case.claimed_by == user)
        .values(claimed_by=None, claimed_at=None).execution_options(synchronize_session=False)
    )
    session.commit()
