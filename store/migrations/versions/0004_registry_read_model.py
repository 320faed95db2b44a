"""The registry read model: procedure runs, steps, the hand-over ledger (form 05), documents
issued and the audit log, plus the dossier columns the on-time reports count by.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("update_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=True),
        sa.Column("agency", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("step", sa.String(length=160), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "update_id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "documents_issued",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(length=80), nullable=False),
        sa.Column("step", sa.String(length=80), nullable=True),
        sa.Column("agency", sa.String(length=40), nullable=True),
        sa.Column("reference", sa.String(length=80), nullable=True),
        sa.Column("summary_vi", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "dossier_code", "kind", "sequence", name=op.f("pk_documents_issued")
        ),
    )
    with op.batch_alter_table("documents_issued", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_documents_issued_issued_at"), ["issued_at"], unique=False
        )

    op.create_table(
        "documents_received",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name_vi", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("supplement", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "sequence", name=op.f("pk_documents_received")),
    )
    op.create_table(
        "dossier_steps",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("step_key", sa.String(length=160), nullable=False),
        sa.Column("procedure_code", sa.String(length=80), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name_vi", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("due_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("done_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("officer_id", sa.String(length=80), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("working_hours", sa.Float(), nullable=True),
        sa.Column("late_working_hours", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "step_key", name=op.f("pk_dossier_steps")),
    )
    with op.batch_alter_table("dossier_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dossier_steps_agency_done_at", ["agency", "done_at"], unique=False
        )
        batch_op.create_index(
            "ix_dossier_steps_agency_opened_at", ["agency", "opened_at"], unique=False
        )
        batch_op.create_index("ix_dossier_steps_done_at", ["done_at"], unique=False)
        batch_op.create_index("ix_dossier_steps_opened_at", ["opened_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dossier_steps_procedure_code"), ["procedure_code"], unique=False
        )

    op.create_table(
        "handovers",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(length=80), nullable=False),
        sa.Column("step", sa.String(length=80), nullable=False),
        sa.Column("from_agency", sa.String(length=40), nullable=False),
        sa.Column("to_agencies", sa.String(length=300), nullable=False),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("officer_id", sa.String(length=80), nullable=True),
        sa.Column("due_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("late_working_hours", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "sequence", name=op.f("pk_handovers")),
    )
    op.create_table(
        "procedure_runs",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("procedure_code", sa.String(length=80), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("name_vi", sa.String(length=500), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "procedure_code", name=op.f("pk_procedure_runs")),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "name_vi", sa.String(length=500), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("legal_appointment_at", sa.TIMESTAMP(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("finished_at", sa.TIMESTAMP(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("working_hours", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("late_working_hours", sa.Float(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("apologies", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column(
                "amount_due_vnd", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            )
        )
        batch_op.add_column(
            sa.Column(
                "amount_paid_vnd", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            )
        )
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.create_index(batch_op.f("ix_dossiers_finished_at"), ["finished_at"], unique=False)
    # The on-time reports count letters by the moment they were issued, in total or by agency.
    with op.batch_alter_table("apology_letters", schema=None) as batch_op:
        batch_op.create_index("ix_apology_letters_issued_at", ["issued_at"], unique=False)
        batch_op.create_index(
            "ix_apology_letters_agency_issued_at", ["agency", "issued_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("apology_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_apology_letters_agency_issued_at")
        batch_op.drop_index("ix_apology_letters_issued_at")

    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossiers_finished_at"))
        batch_op.drop_column("revision")
        batch_op.drop_column("amount_paid_vnd")
        batch_op.drop_column("amount_due_vnd")
        batch_op.drop_column("apologies")
        batch_op.drop_column("late_working_hours")
        batch_op.drop_column("working_hours")
        batch_op.drop_column("verdict")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("legal_appointment_at")
        batch_op.drop_column("name_vi")

    op.drop_table("procedure_runs")
    op.drop_table("documents_received")
    op.drop_table("handovers")
    with op.batch_alter_table("dossier_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_steps_procedure_code"))
        batch_op.drop_index("ix_dossier_steps_opened_at")
        batch_op.drop_index("ix_dossier_steps_done_at")
        batch_op.drop_index("ix_dossier_steps_agency_opened_at")
        batch_op.drop_index("ix_dossier_steps_agency_done_at")

    op.drop_table("dossier_steps")
    with op.batch_alter_table("documents_issued", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_issued_issued_at"))

    op.drop_table("documents_issued")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))

    op.drop_table("audit_log")
