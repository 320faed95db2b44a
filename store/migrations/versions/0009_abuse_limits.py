"""Abuse limits and officer sessions of the HTTP API: shared attempt counters, applicants'
one-time codes, revoked officer tokens and steps a head assigned to an officer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "abuse_counters",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("last_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("locked_until", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_abuse_counters")),
    )
    op.create_table(
        "one_time_codes",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.TIMESTAMP(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_one_time_codes")),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("token_id", sa.String(80), nullable=False),
        sa.Column("agency", sa.String(40), nullable=False),
        sa.Column("officer", sa.String(80), nullable=False),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_revoked_tokens")),
    )
    op.create_table(
        "step_assignments",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("step_key", sa.String(160), nullable=False),
        sa.Column("agency", sa.String(40), nullable=False),
        sa.Column("officer_id", sa.String(80), nullable=False),
        sa.Column("assigned_by", sa.String(80), nullable=False),
        sa.Column("assigned_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "step_key", name=op.f("pk_step_assignments")),
    )
    with op.batch_alter_table("step_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_assignments_agency"), ["agency"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("step_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_assignments_agency"))
    op.drop_table("step_assignments")
    op.drop_table("revoked_tokens")
    op.drop_table("one_time_codes")
    op.drop_table("abuse_counters")
