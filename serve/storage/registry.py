"""The model registry: which model versions the service knows, which one decides, which one shadows.

Registering does not change what decides; promoting does, in one transaction (the database's partial
unique index guarantees a single current model even if two admins promote at once). The serving engine
loads the new session first, then calls :func:`promote_model`, then swaps (issue 4: no failed request).

Every change writes a :class:`ModelEvent` in the same transaction (who, when, why, forced or not, the
gate's figures), so the audit trail and the flags cannot disagree. The shadow model's answers on live
scans are kept in ``shadow_scores`` (:func:`record_shadow_score`, :func:`shadow_pairs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quayscan.serve.storage.db import begin_write, done, fresh, utcnow
from quayscan.serve.storage.errors import ConflictError, InvalidValueError, NotFoundError
from quayscan.serve.storage.models import Case, ModelEvent, ModelVersion, ShadowScore

ACTIONS = ("register", "promote", "rollback", "shadow", "unshadow")


def register_model(
    session: Session,
    version: str,
    artifact: str,
    *,
    card: dict[str, Any] | None = None,
    artifact_sha256: str | None = None,
    registered_by: str | None = None,
    now: datetime | None = None,
) -> ModelVersion:
    """Add a model version (not current until promoted).

    Args:
        version: the version the ONNX metadata declares; unique.
        artifact: where the .onnx file is (blob key or path).
        card: the model card (metadata and evaluation figures) read from the file.

    Raises:
        ConflictError: the version is already registered.
    """
    if not version or len(version) > 64:
        raise InvalidValueError(f"model version must be 1-64 characters, got {version!r}")
    now = now or utcnow()
    model = ModelVersion(
        version=version, artifact=artifact, artifact_sha256=artifact_sha256, card=dict(card or {}),
        registered_by=registered_by, registered_at=now, is_current=False, is_shadow=False,
    )
    begin_write(session)
    session.add(model)
    session.add(_event(version, "register", registered_by, None, False, {"artifact_sha256": artifact_sha256}, now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(f"model version {version!r} is already registered") from None
    return model


def _event(version: str | None, action: str, by: str | None, reason: str | None, forced: bool,
           details: dict[str, Any] | None, now: datetime) -> ModelEvent:
    if action not in ACTIONS:
        raise InvalidValueError(f"model event action must be one of {ACTIONS}, got {action!r}")
    return ModelEvent(version=version, action=action, user_name=by, reason=reason, forced=forced,
                      details=dict(details or {}), created_at=now)


def get_model(session: Session, version: str) -> ModelVersion:
    """A registered version; raises :class:`NotFoundError` if unknown."""
    model = session.scalar(fresh(select(ModelVersion).where(ModelVersion.version == version)))
    if model is None:
        session.rollback()
        raise NotFoundError(f"no model version {version!r} is registered")
    return done(session, model)


def list_models(session: Session) -> list[ModelVersion]:
    """Every registered version, newest first."""
    query = select(ModelVersion).order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc())
    return done(session, list(session.scalars(fresh(query))))


def current_model(session: Session) -> ModelVersion | None:
    """The version that decides, or None before the first promotion."""
    return done(session, session.scalar(fresh(select(ModelVersion).where(ModelVersion.is_current.is_(True)))))


def shadow_model(session: Session) -> ModelVersion | None:
    """The version that scores cases alongside the current one without deciding, if any."""
    return done(session, session.scalar(fresh(select(ModelVersion).where(ModelVersion.is_shadow.is_(True)))))


def _set_flag(session: Session, flag: Any, version: str | None, extra: dict[str, Any],
              event: dict[str, Any] | None) -> ModelVersion | None:
    """Move ``flag`` to ``version`` (None: to nobody) and write ``event`` in the same transaction."""
    begin_write(session)
    target = None
    if version is not None:
        target = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
        if target is None:
            session.rollback()
            raise NotFoundError(f"no model version {version!r} is registered")
    if event is not None and event["version"] is None:  # "unshadow": name the version that stops, if any
        event["version"] = session.scalar(select(ModelVersion.version).where(flag.is_(True)))
        if event["version"] is None:
            event = None  # nothing changes, nothing to log
    # Clear first, then set: the partial unique index would refuse two flagged rows even for a moment.
    session.execute(update(ModelVersion).where(flag.is_(True)).values({flag: False}))
    if target is not None:
        session.execute(update(ModelVersion).where(ModelVersion.id == target.id).values({flag: True, **extra}))
    if event is not None:
        session.add(_event(**event))
    session.commit()
    if target is not None:
        session.refresh(target)
    return target


def promote_model(session: Session, version: str, *, by: str | None = None, reason: str | None = None,
                  forced: bool = False, details: dict[str, Any] | None = None, action: str = "promote",
                  now: datetime | None = None) -> ModelVersion:
    """Make ``version`` the one that decides; the previous one stays registered for rollback.

    A version that was the shadow stops shadowing (it now decides). The change is logged as ``action``
    ("promote" or "rollback") by ``by``; ``forced`` means the promotion gate did not pass (or was not run)
    and ``reason`` says why it went ahead anyway; ``details`` holds the gate's figures.
    """
    if action not in ("promote", "rollback"):
        raise InvalidValueError(f"a promotion is logged as promote or rollback, got {action!r}")
    now = now or utcnow()
    model = _set_flag(session, ModelVersion.is_current, version,
                      {"promoted_at": now, "promoted_by": by, "is_shadow": False},
                      {"version": version, "action": action, "by": by, "reason": reason, "forced": forced,
                       "details": details, "now": now})
    return cast(ModelVersion, model)  # never None: a version was given


def set_shadow_model(session: Session, version: str | None, *, by: str | None = None,
                     reason: str | None = None, now: datetime | None = None) -> ModelVersion | None:
    """Run ``version`` in shadow (scored, not deciding), or stop shadowing with None."""
    if version is not None and (current := current_model(session)) is not None and current.version == version:
        session.rollback()
        raise ConflictError(f"model {version!r} is current; it cannot also be the shadow")
    event = {"version": version, "action": "shadow" if version else "unshadow", "by": by, "reason": reason,
             "forced": False, "details": None, "now": now or utcnow()}
    return _set_flag(session, ModelVersion.is_shadow, version, {}, event)


def list_events(session: Session, version: str | None = None, limit: int = 1000) -> list[ModelEvent]:
    """The registry's audit trail (of one version, or all), oldest first."""
    query = select(ModelEvent).order_by(ModelEvent.id.desc()).limit(limit)
    if version is not None:
        query = query.where(ModelEvent.version == version)
    return done(session, list(reversed(session.scalars(query).all())))


# -- shadow scores --------------------------------------------------------------------------------

def record_shadow_score(session: Session, case_id: str, model_version: str, *, score: float | None,
                        commodity: dict[str, Any] | None, decision: str, reasons: list[str],
                        now: datetime | None = None) -> bool:
    """Store what the shadow model made of a case; False if that model already scored it."""
    begin_write(session)
    session.add(ShadowScore(case_id=case_id, model_version=model_version, score=score, commodity=commodity,
                            decision=decision, reasons=list(reasons), created_at=now or utcnow()))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def shadow_pairs(session: Session, model_version: str, *, since: datetime | None = None,
                 until: datetime | None = None) -> list[tuple[Case, ShadowScore]]:
    """Each case the shadow ``model_version`` scored, with its score, in case order (oldest first)."""
    query = (select(Case, ShadowScore).join(ShadowScore, ShadowScore.case_id == Case.id)
             .where(ShadowScore.model_version == model_version).order_by(Case.created_at, Case.id))
    if since is not None:
        query = query.where(Case.created_at >= since)
    if until is not None:
        query = query.where(Case.created_at < until)
    return done(session, [(c, s) for c, s in session.execute(query).all()])


def recent_scores(session: Session, model_version: str, limit: int) -> tuple[list[float], list[float]]:
    """The last ``limit`` live scores of ``model_version``: as the deciding model (cases), as the shadow."""
    deciding = session.scalars(
        select(Case.score).where(Case.model_version == model_version, Case.score.is_not(None))
        .order_by(Case.created_at.desc()).limit(limit)).all()
    shadow = session.scalars(
        select(ShadowScore.score).where(ShadowScore.model_version == model_version, ShadowScore.score.is_not(None))
        .order_by(ShadowScore.created_at.desc()).limit(limit)).all()
    return done(session, ([float(x) for x in deciding], [float(x) for x in shadow]))
