"""Agency registers: cadastral book, land prices, civil status, residence, health insurance.

Tables only; the demo and the tests load reference rows with `store.seed.seed_reference_data`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.TIMESTAMP(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "register_counters",
        sa.Column("register", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("register", "year", name=op.f("pk_register_counters")),
    )
    op.create_table(
        "land_parcels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("commune", sa.String(40), nullable=False),
        sa.Column("map_sheet", sa.Integer(), nullable=False),
        sa.Column("parcel_number", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Numeric(12, 2), nullable=False),
        sa.Column("land_use", sa.String(8), nullable=False),
        sa.Column("origin_vi", sa.String(300), nullable=False),
        sa.Column("stable_use_since", sa.Date(), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("certificate_issued", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_land_parcels")),
        sa.UniqueConstraint(
            "commune",
            "map_sheet",
            "parcel_number",
            name=op.f("uq_land_parcels_commune_sheet_parcel"),
        ),
    )
    op.create_table(
        "land_prices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("commune", sa.String(40), nullable=False),
        sa.Column("land_use", sa.String(8), nullable=False),
        sa.Column("price_vnd_per_m2", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("legal_basis_vi", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_land_prices")),
        sa.UniqueConstraint(
            "commune", "land_use", "effective_from", name=op.f("uq_land_prices_commune_use_from")
        ),
    )
    op.create_table(
        "civil_registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=True),
        sa.Column("subject_ref", sa.String(64), nullable=True),
        sa.Column("partner_ref", sa.String(64), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_civil_registrations")),
        sa.UniqueConstraint("number", name=op.f("uq_civil_registrations_number")),
        sa.UniqueConstraint(
            "kind", "dossier_code", name=op.f("uq_civil_registrations_kind_dossier")
        ),
    )
    op.create_index(
        op.f("ix_civil_registrations_subject_ref"), "civil_registrations", ["subject_ref"]
    )
    op.create_index(
        op.f("ix_civil_registrations_partner_ref"), "civil_registrations", ["partner_ref"]
    )
    op.create_table(
        "residence_registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("birth_registration_number", sa.String(40), nullable=False),
        sa.Column("subject_ref", sa.String(64), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_registrations")),
        sa.UniqueConstraint("dossier_code", name=op.f("uq_residence_registrations_dossier_code")),
        sa.UniqueConstraint("number", name=op.f("uq_residence_registrations_number")),
        sa.ForeignKeyConstraint(
            ["birth_registration_number"],
            ["civil_registrations.number"],
            name=op.f("fk_residence_registrations_birth_number"),
        ),
    )
    op.create_index(
        op.f("ix_residence_registrations_subject_ref"), "residence_registrations", ["subject_ref"]
    )
    op.create_table(
        "health_insurance_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(40), nullable=False),
        sa.Column("card_number", sa.String(20), nullable=False),
        sa.Column("birth_registration_number", sa.String(40), nullable=False),
        sa.Column("subject_ref", sa.String(64), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_insurance_cards")),
        sa.UniqueConstraint("dossier_code", name=op.f("uq_health_insurance_cards_dossier_code")),
        sa.UniqueConstraint("card_number", name=op.f("uq_health_insurance_cards_card_number")),
        sa.ForeignKeyConstraint(
            ["birth_registration_number"],
            ["civil_registrations.number"],
            name=op.f("fk_health_insurance_cards_birth_number"),
        ),
    )
    op.create_index(
        op.f("ix_health_insurance_cards_subject_ref"), "health_insurance_cards", ["subject_ref"]
    )


def downgrade() -> None:
    op.drop_table("health_insurance_cards")
    op.drop_table("residence_registrations")
    op.drop_table("civil_registrations")
    op.drop_table("land_prices")
    op.drop_table("land_parcels")
    op.drop_table("register_counters")
