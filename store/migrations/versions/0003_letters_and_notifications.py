"""Letters and notifications: applicant contacts, apology letters (form 04), agency notices.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "applicant_contacts",
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        _created_at(),
        sa.Column(
            "updated_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_applicant_contacts")),
    )
    op.create_table(
        "apology_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.String(80), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(80), nullable=False),
        sa.Column("procedure_name_vi", sa.String(500), nullable=False),
        sa.Column("received_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("original_appointment", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("new_appointment", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("agency", sa.String(40), nullable=False),
        sa.Column("agency_name_vi", sa.String(200), nullable=False),
        sa.Column("signer_title_vi", sa.String(200), nullable=False),
        sa.Column("reason_vi", sa.Text(), nullable=False),
        sa.Column("addressee_vi", sa.String(300), nullable=False),
        sa.Column("issued_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("place_vi", sa.String(100), nullable=False),
        sa.Column("tracking_url", sa.String(500), nullable=False),
        sa.Column("html_path", sa.String(500), nullable=True),
        sa.Column("pdf_path", sa.String(500), nullable=True),
        sa.Column("pdf_sha256", sa.String(64), nullable=True),
        sa.Column("rendered_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("sent_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("recipient_masked", sa.String(320), nullable=True),
        sa.Column("via_desk", sa.Boolean(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apology_letters")),
        sa.UniqueConstraint("letter_id", name=op.f("uq_apology_letters_letter_id")),
        sa.UniqueConstraint(
            "dossier_code", "sequence", name=op.f("uq_apology_letters_dossier_sequence")
        ),
    )
    op.create_index(op.f("ix_apology_letters_dossier_code"), "apology_letters", ["dossier_code"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(240), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("step", sa.String(160), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("due", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("late_working_hours", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("channel", sa.String(20), nullable=True),
        sa.Column("message_id", sa.String(300), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_notifications_notice_id")),
        sa.UniqueConstraint(
            "dossier_code",
            "kind",
            "step",
            "sequence",
            name=op.f("uq_notifications_dossier_kind_step"),
        ),
    )
    op.create_index(op.f("ix_notifications_dossier_code"), "notifications", ["dossier_code"])
    op.create_index(op.f("ix_notifications_agency"), "notifications", ["agency"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("apology_letters")
    op.drop_table("applicant_contacts")
