"""Fees at receipt: what each dossier owes, and electronic receipts numbered per desk.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receipt_series_counters",
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("template_no", sa.String(20), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "desk_code", "template_no", "symbol", name=op.f("pk_receipt_series_counters")
        ),
    )
    op.create_table(
        "electronic_receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("desk_code", sa.String(20), nullable=False),
        sa.Column("template_no", sa.String(20), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("fee_name_vi", sa.String(500), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("issued_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_electronic_receipts")),
        sa.UniqueConstraint(
            "desk_code",
            "template_no",
            "symbol",
            "number",
            name=op.f("uq_electronic_receipts_desk_code"),
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_electronic_receipts_idempotency_key")),
    )
    op.create_index(
        op.f("ix_electronic_receipts_dossier_code"), "electronic_receipts", ["dossier_code"]
    )
    op.create_table(
        "dossier_fees",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("procedure_version", sa.String(40), nullable=False),
        sa.Column("fee_name_vi", sa.String(500), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("blocks_clock", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("method", sa.String(10), nullable=True),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.Column("paid_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("receipt_id", sa.BigInteger(), nullable=True),
        sa.Column("refund_id", sa.String(80), nullable=True),
        sa.Column("refunded_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("refund_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_dossier_fees")),
    )


def downgrade() -> None:
    op.drop_table("dossier_fees")
    op.drop_index(op.f("ix_electronic_receipts_dossier_code"), table_name="electronic_receipts")
    op.drop_table("electronic_receipts")
    op.drop_table("receipt_series_counters")
