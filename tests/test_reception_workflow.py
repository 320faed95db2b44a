"""The reception workflow on the time-skipping server, with real activities on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reception import ReceptionActivities
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from store.db import async_engine, session_factory
from store.repositories import get_dossier
from workflows.reception import ONE_STOP, ReceptionInput, ReceptionWorkflow

pytestmark = pytest.mark.postgres


@pytest.fixture
async def sessions(pg_url: str) -> AsyncIterator[object]:
    engine = async_engine(pg_url)
    yield session_factory(engine)
    await engine.dispose()


async def run_reception(
    client: Client, task_queue: str, sessions: object, request: ReceptionInput
) -> object:
    activities = ReceptionActivities(
        sessions,  # type: ignore[arg-type]
        default_catalog(),
        LegalClock(default_calendar()),
    )
    async with (
        Worker(client, task_queue=task_queue, workflows=[ReceptionWorkflow]),
        Worker(
            client,
            task_queue=ONE_STOP,
            activities=[activities.plan_dossier, activities.record_receipt],
        ),
    ):
        return await client.execute_workflow(
            ReceptionWorkflow.run, request, id=request.dossier_code, task_queue=task_queue
        )


async def test_land_dossier_received_before_tet_is_pinned_and_registered(
    env: WorkflowEnvironment, task_queue: str, sessions: object
) -> None:
    code = f"TEST{uuid.uuid4().hex[:6].upper()}-260212-0001"
    received = datetime(2026, 2, 12, 9, 0, tzinfo=VN_TZ)
    result = await run_reception(
        env.client,
        task_queue,
        sessions,
        ReceptionInput(
            dossier_code=code,
            desk_code="TEST",
            procedure_code="land-first-certificate",
            received_at=received,
        ),
    )
    assert result.status == "accepted"  # type: ignore[attr-defined]
    plan = result.plan  # type: ignore[attr-defined]
    assert plan.version == "2025-07"
    # Tet 16-20 Feb 2026 and the public notice are not counted: the appointment lies past both.
    assert plan.appointment > datetime(2026, 3, 12, tzinfo=VN_TZ)
    async with sessions() as session:  # type: ignore[operator]
        row = await get_dossier(session, code)
    assert row is not None
    assert row.status == "accepted"
    assert row.procedure_version == "2025-07"
    assert row.appointment_at == plan.appointment


async def test_unknown_procedure_fails_the_reception_with_the_catalog_message(
    env: WorkflowEnvironment, task_queue: str, sessions: object
) -> None:
    code = f"TEST{uuid.uuid4().hex[:6].upper()}-260212-0002"
    with pytest.raises(WorkflowFailureError) as failure:
        await run_reception(
            env.client,
            task_queue,
            sessions,
            ReceptionInput(
                dossier_code=code,
                desk_code="TEST",
                procedure_code="no-such-procedure",
                received_at=datetime(2026, 2, 12, 9, 0, tzinfo=VN_TZ),
            ),
        )
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == "ReceptionRefused"
    assert "unknown procedure 'no-such-procedure'" in failure.value.cause.message
