"""Status reports to the national portal: queued with the registry, pushed in order, never lost.

On real PostgreSQL and Temporal's test server: every status change is queued once, in the
transaction of the registry row; a repeated sync queues nothing; the relay pushes in order and
backs off while the portal is down for a day, then delivers everything once, in order; a lost
acknowledgement is recognised by its key; a report the portal refuses holds back only its own
dossier; a reconciliation re-sends what the portal lost.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.portal import PortalActivities, SimulatedPortal, reconcile
from activities.registry import RegistryActivities
from domain.dossier import PORTAL_STATUS_CODE, DossierStatus
from domain.outbox import PushRequest, PushResult, RelayConfig, RelayInput, RelayStatus
from store.db import async_engine, session_factory
from store.migrate import upgrade
from store.models import PortalOutboxRecord, SimulatedPortalReceipt
from store.outbox import as_utc
from tests.activities.test_registry import snapshot
from tests.clients.test_starter import run
from tests.harness import ended, officers_until, running_engine, submit
from workflows.relay import OutboxRelayWorkflow

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The registry's sessions, with the outbox left by other tests' dossiers cleared (the
    session's database is shared, and a relay round pushes whatever waits)."""
    engine = async_engine(pg_url)
    factory = session_factory(engine)
    async with factory() as session:
        await session.execute(
            update(PortalOutboxRecord)
            .where(PortalOutboxRecord.pushed_at.is_(None))
            .values(pushed_at=datetime.now(UTC))
        )
        await session.commit()
    yield factory
    await engine.dispose()


def new_code() -> str:
    return f"PTL{uuid.uuid4().hex[:6].upper()}-260302-0001"


def pusher(
    sessions: async_sessionmaker[AsyncSession], portal: SimulatedPortal
) -> Callable[[PushRequest], Awaitable[PushResult]]:
    """``portal.push-pending`` run as the worker runs it (in an activity context)."""
    activities = PortalActivities(sessions, portal)

    async def push(request: PushRequest) -> PushResult:
        result: PushResult = await ActivityEnvironment().run(activities.push_pending, request)
        return result

    return push


async def queued(sessions: async_sessionmaker[AsyncSession], code: str) -> list[Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(PortalOutboxRecord)
            .where(PortalOutboxRecord.dossier_code == code)
            .order_by(PortalOutboxRecord.sequence)
        )
        return list(rows.scalars())


async def received(sessions: async_sessionmaker[AsyncSession], code: str) -> list[Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(SimulatedPortalReceipt)
            .where(SimulatedPortalReceipt.dossier_code == code)
            .order_by(SimulatedPortalReceipt.arrival)
        )
        return list(rows.scalars())


async def test_each_status_change_is_queued_once_with_the_agencies_holding_the_dossier(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    sync = RegistryActivities(sessions).sync
    code = new_code()
    accepted = snapshot(code, 1, status="accepted").model_copy(update={"synced_at": T0})
    await sync(accepted)
    await sync(accepted)  # a retried sync: the status is already stored
    await sync(snapshot(code, 2, status="returned"))
    await sync(snapshot(code, 1, status="accepted"))  # late and older: the row keeps "returned"

    rows = await queued(sessions, code)
    assert [(r.sequence, r.status, r.status_code) for r in rows] == [
        (1, "accepted", 2),
        (2, "returned", 10),
    ]
    assert rows[0].agencies == "one-stop"  # both steps open at revision 1
    assert rows[1].agencies == ""  # done at revision 2
    assert as_utc(rows[0].changed_at) == T0  # the workflow's time of the sync
    assert all(r.pushed_at is None for r in rows)


async def test_a_lost_acknowledgement_is_recognised_by_its_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    code = new_code()
    await RegistryActivities(sessions).sync(snapshot(code, 1, status="accepted"))
    portal = SimulatedPortal(sessions, lost_ack_rate=1.0)
    push = pusher(sessions, portal)

    first = await push(PushRequest(now=T0))
    assert first.unavailable  # recorded by the portal, but the relay never heard back
    assert (await queued(sessions, code))[0].pushed_at is None
    second = await push(PushRequest(now=T0 + timedelta(minutes=1)))
    assert not second.unavailable

    [receipt] = await received(sessions, code)
    assert receipt.idempotency_key == f"{code}:1" and receipt.deliveries == 2
    [row] = await queued(sessions, code)
    assert row.pushed_at is not None and row.attempts == 2 and row.last_error is None


async def test_a_refused_report_holds_back_its_own_dossier_and_no_other(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    broken, healthy = new_code(), new_code()
    sync = RegistryActivities(sessions).sync
    await sync(snapshot(broken, 1, status="accepted"))
    await sync(snapshot(healthy, 1, status="accepted"))
    async with sessions() as session:  # a row the portal cannot take (a corrupted code)
        await session.execute(
            update(PortalOutboxRecord)
            .where(PortalOutboxRecord.dossier_code == broken)
            .values(status_code=11)
        )
        await session.commit()
    await sync(snapshot(broken, 2, status="returned"))

    result = await pusher(sessions, SimulatedPortal(sessions))(PushRequest(now=T0))

    assert result.rejected == 1 and not result.unavailable
    assert await received(sessions, broken) == []  # its second report waits behind the first
    assert [r.status_code for r in await received(sessions, healthy)] == [2]
    first, second = await queued(sessions, broken)
    assert first.last_error is not None and first.last_error.startswith("rejected:")
    assert second.pushed_at is None and second.attempts == 0
    async with sessions() as session:  # the other tests' relays must not meet this row
        await session.execute(
            delete(PortalOutboxRecord).where(PortalOutboxRecord.dossier_code == broken)
        )
        await session.commit()


async def test_a_reconciliation_resends_what_the_portal_lost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    lost, waiting, fine = new_code(), new_code(), new_code()
    sync = RegistryActivities(sessions).sync
    for code in (lost, fine):
        await sync(snapshot(code, 1, status="accepted"))
    portal = SimulatedPortal(sessions)
    push = pusher(sessions, portal)
    while (await push(PushRequest(now=T0))).pushed:
        pass
    await sync(snapshot(waiting, 1, status="accepted"))  # queued, not pushed yet
    async with sessions() as session:  # the portal loses one dossier's reports
        await session.execute(
            delete(SimulatedPortalReceipt).where(SimulatedPortalReceipt.dossier_code == lost)
        )
        await session.commit()

    report = await reconcile(sessions, portal, date(2026, 3, 2))

    mismatches = {m.dossier_code: m for m in report.mismatches}
    assert lost in mismatches and mismatches[lost].queued
    assert mismatches[lost].portal_code is None and mismatches[lost].registry_code == 2
    assert waiting in mismatches and not mismatches[waiting].queued  # the relay has it already
    assert fine not in mismatches
    resend = (await queued(sessions, lost))[-1]
    assert resend.resend and resend.sequence == 2 and resend.status == "accepted"

    while (await push(PushRequest(now=T0 + timedelta(hours=1)))).pushed:
        pass
    again = await reconcile(sessions, portal, date(2026, 3, 2))
    assert {m.dossier_code for m in again.mismatches} & {lost, waiting, fine} == set()


async def relay_status(env: WorkflowEnvironment, relay_id: str) -> RelayStatus:
    status: RelayStatus = await env.client.get_workflow_handle(relay_id).query(
        OutboxRelayWorkflow.status
    )
    return status


async def test_the_portal_down_for_a_day_loses_nothing_and_keeps_the_order(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> None:
    start = await env.get_current_time()
    down = [(start - timedelta(minutes=1), start + timedelta(days=1))]
    portal_of: list[SimulatedPortal] = []

    def build(sessions: Any) -> SimulatedPortal:
        portal_of.append(SimulatedPortal(sessions, down=down, lost_ack_rate=0.3, seed=7))
        return portal_of[0]

    relay_id = f"portal-relay-{uuid.uuid4().hex[:8]}"
    engine = async_engine(pg_url)
    sessions = session_factory(engine)

    async def all_pushed(codes: list[str]) -> bool:
        rows = [row for code in codes for row in await queued(sessions, code)]
        return bool(rows) and all(row.pushed_at is not None for row in rows)

    try:
        async with running_engine(env.client, task_queue, pg_url, portal=build):
            relay = await env.client.start_workflow(
                OutboxRelayWorkflow.run,
                RelayInput(system="portal", config=RelayConfig(idle_poll=timedelta(minutes=1))),
                id=relay_id,
                task_queue=task_queue,
            )
            copy = await submit(env, task_queue, "certified-copy")
            birth = await submit(env, task_queue, "birth-residence-insurance")
            results = {}
            for handle in (copy, birth):
                await officers_until(env, handle, lambda s: False, within=120)
                results[handle.id] = await ended(env, handle)
            codes = list(results)

            # Still inside the outage: everything waits, and the relay says so.
            await env.sleep(timedelta(minutes=3))  # a round or two of the relay
            assert await env.get_current_time() < down[0][1]
            status = await relay_status(env, relay_id)
            assert status.down_since is not None and status.waiting > 0
            assert status.last_error and "bảo trì" in status.last_error
            assert not await all_pushed(codes)

            await env.sleep(timedelta(days=1, hours=1))
            for _ in range(200):
                if await all_pushed(codes):
                    break
                await env.sleep(timedelta(minutes=5))
            assert (await relay_status(env, relay_id)).down_since is None
            await relay.terminate("test over")

        for code in codes:
            rows = await queued(sessions, code)
            got = await received(sessions, code)
            # Each report once, in the order the registry saw the changes, the last one the
            # dossier's final status.
            assert [r.sequence for r in got] == [r.sequence for r in rows]
            assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
            assert [r.status_code for r in got] == [r.status_code for r in rows]
            final = DossierStatus(results[code].status)
            assert got[-1].status_code == PORTAL_STATUS_CODE[final]
            assert all(row.pushed_at for row in rows)
        # The outage did happen: the oldest report was refused before it was taken.
        heads = [(await queued(sessions, code))[0] for code in codes]
        assert max(row.attempts for row in heads) >= 2
    finally:
        await engine.dispose()


async def test_the_relay_pushes_within_a_round_when_nudged(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> None:
    relay_id = f"portal-relay-{uuid.uuid4().hex[:8]}"
    async with running_engine(env.client, task_queue, pg_url):
        relay = await env.client.start_workflow(
            OutboxRelayWorkflow.run,
            RelayInput(system="portal", config=RelayConfig(idle_poll=timedelta(hours=6))),
            id=relay_id,
            task_queue=task_queue,
        )
        engine = async_engine(pg_url)
        sessions = session_factory(engine)
        try:
            code = new_code()
            for _ in range(50):  # the relay's first round has run and found nothing of ours
                if (await relay_status(env, relay_id)).last_round_at is not None:
                    break
                await asyncio.sleep(0.05)
            await RegistryActivities(sessions).sync(snapshot(code, 1, status="accepted"))
            await relay.signal(OutboxRelayWorkflow.nudge)
            for _ in range(100):
                if await received(sessions, code):
                    break
                await asyncio.sleep(0.05)
            assert [r.status_code for r in await received(sessions, code)] == [2]
        finally:
            await relay.terminate("test over")
            await engine.dispose()


def test_the_operator_sees_the_backlog_and_reconciles_a_day_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/registry.db"
    upgrade(url)
    code = new_code()

    async def on_registry(
        work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[Any]],
    ) -> None:
        engine = async_engine(url)
        try:
            await work(session_factory(engine))
        finally:
            await engine.dispose()

    asyncio.run(on_registry(lambda f: RegistryActivities(f).sync(snapshot(code, 1, "accepted"))))

    status, out, _ = run(capsys, "outside", "status", "--database-url", url)
    assert status == 0 and out.startswith("portal   waiting      1  oldest ")
    status, out, _ = run(capsys, "outside", "status", "--database-url", url, "--json")
    assert status == 0 and json.loads(out)["portal"]["waiting"] == 1

    argv = ["portal", "reconcile", "--date", "2026-03-02", "--database-url", url, "--no-nudge"]
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert "1 dossiers compared, 1 differ from the portal" in out
    assert code in out and "unknown to the portal" in out and "already waiting" in out

    asyncio.run(on_registry(lambda f: pusher(f, SimulatedPortal(f))(PushRequest(now=T0))))
    status, out, _ = run(capsys, "outside", "status", "--database-url", url)
    assert out.startswith("portal   waiting      0\n")
    status, out, _ = run(capsys, *argv)
    assert "1 dossiers compared, 0 differ from the portal" in out

    status, _, err = run(capsys, "portal", "reconcile", "--date", "2026-13-02")
    assert status == 2 and err.count("\n") == 1 and "2026-13-02" in err
