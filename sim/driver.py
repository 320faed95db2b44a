"""The actors of a simulation: one driver workflow per dossier, and the activities it runs.

`SimDriverWorkflow` lives here, not in ``workflows/``: it is registered only on the
simulation's worker (task queue `DRIVER_TASK_QUEUE`) and never in production. It sleeps a
durable timer until the dossier's submission, submits it, then loops: ``sim.tick`` looks at the
dossier (its ``tracking`` query), performs the one act that is due (an officer's ``decide``, the
applicant's ``provide_supplement`` or ``withdraw``, the payer's ``payment_received``) and says
when to look again; the driver sleeps until then. On the time-skipping server every sleep is
skipped as soon as nothing else is running, so months pass in minutes.

The acts are the real clients' calls (`clients.dossiers.start_dossier`, the scripted officer's
`clients.officer.perform`: the updates through `update_dossier`, the payment signal), made
from activities on the driver's own task queue. (Local activities would save history events, but
the time-skipping test server failed to complete driver workflow tasks that carried their
markers: "invalid history builder state for action".)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import (
        Client,
        WorkflowHandle,
        WorkflowQueryFailedError,
        WorkflowUpdateFailedError,
    )
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    from clients.dossiers import start_dossier
    from clients.officer import Act as OfficerAct
    from clients.officer import perform
    from domain.catalog import Catalog
    from domain.clock import VN_TZ
    from domain.dossier import DossierFacts, SubmittedDocument
    from sim.events import SETTLE, SOON, Act, Oracle, SimDossier
    from store.letters import save_contact
    from store.seed import DEMO_PARCEL
    from workflows.dossier import (
        TERMINAL,
        DecisionAction,
        DecisionInput,
        DossierWorkflow,
        PaymentInput,
        SupplementInput,
        WithdrawInput,
    )

DRIVER_TASK_QUEUE = "sim-drivers"
TICK_TIMEOUT = timedelta(minutes=2)
TICK_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=20)
# A synthetic delivery address: the post needs one; it is never printed or logged.
SIM_ADDRESS = "Địa chỉ mô phỏng, phường Phương Liên, Hà Nội"
SIM_APPLICANT = "Người nộp mô phỏng"  # the name on a simulated applicant's contact
MAX_TICKS = 5000  # a driver that has ticked this often is stuck: it gives up
ACT_TIMEOUT = 60.0  # seconds (wall) an act may take before the dossier counts as wedged
# No act within this much simulated time before one of the dossier's timers fires: the
# time-skipping test server refuses a workflow task that cancels a timer which fired while the
# task was with the worker ("invalid history builder state for action", temporalio/sdk-java#3088)
# and never hands the task out again, so the dossier would be stranded. The act waits until
# just after the timer instead.
TIMER_GUARD = timedelta(seconds=45)


class DriverInput(BaseModel):
    """Which dossier the driver submits and acts on."""

    index: int
    code: str
    submit_at: datetime


class DriverResult(BaseModel):
    """How the driver ended: the dossier finished, or the horizon (or tick limit) was hit."""

    code: str
    finished: bool
    acts: int
    ticks: int
    wedged: bool = False  # the test server failed the dossier's workflow task; terminated


class SubmitInput(BaseModel):
    """Submit dossier number ``index`` of the simulation."""

    index: int


class TickInput(BaseModel):
    """Look at dossier ``index`` at the simulated moment ``now``."""

    index: int
    now: datetime


class TickResult(BaseModel):
    """What the tick did and when to look again."""

    acted: str | None = None
    wake_at: datetime | None = None
    done: bool = False
    finished: bool = False  # done, and the dossier ended (not only the horizon reached)
    wedged: bool = False


@workflow.defn(name="SimDriver")
class SimDriverWorkflow:
    """Submits one dossier at its moment and plays its officers, applicant and payer.

    No signals, queries or updates: everything it does goes through its activities.
    """

    @workflow.run
    async def run(self, request: DriverInput) -> DriverResult:
        """Sleep until submission, submit, then tick until the dossier ends."""
        wait = request.submit_at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        await workflow.execute_activity(
            "sim.submit",
            SubmitInput(index=request.index),
            start_to_close_timeout=TICK_TIMEOUT,
            retry_policy=TICK_RETRY,
        )
        acts = 0
        for ticks in range(1, MAX_TICKS + 1):
            tick: TickResult = await workflow.execute_activity(
                "sim.tick",
                TickInput(index=request.index, now=workflow.now()),
                result_type=TickResult,
                start_to_close_timeout=TICK_TIMEOUT,
                retry_policy=TICK_RETRY,
            )
            if tick.done or tick.wedged:
                return DriverResult(
                    code=request.code,
                    finished=tick.finished,
                    acts=acts,
                    ticks=ticks,
                    wedged=tick.wedged,
                )
            if tick.acted is not None:
                acts += 1
                await workflow.sleep(SETTLE)  # let the dossier finish what the act started
                continue
            wake = tick.wake_at or workflow.now() + SOON
            await workflow.sleep(max(wake - workflow.now(), timedelta(seconds=1)))
        return DriverResult(code=request.code, finished=False, acts=acts, ticks=MAX_TICKS)


class DriverActivities:
    """The activities of the drivers: the simulation's client, dossiers and oracle."""

    def __init__(
        self,
        client: Client,
        dossiers: Sequence[SimDossier],
        oracle: Oracle,
        catalog: Catalog,
        sessions: async_sessionmaker[AsyncSession],
        task_queue: str,
    ) -> None:
        self._client = client
        self._dossiers = dossiers
        self._oracle = oracle
        self._catalog = catalog
        self._sessions = sessions
        self._task_queue = task_queue
        self.finished_at: dict[str, datetime] = {}  # when each driver saw its dossier end
        self.ended = 0  # dossiers finished or given up as wedged (progress)

    @activity.defn(name="sim.submit")
    async def submit(self, request: SubmitInput) -> None:
        """The desk receives the dossier (and, for home delivery, the applicant's contact)."""
        dossier = self._dossiers[request.index]
        if dossier.home_delivery:
            async with self._sessions() as session:
                await save_contact(
                    session, dossier.code, full_name=SIM_APPLICANT, address=SIM_ADDRESS
                )
                await session.commit()
        # A retried submission finds the dossier already running.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start_dossier(
                self._client,
                code=dossier.code,
                desk_code=dossier.desk,
                procedure_code=dossier.procedure,
                received_at=dossier.submit_at,
                facts=dossier_facts(self._catalog, dossier),
                task_queue=self._task_queue,
            )

    @activity.defn(name="sim.tick")
    async def tick(self, request: TickInput) -> TickResult:
        """Look at the dossier, perform the act that is due, say when to look again."""
        dossier = self._dossiers[request.index]
        handle: WorkflowHandle[DossierWorkflow, Any] = self._client.get_workflow_handle_for(
            DossierWorkflow.run, dossier.code
        )
        try:
            state = await handle.query(DossierWorkflow.tracking)
        except (WorkflowQueryFailedError, RPCError):
            return TickResult(wake_at=request.now + SOON)  # not started yet, or between runs
        step = self._oracle.next(dossier, state, request.now)
        if step.done:  # the dossier ended, or the scenario's horizon came first
            self.ended += 1
            self._oracle.forget(dossier)
            if state.status not in TERMINAL:
                return TickResult(done=True)
            self.finished_at[dossier.code] = request.now
            return TickResult(done=True, finished=True)
        if step.act is None:
            return TickResult(wake_at=step.wake_at)
        due = await _timer_due_within(handle, request.now, TIMER_GUARD)
        if due is not None:
            return TickResult(wake_at=due + SETTLE)
        # asyncio.wait, not wait_for: an update call stuck in the SDK's core does not give
        # way to cancellation, and wait_for would wait for it to.
        perform = asyncio.ensure_future(self._perform(dossier, step.act))
        done, _ = await asyncio.wait([perform], timeout=ACT_TIMEOUT)
        if perform in done:
            perform.result()
        else:
            perform.cancel()
            # The dossier's workflow task keeps failing on the test server: nothing will move
            # it again, and it holds the server's clock. Stop it; it is reported unfinished.
            activity.logger.error("dossier_wedged", extra={"dossier": dossier.code})
            await handle.terminate(reason="simulation: workflow task failing on the test server")
            self._oracle.forget(dossier)
            self.ended += 1
            return TickResult(wedged=True)
        return TickResult(acted=step.act.kind)

    async def _perform(self, dossier: SimDossier, act: Act) -> None:
        handle: WorkflowHandle[DossierWorkflow, Any] = self._client.get_workflow_handle_for(
            DossierWorkflow.run, dossier.code
        )
        try:
            await perform(handle, message_of(act))
        except WorkflowUpdateFailedError:
            # The workflow's validator said no (the step moved on, a supplement is not allowed
            # any more): remember it, so that the next look plans something it accepts.
            self._oracle.refused(dossier, act)


async def _timer_due_within(
    handle: WorkflowHandle[Any, Any], now: datetime, guard: timedelta
) -> datetime | None:
    """When the dossier's last timer due before ``now + guard`` fires, if there is one.

    Read from the history's raw events (no payload is decoded): timers started and neither
    fired nor cancelled yet, and timers that fired at this very moment. Whether a timer due
    *now* has fired by the time the history is read is a race; counting both alike makes the
    driver act at the same simulated moment in every run.
    """
    pending: dict[int, datetime] = {}
    soon: list[datetime] = []
    async for event in handle.fetch_history_events():
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_TIMER_STARTED:
            started = event.timer_started_event_attributes
            pending[event.event_id] = (
                event.event_time.ToDatetime(tzinfo=UTC)
                + started.start_to_fire_timeout.ToTimedelta()
            )
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            fired = pending.pop(event.timer_fired_event_attributes.started_event_id, None)
            if fired is not None and fired >= now:
                soon.append(fired)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            pending.pop(event.timer_canceled_event_attributes.started_event_id, None)
    soon += [fires for fires in pending.values() if fires <= now + guard]
    return max(soon) if soon else None


# ---- what the actors hand the dossier: shared with the core engine (sim/core.py) -------------

WITHDRAWAL = WithdrawInput(reason="Người nộp rút hồ sơ")


def dossier_facts(catalog: Catalog, dossier: SimDossier) -> DossierFacts:
    """What the desk records at receipt: the required documents, a parcel for land steps."""
    day = dossier.submit_at.astimezone(VN_TZ).date()
    versions = (
        catalog.components_on(dossier.procedure, day)
        if catalog.is_combined(dossier.procedure)
        else (catalog.version_on(dossier.procedure, day),)
    )
    documents = [
        SubmittedDocument(name_vi=d.name_vi)
        for v in versions
        for d in v.required_documents
        if not d.optional
    ]
    land = any(s.activity == "land.check-parcel" for v in versions for s in v.steps)
    return DossierFacts(
        parcel=DEMO_PARCEL if land else None,
        documents=documents,
        subject_ref=f"SIM-{dossier.code}",  # an opaque reference, no personal data
        home_delivery=dossier.home_delivery,
    )


def message_of(act: Act) -> OfficerAct:
    """The oracle's act as the message `clients.officer.perform` sends the dossier."""
    if act.kind == "decide":
        return decision_of(act)
    if act.kind == "supplement":
        return supplement_of(act)
    if act.kind == "withdraw":
        return WITHDRAWAL
    return payment_of(act)


def decision_of(act: Act) -> DecisionInput:
    """An officer's decision act as the ``decide`` update's input."""
    assert act.step is not None and act.agency is not None
    return DecisionInput(
        step=act.step,
        agency=act.agency,
        officer_id=f"officer-{act.agency}",
        action=DecisionAction(act.action),
        reason=act.reason,
        missing_documents=act.missing,
        send_back_to=act.send_back_to,
    )


def supplement_of(act: Act) -> SupplementInput:
    """The applicant's supplement act as the ``provide_supplement`` update's input."""
    return SupplementInput(
        documents=[SubmittedDocument(name_vi=name) for name in act.missing]
        or [SubmittedDocument(name_vi="Giấy tờ bổ sung")]
    )


def payment_of(act: Act) -> PaymentInput:
    """The payer's act as the ``payment_received`` signal's input."""
    return PaymentInput(reference=act.reference, amount_vnd=act.amount_vnd)
