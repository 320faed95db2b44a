"""A dossier paid, receipted, transmitted to the tax authority, synced to the portal and texted,
end to end.

The real app over httpx's ASGI transport, Temporal's time-skipping server with every worker and
the outside systems' relays, PostgreSQL, the fake payment provider calling back over the app,
and the simulated counterparts (portal, SMS gateway, tax authority) keeping what they received.
Nothing of ours is replaced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from temporalio.client import WorkflowHandle

from domain.dossier import PORTAL_STATUS_CODE, DossierStatus
from domain.outbox import RelayConfig, RelayInput
from store.models import (
    ElectronicReceipt,
    PortalOutboxRecord,
    SimulatedEInvoiceRecord,
    SimulatedPortalReceipt,
    SimulatedSmsRecord,
)
from store.outbox import OUTBOXES
from tests.api.test_api import (
    Stack,
    count,
    eventually,
    stack,  # noqa: F401 - test_api's fixture, used by name below (hence F811)
)
from tests.api.test_fees_api import body_for, fee_when
from tests.harness import ended, officers_until
from workflows.dossier import DossierResult, DossierWorkflow
from workflows.relay import OutboxRelayWorkflow

pytestmark = pytest.mark.postgres


@pytest.fixture
async def relays(
    stack: Stack,  # noqa: F811
    task_queue: str,
) -> AsyncIterator[dict[str, WorkflowHandle[Any, Any]]]:
    """The portal's, the SMS gateway's and the e-invoice system's relays, on the stack's
    workers; what other tests left waiting is set aside first (the database is shared)."""
    async with stack.sessions() as session:
        for model in OUTBOXES.values():
            await session.execute(
                update(model).where(model.pushed_at.is_(None)).values(pushed_at=datetime.now(UTC))
            )
        await session.commit()
    handles: dict[str, WorkflowHandle[Any, Any]] = {}
    for system in ("portal", "sms", "einvoice"):
        handles[system] = await stack.env.client.start_workflow(
            OutboxRelayWorkflow.run,
            RelayInput(system=system, config=RelayConfig(idle_poll=timedelta(minutes=1))),
            id=f"{system}-relay-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
    yield handles
    for handle in handles.values():
        await handle.terminate("test over")


async def test_a_dossier_is_paid_receipted_synced_to_the_portal_and_texted(
    stack: Stack,  # noqa: F811
    relays: dict[str, WorkflowHandle[Any, Any]],
) -> None:
    body = await body_for(stack, "birth-re-registration")  # its fee blocks the clock
    body["applicant"]["notify_by_sms"] = True
    held = await stack.submit(body)
    assert held.status_code == 202, held.text
    code = held.json()["dossier_code"]
    headers = {"X-Tracking-Secret": held.json()["tracking_secret"]}

    # Paid online through the payment provider: its callback issues the receipt.
    paid = await stack.client.post(held.json()["links"]["pay"], headers=headers)
    assert paid.status_code == 202, paid.text
    view = await fee_when(stack, code, headers, "paid")
    (receipt,) = view["receipts"]
    kind = (receipt["kind"], receipt["method"], receipt["amount_vnd"])
    assert kind == ("receipt", "online", 5000)
    html = await stack.client.get(receipt["html"], headers=headers)
    assert html.status_code == 200 and "BIÊN LAI THU PHÍ, LỆ PHÍ" in html.text and code in html.text
    pdf = await stack.client.get(receipt["pdf"], headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # The dossier, received when paid, runs to its end under the scripted officers.
    handle: WorkflowHandle[DossierWorkflow, DossierResult]
    handle = stack.env.client.get_workflow_handle_for(DossierWorkflow.run, code)
    await officers_until(stack.env, handle, lambda s: False, within=180)
    final = await ended(stack.env, handle)
    assert final.status == DossierStatus.RETURNED

    async def delivered() -> bool:
        for relay in relays.values():
            await relay.signal(OutboxRelayWorkflow.nudge)
        async with stack.sessions() as session:
            waiting = (
                await session.execute(
                    select(PortalOutboxRecord.id).where(
                        PortalOutboxRecord.dossier_code == code,
                        PortalOutboxRecord.pushed_at.is_(None),
                    )
                )
            ).all()
            texted = await session.get(SimulatedSmsRecord, f"{code}:receipt:1")
            transmitted = (
                await session.execute(
                    select(SimulatedEInvoiceRecord).where(
                        SimulatedEInvoiceRecord.dossier_code == code
                    )
                )
            ).all()
        return not waiting and texted is not None and bool(transmitted)

    await eventually(delivered, within=60, every=0.3)

    async with stack.sessions() as session:
        queued = list(
            (
                await session.execute(
                    select(PortalOutboxRecord)
                    .where(PortalOutboxRecord.dossier_code == code)
                    .order_by(PortalOutboxRecord.sequence)
                )
            ).scalars()
        )
        got = list(
            (
                await session.execute(
                    select(SimulatedPortalReceipt)
                    .where(SimulatedPortalReceipt.dossier_code == code)
                    .order_by(SimulatedPortalReceipt.arrival)
                )
            ).scalars()
        )
        sms = await session.get(SimulatedSmsRecord, f"{code}:receipt:1")
        (transmitted,) = (
            await session.execute(
                select(SimulatedEInvoiceRecord).where(SimulatedEInvoiceRecord.dossier_code == code)
            )
        ).scalars()
    # The portal holds each status once, in the order the registry saw them, ending returned.
    assert [r.sequence for r in got] == list(range(1, len(queued) + 1))
    assert [r.status_code for r in got] == [r.status_code for r in queued]
    assert got[0].status_code == PORTAL_STATUS_CODE[DossierStatus.IN_PROGRESS]
    assert got[-1].status_code == PORTAL_STATUS_CODE[DossierStatus.RETURNED]
    assert all(r.deliveries == 1 for r in got)
    # The receipt's text: the code and the tracking page, no name, one GSM-7 SMS.
    assert sms is not None and code in sms.text and sms.encoding == "GSM-7"
    assert "Nhung" not in sms.text and sms.to_masked.endswith("78")
    assert await count(stack.sessions, ElectronicReceipt, dossier_code=code) == 1
    # The receipt went to the tax authority's e-invoice system once, under its number.
    sent = json.loads(transmitted.payload)
    assert receipt["reference"].endswith(f"số {sent['number']:07d}")
    assert (sent["kind"], sent["amount_vnd"], transmitted.deliveries) == ("receipt", 5000, 1)
