"""Initial schema: cases, reviews, users, api_keys, outbox, models.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Timestamps are ``DateTime(timezone=True)`` here: the models' ``UTCDateTime`` only adds conversion in
Python, and migrations must not import application types that may change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(26), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        _id(),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_sha256", sa.String(64)),
        sa.Column("scanner_id", sa.String(128), nullable=False),
        sa.Column("container_id", sa.String(16), nullable=False),
        sa.Column("declared", sa.JSON(), nullable=False),
        sa.Column("declared_empty", sa.Boolean(), nullable=False),
        sa.Column("declared_commodity", sa.String(32)),
        _ts("scanned_at"),
        sa.Column("pitch_x_mm", sa.Float(), nullable=False),
        sa.Column("pitch_y_mm", sa.Float(), nullable=False),
        sa.Column("air_value", sa.Float()),
        sa.Column("width_px", sa.Integer()),
        sa.Column("height_px", sa.Integer()),
        sa.Column("source_format", sa.String(16)),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("high_blob_key", sa.String(512), nullable=False),
        sa.Column("low_blob_key", sa.String(512)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16)),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("threshold", sa.Float()),
        sa.Column("commodity", sa.JSON()),
        sa.Column("model_version", sa.String(64)),
        sa.Column("heatmap_blob_key", sa.String(512)),
        sa.Column("latency_ms", sa.Float()),
        _ts("created_at", nullable=False),
        _ts("decided_at"),
        sa.Column("claimed_by", sa.String(128)),
        _ts("claimed_at"),
        sa.Column("reviewed_by", sa.String(128)),
        _ts("reviewed_at"),
        sa.Column("outcome", sa.String(16)),
        sa.Column("outcome_category", sa.String(64)),
        _ts("closed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_cases_idempotency_key")),
    )
    for columns in (
        ["status", "created_at"], ["decision", "created_at"], ["scanner_id", "created_at"], ["created_at"],
        ["container_id"], ["declared_commodity", "decision"],
    ):
        op.create_index(op.f(f"ix_cases_{'_'.join(columns)}"), "cases", columns)

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("case_id"),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("note", sa.Text()),
        sa.Column("box", sa.JSON()),
        sa.Column("model_version", sa.String(64)),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_reviews_case_id_cases"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    for columns in (["case_id", "id"], ["created_at"], ["user_name", "created_at"]):
        op.create_index(op.f(f"ix_reviews_{'_'.join(columns)}"), "reviews", columns)

    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )

    op.create_table(
        "api_keys",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _ts("created_at", nullable=False),
        _ts("revoked_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("event_id"),
        _id("case_id", nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=False),
        _ts("delivered_at"),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index(op.f("ix_outbox_delivered_at_next_attempt_at"), "outbox", ["delivered_at", "next_attempt_at"])
    op.create_index(op.f("ix_outbox_case_id"), "outbox", ["case_id"])

    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("artifact", sa.String(1024), nullable=False),
        sa.Column("artifact_sha256", sa.String(64)),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("registered_by", sa.String(128)),
        _ts("registered_at", nullable=False),
        _ts("promoted_at"),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("is_shadow", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("version", name=op.f("uq_models_version")),
    )
    # At most one current and one shadow model, enforced by the database (partial unique indexes).
    for flag in ("is_current", "is_shadow"):
        where = sa.text(flag)
        op.create_index(f"uq_models_{flag[3:]}", "models", [flag], unique=True, sqlite_where=where,
                        postgresql_where=where)


def downgrade() -> None:
    for table in ("models", "outbox", "api_keys", "users", "reviews", "cases"):
        op.drop_table(table)
