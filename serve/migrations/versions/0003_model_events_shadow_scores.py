"""Registry audit and shadow scores: model_events, shadow_scores, models.promoted_by.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

``model_events`` is append-only: who registered, promoted, rolled back or shadowed which version, when,
and why (a forced promotion carries its reason and the gate's figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:  # batch: SQLite cannot alter a table in place
        batch.add_column(sa.Column("promoted_by", sa.String(128)))
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(128)),
        sa.Column("reason", sa.Text()),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    op.create_index(op.f("ix_model_events_version_id"), "model_events", ["version", "id"])
    op.create_index(op.f("ix_model_events_created_at"), "model_events", ["created_at"])
    op.create_table(
        "shadow_scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(26), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("commodity", sa.JSON()),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_scores")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_shadow_scores_case_id_cases"),
                                ondelete="RESTRICT"),
        sa.UniqueConstraint("case_id", "model_version", name=op.f("uq_shadow_scores_case_id_model_version")),
    )
    op.create_index(op.f("ix_shadow_scores_model_version_created_at"), "shadow_scores",
                    ["model_version", "created_at"])


def downgrade() -> None:
    op.drop_table("shadow_scores")
    op.drop_table("model_events")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("promoted_by")
