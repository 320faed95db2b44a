"""Test support: the real workers wired as worker.py wires them, and scripted officers
(`clients.officer`) who let time pass on the test server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import build_activities
from activities.einvoice import TaxAuthorityEInvoice
from activities.portal import NationalPortal
from activities.post import PostalService
from activities.sms import SmsGateway
from clients.dossiers import start_dossier
from clients.officer import ApproveAll, AtPace, Officer, undecided
from domain.catalog import Catalog, default_catalog
from domain.clock import LegalClock
from domain.dossier import DossierFacts, SubmittedDocument
from engine.settings import Settings
from store.db import async_engine, session_factory
from store.seed import DEMO_PARCEL, seed_reference_data
from worker import in_process_workers
from workflows.dossier import TERMINAL, DossierWorkflow, TrackingState


@contextlib.asynccontextmanager
async def running_engine(
    client: Client,
    task_queue: str,
    database_url: str,
    catalog: Catalog | None = None,
    clock: LegalClock | None = None,
    post: PostalService | None = None,
    settings: Settings | None = None,
    portal: Callable[[Any], NationalPortal] | None = None,
    sms: Callable[[Any], SmsGateway] | None = None,
    einvoice: Callable[[Any], TaxAuthorityEInvoice] | None = None,
) -> AsyncIterator[None]:
    """Every agency's worker and the orchestration worker (on ``task_queue``), seeded data.

    ``portal``, ``sms``, ``einvoice``: build the national portal, the SMS gateway, the tax
    authority's e-invoice system, from the registry's sessions (default: simulated).
    """
    engine = async_engine(database_url)
    sessions = session_factory(engine)
    await seed_reference_data(sessions)
    catalog = catalog or default_catalog()
    # Letters and the outbox go to a scratch folder, not the repository's .data/.
    scratch = tempfile.mkdtemp(prefix="lienthong-test-")
    settings = settings or Settings(data_dir=Path(scratch))
    activities = build_activities(
        sessions,
        catalog=catalog,
        clock=clock,
        settings=settings,
        post=post,
        portal=portal(sessions) if portal is not None else None,
        sms=sms(sessions) if sms is not None else None,
        einvoice=einvoice(sessions) if einvoice is not None else None,
    )
    workers = in_process_workers(
        client, activities, catalog=catalog, orchestration_queue=task_queue
    )
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield
    finally:
        await engine.dispose()
        shutil.rmtree(scratch, ignore_errors=True)


def all_documents(procedure: str, day: datetime) -> list[SubmittedDocument]:
    """Every non-optional document the procedure (or bundle) requires on that day."""
    catalog = default_catalog()
    versions = (
        catalog.components_on(procedure, day.date())
        if catalog.is_combined(procedure)
        else (catalog.version_on(procedure, day.date()),)
    )
    return [
        SubmittedDocument(name_vi=d.name_vi)
        for v in versions
        for d in v.required_documents
        if not d.optional
    ]


async def submit(
    env: WorkflowEnvironment,
    task_queue: str,
    procedure: str,
    *,
    received: datetime | None = None,
    facts: DossierFacts | None = None,
    code: str | None = None,
) -> WorkflowHandle[DossierWorkflow, object]:
    """Start a dossier with every required document and the demo parcel."""
    received = received or await env.get_current_time()
    code = code or f"T{uuid.uuid4().hex[:8].upper()}-{received:%y%m%d}-0001"
    return await start_dossier(
        env.client,
        code=code,
        desk_code=code.split("-")[0],
        procedure_code=procedure,
        received_at=received,
        facts=facts
        or DossierFacts(parcel=DEMO_PARCEL, documents=all_documents(procedure, received)),
        task_queue=task_queue,
    )


async def is_still(handle: WorkflowHandle[Any, Any], state: TrackingState) -> bool:
    """Whether nothing is left to move the dossier from ``state`` but time: no activity or
    workflow task pending (a legal-clock question, a registry write, the task that follows
    them), and its open steps as they were when ``state`` was read (the step that an activity
    opens may have opened in between)."""
    raw = (await handle.describe()).raw_description
    if raw.pending_activities or raw.HasField("pending_workflow_task"):
        return False
    again: TrackingState = await handle.query(DossierWorkflow.tracking)
    return [(s.key, s.decided, s.due) for s in again.open_steps] == [
        (s.key, s.decided, s.due) for s in state.open_steps
    ]


async def officers_until(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[DossierWorkflow, object],
    until: Callable[[TrackingState], bool],
    *,
    on_state: Callable[[TrackingState], None] | None = None,
    approve: bool = True,
    within: float = 60.0,
) -> TrackingState:
    """Approve every open officer step and pay what is due until ``until(state)`` holds
    (`clients.officer.ApproveAll`).

    Time moves only when nothing else can move the dossier (a public notice): then a day is
    skipped on the test server.
    """
    officer = Officer(handle, ApproveAll(approve=approve))

    async def loop() -> TrackingState:
        while True:
            state = await officer.look()
            if on_state is not None:
                on_state(state)
            if until(state) or state.status in TERMINAL:
                return state
            opening = [step for step in undecided(state) if step.due is None]
            if opening and not await is_still(handle, state):
                await asyncio.sleep(0.05)  # a step being opened: its due moment is on the way
                continue
            plan = officer.plan(state, datetime.now(UTC))
            await officer.carry_out(plan.acts)
            if not plan.acts:
                kinds = {step.kind for step in state.open_steps}
                # Nothing but time moves the dossier: a public notice, or results with the post.
                waiting = all(step.decided for step in state.open_steps)
                if (
                    env.supports_time_skipping
                    and (
                        ("public_notice" in kinds and "automated_check" not in kinds)
                        or (state.open_steps and waiting)
                    )
                    and await is_still(handle, state)
                ):
                    await env.sleep(timedelta(days=1))
                else:
                    await asyncio.sleep(0.05)

    return await asyncio.wait_for(loop(), within)


async def ended(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> Any:
    """The result of a dossier that nothing but its last activities keeps from ending (every
    step decided, or a refusal or withdrawal just made), awaited with time standing still.

    Awaiting a result on the test server lets it skip time to whatever it can fire next. On a
    loaded machine a last activity may still sit in its queue, and the next thing was then a
    timeout 3650 days away: CI once saw the next dossier received in 2036.
    """
    with env.auto_time_skipping_disabled():
        return await handle.result()


async def officers_at_pace(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[DossierWorkflow, object],
    until: Callable[[TrackingState], bool],
    clock: LegalClock,
    *,
    late: dict[str, timedelta] | None = None,
    act_on: Callable[[str], bool] = lambda key: True,
    within: float = 120.0,
) -> TrackingState:
    """Officers who use their whole budget (`clients.officer.AtPace`): each approves a minute
    before the step is due, or ``late[key]`` of working time after it. Time is skipped on the
    test server in between."""
    officer = Officer(handle, AtPace(clock, late=late or {}, act_on=act_on))

    async def loop() -> TrackingState:
        while True:
            state = await officer.look()
            if until(state) or state.status in TERMINAL:
                return state
            now = await env.get_current_time()
            plan = officer.plan(state, now)
            if plan.acts:
                await officer.carry_out(plan.acts)
            elif plan.settling or not await is_still(handle, state):
                await asyncio.sleep(0.05)  # the next step may be opening
            elif plan.wake_at is not None:
                await env.sleep(plan.wake_at - now)
            elif any(step.kind == "public_notice" for step in state.open_steps):
                await env.sleep(timedelta(hours=12))
            else:
                await asyncio.sleep(0.05)

    return await asyncio.wait_for(loop(), within)
