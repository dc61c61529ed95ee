"""The database schema as typed SQLAlchemy models (Alembic migrations follow these).

Tables: ``cases`` (one per scan posted), ``reviews`` (append-only audit of officer decisions and physical
inspection outcomes), ``users`` and ``api_keys`` (credentials), ``web_sessions`` (review page logins),
``outbox`` (webhook events awaiting delivery), ``models`` (the model registry), ``model_events`` (its
append-only audit: register, promote, rollback, shadow) and ``shadow_scores`` (what the shadow model would
have decided on live scans). All timestamps are UTC (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from quayscan.serve.storage.db import UTCDateTime, new_id, utcnow

# Stable constraint names, so migrations can address them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(26)  # a ULID (see db.new_id)
NAME = String(128)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CaseStatus:
    """Where a case is in its life; stored as plain strings so new states need no enum migration."""

    RECEIVED = "received"  # images and row committed, no decision yet (decided on restart if we die)
    DECIDED = "decided"  # the model (or the fail-closed path) decided release or inspect
    CLEARED = "cleared"  # an officer released a flagged case
    INSPECTION = "inspection"  # an officer ordered a physical inspection; awaiting its outcome
    CLOSED = "closed"  # the physical inspection's outcome is recorded

    ALL = (RECEIVED, DECIDED, CLEARED, INSPECTION, CLOSED)


class Case(Base):
    """One posted scan: what the scanner said, where its images are, and what was decided."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: SHA-256 of the request, to refuse a reused idempotency key carrying a different scan
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    scanner_id: Mapped[str] = mapped_column(NAME)
    container_id: Mapped[str] = mapped_column(String(16))
    declared: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{hs_code, description}]
    declared_empty: Mapped[bool] = mapped_column(Boolean, default=False)
    #: library class of the declaration ("empty" if declared empty), None if not in the library
    declared_commodity: Mapped[str | None] = mapped_column(String(32))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pitch_x_mm: Mapped[float] = mapped_column(Float)
    pitch_y_mm: Mapped[float] = mapped_column(Float)
    air_value: Mapped[float | None] = mapped_column(Float)
    width_px: Mapped[int | None] = mapped_column(Integer)
    height_px: Mapped[int | None] = mapped_column(Integer)
    source_format: Mapped[str | None] = mapped_column(String(16))  # png, tiff, dicos
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the scanner's meta, verbatim
    high_blob_key: Mapped[str] = mapped_column(String(512))
    low_blob_key: Mapped[str | None] = mapped_column(String(512))

    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.RECEIVED)
    decision: Mapped[str | None] = mapped_column(String(16))  # "release" | "inspect"
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    commodity: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {predicted, confidence, declared, match}
    model_version: Mapped[str | None] = mapped_column(String(64))
    heatmap_blob_key: Mapped[str | None] = mapped_column(String(512))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Review summary, kept in step with the reviews table in the same transaction (the queue reads it).
    claimed_by: Mapped[str | None] = mapped_column(NAME)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(NAME)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # "no_finding" | "finding"
    outcome_category: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "status", "created_at"),  # review queue and restart recovery
        Index(None, "decision", "created_at"),
        Index(None, "scanner_id", "created_at"),
        Index(None, "created_at"),
        Index(None, "container_id"),
        Index(None, "declared_commodity", "decision"),  # reference strip: released scans of a commodity
    )


class Review(Base):
    """One entry of the audit trail; never updated or deleted (a correction is a new entry)."""

    __tablename__ = "reviews"

    # An integer key gives a total order even when two entries share a timestamp.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.id", ondelete="RESTRICT"))
    user_name: Mapped[str] = mapped_column(NAME)
    action: Mapped[str] = mapped_column(String(32))  # clear, inspect, no_finding, finding, comment
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    box: Mapped[list[float] | None] = mapped_column(JSON)  # [x0, y0, x1, y1] in scan pixels
    model_version: Mapped[str | None] = mapped_column(String(64))  # the model that decided the case
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index(None, "case_id", "id"),
        Index(None, "created_at"),
        Index(None, "user_name", "created_at"),
    )


@event.listens_for(Review, "before_update")
@event.listens_for(Review, "before_delete")
def _reviews_are_append_only(_mapper: Any, _connection: Any, target: Review) -> None:
    raise PermissionError(f"review {target.id} is part of the audit trail and cannot be changed")


class User(Base):
    """A person who logs in to the review page."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    role: Mapped[str] = mapped_column(String(16))  # officer, supervisor, admin
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    """A bearer key for machines (scanners, automation); only its hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the key's public part, for lookup
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser login to the review page; the cookie holds a random token, the row only its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256 of the cookie's token
    user_name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(String(16))  # the user's role at login
    csrf_token: Mapped[str] = mapped_column(String(64))  # the page sends it back as X-CSRF-Token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "user_name"),
        Index(None, "expires_at"),  # purging old rows
    )


class OutboxEvent(Base):
    """A webhook event, written in the same transaction as the decision it announces."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ID, unique=True, default=new_id)  # receivers de-duplicate on it
    case_id: Mapped[str | None] = mapped_column(ID, ForeignKey("cases.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: webhook URLs that already acknowledged, so a retry goes only to the others
    delivered_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(None, "delivered_at", "next_attempt_at"),
        Index(None, "case_id"),
    )


class ModelVersion(Base):
    """A model known to the service; at most one is current and at most one runs in shadow."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    artifact: Mapped[str] = mapped_column(String(1024))  # blob key or file path of the .onnx
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the ONNX metadata and figures
    registered_by: Mapped[str | None] = mapped_column(NAME)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(NAME)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    is_shadow: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # Partial unique indexes: the database itself guarantees a single current and shadow model.
        Index(
            "uq_models_current", "is_current", unique=True,
            sqlite_where=text("is_current"), postgresql_where=text("is_current"),
        ),
        Index(
            "uq_models_shadow", "is_shadow", unique=True,
            sqlite_where=text("is_shadow"), postgresql_where=text("is_shadow"),
        ),
    )


class ModelEvent(Base):
    """One entry of the registry's audit trail, written in the transaction that changed the flags; never
    updated or deleted."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str | None] = mapped_column(String(64))  # None: "unshadow" when nothing was shadowing
    action: Mapped[str] = mapped_column(String(16))  # register, promote, rollback, shadow, unshadow
    user_name: Mapped[str | None] = mapped_column(NAME)
    reason: Mapped[str | None] = mapped_column(Text)
    #: promoted although the gate did not pass (failed, or was not run)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. the gate's figures
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index(None, "version", "id"),
        Index(None, "created_at"),
    )


@event.listens_for(ModelEvent, "before_update")
@event.listens_for(ModelEvent, "before_delete")
def _model_events_are_append_only(_mapper: Any, _connection: Any, target: ModelEvent) -> None:
    raise PermissionError(f"model event {target.id} is part of the audit trail and cannot be changed")


class ShadowScore(Base):
    """What the shadow model made of one live scan; the deciding model's answer stays on the case."""

    __tablename__ = "shadow_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.id", ondelete="RESTRICT"))
    model_version: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    commodity: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {predicted, confidence, declared, match}
    decision: Mapped[str] = mapped_column(String(16))  # what it would have decided
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("case_id", "model_version"),
        Index(None, "model_version", "created_at"),
    )
