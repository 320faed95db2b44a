"""The registry's read model: written by the workflow through ``registry.sync``, idempotently.

On real PostgreSQL: a whole dossier's rows match what its workflow returned; the same snapshot
written twice leaves the same rows; an older snapshot never overwrites a newer dossier row; a
writer killed mid-transaction leaves nothing half-written, and its retry writes everything once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.testing import WorkflowEnvironment

from activities.registry import (
    AuditEntry,
    HandoverSnapshot,
    ProcedureSnapshot,
    RegistryActivities,
    RegistrySnapshot,
    StepSnapshot,
)
from clients.dossiers import update_dossier
from store import read_model
from store.db import async_engine, session_factory
from store.models import (
    AuditRecord,
    DocumentRecord,
    DossierRecord,
    HandoverRecord,
    NotificationRecord,
    ProcedureRun,
    StepRecord,
)
from tests.harness import ended, officers_until, running_engine, submit
from workflows.dossier import (
    DecisionAction,
    DecisionInput,
    DossierResult,
    DossierWorkflow,
    WithdrawInput,
)

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def engine_running(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> AsyncIterator[None]:
    async with running_engine(env.client, task_queue, pg_url):
        yield


@pytest.fixture
async def session(pg_url: str) -> AsyncIterator[AsyncSession]:
    engine = async_engine(pg_url)
    async with session_factory(engine)() as opened:
        yield opened
    await engine.dispose()


async def test_a_returned_dossier_is_in_the_registry_as_its_workflow_ended(
    env: WorkflowEnvironment, task_queue: str, engine_running: None, session: AsyncSession
) -> None:
    handle = await submit(env, task_queue, "land-and-permit")
    await officers_until(env, handle, lambda s: False, within=120)
    result: DossierResult = await ended(env, handle)
    code = handle.id

    dossier = await session.get(DossierRecord, code)
    assert dossier is not None
    assert dossier.status == "returned" == result.status
    assert dossier.verdict == result.verdict
    assert dossier.finished_at is not None and dossier.working_hours is not None
    assert dossier.revision > 1

    steps = await read_model.steps_of(session, code)
    assert {step.step_key for step in steps} == {f"{r.procedure}:{r.step}" for r in result.ledger}
    assert {step.status for step in steps} == {"done"}
    counted = [step for step in steps if step.verdict not in (None, "not_counted")]
    assert counted and all(step.working_hours is not None for step in counted)

    handovers = await read_model.handovers_of(session, code)
    assert [(h.sequence, h.step, h.result) for h in handovers] == [
        (row.sequence, row.step, row.result) for row in result.ledger
    ]
    # One audit row per officer decision, with who, which agency and what.
    audit = await read_model.audit_of(session, code)
    officer_rows = [row for row in result.ledger if row.officer_id is not None]
    assert len([a for a in audit if a.actor_kind == "officer"]) == len(officer_rows)
    assert all(
        a.agency and a.actor_id == f"officer-{a.agency}" for a in audit if a.actor_kind == "officer"
    )
    assert [a for a in audit if a.actor_kind == "payment"]

    kinds = {(d.kind, d.sequence) for d in await read_model.documents_of(session, code)}
    assert ("form-01", 1) in kinds
    assert ("result", 1) in kinds and ("result", 2) in kinds  # certificate and permit
    assert ("notice", 1) in kinds  # the tax notice

    runs = (
        await session.execute(select(ProcedureRun).where(ProcedureRun.dossier_code == code))
    ).scalars()
    assert {(run.procedure_code, run.outcome) for run in runs} == {
        ("land-first-certificate", "returned"),
        ("house-building-permit", "returned"),
    }


async def test_refusal_and_withdrawal_reach_the_registry_with_their_audit_rows(
    env: WorkflowEnvironment, task_queue: str, engine_running: None, session: AsyncSession
) -> None:
    refused = await submit(env, task_queue, "house-building-permit")
    state = await officers_until(
        env, refused, lambda s: any(step.key.endswith(":decision") for step in s.open_steps)
    )
    step = next(step for step in state.open_steps if step.key.endswith(":decision"))
    await update_dossier(
        refused,
        DossierWorkflow.decide,
        DecisionInput(
            step=step.key,
            agency=step.agency,
            officer_id="o-urban-7",
            action=DecisionAction.REFUSE,
            reason="Công trình nằm trong chỉ giới đường đỏ",
        ),
    )
    await ended(env, refused)
    withdrawn = await submit(env, task_queue, "land-first-certificate")
    await officers_until(env, withdrawn, lambda s: bool(s.ledger))
    await withdrawn.execute_update(DossierWorkflow.withdraw, WithdrawInput(reason="bán đất"))
    closed: DossierResult = await ended(env, withdrawn)
    stopped = [row for row in closed.ledger if row.result == "withdrawn"]
    # Each agency holding an open step was told to stop, once per step.
    told = (
        await session.execute(
            select(NotificationRecord.step, NotificationRecord.agency).where(
                NotificationRecord.dossier_code == withdrawn.id,
                NotificationRecord.kind == "withdrawn",
            )
        )
    ).all()
    assert told and sorted(told) == sorted(
        (f"{row.procedure}:{row.step}", row.from_agency) for row in stopped
    )

    refusal = await session.get(DocumentRecord, (refused.id, "form-03", 1))
    assert refusal is not None and refusal.summary_vi == "Công trình nằm trong chỉ giới đường đỏ"
    assert refusal.agency == step.agency
    audit = await read_model.audit_of(session, refused.id)
    assert [(a.actor_id, a.action, a.reason) for a in audit if a.action == "refuse"] == [
        ("o-urban-7", "refuse", "Công trình nằm trong chỉ giới đường đỏ")
    ]
    row = await session.get(DossierRecord, refused.id)
    assert row is not None and row.status == "refused" and row.finished_at is not None

    gone = await session.get(DossierRecord, withdrawn.id)
    assert gone is not None and gone.status == "withdrawn"
    audit = await read_model.audit_of(session, withdrawn.id)
    assert [(a.actor_kind, a.action, a.reason) for a in audit][-1] == (
        "applicant",
        "withdraw",
        "bán đất",
    )
    steps = await read_model.steps_of(session, withdrawn.id)
    assert "open" not in {step.status for step in steps}


def snapshot(code: str, revision: int, status: str = "in_progress") -> RegistrySnapshot:
    """A two-step dossier's snapshot, as the workflow would send it."""
    return RegistrySnapshot(
        dossier_code=code,
        revision=revision,
        desk_code="SYNC",
        procedure_code="certified-copy",
        procedure_version="2025-07",
        name_vi="Chứng thực bản sao từ bản chính",
        received_at=T0,
        clock_starts_at=T0,
        appointment=T0 + timedelta(days=1),
        status=status,
        procedures=[
            ProcedureSnapshot(
                code="certified-copy", version="2025-07", name_vi="Chứng thực", outcome="running"
            )
        ],
        steps=[
            StepSnapshot(
                key=f"certified-copy:{name}",
                procedure="certified-copy",
                agency="one-stop",
                kind="officer_decision",
                name_vi=name,
                status="done" if revision > 1 else "open",
                opened_at=T0,
                done_at=T0 + timedelta(hours=1) if revision > 1 else None,
                verdict="early" if revision > 1 else None,
                working_hours=1.0 if revision > 1 else None,
            )
            for name in ("check", "sign")
        ],
        handovers=[
            HandoverSnapshot(
                sequence=1,
                procedure="certified-copy",
                step="check",
                from_agency="one-stop",
                to_agencies=["one-stop"],
                at=T0 + timedelta(hours=1),
                result="approved: ",
                officer_id="o1",
            )
        ],
        audit=[
            AuditEntry(
                update_id=f"upd-{code}-1",
                at=T0 + timedelta(hours=1),
                actor_kind="officer",
                actor_id="o1",
                agency="one-stop",
                action="approve",
                step="certified-copy:check",
            )
        ],
    )


async def counts(session: AsyncSession, code: str) -> dict[str, int]:
    """Rows of the dossier in each table of the read model."""
    tables = {
        "dossiers": (DossierRecord, DossierRecord.code),
        "steps": (StepRecord, StepRecord.dossier_code),
        "handovers": (HandoverRecord, HandoverRecord.dossier_code),
        "audit": (AuditRecord, AuditRecord.dossier_code),
        "runs": (ProcedureRun, ProcedureRun.dossier_code),
    }
    return {
        name: (
            await session.execute(select(func.count()).select_from(table).where(column == code))
        ).scalar_one()
        for name, (table, column) in tables.items()
    }


async def test_the_same_sync_twice_leaves_the_same_rows(pg_url: str) -> None:
    engine = async_engine(pg_url)
    sync = RegistryActivities(session_factory(engine)).sync
    first = await sync(snapshot("SYNC-260302-0001", 1))
    again = await sync(snapshot("SYNC-260302-0001", 1))
    async with session_factory(engine)() as session:
        assert await counts(session, "SYNC-260302-0001") == {
            "dossiers": 1,
            "steps": 2,
            "handovers": 1,
            "audit": 1,
            "runs": 1,
        }
    assert first.applied and again.applied
    await engine.dispose()


async def test_an_older_snapshot_never_overwrites_a_newer_dossier_row(pg_url: str) -> None:
    engine = async_engine(pg_url)
    sync = RegistryActivities(session_factory(engine)).sync
    await sync(snapshot("SYNC-260302-0002", 2, status="returned"))
    late = await sync(snapshot("SYNC-260302-0002", 1, status="in_progress"))
    async with session_factory(engine)() as session:
        row = await session.get(DossierRecord, "SYNC-260302-0002")
        assert row is not None and row.status == "returned" and row.revision == 2
    assert not late.applied
    await engine.dispose()


async def test_the_first_sync_enters_the_dossier_and_a_repeated_one_leaves_one_row(
    pg_url: str,
) -> None:
    # The dossier's first registry.sync is its entry in the register (form 06): no separate
    # receipt write, and a retried sync of the same revision changes nothing.
    engine = async_engine(pg_url)
    sync = RegistryActivities(session_factory(engine)).sync
    first = snapshot("SYNC-260302-0004", 1, status="accepted")
    assert (await sync(first)).applied
    await sync(first)
    async with session_factory(engine)() as session:
        assert (await counts(session, "SYNC-260302-0004"))["dossiers"] == 1
        row = await session.get(DossierRecord, "SYNC-260302-0004")
        assert row is not None and row.received_at == T0 and row.status == "accepted"
    await engine.dispose()


WRITER = """
import asyncio, sys
from activities.registry import RegistryActivities, RegistrySnapshot
from store.db import async_engine, session_factory

async def main() -> None:
    engine = async_engine(sys.argv[1])
    snapshot = RegistrySnapshot.model_validate_json(sys.stdin.read())
    print("writing", flush=True)
    await RegistryActivities(session_factory(engine)).sync(snapshot)
    print("written", flush=True)

asyncio.run(main())
"""


async def test_a_writer_killed_mid_transaction_leaves_nothing_and_its_retry_writes_once(
    pg_url: str,
) -> None:
    code = "SYNC-260302-0003"
    engine = async_engine(pg_url)
    sync = RegistryActivities(session_factory(engine)).sync
    await sync(snapshot(code, 1))  # the dossier exists; revision 2 will finish its steps
    blocker = create_engine(pg_url)
    watcher = create_engine(pg_url, isolation_level="AUTOCOMMIT")  # fresh activity snapshots
    with blocker.connect() as lock, watcher.connect() as watch:
        # Hold the dossier row: the writer upserts steps, ledger and audit first, then waits
        # here for the dossier row, mid-transaction.
        lock.execute(text("SELECT 1 FROM dossiers WHERE code = :c FOR UPDATE"), {"c": code})
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            pg_url,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert writer.stdin is not None
        writer.stdin.write(snapshot(code, 2, status="returned").model_dump_json().encode())
        await writer.stdin.drain()
        writer.stdin.close()
        deadline = time.monotonic() + 30
        while True:
            waiting = watch.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND (query LIKE 'INSERT INTO dossiers%' "
                    "OR query LIKE 'SELECT dossiers.status%')"
                )
            ).scalar_one()
            if waiting:
                break
            assert writer.returncode is None, "the writer ended before reaching the dossier row"
            assert time.monotonic() < deadline, "the writer never reached the dossier row"
            await asyncio.sleep(0.05)
        writer.send_signal(signal.SIGKILL)
        await asyncio.wait_for(writer.wait(), 10)
        lock.rollback()
    blocker.dispose()
    watcher.dispose()

    async with session_factory(engine)() as session:
        steps = await read_model.steps_of(session, code)
        assert {step.status for step in steps} == {"open"}, "the killed write left rows behind"
        row = await session.get(DossierRecord, code)
        assert row is not None and row.revision == 1
    # The activity's retry.
    await sync(snapshot(code, 2, status="returned"))
    async with session_factory(engine)() as session:
        assert {step.status for step in await read_model.steps_of(session, code)} == {"done"}
        row = await session.get(DossierRecord, code)
        assert row is not None and row.revision == 2 and row.status == "returned"
        assert await counts(session, code) == {
            "dossiers": 1,
            "steps": 2,
            "handovers": 1,
            "audit": 1,
            "runs": 1,
        }
    await engine.dispose()
