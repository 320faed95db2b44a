"""Back-pressure at intake (api.admission) against the real dev server and PostgreSQL.

The engine is overloaded the plainest way: dossiers are submitted to a task queue nobody polls
yet, so their workflow tasks wait in Temporal's backlog as they would behind saturated workers.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.admission import Admission, Bound, Load, judge
from clients.dossiers import wait_for_receipt
from store.db import async_engine, session_factory
from store.models import OnlineSubmission
from tests.api.test_api import (
    BASE,
    CERTIFIED_ORIGINAL,
    Stack,
    a_client_address,
    app_for,
    count,
    eventually,
    make_settings,
    new_provider,
    submission,
)
from tests.harness import running_engine
from workflows.dossier import DossierResult, DossierWorkflow

pytestmark = pytest.mark.postgres


# -- the verdict on a reading ------------------------------------------------------------------


def test_a_backlog_at_its_bound_is_refused_with_the_time_to_drain_it() -> None:
    bound = Bound(max_backlog=100)
    assert judge(Load(backlog=99, backlog_age_seconds=0.5, dispatch_rate=20.0), bound).admitted
    verdict = judge(Load(backlog=100, backlog_age_seconds=0.5, dispatch_rate=20.0), bound)
    assert not verdict.admitted
    assert verdict.retry_after == 5  # 100 tasks at 20 a second
    assert "100 tasks waiting" in verdict.reason


def test_an_old_backlog_is_refused_even_when_short() -> None:
    bound = Bound(max_backlog=100, max_backlog_age_seconds=2.0)
    verdict = judge(Load(backlog=3, backlog_age_seconds=7.2, dispatch_rate=0.0), bound)
    assert (verdict.admitted, verdict.retry_after) == (False, 8)
    assert judge(Load(backlog=3, backlog_age_seconds=1.9, dispatch_rate=0.0), bound).admitted


def test_retry_after_is_at_least_one_second_and_at_most_a_minute() -> None:
    bound = Bound(max_backlog=1)
    idle = judge(Load(backlog=1, backlog_age_seconds=0.0, dispatch_rate=500.0), bound)
    stuck = judge(Load(backlog=10_000, backlog_age_seconds=900.0, dispatch_rate=0.0), bound)
    assert (idle.retry_after, stuck.retry_after) == (1, 60)


def test_the_in_flight_bound_is_ignored_without_a_count_and_off_at_zero() -> None:
    load = Load(backlog=0, backlog_age_seconds=0.0, dispatch_rate=0.0, in_flight=None)
    assert judge(load, Bound(max_in_flight=5)).admitted
    assert not judge(replace(load, in_flight=5), Bound(max_in_flight=5)).admitted
    assert judge(replace(load, in_flight=10**6), Bound()).admitted
    assert not Bound().enabled


# -- against the dev server --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def gated_api(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path, **bounds: Any
) -> AsyncIterator[Stack]:
    """The API on a task queue no worker polls yet, with these ``admission_*`` settings and a
    reading per request (no cache)."""
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    config = make_settings(tmp_path).model_copy(
        update={
            "admission_cache_seconds": 0.0,
            # Only this test's queue: other tests leave activity tasks on the shared desk queue.
            "admission_activity_queues": "",
            # The engine's bound is under test, not one client's quotas (tests/api/test_abuse.py).
            "api_submissions_per_minute": 1000,
            "api_submissions_per_hour": 1000,
            "api_writes_per_minute": 1000,
            **{f"admission_{k}": v for k, v in bounds.items()},
        }
    )
    provider = new_provider()
    app = app_for(dev_env.client, sessions, config, provider, task_queue, receipt_wait_seconds=0.1)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
        ) as client:
            yield Stack(client, provider, dev_env, sessions, config)
    finally:
        await provider.aclose()
        await engine.dispose()


@pytest.fixture
async def gated(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The API refusing from 3 waiting workflow tasks."""
    async with gated_api(
        dev_env, task_queue, pg_url, tmp_path, max_backlog=3, max_backlog_age_seconds=0.0
    ) as stack:
        yield stack


async def _submit_until_refused(stack: Stack, body: dict[str, Any]) -> tuple[list[str], Any, str]:
    accepted: list[str] = []
    for _ in range(40):  # the server's backlog count is approximate and may lag a few tasks
        key = str(uuid.uuid4())
        response = await stack.submit(body, key)
        if response.status_code == 429:
            return accepted, response, key
        assert response.status_code == 201, response.text
        accepted.append(response.json()["dossier_code"])
    raise AssertionError(f"{len(accepted)} dossiers accepted and none refused")


async def test_at_the_backlog_bound_a_submission_is_a_429_and_nothing_accepted_is_lost(
    gated: Stack, task_queue: str, pg_url: str
) -> None:
    document = await gated.upload(CERTIFIED_ORIGINAL)
    body = submission("certified-copy", [document])
    accepted, refused, key = await _submit_until_refused(gated, body)

    assert len(accepted) >= 3
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    [error] = refused.json()["errors"]
    assert error["field"] == "body"
    assert error["message_vi"].startswith("Hệ thống đang quá tải")
    assert re.search(r"\(\d+ tasks waiting \(bound 3\)\)", error["message_en"])
    # A refused request wrote nothing: no code allocated, no row for its key.
    assert await count(gated.sessions, OnlineSubmission, idempotency_key=key) == 0

    # The workers come back: every accepted dossier is planned, none was lost in the queue.
    async with running_engine(gated.env.client, task_queue, pg_url):
        for code in accepted:
            handle: WorkflowHandle[DossierWorkflow, DossierResult]
            handle = gated.env.client.get_workflow_handle_for(DossierWorkflow.run, code)
            state = await wait_for_receipt(handle, within=60)
            assert state.appointment is not None

        # Under the bound again, the refused request is accepted with the same key.
        async def admitted() -> httpx.Response | None:
            response = await gated.submit(body, key)
            return response if response.status_code == 201 else None

        again = await eventually(admitted, within=60, every=0.5)
        assert again.json()["dossier_code"] not in accepted


async def test_at_the_in_flight_bound_a_submission_is_a_429_until_a_dossier_closes(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> None:
    async with gated_api(
        dev_env, task_queue, pg_url, tmp_path, max_backlog=0, max_backlog_age_seconds=0.0,
        max_in_flight=2,
    ) as stack:  # fmt: skip
        document = await stack.upload(CERTIFIED_ORIGINAL)
        body = submission("certified-copy", [document])
        accepted, refused, key = await _submit_until_refused(stack, body)

        assert len(accepted) == 2  # the dev server's visibility counts a start at once
        assert "2 dossiers in flight (bound 2)" in refused.json()["errors"][0]["message_en"]
        assert int(refused.headers["Retry-After"]) >= 1
        # One dossier leaves the engine: room for one more.
        await dev_env.client.get_workflow_handle(accepted[0]).terminate("test: make room")
        response = await stack.submit(body, key)
        assert response.status_code == 201, response.text


@activity.defn(name="admission.never-served")
async def never_served() -> None:
    """An activity no worker of the test serves: its tasks wait in the backlog."""


@workflow.defn(name="AdmissionWaiter", sandboxed=False)
class Waiter:
    """Schedules one activity on the queue it is given and waits for it."""

    @workflow.run
    async def run(self, queue: str) -> None:
        await workflow.execute_activity(
            never_served, task_queue=queue, start_to_close_timeout=timedelta(minutes=5)
        )


async def test_activity_tasks_waiting_on_the_desk_queue_count_toward_the_bound(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    desk_queue = f"{task_queue}-desk"
    gate = Admission(
        dev_env.client,
        task_queue,
        Bound(max_backlog=2, cache_seconds=0.0),
        activity_queues=[desk_queue],
    )
    assert (await gate.verdict()).admitted
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[Waiter]):
        handles = [
            await dev_env.client.start_workflow(
                Waiter.run, desk_queue, id=f"waiter-{uuid.uuid4()}", task_queue=task_queue
            )
            for _ in range(4)
        ]

        async def refused() -> Any:
            verdict = await gate.verdict()
            return None if verdict.admitted else verdict

        verdict = await eventually(refused, within=30)
        assert "tasks waiting (bound 2)" in verdict.reason
        for handle in handles:
            await handle.terminate("test over")


async def test_a_reading_that_fails_admits_and_is_not_retried_by_every_request(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A namespace Temporal does not know: the reading fails, and the verdict is to admit (the
    # workflow's start then answers for the engine, 503 when it is down).
    client = await Client.connect(
        dev_env.client.service_client.config.target_host, namespace=f"missing-{uuid.uuid4()}"
    )
    gate = Admission(client, task_queue, Bound(max_backlog=1, cache_seconds=60))
    assert (await gate.verdict()).admitted
    read_at = gate._read_at
    assert (await gate.verdict()).admitted
    assert gate._read_at == read_at  # the failure is cached like a reading
