"""Record a workflow history for the replay tests: ``python -m tests.record_history``.

Run it after changing a workflow *only* to add a history of the new version beside the old
ones; never regenerate an old file (that would stop proving old executions still replay).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reception import ReceptionActivities
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from engine.temporal import register_search_attributes, test_server_path
from store.db import async_engine, session_factory
from store.migrate import upgrade
from workflows.reception import ONE_STOP, ReceptionInput, ReceptionWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def record_reception(name: str) -> Path:
    """Run one land-and-permit reception and write its history as JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        engine = async_engine(url)
        activities = ReceptionActivities(
            session_factory(engine), default_catalog(), LegalClock(default_calendar())
        )
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, test_server_existing_path=test_server_path()
        ) as env:
            await register_search_attributes(env.client)
            async with (
                Worker(env.client, task_queue="record", workflows=[ReceptionWorkflow]),
                Worker(
                    env.client,
                    task_queue=ONE_STOP,
                    activities=[activities.plan_dossier, activities.record_receipt],
                ),
            ):
                handle = await env.client.start_workflow(
                    ReceptionWorkflow.run,
                    ReceptionInput(
                        dossier_code="DONGDA-260302-0001",
                        desk_code="DONGDA",
                        procedure_code="land-and-permit",
                        received_at=datetime(2026, 3, 2, 9, tzinfo=VN_TZ),
                    ),
                    id="DONGDA-260302-0001",
                    task_queue="record",
                )
                await handle.result()
                history = await handle.fetch_history()
        await engine.dispose()
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json())
    return path


if __name__ == "__main__":
    print(asyncio.run(record_reception(sys.argv[1] if len(sys.argv) > 1 else "reception-v1")))
