"""The HTTP API: online submissions by idempotency key, uploads, payments and ratings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "online_submissions",
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_online_submissions")),
        sa.UniqueConstraint("dossier_code", name=op.f("uq_online_submissions_dossier_code")),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name_vi", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_sha256"), ["sha256"], unique=False)
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("completed_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_dossier_code"), ["dossier_code"], unique=False
        )
    op.create_table(
        "ratings",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_ratings")),
    )


def downgrade() -> None:
    op.drop_table("ratings")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_dossier_code"))
    op.drop_table("payments")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_sha256"))
    op.drop_table("uploads")
    op.drop_table("online_submissions")
