"""The officer review page's API: login, queue, claims, decisions, references, audit, dashboard (issue 5).

    POST   /login   (form: username, password, next)  -> 303 to next, with the session cookie
    POST   /logout                                     -> 303 /login
    GET    /v1/session                                 -> {"user", "role", "csrf_token"}
    GET    /v1/queue?order=oldest&scanner=gate-3&reason=anomaly_score&commodity=tires&limit=50
    POST   /v1/cases/{case_id}/claim                   DELETE /v1/cases/{case_id}/claim
    POST   /v1/cases/{case_id}/reviews  {"action": "clear", "note": "...", "expected_status": "decided"}
    GET    /v1/cases/{case_id}/reviews                 GET /v1/cases/{case_id}/references?limit=4
    GET    /v1/audit?user=alice&since=2026-11-22T00:00:00Z        (supervisor)
    GET    /v1/dashboard?hours=24                                  (supervisor)

Requests made with the session cookie that change something carry ``X-CSRF-Token`` (see ``auth``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, or_, select

from quayscan.model.stats import wilson
from quayscan.serve.auth import Principal, require
from quayscan.serve.errors import error
from quayscan.serve.intake import BadRequest
from quayscan.serve.pipeline import AUDIT_SAMPLE, case_json
from quayscan.serve.storage.cases import MAX_PAGE, CaseFilters, get_case, review_queue
from quayscan.serve.storage.credentials import authenticate_user
from quayscan.serve.storage.db import done, fresh, utcnow
from quayscan.serve.storage.errors import ReviewConflictError
from quayscan.serve.storage.models import Case, CaseStatus, Review
from quayscan.serve.storage.reviews import append_review, audit_log, claim_case, release_claim, reviews_for_case

router = APIRouter(tags=["reviews"])
Officer = Annotated[Principal, Depends(require("officer"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
HOME = "/review"
HISTOGRAM_BINS = 10


# -- login ---------------------------------------------------------------------------------------------
def _local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else the review page: a login link cannot send people away."""
    if (not target or not target.startswith("/") or target.startswith(("//", "/\\"))
            or any(c in target for c in "\\\r\n\t") or not target.isprintable()):
        return HOME
    return target


def _same_origin(request: Request) -> bool:
    """False if the browser says the form came from another site (login CSRF); no Origin header is fine."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    failed = RedirectResponse("/login?error=1", status_code=303)
    if not _same_origin(request) or not username or not password:
        return failed
    with request.app.state.db() as session:
        user = authenticate_user(session, username, password)  # unknown users cost the same time
    if user is None:
        return failed
    sessions = request.app.state.web_sessions
    token, _ = sessions.start(user)
    response = RedirectResponse(_local_path(next), status_code=303)
    sessions.set_cookie(response, token, request)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    sessions = request.app.state.web_sessions
    if _same_origin(request):  # another site may not log an officer out either
        sessions.revoke_request(request)
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_cookie(response, request)
    return response


@router.get("/v1/session")
def get_session(request: Request, principal: Officer) -> dict:
    row = getattr(request.state, "web_session", None) if principal.kind == "user" else None
    return {"user": principal.name, "role": principal.role, "kind": principal.kind,
            "csrf_token": row.csrf_token if row is not None else None,
            "expires_at": row.expires_at.isoformat() if row is not None else None}


# -- queue and cases -----------------------------------------------------------------------------------
def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadRequest("bad_time", f"{name} needs a time zone, e.g. 2026-11-22T08:00:00Z")
    return value


def _count(session: Any, *conditions: Any) -> int:
    return session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0


def queue_counts(session: Any, now: datetime) -> dict[str, int]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counts = {
        "queue": _count(session, Case.decision == "inspect", Case.status == CaseStatus.DECIDED),
        "inspection": _count(session, Case.status == CaseStatus.INSPECTION),
        "reviewed_today": _count(session, Case.reviewed_at >= midnight),
    }
    return done(session, counts)


@router.get("/v1/queue")
def get_queue(
    request: Request,
    _: Officer,
    order: Literal["oldest", "score"] = "oldest",
    scanner: str | None = None,
    reason: str | None = None,
    commodity: str | None = Query(None, description="the declared commodity class, e.g. tires"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
) -> dict:
    filters = CaseFilters(scanner_id=scanner, reason=reason, declared_commodity=commodity,
                          since=_aware(since, "since"), until=_aware(until, "until"))
    with request.app.state.db() as session:
        page = review_queue(session, filters, limit=limit, offset=offset, order=order)
        counts = queue_counts(session, utcnow())
    return {"items": [case_json(c) for c in page.items], "total": page.total, "limit": page.limit,
            "offset": page.offset, "counts": counts}


@router.post("/v1/cases/{case_id}/claim")
def claim(request: Request, case_id: str, principal: Officer) -> Any:
    try:
        with request.app.state.db() as session:
            return case_json(claim_case(session, case_id, principal.name))
    except ReviewConflictError as exc:
        if not exc.by:
            raise  # not decided yet: the plain conflict answer
        return error(409, "taken", str(exc), by=exc.by, case_status=exc.status)


@router.delete("/v1/cases/{case_id}/claim", status_code=204)
def unclaim(request: Request, case_id: str, principal: Officer) -> Response:
    with request.app.state.db() as session:
        release_claim(session, case_id, principal.name)
    return Response(status_code=204)


class ReviewCreate(BaseModel):
    action: Literal["clear", "inspect", "no_finding", "finding", "comment"]
    note: str | None = None
    category: str | None = Field(None, max_length=64)
    box: list[float] | None = Field(None, description="[x0, y0, x1, y1] in scan pixels")
    expected_status: str | None = None


def review_json(r: Review) -> dict[str, Any]:
    return {"id": r.id, "case_id": r.case_id, "user": r.user_name, "action": r.action,
            "from_status": r.from_status, "to_status": r.to_status, "category": r.category, "note": r.note,
            "box": r.box, "model_version": r.model_version, "created_at": r.created_at.isoformat()}


@router.post("/v1/cases/{case_id}/reviews", status_code=201)
def post_review(request: Request, case_id: str, body: ReviewCreate, principal: Officer) -> dict:
    with request.app.state.db() as session:
        review = append_review(session, case_id, user=principal.name, action=body.action, note=body.note,
                               category=body.category, box=body.box, expected_status=body.expected_status)
        case = get_case(session, case_id)
    return {"review": review_json(review), "case": case_json(case)}


@router.get("/v1/cases/{case_id}/reviews")
def get_reviews(request: Request, case_id: str, _: Officer) -> dict:
    with request.app.state.db() as session:
        get_case(session, case_id)  # 404 for an unknown case rather than an empty list
        return {"items": [review_json(r) for r in reviews_for_case(session, case_id)]}


@router.get("/v1/cases/{case_id}/references")
def get_references(request: Request, case_id: str, _: Officer, limit: int = Query(4, ge=1, le=20)) -> dict:
    """Earlier scans of the same declared commodity that were let go (by the model or an officer)."""
    with request.app.state.db() as session:
        case = get_case(session, case_id)
        if case.declared_commodity is None:
            return {"items": []}
        released = or_(and_(Case.decision == "release", Case.status == CaseStatus.DECIDED),
                       Case.status == CaseStatus.CLEARED)
        query = (
            select(Case).where(Case.declared_commodity == case.declared_commodity, released, Case.id != case.id,
                               Case.created_at <= case.created_at)
            .order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)
        )
        items = done(session, list(session.scalars(fresh(query))))
    return {"items": [case_json(c) for c in items]}


# -- supervisor ----------------------------------------------------------------------------------------
@router.get("/v1/audit")
def get_audit(
    request: Request,
    _: Supervisor,
    user: str | None = None,
    action: str | None = None,
    case_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0),
) -> dict:
    with request.app.state.db() as session:
        entries = audit_log(session, user=user, action=action, case_id=case_id, since=_aware(since, "since"),
                            until=_aware(until, "until"), limit=limit, offset=offset)
    return {"items": [review_json(r) for r in entries], "limit": limit, "offset": offset}


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None}
    p50, p90 = np.percentile(np.asarray(values, dtype=np.float64), [50, 90])
    return {"p50": round(float(p50), 4), "p90": round(float(p90), 4)}


def _found(r: Any) -> bool:
    """An officer ordered the container opened (outcome pending) or its inspection found something."""
    return r.status == CaseStatus.INSPECTION or (r.status == CaseStatus.CLOSED and r.outcome == "finding")


def audit_figures(rows: list[Any]) -> dict[str, Any]:
    """What the random audit sample says about the model's misses among its releases.

    Every would-be release is sent to review with the same probability, whatever it looks like, so the
    audited ones that an officer reviewed are a simple random sample of the releases. Among them:

    - miss rate ``m = found / reviewed``, with its 95 % Wilson interval ``[m_lo, m_hi]``;
    - estimated misses among all would-be releases ``M = m * R``, where ``R`` counts the model's releases
      plus the audit samples (each was a release before it was picked);
    - caught ``C``: cases the model itself flagged (audit samples aside) that were found;
    - release-side recall ``C / (C + M)``; its interval takes ``m_hi`` for the low end, ``m_lo`` for the high.

    "Found" is an officer ordering inspection (outcome pending) or an inspection finding something; no
    finding after inspection counts as a correct release, as the dataset export labels it. Flagged cases
    still waiting for review are not counted as caught, so while there is a backlog the recall estimate
    errs low. The interval covers the sampling of the audit only, not officers' own misses.

    Args:
        rows: cases (decision, reasons, status, outcome, reviewed_at).
    """
    sampled = reviewed = found = caught = releases = 0
    for r in rows:
        if AUDIT_SAMPLE in (r.reasons or []):
            sampled += 1
            releases += 1
            if r.reviewed_at is not None:
                reviewed += 1
                found += _found(r)
        elif r.decision == "release":
            releases += 1
        elif r.decision == "inspect":
            caught += _found(r)
    ci = wilson(found, reviewed)

    def recall(miss_rate: float) -> float | None:
        total = caught + miss_rate * releases
        return caught / total if total > 0 else None

    rate = found / reviewed if reviewed else None
    return {
        "sampled": sampled,
        "reviewed": reviewed,
        "found": found,
        "release_side_miss_rate": rate,
        "ci95": list(ci) if ci else None,
        "would_be_releases": releases,
        "estimated_misses": rate * releases if rate is not None else None,
        "caught": caught,
        "release_side_recall_estimate": recall(rate) if rate is not None else None,
        "release_side_recall_ci95": [recall(ci[1]), recall(ci[0])] if ci else None,
    }


def dashboard(rows: list[Any], *, start: datetime, hours: int, backlog: int) -> dict[str, Any]:
    """The dashboard's figures over the cases created in ``[start, start + hours)``.

    "released" and "inspected" count the model's decisions (the release rate is the share of scans the
    model let go); ``backlog`` is the review queue now; time to review runs from the model's decision to
    the officer's; ``audit`` is :func:`audit_figures` of the window.

    Args:
        rows: the window's cases (created_at, decision, reasons, score, decided_at, reviewed_at, status,
            outcome).
        start: the first hour, on the hour.
    """
    slots = [start + timedelta(hours=i) for i in range(hours)]
    per_hour: list[dict[str, Any]] = [{"hour": h.isoformat(), "scans": 0, "released": 0, "inspected": 0}
                                      for h in slots]
    scores_by_hour: list[list[float]] = [[] for _ in slots]
    reasons: dict[str, int] = {}
    scores, waits = [], []
    for r in rows:
        i = int((r.created_at - start).total_seconds() // 3600)
        if not 0 <= i < hours:
            continue
        slot = per_hour[i]
        slot["scans"] += 1
        if r.decision == "release":
            slot["released"] += 1
        elif r.decision == "inspect":
            slot["inspected"] += 1
        for code in r.reasons or []:
            reasons[code] = reasons.get(code, 0) + 1
        if r.score is not None:
            scores.append(r.score)
            scores_by_hour[i].append(r.score)
        if r.reviewed_at is not None:
            waits.append((r.reviewed_at - (r.decided_at or r.created_at)).total_seconds() / 60)
    released = sum(s["released"] for s in per_hour)
    decided = released + sum(s["inspected"] for s in per_hour)
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(np.clip(scores, 0.0, 1.0), bins=edges)
    return {
        "window": {"start": start.isoformat(), "hours": hours},
        "scans_per_hour": per_hour,
        "release_rate": released / decided if decided else None,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "backlog": backlog,
        "time_to_review_minutes": _percentiles(waits),
        "score_histogram": {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]},
        "score_by_hour": [{"hour": h.isoformat(), **_percentiles(s)} for h, s in zip(slots, scores_by_hour)],
        "audit": audit_figures(rows),
    }


@router.get("/v1/dashboard")
def get_dashboard(request: Request, _: Supervisor, hours: int = Query(24, ge=1, le=24 * 31)) -> dict:
    now = utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    query = select(Case.created_at, Case.decision, Case.reasons, Case.score, Case.decided_at, Case.reviewed_at,
                   Case.status, Case.outcome).where(Case.created_at >= start)
    with request.app.state.db() as session:
        rows = list(session.execute(query))
        backlog = queue_counts(session, now)["queue"]
    return dashboard(rows, start=start, hours=hours, backlog=backlog)
