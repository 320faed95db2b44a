"""A dossier whose history grows past the server's suggestion continues as new and finishes.

A dedicated dev server with a tiny history threshold makes every dossier continue as new
several times; the dossier must reach the same end with its ledger whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.dossier import DossierStatus
from engine.crypto import KeyRing
from engine.names import SEARCH_ATTRIBUTES
from engine.temporal import data_converter, dev_server_path
from tests.harness import ended, officers_until, running_engine, submit
from workflows.dossier import DossierResult

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]


@pytest.fixture
async def small_history_server(data_key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        data_converter=data_converter(data_key_ring),
        dev_server_existing_path=dev_server_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
    ) as environment:
        yield environment


async def test_a_dossier_continues_as_new_and_still_finishes_whole(
    small_history_server: WorkflowEnvironment, task_queue: str, pg_url: str
) -> None:
    env = small_history_server
    async with running_engine(env.client, task_queue, pg_url):
        handle = await submit(env, task_queue, "house-building-permit")
        final = await officers_until(env, handle, lambda s: False, within=120)
        result: DossierResult = await ended(env, handle)
    assert final.status == DossierStatus.RETURNED == result.status
    steps = [row.step for row in result.ledger]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 6
    first_run = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    described = await first_run.describe()
    assert described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
