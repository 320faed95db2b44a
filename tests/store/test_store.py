"""The registry store on real PostgreSQL (and the SQLite demo path for migrations)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncSession

from domain.dossier_code import DossierCodeError, format_dossier_code, parse_dossier_code
from store.db import (
    StoreUnavailable,
    async_engine,
    check_connection,
    insert_new,
    locked_row,
    session_factory,
)
from store.dossier_codes import allocate_dossier_code
from store.migrate import MigrationRefused, alembic_config, current_revision, upgrade
from store.models import StepAssignment


def test_dossier_code_round_trips_and_rejects_garbage() -> None:
    code = format_dossier_code("DONGDA", date(2025, 11, 28), 42)
    assert code == "DONGDA-251128-0042"
    assert parse_dossier_code(code) == ("DONGDA", date(2025, 11, 28), 42)
    with pytest.raises(DossierCodeError, match="expected DESK-yyMMdd-NNNN"):
        parse_dossier_code("DONGDA-2511-42")
    with pytest.raises(DossierCodeError, match="impossible date"):
        parse_dossier_code("DONGDA-251332-0001")
    with pytest.raises(DossierCodeError, match="used all 9999"):
        format_dossier_code("DONGDA", date(2025, 11, 28), 10_000)


@pytest.mark.postgres
async def test_parallel_allocations_on_postgres_never_share_a_code(pg_url: str) -> None:
    desk = f"T{uuid.uuid4().hex[:8].upper()}"
    engine = async_engine(pg_url)
    sessions = session_factory(engine)

    async def allocate() -> str:
        async with sessions() as session:
            code = await allocate_dossier_code(session, desk, date(2026, 2, 12))
            await session.commit()
            return code

    try:
        codes = await asyncio.gather(*(allocate() for _ in range(60)))
    finally:
        await engine.dispose()
    assert len(set(codes)) == 60
    assert sorted(codes) == [f"{desk}-260212-{n:04d}" for n in range(1, 61)]


@pytest.mark.postgres
async def test_sequences_restart_each_day_and_are_per_desk(db_session: AsyncSession) -> None:
    first = await allocate_dossier_code(db_session, "DESKA", date(2026, 2, 12))
    second = await allocate_dossier_code(db_session, "DESKA", date(2026, 2, 12))
    next_day = await allocate_dossier_code(db_session, "DESKA", date(2026, 2, 13))
    other_desk = await allocate_dossier_code(db_session, "DESKB", date(2026, 2, 12))
    assert (first, second) == ("DESKA-260212-0001", "DESKA-260212-0002")
    assert next_day == "DESKA-260213-0001"
    assert other_desk == "DESKB-260212-0001"


def test_the_same_migrations_build_the_sqlite_demo_registry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    head = upgrade(url)
    assert head == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert upgrade(url) == head  # a second run is a no-op
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "demo.db").execute(
            "select name from sqlite_master where type = 'table'"
        )
    }
    assert {
        "dossiers",
        "dossier_code_counters",
        "dossier_steps",
        "handovers",
        "audit_log",
        "alembic_version",
    } <= tables


def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    with sqlite3.connect(tmp_path / "newer.db") as connection:
        connection.execute("update alembic_version set version_num = '9999_from_the_future'")
    with pytest.raises(MigrationRefused, match="newer than this code knows"):
        upgrade(url)
    assert current_revision(url) == "9999_from_the_future"


def test_an_unreachable_postgres_is_one_line_naming_the_masked_url() -> None:
    with pytest.raises(StoreUnavailable) as error:
        check_connection("postgresql+psycopg://app:secret@127.0.0.1:1/registry")
    message = str(error.value)
    assert message.startswith(
        "cannot reach the database at postgresql+psycopg://app:***@127.0.0.1:1/registry"
    )
    assert "secret" not in message
    assert "\n" not in message


async def test_insert_new_inserts_a_business_key_once_and_says_which_call_did(
    db_session: AsyncSession,
) -> None:
    now = datetime.now(UTC)
    key = (StepAssignment.dossier_code, StepAssignment.step_key)
    row = {"agency": "tax", "officer_id": "an", "assigned_by": "head", "assigned_at": now}
    code = f"T-{uuid.uuid4().hex[:8]}"
    table = StepAssignment
    assert await insert_new(db_session, table, key, dossier_code=code, step_key="a:1", **row)
    # The same composite key again: nothing inserted, the first row stands.
    again = {**row, "officer_id": "binh"}
    assert not await insert_new(db_session, table, key, dossier_code=code, step_key="a:1", **again)
    assert await insert_new(db_session, table, key, dossier_code=code, step_key="a:2", **row)
    first = await locked_row(
        db_session,
        StepAssignment,
        StepAssignment.dossier_code == code,
        StepAssignment.step_key == "a:1",
    )
    assert first is not None and first.officer_id == "an"
    assert await locked_row(db_session, table, StepAssignment.dossier_code == "none") is None
