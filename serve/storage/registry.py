"""The model registry: which model versions the service knows, which one decides, which one shadows.

Registering does not change what decides; promoting does, in one transaction (the database's partial
unique index guarantees a single current model even if two admins promote at once). The serving engine
loads the new session first, then calls :func:`promote_model`, then swaps (issue 4: no failed request).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quayscan.serve.storage.db import begin_write, done, fresh, insert_unique, utcnow
from quayscan.serve.storage.errors import ConflictError, InvalidValueError, NotFoundError
from quayscan.serve.storage.models import ModelVersion


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
    model = ModelVersion(
        version=version, artifact=artifact, artifact_sha256=artifact_sha256, card=dict(card or {}),
        registered_by=registered_by, registered_at=now or utcnow(), is_current=False, is_shadow=False,
    )
    return insert_unique(session, model, f"model version {version!r} is already registered")


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


def _set_flag(session: Session, flag: Any, version: str | None, extra: dict[str, Any]) -> ModelVersion | None:
    begin_write(session)
    target = None
    if version is not None:
        target = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
        if target is None:
            session.rollback()
            raise NotFoundError(f"no model version {version!r} is registered")
    # Clear first, then set: the partial unique index would refuse two flagged rows even for a moment.
    session.execute(update(ModelVersion).where(flag.is_(True)).values({flag: False}))
    if target is not None:
        session.execute(update(ModelVersion).where(ModelVersion.id == target.id).values({flag: True, **extra}))
    session.commit()
    if target is not None:
        session.refresh(target)
    return target


def promote_model(session: Session, version: str, *, now: datetime | None = None) -> ModelVersion:
    """Make ``version`` the one that decides; the previous one stays registered for rollback.

    A version that was the shadow stops shadowing (it now decides).
    """
    model = _set_flag(session, ModelVersion.is_current, version, {"promoted_at": now or utcnow(), "is_shadow": False})
    return cast(ModelVersion, model)  # never None: a version was given


def set_shadow_model(session: Session, version: str | None) -> ModelVersion | None:
    """Run ``version`` in shadow (scored, not deciding), or stop shadowing with None."""
    if version is not None and (current := current_model(session)) is not None and current.version == version:
        session.rollback()
        raise ConflictError(f"model {version!r} is current; it cannot also be the shadow")
    return _set_flag(session, ModelVersion.is_shadow, version, {})
