"""Dossier code counters and the dossier register.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dossier_code_counters",
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("desk_code", "day", name=op.f("pk_dossier_code_counters")),
    )
    op.create_table(
        "dossiers",
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("procedure_version", sa.String(40), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("clock_starts_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("appointment_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column(
            "created_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dossiers")),
    )
    op.create_index(op.f("ix_dossiers_desk_code"), "dossiers", ["desk_code"])
    op.create_index(op.f("ix_dossiers_procedure_code"), "dossiers", ["procedure_code"])
    op.create_index(op.f("ix_dossiers_received_at"), "dossiers", ["received_at"])
    op.create_index(op.f("ix_dossiers_status"), "dossiers", ["status"])


def downgrade() -> None:
    op.drop_table("dossiers")
    op.drop_table("dossier_code_counters")
