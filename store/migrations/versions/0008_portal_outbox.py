"""The national portal's outbox, and what the simulated portal received.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("appointment_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("agencies", sa.String(500), nullable=False),
        sa.Column("resend", sa.Boolean(), nullable=False),
        sa.Column(
            "enqueued_at",
            sa.TIMESTAMP(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("pushed_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_outbox")),
        sa.UniqueConstraint("dossier_code", "sequence", name=op.f("uq_portal_outbox_dossier_code")),
    )
    with op.batch_alter_table("portal_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_outbox_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_outbox_pushed_at"), ["pushed_at"], unique=False)
    op.create_table(
        "sim_portal_receipts",
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("arrival", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_sim_portal_receipts")),
    )
    with op.batch_alter_table("sim_portal_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sim_portal_receipts_dossier_code"), ["dossier_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sim_portal_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_portal_receipts_dossier_code"))
    op.drop_table("sim_portal_receipts")
    with op.batch_alter_table("portal_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_outbox_pushed_at"))
        batch_op.drop_index(batch_op.f("ix_portal_outbox_dossier_code"))
    op.drop_table("portal_outbox")
