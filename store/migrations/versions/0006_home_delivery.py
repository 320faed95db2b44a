"""Home delivery: shipments of results by the postal service and their delivery attempts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("step", sa.String(160), nullable=False),
        sa.Column("tracking_number", sa.String(40), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("closed_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("received_by", sa.Text(), nullable=True),
        sa.Column("applicant_told_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("dossier_code", "step", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("tracking_number", name=op.f("uq_deliveries_tracking_number")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_status"), ["status"], unique=False)
    op.create_table(
        "delivery_attempts",
        sa.Column("tracking_number", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("note_vi", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tracking_number", "attempt", name=op.f("pk_delivery_attempts")),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_status"))
    op.drop_table("deliveries")
