"""Personal data at rest: applicant contacts are ciphertext in the database, clear to the engine.

Against real PostgreSQL (the migration test also runs on SQLite, the demo's registry). Every test
sets its own key ring with `engine.keys.use_key_ring`; none reads the process's settings.
"""

from __future__ import annotations

import logging
import secrets
import stat
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from engine.crypto import (
    DecryptionError,
    KeyConfigError,
    KeyRing,
    UnknownKeyError,
    key_id_of,
    main,
    parse_data_keys,
)
from engine.keys import DEMO_KEY_FILE, demo_key_ring, load_key_ring, use_key_ring
from engine.settings import Settings
from store.db import async_engine, session_factory
from store.letters import (
    contact_phone_ends_with,
    find_dossiers_by_national_id,
    get_contact,
    reencrypt_contacts,
    save_contact,
)
from store.migrate import alembic_config, upgrade
from store.models import ApplicantContact, Base
from store.types import EncryptedText
from tests.services import ADMIN_URL

NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"
NATIONAL_ID = "001195012345"
ADDRESS = "Số 12 ngõ 34 phố Lương Định Của, phường Kim Liên, Hà Nội"
CLEAR_VALUES = (NAME, EMAIL, PHONE, "0912345678", NATIONAL_ID, ADDRESS)


def new_code() -> str:
    return f"P{uuid.uuid4().hex[:8].upper()}-251201-0001"


@pytest.fixture
def ring() -> Iterator[KeyRing]:
    with use_key_ring(KeyRing.generate("k1")) as installed:
        yield installed


async def save_full_contact(session: AsyncSession, code: str) -> None:
    await save_contact(
        session,
        code,
        full_name=NAME,
        email=EMAIL,
        phone=PHONE,
        national_id=NATIONAL_ID,
        address=ADDRESS,
    )


async def raw_row(session: AsyncSession, code: str) -> dict[str, object]:
    row = await session.execute(
        text("SELECT * FROM applicant_contacts WHERE dossier_code = :code"), {"code": code}
    )
    return dict(row.mappings().one())


async def fresh_contact(session: AsyncSession, code: str) -> ApplicantContact | None:
    """Read from the database again, not from the session's identity map."""
    session.expunge_all()
    return await get_contact(session, code)


# -- the columns ------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_database_holds_no_clear_personal_data_and_the_engine_reads_it_back(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)

    row = await raw_row(db_session, code)
    dump = repr(row)
    for value in CLEAR_VALUES:
        assert value not in dump
    for column in ("full_name", "email", "phone", "national_id", "address"):
        assert str(row[column]).startswith("v1:k1:")
    assert str(row["national_id_index"]).startswith("k1:")
    assert str(row["phone_last4_index"]).startswith("k1:")

    contact = await fresh_contact(db_session, code)
    assert contact is not None
    assert (contact.full_name, contact.email, contact.phone) == (NAME, EMAIL, PHONE)
    assert (contact.national_id, contact.address) == (NATIONAL_ID, ADDRESS)
    assert repr(contact.full_name) == "'<personal data>'"  # a %r in a log shows no name


@pytest.mark.postgres
async def test_saving_again_replaces_the_contact_and_clears_what_is_no_longer_given(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)
    await save_contact(db_session, code, full_name="Phạm Văn Đức")
    row = await raw_row(db_session, code)
    assert row["phone"] is None and row["national_id_index"] is None
    contact = await fresh_contact(db_session, code)
    assert contact is not None and contact.full_name == "Phạm Văn Đức"
    assert await find_dossiers_by_national_id(db_session, NATIONAL_ID) == []


def test_every_encrypted_column_is_bound_to_its_own_table_and_column() -> None:
    encrypted = [
        (table.name, column.name, column.type)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]
    assert {name for _, name, _ in encrypted} >= {
        "full_name",
        "email",
        "phone",
        "national_id",
        "address",
        "addressee_vi",
    }
    for table, column, column_type in encrypted:
        assert isinstance(column_type, EncryptedText)
        assert column_type.context == f"{table}.{column}"


# -- rotation ---------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_after_a_rotation_old_rows_read_new_rows_carry_the_new_key_and_a_lost_key_is_named(
    db_session: AsyncSession,
) -> None:
    first = KeyRing.generate("k1")
    rotated = first.rotated("k2", secrets.token_bytes(32))
    old, new = new_code(), new_code()
    with use_key_ring(first):
        await save_full_contact(db_session, old)

    with use_key_ring(rotated):
        contact = await fresh_contact(db_session, old)
        assert contact is not None and contact.national_id == NATIONAL_ID
        await save_full_contact(db_session, new)
        row = await raw_row(db_session, new)
        assert key_id_of(str(row["full_name"])) == "k2"
        assert str(row["national_id_index"]).startswith("k2:")
        # The index lookup tries every key of the ring: both dossiers are found.
        assert await find_dossiers_by_national_id(db_session, NATIONAL_ID) == sorted([old, new])

    with use_key_ring(rotated.without("k1")), pytest.raises(UnknownKeyError) as error:
        await fresh_contact(db_session, old)
    assert error.value.kid == "k1"
    assert "'k1'" in str(error.value) and "LIENTHONG_DATA_KEYS" in str(error.value)
    assert all(value not in str(error.value) for value in CLEAR_VALUES)


@pytest.mark.postgres
async def test_reencrypting_after_a_rotation_lets_the_old_key_go(db_session: AsyncSession) -> None:
    first = KeyRing.generate("k1")
    rotated = first.rotated("k2", secrets.token_bytes(32))
    code = new_code()
    with use_key_ring(first):
        await save_full_contact(db_session, code)
    with use_key_ring(rotated):
        # Only this test's row: the shared test database holds other tests' contacts, under
        # keys this ring does not have.
        assert await reencrypt_contacts(db_session, [code]) == 1
        assert await reencrypt_contacts(db_session, [code]) == 0  # nothing left under k1
    with use_key_ring(rotated.without("k1")):
        contact = await fresh_contact(db_session, code)
        assert contact is not None and contact.address == ADDRESS
        assert await find_dossiers_by_national_id(db_session, NATIONAL_ID) == [code]
        assert await contact_phone_ends_with(db_session, code, "5678")


# -- tampering --------------------------------------------------------------------------------


def flip_one_character(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


@pytest.mark.postgres
async def test_an_altered_ciphertext_is_refused_naming_its_key(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)
    row = await raw_row(db_session, code)
    await db_session.execute(
        text("UPDATE applicant_contacts SET full_name = :value WHERE dossier_code = :code"),
        {"value": flip_one_character(str(row["full_name"])), "code": code},
    )
    with pytest.raises(DecryptionError) as error:
        await fresh_contact(db_session, code)
    assert error.value.kid == "k1" and "'k1'" in str(error.value)
    assert NAME not in str(error.value)


@pytest.mark.postgres
async def test_a_ciphertext_moved_to_another_column_does_not_decrypt(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)
    await db_session.execute(
        text("UPDATE applicant_contacts SET full_name = email WHERE dossier_code = :code"),
        {"code": code},
    )
    with pytest.raises(DecryptionError, match="another column"):
        await fresh_contact(db_session, code)


@pytest.mark.postgres
async def test_a_value_left_in_clear_is_refused_without_being_shown(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)
    await db_session.execute(
        text("UPDATE applicant_contacts SET address = :clear WHERE dossier_code = :code"),
        {"clear": ADDRESS, "code": code},
    )
    with pytest.raises(DecryptionError) as error:
        await fresh_contact(db_session, code)
    assert ADDRESS not in str(error.value)


def test_the_bytes_layer_round_trips_and_binds_the_associated_data() -> None:
    ring = KeyRing.generate("codec1")
    sealed = ring.encrypt(b"\x00payload\xff", b"temporal/payload")
    assert sealed.startswith(b"v1:codec1:") and b"payload" not in sealed
    assert ring.decrypt(sealed, b"temporal/payload") == b"\x00payload\xff"
    with pytest.raises(DecryptionError):
        ring.decrypt(sealed, b"other")
    with pytest.raises(DecryptionError):
        ring.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"temporal/payload")
    assert ring.encrypt(b"x") != ring.encrypt(b"x")  # a fresh nonce every time
    assert repr(ring) == "KeyRing(kids=['codec1'], active='codec1')"  # no key material


# -- blind indexes ----------------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_national_id_number_finds_its_dossiers_without_decrypting(
    db_session: AsyncSession, ring: KeyRing
) -> None:
    code = new_code()
    await save_full_contact(db_session, code)
    assert await find_dossiers_by_national_id(db_session, "0011 9501 2345") == [code]
    assert await find_dossiers_by_national_id(db_session, "001195012346") == []
    assert await contact_phone_ends_with(db_session, code, "5678")
    assert not await contact_phone_ends_with(db_session, code, "5679")
    assert not await contact_phone_ends_with(db_session, code, "45678")
    # Another ring (another secret) computes other indexes: the row is not found with it.
    with use_key_ring(KeyRing.generate("k1")):
        assert await find_dossiers_by_national_id(db_session, NATIONAL_ID) == []


def test_blind_indexes_depend_on_the_secret_and_the_purpose_not_on_the_moment() -> None:
    one, other = KeyRing.generate("k1"), KeyRing.generate("k1")
    assert one.blind_index("5678", "phone_last4") == one.blind_index("5678", "phone_last4")
    assert one.blind_index("5678", "phone_last4") != other.blind_index("5678", "phone_last4")
    assert one.blind_index("5678", "phone_last4") != one.blind_index("5678", "national_id")
    assert len(one.blind_index(NATIONAL_ID, "national_id")) <= 64


# -- the migration ----------------------------------------------------------------------------


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: PostgreSQL (dropped afterwards) or a SQLite file."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    name = f"lienthong_pii_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("fresh_database_url", ["postgresql", "sqlite"], indirect=True)
async def test_the_migration_encrypts_the_contacts_that_were_in_clear(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    config = alembic_config(url)
    command.upgrade(config, "0004")
    engine = create_engine(url)
    clear_rows: list[dict[str, str | None]] = [
        {"code": "DONGDA-251201-0001", "name": NAME, "email": EMAIL, "phone": PHONE},
        {"code": "DONGDA-251201-0002", "name": "Lê Văn Tám", "email": None, "phone": None},
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO applicant_contacts (dossier_code, full_name, email, phone) "
                "VALUES (:code, :name, :email, :phone)"
            ),
            clear_rows,
        )
        connection.execute(
            text(
                "INSERT INTO apology_letters (letter_id, dossier_code, sequence, procedure_code, "
                "procedure_name_vi, received_at, original_appointment, new_appointment, agency, "
                "agency_name_vi, signer_title_vi, reason_vi, addressee_vi, issued_at, place_vi, "
                "tracking_url) VALUES ('L1', 'DONGDA-251201-0001', 1, 'certified-copy', 'x', "
                ":t, :t, :t, 'one-stop', 'x', 'x', 'x', :addressee, :t, 'x', 'x')"
            ),
            {"t": datetime(2025, 12, 1, tzinfo=UTC), "addressee": f"Ông/Bà {NAME}"},
        )

    with use_key_ring(KeyRing.generate("mig1")):
        upgrade(url)
        with engine.connect() as connection:
            rows = list(connection.execute(text("SELECT * FROM applicant_contacts")).mappings())
            rows += connection.execute(text("SELECT * FROM apology_letters")).mappings().all()
        dump = repr([dict(row) for row in rows])
        for value in (NAME, EMAIL, PHONE, "Lê Văn Tám"):
            assert value not in dump
        assert "v1:mig1:" in dump
        registry = async_engine(url)
        async with session_factory(registry)() as session:
            first = await get_contact(session, "DONGDA-251201-0001")
            second = await get_contact(session, "DONGDA-251201-0002")
            assert first is not None and (first.full_name, first.email, first.phone) == (
                NAME,
                EMAIL,
                PHONE,
            )
            assert second is not None and second.full_name == "Lê Văn Tám"
            assert second.email is None and second.phone is None
            assert await contact_phone_ends_with(session, "DONGDA-251201-0001", "5678")
        await registry.dispose()

        # And back: the downgrade decrypts, so 0004 code reads its rows again.
        command.downgrade(config, "0004")
        with engine.connect() as connection:
            names = connection.execute(
                text("SELECT full_name FROM applicant_contacts ORDER BY dossier_code")
            ).scalars()
            assert list(names) == [NAME, "Lê Văn Tám"]
            addressee = connection.execute(text("SELECT addressee_vi FROM apology_letters"))
            assert addressee.scalar_one() == f"Ông/Bà {NAME}"
    engine.dispose()


# -- keys from the settings -------------------------------------------------------------------


def test_the_demo_key_file_is_created_once_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, data_keys=SecretStr(""), data_key_id="")
    caplog.set_level(logging.WARNING, logger="engine.keys")
    first = load_key_ring(settings)
    key_file = tmp_path / DEMO_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    written = key_file.read_bytes()
    sealed = first.encrypt_str(NAME, b"applicant_contacts.full_name")

    second = load_key_ring(settings)
    assert key_file.read_bytes() == written
    assert second.kids == first.kids
    assert second.decrypt_str(sealed, b"applicant_contacts.full_name") == NAME
    warnings = [r for r in caplog.records if r.getMessage() == "data_keys_not_configured"]
    assert len(warnings) == 2  # one per load; the process loads once (get_key_ring is cached)
    assert "LIENTHONG_DATA_KEYS" in str(warnings[0].__dict__)
    assert list(key_file.parent.iterdir()) == [key_file]  # no temporary file left


def test_processes_starting_together_agree_on_one_demo_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        rings = list(pool.map(lambda _: demo_key_ring(tmp_path), range(16)))
    assert len({ring.kids for ring in rings}) == 1
    sealed = rings[0].encrypt_str(NAME)
    assert all(ring.decrypt_str(sealed) == NAME for ring in rings)


def test_configured_keys_make_no_file_and_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = "k2:" + "A" * 43 + "=," + "k3:" + "B" * 43 + "="
    caplog.set_level(logging.WARNING, logger="engine.keys")
    ring = load_key_ring(Settings(data_dir=tmp_path, data_keys=SecretStr(spec)))
    assert ring.kids == ("k2", "k3") and ring.active_kid == "k2"
    chosen = load_key_ring(Settings(data_dir=tmp_path, data_keys=SecretStr(spec), data_key_id="k3"))
    assert chosen.active_kid == "k3"
    assert not (tmp_path / "keys").exists()
    assert caplog.records == []


def test_new_key_prints_a_key_the_settings_accept(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key", "--kid", "k2027a"]) == 0
    spec = capsys.readouterr().out.strip()
    assert spec.startswith("k2027a:")
    assert list(parse_data_keys(spec)) == ["k2027a"]
    assert main(["new-key"]) == 0
    generated = capsys.readouterr().out.strip()
    assert next(iter(parse_data_keys(generated))).startswith("k")
    assert main(["new-key", "--kid", "bad:kid"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_malformed_key_specifications_name_the_entry_not_the_key() -> None:
    secret = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0"
    with pytest.raises(KeyConfigError) as error:
        parse_data_keys(f"k1:{secret}")
    assert "entry 1" in str(error.value) and secret not in str(error.value)
    with pytest.raises(KeyConfigError, match="twice"):
        parse_data_keys("k1:" + "A" * 43 + "=,k1:" + "B" * 43 + "=")
    with pytest.raises(KeyConfigError, match="entry 2"):
        parse_data_keys("k1:" + "A" * 43 + "=,no-colon-here")


# -- logs -------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_saving_and_reading_a_contact_logs_none_of_its_values(
    pg_url: str, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at DEBUG, the SQL engine's statements, parameters and rows included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy holds itself at WARNING
    engine = async_engine(pg_url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            session = AsyncSession(bind=connection, expire_on_commit=False)
            code = new_code()
            await save_full_contact(session, code)
            contact = await fresh_contact(session, code)
            assert contact is not None and contact.full_name == NAME
            assert await find_dossiers_by_national_id(session, NATIONAL_ID) == [code]
            await session.close()
            await transaction.rollback()
    finally:
        await engine.dispose()
    # SQLAlchemy did echo the statements, their parameters and the rows it loaded.
    assert any(record.getMessage().startswith("Row (") for record in caplog.records)
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    for value in CLEAR_VALUES:
        assert value not in logged
