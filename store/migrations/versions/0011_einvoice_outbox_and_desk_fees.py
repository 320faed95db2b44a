"""Electronic receipts transmitted to the tax authority: their outbox, and what the simulated
tax authority received; the facts a dossier filed at the desk starts with once its fee is paid.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "einvoice_outbox",
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
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("receipt_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("authority_code", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_einvoice_outbox_key")),
    )
    with op.batch_alter_table("einvoice_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_einvoice_outbox_dossier_code"), ["dossier_code"])
        batch_op.create_index(batch_op.f("ix_einvoice_outbox_pushed_at"), ["pushed_at"])
    op.create_table(
        "sim_einvoice_received",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("authority_code", sa.String(80), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("arrival", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sim_einvoice_received")),
    )
    with op.batch_alter_table("sim_einvoice_received", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_einvoice_received_dossier_code"), ["dossier_code"])
    with op.batch_alter_table("dossier_fees", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossier_fees", schema=None) as batch_op:
        batch_op.drop_column("facts")
    op.drop_table("sim_einvoice_received")
    op.drop_table("einvoice_outbox")
