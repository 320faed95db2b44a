"""The read model's two writers store the same rows: `apply_snapshot` (a dossier's sync, through
the ORM session) and `write_snapshots` (a simulation's batch, which on SQLite hands the driver
its values itself)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine

from domain.registry import (
    AuditEntry,
    HandoverSnapshot,
    IssuedSnapshot,
    ProcedureSnapshot,
    ReceivedSnapshot,
    RegistrySnapshot,
    StepSnapshot,
)
from store.db import async_engine, session_factory
from store.migrate import upgrade
from store.read_model import apply_snapshot, write_snapshots

READ_MODEL = (
    "dossiers",
    "procedure_runs",
    "dossier_steps",
    "handovers",
    "documents_received",
    "audit_log",
    "documents_issued",
)
HANOI = timezone(timedelta(hours=7))
T0 = datetime(2027, 3, 2, 9, 15, 30, 123456, tzinfo=HANOI)


def snapshot(code: str, done: bool) -> RegistrySnapshot:
    """A two-step dossier with a row in every table: moments in Hanoi time with and without
    microseconds, missing ones, fractional and whole hours, flags both ways."""
    return RegistrySnapshot(
        dossier_code=code,
        revision=1,
        desk_code="DONGDA",
        procedure_code="birth-registration",
        procedure_version="2025-07",
        name_vi="Đăng ký khai sinh",
        received_at=T0,
        clock_starts_at=T0.replace(microsecond=0),
        appointment=T0 + timedelta(days=3),
        legal_appointment=T0 + timedelta(days=4) if done else None,
        status="returned" if done else "in_progress",
        finished_at=T0 + timedelta(days=2, seconds=1) if done else None,
        verdict="early" if done else None,
        working_hours=13.25 if done else None,
        late_working_hours=0,
        apologies=1,
        amount_due_vnd=50_000,
        procedures=[
            ProcedureSnapshot(
                code="birth-registration", version="2025-07", name_vi="Khai sinh", outcome="done"
            )
        ],
        steps=[
            StepSnapshot(
                key=f"birth-registration:{name}",
                procedure="birth-registration",
                agency="justice",
                kind="officer_decision",
                name_vi=name,
                status="done" if done else "open",
                opened_at=T0,
                due=T0 + timedelta(hours=8),
                done_at=T0 + timedelta(hours=2) if done else None,
                overdue=not done,
                outcome="approved" if done else "",
                officer_id="o1" if done else None,
                verdict="early" if done else None,
                working_hours=2.5 if done else None,
                late_working_hours=1.75,
            )
            for name in ("check", "sign")
        ],
        handovers=[
            HandoverSnapshot(
                sequence=1,
                procedure="birth-registration",
                step="check",
                from_agency="one-stop",
                to_agencies=["justice", "police"],
                at=T0 + timedelta(minutes=5),
                result="approved: ",
                officer_id="o1",
                due=T0 + timedelta(hours=8),
            )
        ],
        issued=[
            IssuedSnapshot(
                kind="form-01",
                sequence=1,
                procedure="birth-registration",
                agency="one-stop",
                summary_vi="Hẹn trả kết quả 05/03/2027",
                detail={"appointment": (T0 + timedelta(days=3)).isoformat(), "sent": done},
                issued_at=T0,
            )
        ],
        received=[
            ReceivedSnapshot(sequence=1, name_vi="Tờ khai", sha256="ab" * 32),
            ReceivedSnapshot(sequence=2, name_vi="Bổ sung", supplement=True),
        ],
        audit=[
            AuditEntry(
                update_id=f"upd-{code}",
                at=(T0 + timedelta(hours=2)).astimezone(UTC),
                actor_kind="officer",
                actor_id="o1",
                agency="justice",
                action="approve",
                step="birth-registration:check",
            )
        ],
    )


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the read model's tables, without the database's own write stamps."""
    with sqlite3.connect(path) as connection:
        found = {}
        for table in READ_MODEL:
            columns = [
                row[1]
                for row in connection.execute(f"pragma table_info({table})")
                if row[1] not in ("created_at", "updated_at")
            ]
            found[table] = connection.execute(
                f"select {', '.join(columns)} from {table} order by {', '.join(columns)}"
            ).fetchall()
    return found


async def test_a_batch_of_snapshots_stores_the_rows_their_syncs_store(tmp_path: Path) -> None:
    snapshots = [snapshot("DONGDA-270302-0001", True), snapshot("DONGDA-270302-0002", False)]
    synced, batched = tmp_path / "synced.db", tmp_path / "batched.db"
    for path in (synced, batched):
        upgrade(f"sqlite:///{path}")

    engine = async_engine(f"sqlite:///{synced}")
    async with session_factory(engine)() as session:
        for one in snapshots:
            assert await apply_snapshot(session, one)
        await session.commit()
    await engine.dispose()
    sync_engine = create_engine(f"sqlite:///{batched}")
    with sync_engine.begin() as connection:
        write_snapshots(connection, snapshots)
    sync_engine.dispose()

    expected = rows(synced)
    assert all(expected[table] for table in READ_MODEL)
    assert rows(batched) == expected
