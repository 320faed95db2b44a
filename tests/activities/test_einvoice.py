"""Electronic receipts transmitted to the tax authority: queued with the receipt, sent once each.

On real PostgreSQL and Temporal's test server: a receipt is queued for the tax authority in its
own transaction (a rolled-back receipt queues nothing) without the payer's name; the relay sends
every receipt once, in order, through an outage of the e-invoice system, slow answers, failures
and lost acknowledgements (the authority recognises the key); a receipt the authority refuses
for its content holds back only its own dossier's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.einvoice import EInvoiceActivities, SimulatedTaxAuthority
from domain.outbox import PushRequest, RelayConfig, RelayInput, RelayStatus
from store import receipts
from store.db import async_engine, session_factory
from store.models import EInvoiceOutboxRecord, ElectronicReceipt, SimulatedEInvoiceRecord
from tests.forms.test_fees import ISSUED, document
from tests.harness import running_engine
from workflows.relay import OutboxRelayWorkflow

pytestmark = pytest.mark.postgres


@pytest.fixture
async def sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The registry's sessions, with the e-invoice outbox left by other tests cleared (the
    session's database is shared, and a relay round pushes whatever waits)."""
    engine = async_engine(pg_url)
    factory = session_factory(engine)
    await clear_outbox(factory)
    yield factory
    await engine.dispose()


async def clear_outbox(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(
            update(EInvoiceOutboxRecord)
            .where(EInvoiceOutboxRecord.pushed_at.is_(None))
            .values(pushed_at=datetime.now(UTC))
        )
        await session.commit()


def new_code() -> str:
    return f"EIV{uuid.uuid4().hex[:6].upper()}-260302-0001"


def new_desk() -> str:
    return f"E{uuid.uuid4().hex[:8].upper()}"


async def issue(
    sessions: async_sessionmaker[AsyncSession], desk: str, code: str, **changes: Any
) -> ElectronicReceipt:
    async with sessions() as session:
        receipt = await receipts.issue(
            session, f"FEE-{uuid.uuid4().hex}", desk, replace(document(code), **changes)
        )
        await session.commit()
        return receipt


async def queued(
    sessions: async_sessionmaker[AsyncSession], codes: list[str]
) -> list[EInvoiceOutboxRecord]:
    async with sessions() as session:
        result = await session.execute(
            select(EInvoiceOutboxRecord)
            .where(EInvoiceOutboxRecord.dossier_code.in_(codes))
            .order_by(EInvoiceOutboxRecord.id)
        )
        return list(result.scalars())


async def received(
    sessions: async_sessionmaker[AsyncSession], codes: list[str]
) -> list[SimulatedEInvoiceRecord]:
    async with sessions() as session:
        result = await session.execute(
            select(SimulatedEInvoiceRecord)
            .where(SimulatedEInvoiceRecord.dossier_code.in_(codes))
            .order_by(SimulatedEInvoiceRecord.arrival)
        )
        return list(result.scalars())


async def test_a_receipt_is_queued_in_its_own_transaction_without_the_payer_name(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk, code = new_desk(), new_code()
    receipt = await issue(sessions, desk, code)
    async with sessions() as session:  # a receipt rolled back queues nothing
        await receipts.issue(session, "FEE-rolled-back", desk, document(code))
        await session.rollback()
    (row,) = await queued(sessions, [code])
    payload = json.loads(row.payload)
    assert row.key == f"{desk}:{receipt.template_no}:{receipt.symbol}:{receipt.number}"
    assert (row.receipt_id, row.pushed_at) == (receipt.id, None)
    assert payload["number"] == 1 and payload["amount_vnd"] == 5000
    assert payload["collector_tax_code"] == "0100000000" and payload["kind"] == "receipt"
    assert "Nguyễn Thị Hòa" not in row.payload  # the payer stays on the receipt, not sent
    # A retried payment finds its receipt: nothing more is queued.
    async with sessions() as session:
        again = await receipts.issue(session, receipt.idempotency_key, desk, document(code))
        await session.commit()
    assert again.id == receipt.id and len(await queued(sessions, [code])) == 1


async def test_a_refused_receipt_holds_back_only_its_own_dossier(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    desk, bad, fine = new_desk(), new_code(), new_code()
    await issue(sessions, desk, bad, amount_vnd=0)
    await issue(sessions, desk, bad)  # after the refused one, of the same dossier
    await issue(sessions, desk, fine)
    authority = SimulatedTaxAuthority(sessions)
    push = EInvoiceActivities(sessions, authority).push_pending
    result = await ActivityEnvironment().run(push, PushRequest(now=ISSUED))
    assert result.rejected == 1 and "sai số tiền" in (result.error or "")
    assert [r.dossier_code for r in await received(sessions, [bad, fine])] == [fine]
    waiting = [r for r in await queued(sessions, [bad, fine]) if r.pushed_at is None]
    assert [r.dossier_code for r in waiting] == [bad, bad]
    assert waiting[0].last_error and waiting[0].last_error.startswith("rejected:")
    (sent,) = [r for r in await queued(sessions, [fine])]
    assert sent.authority_code and sent.authority_code.startswith("CQT")
    await clear_outbox(sessions)  # the refused rows must not meet the other tests' relays


async def relay_status(env: WorkflowEnvironment, relay_id: str) -> RelayStatus:
    status: RelayStatus = await env.client.get_workflow_handle(relay_id).query(
        OutboxRelayWorkflow.status
    )
    return status


async def test_the_tax_authority_down_for_a_day_gets_every_receipt_once_in_order(
    env: WorkflowEnvironment,
    task_queue: str,
    pg_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    start = await env.get_current_time()
    down = [(start - timedelta(minutes=1), start + timedelta(days=1))]

    def build(registry: Any) -> SimulatedTaxAuthority:
        return SimulatedTaxAuthority(
            registry, down=down, failure_rate=0.2, lost_ack_rate=0.3, max_delay=0.01, seed=78
        )

    desk, codes = new_desk(), [new_code() for _ in range(4)]
    for n in range(12):  # three receipts each, interleaved
        await issue(sessions, desk, codes[n % 4], issued_at=ISSUED + timedelta(minutes=n))
    relay_id = f"einvoice-relay-{uuid.uuid4().hex[:8]}"

    async def all_sent() -> bool:
        rows = await queued(sessions, codes)
        return all(row.pushed_at is not None for row in rows)

    async with running_engine(env.client, task_queue, pg_url, einvoice=build):
        relay = await env.client.start_workflow(
            OutboxRelayWorkflow.run,
            RelayInput(system="einvoice", config=RelayConfig(idle_poll=timedelta(minutes=1))),
            id=relay_id,
            task_queue=task_queue,
        )
        await env.sleep(timedelta(minutes=3))  # inside the outage: everything waits
        status = await relay_status(env, relay_id)
        assert status.down_since is not None and status.waiting >= 12
        assert status.last_error and "bảo trì" in status.last_error
        assert await received(sessions, codes) == []
        await env.sleep(timedelta(days=1, hours=1))
        for _ in range(200):
            if await all_sent():
                break
            await env.sleep(timedelta(minutes=5))
        assert await all_sent()
        await relay.terminate("test over")

    rows = await queued(sessions, codes)
    got = await received(sessions, codes)
    # Each receipt once, in the order issued (its number), with the authority's code recorded.
    assert [r.key for r in got] == [r.key for r in rows]
    assert [json.loads(r.payload)["number"] for r in got] == list(range(1, 13))
    assert {r.key: r.authority_code for r in rows} == {r.key: r.authority_code for r in got}
    # The outage and the lost acknowledgements did happen: retries, and duplicates recognised.
    assert rows[0].attempts >= 2
    assert any(r.deliveries > 1 for r in got)
