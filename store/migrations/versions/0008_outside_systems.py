"""Outside systems: the national portal's and the SMS gateway's outboxes, what their simulated
counterparts received, and the applicant's choice of text messages.

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


def _outbox_columns() -> list[sa.Column[object]]:
    """The columns every outbox has (`store.models.OutboxRow`)."""
    return [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column(
            "enqueued_at",
            sa.TIMESTAMP(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("pushed_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    ]


def _outbox_indexes(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_dossier_code"), ["dossier_code"])
        batch_op.create_index(batch_op.f(f"ix_{table}_pushed_at"), ["pushed_at"])


def upgrade() -> None:
    op.create_table(
        "portal_outbox",
        *_outbox_columns(),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("appointment_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("agencies", sa.String(500), nullable=False),
        sa.Column("resend", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_outbox")),
        sa.UniqueConstraint("dossier_code", "sequence", name=op.f("uq_portal_outbox_dossier_code")),
    )
    _outbox_indexes("portal_outbox")
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
        batch_op.create_index(batch_op.f("ix_sim_portal_receipts_dossier_code"), ["dossier_code"])
    op.create_table(
        "sms_outbox",
        *_outbox_columns(),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=True),
        sa.Column("skipped", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_sms_outbox_key")),
    )
    _outbox_indexes("sms_outbox")
    op.create_table(
        "sim_sms_sent",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("to_masked", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("sent_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sim_sms_sent")),
    )
    with op.batch_alter_table("applicant_contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sms_opt_in", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("applicant_contacts", schema=None) as batch_op:
        batch_op.drop_column("sms_opt_in")
    for table in ("sim_sms_sent", "sms_outbox", "sim_portal_receipts", "portal_outbox"):
        op.drop_table(table)
