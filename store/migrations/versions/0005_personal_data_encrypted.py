"""Personal data encrypted at rest: applicant contacts become ciphertext, with blind indexes.

``applicant_contacts.full_name``, ``email`` and ``phone`` become Text holding
``v1:<kid>:<base64url>`` (engine.crypto, store.types.EncryptedText); ``national_id`` and
``address`` are added, encrypted too, with the keyed indexes ``national_id_index`` and
``phone_last4_index``. Rows already there in clear are encrypted here, with the process's key
ring (LIENTHONG_DATA_KEYS, or the demo key file); the ring is read only when there is a row to
encrypt, so a new database needs no key to migrate.

Downgrade decrypts the three old columns back to clear and drops the new ones (national ID
numbers and addresses are lost); it needs every key the rows were encrypted with.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.crypto import KeyRing, is_ciphertext
from engine.keys import get_key_ring
from store.letters import PHONE_LAST4, phone_last4

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "applicant_contacts"
OLD_COLUMNS = {"full_name": 200, "email": 320, "phone": 20}

contacts = sa.table(
    TABLE,
    sa.column("dossier_code", sa.String()),
    sa.column("full_name", sa.Text()),
    sa.column("email", sa.Text()),
    sa.column("phone", sa.Text()),
    sa.column("phone_last4_index", sa.String()),
)


def _encrypt_clear_rows() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(contacts.c.dossier_code, *(contacts.c[name] for name in OLD_COLUMNS))
    ).all()
    ring: KeyRing | None = None
    for row in rows:
        values = dict(zip(OLD_COLUMNS, row[1:], strict=True))
        clear = {
            name: value
            for name, value in values.items()
            if value is not None and not is_ciphertext(value)
        }
        if not clear:
            continue  # already encrypted (a re-run) or empty
        ring = ring or get_key_ring()
        update: dict[str, str | None] = {
            name: ring.encrypt_str(value, f"{TABLE}.{name}".encode())
            for name, value in clear.items()
        }
        if "phone" in clear:
            last4 = phone_last4(clear["phone"])
            update["phone_last4_index"] = ring.blind_index(last4, PHONE_LAST4) if last4 else None
        connection.execute(
            contacts.update().where(contacts.c.dossier_code == row.dossier_code).values(**update)
        )


def _decrypt_rows() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(contacts.c.dossier_code, *(contacts.c[name] for name in OLD_COLUMNS))
    ).all()
    ring: KeyRing | None = None
    for row in rows:
        values = dict(zip(OLD_COLUMNS, row[1:], strict=True))
        sealed = {
            name: value
            for name, value in values.items()
            if value is not None and is_ciphertext(value)
        }
        if not sealed:
            continue
        ring = ring or get_key_ring()
        connection.execute(
            contacts.update()
            .where(contacts.c.dossier_code == row.dossier_code)
            .values(
                **{
                    name: ring.decrypt_str(value, f"{TABLE}.{name}".encode())
                    for name, value in sealed.items()
                }
            )
        )


letters = sa.table(
    "apology_letters", sa.column("id", sa.Integer()), sa.column("addressee_vi", sa.Text())
)
ADDRESSEE = b"apology_letters.addressee_vi"


def _seal_addressees(decrypt: bool = False) -> None:
    """Encrypt the letters' addressees in clear (or, going down, decrypt them)."""
    connection = op.get_bind()
    ring: KeyRing | None = None
    for row in connection.execute(sa.select(letters.c.id, letters.c.addressee_vi)).all():
        if row.addressee_vi is None or is_ciphertext(row.addressee_vi) != decrypt:
            continue
        ring = ring or get_key_ring()
        value = (
            ring.decrypt_str(row.addressee_vi, ADDRESSEE)
            if decrypt
            else ring.encrypt_str(row.addressee_vi, ADDRESSEE)
        )
        connection.execute(
            letters.update().where(letters.c.id == row.id).values(addressee_vi=value)
        )


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for name, length in OLD_COLUMNS.items():
            batch_op.alter_column(
                name,
                existing_type=sa.String(length),
                type_=sa.Text(),
                existing_nullable=name != "full_name",
            )
        batch_op.add_column(sa.Column("national_id", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("national_id_index", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("phone_last4_index", sa.String(64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_applicant_contacts_national_id_index"), ["national_id_index"]
        )
        batch_op.create_index(
            batch_op.f("ix_applicant_contacts_phone_last4_index"), ["phone_last4_index"]
        )
    _encrypt_clear_rows()
    with op.batch_alter_table("apology_letters", schema=None) as batch_op:
        batch_op.alter_column(
            "addressee_vi", existing_type=sa.String(300), type_=sa.Text(), existing_nullable=False
        )
    _seal_addressees()


def downgrade() -> None:
    _seal_addressees(decrypt=True)
    with op.batch_alter_table("apology_letters", schema=None) as batch_op:
        batch_op.alter_column(
            "addressee_vi", existing_type=sa.Text(), type_=sa.String(300), existing_nullable=False
        )
    _decrypt_rows()
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applicant_contacts_phone_last4_index"))
        batch_op.drop_index(batch_op.f("ix_applicant_contacts_national_id_index"))
        batch_op.drop_column("phone_last4_index")
        batch_op.drop_column("national_id_index")
        batch_op.drop_column("address")
        batch_op.drop_column("national_id")
        for name, length in OLD_COLUMNS.items():
            batch_op.alter_column(
                name,
                existing_type=sa.Text(),
                type_=sa.String(length),
                existing_nullable=name != "full_name",
            )
