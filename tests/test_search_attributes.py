"""Operators find dossiers in the Web UI by our search attributes (real dev server)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reception import ReceptionActivities
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from store.db import async_engine, session_factory
from workflows.reception import ONE_STOP, ReceptionInput, ReceptionWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]


async def test_a_list_filter_by_desk_and_status_finds_exactly_that_desks_dossiers(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> None:
    client = dev_env.client
    engine = async_engine(pg_url)
    activities = ReceptionActivities(
        session_factory(engine), default_catalog(), LegalClock(default_calendar())
    )
    desk, other = (f"D{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    received = datetime(2026, 3, 2, 9, tzinfo=VN_TZ)
    requests = [
        ReceptionInput(
            dossier_code=f"{d}-260302-{n:04d}", desk_code=d, procedure_code=p, received_at=received
        )
        for n, (d, p) in enumerate(
            [(desk, "certified-copy"), (desk, "land-and-permit"), (other, "certified-copy")], 1
        )
    ]
    async with (
        Worker(client, task_queue=task_queue, workflows=[ReceptionWorkflow]),
        Worker(
            client,
            task_queue=ONE_STOP,
            activities=[activities.plan_dossier, activities.record_receipt],
        ),
    ):
        for request in requests:
            await client.execute_workflow(
                ReceptionWorkflow.run, request, id=request.dossier_code, task_queue=task_queue
            )
    await engine.dispose()

    query = f"Desk = '{desk}' AND DossierStatus = 'accepted'"
    found: set[str] = set()
    for _ in range(50):  # visibility is eventually consistent
        found = {execution.id async for execution in client.list_workflows(query)}
        if len(found) >= 2:
            break
        await asyncio.sleep(0.2)
    assert found == {requests[0].dossier_code, requests[1].dossier_code}
    combined = [
        e.id
        async for e in client.list_workflows(
            f"ProcedureCodes = 'house-building-permit' AND Desk = '{desk}'"
        )
    ]
    assert combined == [requests[1].dossier_code]
