"""One dossier, from receipt to result, across every agency its procedures need.

Shape: one workflow per dossier (workflow id = dossier code) that runs the merged step graph of
all its procedures. A combined (liên thông) dossier shares one clock, one appointment, one
applicant and cross-procedure dependencies (the permit's decision waits for the certificate's
signature); keeping them in one workflow makes those a plain dependency in one graph instead of
signals between child workflows, and gives officers and citizens one id to address: the code
printed on the receipt. Each step still runs where it belongs: automated checks are activities
on the owning agency's task queue, officers act through updates validated against the agency
that holds the step. Nothing here is specific to a procedure: the catalog drives it.

Updates: ``decide`` (officer: approve / request supplement / refuse / send back),
``provide_supplement`` (applicant), ``withdraw`` (applicant).
Signals: ``payment_received`` (the payment side).
Queries: ``tracking`` (status, open steps, due moments, the form 05 ledger, documents).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Coroutine
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.clock import (
        BeforeInput,
        ClockActivities,
        ForecastInput,
        Pause,
        ShiftInput,
        StepAssessInput,
        StepBudget,
        StepDueInput,
        Verdict,
    )
    from activities.letters import ApologyInput, ApologyResult
    from activities.notify import AgencyNoticeInput, AgencyNoticeResult
    from activities.post import (
        AttemptInput,
        AttemptResult,
        DispatchInput,
        DispatchResult,
        ReturnToDeskInput,
        ReturnToDeskResult,
    )
    from activities.reception import (
        PlanDossierInput,
        ReceptionActivities,
        RecordReceiptInput,
    )
    from activities.registry import (
        AuditEntry,
        HandoverSnapshot,
        IssuedSnapshot,
        ProcedureSnapshot,
        ReceivedSnapshot,
        RegistrySnapshot,
        StepSnapshot,
        SyncResult,
    )
    from domain.dossier import (
        AutomatedCheckInput,
        AutomatedCheckResult,
        DossierFacts,
        DossierStatus,
        SubmittedDocument,
    )
    from domain.plan import DossierPlan, PlannedStep, ProcedurePolicy
    from engine import names

ONE_STOP = names.agency_task_queue("one-stop")
ResultT = TypeVar("ResultT", bound=BaseModel)
CLOCK_TIMEOUT = timedelta(seconds=10)
AGENCY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# Steps officers act on; the others finish by themselves (activity, timer, payment).
OFFICER_KINDS = {"officer_decision", "signature", "return_result"}
# Versioning: executions started before warnings, escalations and apology letters existed
# replay without them (tests/histories/dossier-v1.json).
DEADLINES_PATCH = "deadlines-and-apologies"
# Executions started before the registry's read model existed (v1, v2) do not write it.
REGISTRY_PATCH = "registry-read-model"
# Executions started before home delivery existed hand every result over at the desk.
DELIVERY_PATCH = "home-delivery"
# The legal clock is asked one question at a time: concurrent local activities resume their
# coroutines in completion order when first run but in sequence order on replay (SDK issue
# temporalio/sdk-python#1578), which a chaos run turned into a non-determinism error.
SERIAL_CLOCK_PATCH = "serial-clock"
# The legal clock's questions are ordinary activities, not local activities: when a local
# activity's result came back after other events had arrived (a busy worker), the first run
# resumed the waiting procedures in another order than a replay does, and the replay failed.
CLOCK_ACTIVITIES_PATCH = "clock-activities"
# Executions started before it did not tell the agencies holding open steps of a withdrawal.
WITHDRAWAL_NOTICE_PATCH = "withdrawal-notice"
TERMINAL = {"refused", "withdrawn", "stopped", "returned"}
CONTINUING_AS_NEW = "ContinuingAsNew"  # a validator's refusal the client should retry


class StepStatus(StrEnum):
    """Where a step stands."""

    PENDING = "pending"  # waiting for the steps it depends on
    OPEN = "open"  # held by its agency
    DONE = "done"
    CANCELLED = "cancelled"  # its procedure ended (refusal, withdrawal) before it ran


class DecisionAction(StrEnum):
    """What an officer may decide on an open step."""

    APPROVE = "approve"
    REQUEST_SUPPLEMENT = "request_supplement"
    REFUSE = "refuse"
    SEND_BACK = "send_back"


class DossierInput(BaseModel):
    """A received dossier. ``state`` is set only when the workflow continues as new."""

    dossier_code: str
    desk_code: str
    procedure_code: str
    received_at: datetime
    facts: DossierFacts = DossierFacts()
    # Policy (working hours): warn an agency this long before a step is due; foresee a missed
    # appointment this long before it (an apology at least N working days ahead); leave this
    # margin after the projected finish when setting a letter's new appointment.
    warning_lead_hours: float = 8.0
    apology_lead_hours: float = 8.0  # check the appointment still holds this long before it
    apology_grace_hours: float = 8.0
    delivery_attempts: int = 3  # home delivery: attempts before the result goes back to the desk
    state: DossierState | None = None


class StepState(BaseModel):
    """One step's life in this dossier."""

    key: str
    status: StepStatus = StepStatus.PENDING
    opened_at: datetime | None = None
    due: datetime | None = None
    done_at: datetime | None = None
    overdue: bool = False
    outcome: str = ""  # approved / passed / refused / ... with the reason
    officer_id: str | None = None
    carried_over: bool = False  # reopened after continue-as-new: keep opened_at
    warn_at: datetime | None = None
    warned: bool = False
    verdict: Verdict | None = None
    working_hours: float | None = None  # working time the step took (counted steps)
    late_working_hours: float = 0.0


class HandoverRow(BaseModel):
    """A row of form 05: a step finished and the dossier moved on."""

    sequence: int
    procedure: str
    step: str
    from_agency: str
    to_agencies: list[str]
    at: datetime
    result: str
    officer_id: str | None = None
    due: datetime | None = None
    verdict: Verdict | None = None
    late_working_hours: float = 0.0


class DocumentIssued(BaseModel):
    """A document the dossier produced: a registration number, a notice, a result."""

    procedure: str
    step: str
    kind: str
    reference: str | None = None
    summary_vi: str = ""
    at: datetime


class SupplementRequest(BaseModel):
    """Form 02: what the applicant must add; the clock is paused until it arrives."""

    procedure: str
    step: str
    requested_by: str  # agency
    missing_documents: list[str]
    reason: str
    at: datetime
    answered_at: datetime | None = None


class ApologyRecord(BaseModel):
    """A form 04 letter: one per missed (or foreseeably missed) appointment."""

    sequence: int
    agency: str
    reason_vi: str
    original_appointment: datetime
    new_appointment: datetime
    letter_id: str | None = None
    sent: bool = False
    issued_at: datetime | None = None


class DeliveryState(BaseModel):
    """A result on its way home by post (the address stays in the registry, encrypted)."""

    step: str  # the return step's key
    status: Literal["dispatching", "dispatched", "delivered", "returned_to_desk", "no_address"] = (
        "dispatching"
    )
    tracking_number: str | None = None
    attempts: int = 0
    outcomes: list[str] = []


class DossierState(BaseModel):
    """Everything the workflow knows; serialisable so continue-as-new can carry it."""

    status: DossierStatus = DossierStatus.NEW
    plan: DossierPlan | None = None
    facts: DossierFacts = DossierFacts()
    steps: dict[str, StepState] = {}
    ledger: list[HandoverRow] = []
    documents: list[DocumentIssued] = []
    pauses: list[Pause] = []
    supplements: list[SupplementRequest] = []
    procedure_outcomes: dict[str, str] = {}  # procedure -> refused/stopped/withdrawn
    amount_due_vnd: int = 0
    amount_paid_vnd: int = 0
    payment_reference: str | None = None
    withdrawn_reason: str | None = None
    # The appointment as promised now (moved by supplements and by apology letters) and the
    # legal one (moved by supplements only) that the dossier's verdict is measured against.
    appointment: datetime | None = None
    legal_appointment: datetime | None = None
    apologies: list[ApologyRecord] = []
    verdict: Verdict | None = None
    late_working_hours: float = 0.0
    working_hours: float | None = None  # the dossier's working time, receipt to end
    finished_at: datetime | None = None
    audit: list[AuditEntry] = []  # every decision and applicant act, for the audit log
    registry_revision: int = 0  # syncs sent to the registry
    decisions: dict[str, DecisionInput] = {}  # accepted, not yet acted on (continue-as-new)
    deliveries: dict[str, DeliveryState] = {}  # by return step


class DecisionInput(BaseModel):
    """An officer's decision on an open step."""

    step: str  # ``procedure:step``
    agency: str  # the officer's agency (from their credentials)
    officer_id: str
    action: DecisionAction
    reason: str = ""
    missing_documents: list[str] = []
    send_back_to: str | None = None  # ``procedure:step`` of an earlier, finished step


class DecisionResult(BaseModel):
    """The dossier status after the decision."""

    step: str
    action: DecisionAction
    status: DossierStatus


class SupplementInput(BaseModel):
    """The applicant's supplementary documents."""

    documents: list[SubmittedDocument]


class WithdrawInput(BaseModel):
    """The applicant withdraws the dossier."""

    reason: str = ""


class PaymentInput(BaseModel):
    """The payment side confirms a payment of the financial obligation."""

    reference: str
    amount_vnd: int


class OpenStep(BaseModel):
    """An open step as tracking shows it."""

    key: str
    name_vi: str
    agency: str
    kind: str
    opened_at: datetime | None
    due: datetime | None
    overdue: bool
    warn_at: datetime | None = None
    warned: bool = False
    decided: bool = False  # an officer's decision is accepted; the step is finishing


class TrackingState(BaseModel):
    """What a citizen, an officer or an operator sees of the dossier."""

    dossier_code: str
    procedure_code: str
    status: DossierStatus
    received_at: datetime
    appointment: datetime | None
    open_steps: list[OpenStep]
    ledger: list[HandoverRow]
    documents: list[DocumentIssued]
    supplements: list[SupplementRequest]
    amount_due_vnd: int
    amount_paid_vnd: int
    apologies: list[ApologyRecord] = []


class DossierResult(BaseModel):
    """How the dossier ended."""

    dossier_code: str
    status: DossierStatus
    ledger: list[HandoverRow]
    documents: list[DocumentIssued]
    apologies: list[ApologyRecord] = []
    verdict: Verdict | None = None  # against the legal appointment (moved by supplements)
    late_working_hours: float = 0.0


@workflow.defn
class DossierWorkflow:
    """Carries one dossier through its agencies; see the module docstring for its messages."""

    @workflow.init
    def __init__(self, request: DossierInput) -> None:
        self._request = request
        self._state = request.state or DossierState(facts=request.facts)
        self._dirty = False
        self._deadlines_changed = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Accepted officer decisions by step; carried over a continue-as-new.
        self._decisions: dict[str, DecisionInput] = dict(self._state.decisions)
        self._draining = False  # continuing as new: requests are refused, to be sent again
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._enforce_deadlines = False  # set in run(): warnings, escalations and apologies are on
        self._published: tuple[object, ...] | None = None
        self._forecast_at: datetime | None = None  # when to check the appointment still holds
        self._shifting = 0  # appointments being moved by a closed pause
        self._registry = False  # set in run(): the registry's read model is written
        self._serial_clock = False  # set in run(): one clock question at a time
        self._clock_activities = False  # set in run(): clock questions as ordinary activities
        self._clock_lock = asyncio.Lock()
        self._registry_dirty = False
        self._registry_stop = False
        self._registry_task: asyncio.Task[None] | None = None
        self._synced: dict[str, str] = {}  # row key -> what the registry was last sent
        self._pending_sync: dict[str, str] = {}  # what the sync in flight sends

    # ---- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: DossierInput) -> DossierResult:
        """Plan, run the step graph until every procedure has ended, then return."""
        state = self._state
        self._enforce_deadlines = workflow.patched(DEADLINES_PATCH)
        self._registry = workflow.patched(REGISTRY_PATCH)
        self._serial_clock = workflow.patched(SERIAL_CLOCK_PATCH)
        self._clock_activities = workflow.patched(CLOCK_ACTIVITIES_PATCH)
        if state.plan is None:
            await self._receive(request)
        if self._registry:
            self._registry_task = asyncio.create_task(self._keep_registry())
        if state.plan is not None and state.appointment is None:
            state.appointment = state.legal_appointment = state.plan.appointment
        watcher = asyncio.create_task(self._watch_deadlines())
        self._open_ready_steps()
        self._refresh_status()
        while state.status not in TERMINAL:
            await workflow.wait_condition(lambda: self._dirty)
            self._dirty = False
            self._open_ready_steps()
            self._refresh_status()
            if state.status not in TERMINAL and workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
        if state.finished_at is None:
            state.finished_at = workflow.now()
        # Stop the deadline timer by its own condition: cancelling a task inside a timed
        # wait_condition never completes in this SDK version (seen in tests), so it is asked.
        self._closing = True
        await watcher
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._background, return_exceptions=True)
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._enforce_deadlines:
            await self._judge_dossier()
        await self._stop_registry()
        return DossierResult(
            dossier_code=request.dossier_code,
            status=state.status,
            ledger=state.ledger,
            documents=state.documents,
            apologies=state.apologies,
            verdict=state.verdict,
            late_working_hours=state.late_working_hours,
        )

    async def _receive(self, request: DossierInput) -> None:
        state = self._state
        workflow.upsert_search_attributes(
            [
                names.DOSSIER_CODE.value_set(request.dossier_code),
                names.DESK.value_set(request.desk_code),
                names.DOSSIER_STATUS.value_set(state.status),
                names.OVERDUE.value_set(False),
            ]
        )
        try:
            plan = await workflow.execute_activity_method(
                ReceptionActivities.plan_dossier,
                PlanDossierInput(
                    dossier_code=request.dossier_code,
                    procedure_code=request.procedure_code,
                    received_at=request.received_at,
                ),
                task_queue=ONE_STOP,
                start_to_close_timeout=timedelta(seconds=30),
                summary="Lập kế hoạch thời hạn giải quyết",
            )
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                raise ApplicationError(
                    f"dossier {request.dossier_code} not received: {err.cause.message}",
                    type="ReceptionRefused",
                    non_retryable=True,
                ) from err
            raise
        state.plan = plan
        state.steps = {step.key: StepState(key=step.key) for step in plan.steps}
        state.status = DossierStatus.ACCEPTED
        await workflow.execute_activity_method(
            ReceptionActivities.record_receipt,
            RecordReceiptInput(
                dossier_code=request.dossier_code,
                desk_code=request.desk_code,
                status=state.status,
                plan=plan,
            ),
            task_queue=ONE_STOP,
            start_to_close_timeout=timedelta(seconds=30),
            summary="Vào sổ theo dõi hồ sơ (mẫu 06)",
        )
        workflow.upsert_search_attributes(
            [
                names.PROCEDURE_CODES.value_set(
                    list(dict.fromkeys([plan.procedure, *(c.code for c in plan.components)]))
                ),
                names.APPOINTMENT_AT.value_set(plan.appointment),
            ]
        )
        self._publish()

    async def _continue_as_new(self) -> None:
        # Open steps restart from the carried state: officer steps wait again (with the
        # decisions already accepted for them), automated checks run again (their activities are
        # idempotent by dossier code). From here on, new requests are refused with a retryable
        # ContinuingAsNew error (engine.dossiers.update_dossier retries it) so that none is
        # accepted and then lost with this run.
        self._draining = True
        for task in self._tasks.values():
            task.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._stop_registry()
        self._state.decisions = {
            key: decision
            for key, decision in self._decisions.items()
            if self._state.steps[key].status is not StepStatus.DONE
        }
        for step in self._state.steps.values():
            if step.status is StepStatus.OPEN:
                step.status = StepStatus.PENDING
                step.carried_over = True
        workflow.continue_as_new(self._request.model_copy(update={"state": self._state}))

    # ---- the step graph --------------------------------------------------------------------

    def _planned(self, key: str) -> PlannedStep:
        assert self._state.plan is not None
        for step in self._state.plan.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def _policy(self, procedure: str) -> ProcedurePolicy | None:
        assert self._state.plan is not None
        return next((p for p in self._state.plan.policies if p.code == procedure), None)

    def _open_ready_steps(self) -> None:
        state = self._state
        if state.plan is None or state.status in TERMINAL:
            return
        for planned in state.plan.steps:
            step = state.steps[planned.key]
            if step.status is not StepStatus.PENDING:
                continue
            if planned.procedure in state.procedure_outcomes:
                continue
            if all(self._passed(d) for d in planned.depends_on):
                step.status = StepStatus.OPEN
                # A step carried over a continue-as-new keeps the moment it first opened.
                if not step.carried_over:
                    step.opened_at = workflow.now()
                if not step.carried_over:  # a step run again waits for a new decision
                    self._decisions.pop(planned.key, None)
                step.carried_over = False
                step.due = None
                step.overdue = False
                step.outcome = ""
                step.done_at = step.verdict = step.working_hours = None
                step.late_working_hours = 0.0
                task = asyncio.create_task(self._run_step(planned))
                task.add_done_callback(functools.partial(self._forget_task, planned.key))
                self._tasks[planned.key] = task
        self._publish()

    def _forget_task(self, key: str, done: asyncio.Task[None]) -> None:
        # A step reopened (sent back) has a new task under the same key: keep that one.
        if self._tasks.get(key) is done:
            del self._tasks[key]

    def _passed(self, key: str) -> bool:
        step = self._state.steps[key]
        return step.status is StepStatus.DONE and not step.outcome.startswith("refused")

    async def _run_step(self, planned: PlannedStep) -> None:
        try:
            await self._set_due(planned)
            if planned.kind == "automated_check":
                await self._run_automated(planned)
            elif planned.kind == "public_notice":
                await self._run_notice(planned)
            elif planned.kind == "payment":
                await self._run_payment(planned)
            else:
                await workflow.wait_condition(lambda: planned.key in self._decisions)
                decision = self._decisions[planned.key]
                outcome = "approved: " + decision.reason
                if (
                    planned.kind == "return_result"
                    and self._home_delivery()
                    and workflow.patched(DELIVERY_PATCH)
                ):
                    outcome = await self._deliver(planned, decision.officer_id)
                    decision = self._decisions[planned.key]
                await self._finish(planned, outcome, decision.officer_id)
        except asyncio.CancelledError:
            workflow.logger.info("step %s of %s cancelled", planned.key, self._request.dossier_code)
            raise

    def _counted_from(self, planned: PlannedStep) -> datetime | None:
        """Since when the forecast counts an open step's working time as used.

        A first step counts from the receipt when the dossier reached the software later (keyed
        in after the fact, or seconds after the applicant handed it in), as its due moment
        does; otherwise a short procedure would look late from the moment it is received.
        """
        step = self._state.steps[planned.key]
        if not planned.depends_on and self._state.plan is not None and step.opened_at:
            return min(step.opened_at, self._state.plan.clock_starts)
        return step.opened_at

    async def _set_due(self, planned: PlannedStep) -> None:
        step = self._state.steps[planned.key]
        if not planned.counted or step.opened_at is None:
            return
        # The law counts from receipt: a first step's clock starts when the dossier's did, even
        # if the dossier reached the software later (a paper dossier keyed in after the fact).
        start = step.opened_at
        if not planned.depends_on and self._state.plan is not None:
            start = self._state.plan.clock_starts
        result = await self._ask_clock(
            ClockActivities.step_due,
            StepDueInput(
                start=start,
                working_hours=planned.budget_hours,
                pauses=self._pauses(planned.procedure),
                warn_lead_hours=self._request.warning_lead_hours if self._enforce_deadlines else 0,
            ),
            "Tính hạn xử lý bước",
        )
        step.due = result.due
        step.warn_at = result.warn_at
        self._deadlines_changed = True
        self._publish()

    async def _ask_clock(self, method: Any, request: BaseModel, summary: str) -> Any:
        """Ask the legal clock: one question at a time since `SERIAL_CLOCK_PATCH`, as an
        ordinary activity on the workflow's own task queue since `CLOCK_ACTIVITIES_PATCH` (its
        answer is an event in the history, delivered in the same place on every replay)."""
        async with self._clock_lock if self._serial_clock else contextlib.nullcontext():
            if self._clock_activities:
                return await workflow.execute_activity_method(
                    method, request, start_to_close_timeout=CLOCK_TIMEOUT, summary=summary
                )
            return await workflow.execute_local_activity_method(
                method, request, start_to_close_timeout=CLOCK_TIMEOUT, summary=summary
            )

    async def _at_the_desk(
        self,
        activity: str,
        request: BaseModel,
        result_type: type[ResultT],
        summary: str,
        start_to_close: timedelta = timedelta(minutes=1),
    ) -> ResultT:
        """Run one of the one-stop desk's activities (the registry, letters, notices, the post),
        retried for as long as it takes."""
        result: ResultT = await workflow.execute_activity(
            activity,
            request,
            result_type=result_type,
            task_queue=ONE_STOP,
            start_to_close_timeout=start_to_close,
            retry_policy=AGENCY_RETRY,
            summary=summary,
        )
        return result

    def _pauses(self, procedure: str) -> list[Pause]:
        """The pauses that stop this procedure's clock: its own and the whole dossier's."""
        return [p for p in self._state.pauses if p.procedure in (None, procedure)]

    async def _run_automated(self, planned: PlannedStep) -> None:
        assert self._state.plan is not None and planned.activity is not None
        version = next(
            c.version for c in self._state.plan.components if c.code == planned.procedure
        )
        result = await workflow.execute_activity(
            planned.activity,
            AutomatedCheckInput(
                dossier_code=self._request.dossier_code,
                procedure=planned.procedure,
                procedure_version=version,
                step=planned.step,
                facts=self._state.facts,
            ),
            result_type=AutomatedCheckResult,
            task_queue=names.agency_task_queue(planned.agency),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=AGENCY_RETRY,
            summary=planned.name_vi,
        )
        if result.amount_due_vnd is not None:
            self._state.amount_due_vnd += result.amount_due_vnd
        if result.reference or result.amount_due_vnd is not None:
            self._issue(planned, "notice" if result.amount_due_vnd else "registration", result)
        if result.passed:
            await self._finish(planned, "passed: " + result.summary_vi, None)
        elif result.missing_documents and self._supplement_allowed(planned.procedure) is None:
            self._request_supplement(
                planned, planned.agency, result.missing_documents, result.summary_vi
            )
            await workflow.wait_condition(lambda: not self._supplement_open())
            # The documents arrived: check again from the start.
            self._reopen(planned.key)
        else:
            self._refuse(planned, result.summary_vi, None)

    async def _run_notice(self, planned: PlannedStep) -> None:
        # A statutory posting period: a durable timer; its time is not counted.
        start = workflow.now()
        self._open_pause(
            Pause(start=start, reason=f"niêm yết {planned.key}", procedure=planned.procedure)
        )
        await workflow.sleep(
            timedelta(days=planned.notice_days or 0),
            summary=f"Niêm yết công khai {planned.notice_days} ngày",
        )
        await self._close_pause(f"niêm yết {planned.key}")
        await self._finish(planned, "notice period ended", None)

    async def _run_payment(self, planned: PlannedStep) -> None:
        state = self._state
        reason = f"nghĩa vụ tài chính {planned.key}"
        if not planned.counted:
            self._open_pause(
                Pause(
                    start=workflow.now(),
                    reason=reason,
                    procedure=planned.procedure,
                    moves_appointment=True,
                )
            )
        self._dirty = True
        # Nothing to pay (no obligation computed): the step passes at once.
        await workflow.wait_condition(
            lambda: (
                state.amount_due_vnd == 0
                or (
                    state.amount_paid_vnd >= state.amount_due_vnd
                    and state.payment_reference is not None
                )
            )
        )
        if not planned.counted:
            await self._close_pause(reason)
        await self._finish(
            planned, f"paid {state.amount_paid_vnd} VND ({state.payment_reference})", None
        )

    def _open_pause(self, pause: Pause) -> None:
        """Stop the clock of the pause's procedure (or the dossier's): no due moment meanwhile."""
        self._state.pauses.append(pause)
        for planned, step in self._open():
            if planned.counted and pause.procedure in (None, planned.procedure):
                step.due = None
        self._deadlines_changed = True
        self._publish()

    async def _close_pause(self, reason: str) -> None:
        closed = []
        for pause in self._state.pauses:
            if pause.reason == reason and pause.end is None:
                pause.end = workflow.now()
                closed.append(pause)
        self._redo_dues()
        if self._enforce_deadlines:
            # No appointment check may run on the old date while it is being moved.
            self._shifting += 1
            try:
                for pause in closed:
                    if pause.moves_appointment:
                        await self._shift_appointments(pause)
            finally:
                self._shifting -= 1
        self._deadlines_changed = True

    async def _shift_appointments(self, pause: Pause) -> None:
        """The applicant's time is not the agencies': both appointments move by the pause."""
        state = self._state
        for field in ("appointment", "legal_appointment"):
            moment = getattr(state, field)
            if moment is None:
                continue
            shifted = await self._ask_clock(
                ClockActivities.shift,
                ShiftInput(moment=moment, pause=pause),
                "Dời ngày hẹn theo thời gian bổ sung hồ sơ",
            )
            setattr(state, field, shifted.moment)
        if state.appointment is not None:
            workflow.upsert_search_attributes([names.APPOINTMENT_AT.value_set(state.appointment)])
        self._forecast_at = None
        self._deadlines_changed = True

    def _redo_dues(self) -> None:
        # The clock moved on again: every open counted step gets its due moment recomputed.
        for key, step in self._state.steps.items():
            if step.status is StepStatus.OPEN:
                planned = self._planned(key)
                if planned.counted:
                    self._spawn(self._set_due(planned))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _finish(self, planned: PlannedStep, outcome: str, officer_id: str | None) -> None:
        state = self._state
        step = state.steps[planned.key]
        done_at = workflow.now()
        verdict: Verdict | None = Verdict.NOT_COUNTED
        late = 0.0
        used: float | None = None
        if planned.counted and step.opened_at is not None and step.due is not None:
            assessed = await self._ask_clock(
                ClockActivities.assess_step,
                StepAssessInput(
                    started=step.opened_at,
                    done=done_at,
                    due=step.due,
                    pauses=self._pauses(planned.procedure),
                ),
                "Đánh giá thời hạn bước",
            )
            verdict, late = assessed.verdict, assessed.late_working_hours
            used = assessed.working_hours_used
        # Only now is the step done: the dossier never looks finished while a verdict is pending.
        step.status = StepStatus.DONE
        step.done_at = done_at
        step.outcome = outcome
        step.officer_id = officer_id
        step.verdict, step.working_hours, step.late_working_hours = verdict, used, late
        assert state.plan is not None
        next_agencies = sorted({s.agency for s in state.plan.steps if planned.key in s.depends_on})
        self._ledger(
            planned, next_agencies or ["applicant"], outcome, officer_id, step.due, verdict, late
        )
        self._dirty = True
        self._deadlines_changed = True

    def _ledger(
        self,
        planned: PlannedStep,
        to_agencies: list[str],
        result: str,
        officer_id: str | None,
        due: datetime | None,
        verdict: Verdict | None,
        late: float,
    ) -> None:
        self._state.ledger.append(
            HandoverRow(
                sequence=len(self._state.ledger) + 1,
                procedure=planned.procedure,
                step=planned.step,
                from_agency=planned.agency,
                to_agencies=to_agencies,
                at=workflow.now(),
                result=result,
                officer_id=officer_id,
                due=due,
                verdict=verdict,
                late_working_hours=late,
            )
        )

    def _issue(self, planned: PlannedStep, kind: str, result: AutomatedCheckResult) -> None:
        self._state.documents.append(
            DocumentIssued(
                procedure=planned.procedure,
                step=planned.step,
                kind=kind,
                reference=result.reference,
                summary_vi=result.summary_vi,
                at=workflow.now(),
            )
        )

    def _reopen(self, key: str) -> None:
        step = self._state.steps[key]
        step.status = StepStatus.PENDING
        self._dirty = True

    # ---- refusal, supplement, send back ----------------------------------------------------

    def _refuse(self, planned: PlannedStep, reason: str, officer_id: str | None) -> None:
        state = self._state
        step = state.steps[planned.key]
        step.status = StepStatus.DONE
        step.done_at = workflow.now()
        step.outcome = "refused: " + reason
        step.officer_id = officer_id
        self._ledger(planned, ["applicant"], "refused: " + reason, officer_id, step.due, None, 0.0)
        policy = self._policy(planned.procedure)
        if policy is None or policy.refusal_ends_dossier:
            for procedure in {s.procedure for s in state.plan.steps}:  # type: ignore[union-attr]
                state.procedure_outcomes.setdefault(procedure, "refused")
        else:
            state.procedure_outcomes[planned.procedure] = "refused"
        self._cancel_unreachable()
        self._dirty = True

    def _cancel_unreachable(self) -> None:
        """Cancel the steps of ended procedures and those that wait for them."""
        state = self._state
        assert state.plan is not None
        changed = True
        while changed:
            changed = False
            for planned in state.plan.steps:
                step = state.steps[planned.key]
                if step.status in (StepStatus.DONE, StepStatus.CANCELLED):
                    continue
                blocked = planned.procedure in state.procedure_outcomes or any(
                    state.steps[d].status is StepStatus.CANCELLED
                    or state.steps[d].outcome.startswith("refused")
                    for d in planned.depends_on
                )
                if blocked:
                    step.status = StepStatus.CANCELLED
                    task = self._tasks.pop(planned.key, None)
                    if task is not None:
                        task.cancel()
                    state.procedure_outcomes.setdefault(planned.procedure, "stopped")
                    changed = True

    def _supplement_open(self) -> bool:
        return any(s.answered_at is None for s in self._state.supplements)

    def _supplement_allowed(self, procedure: str) -> str | None:
        """None if one more supplement request is allowed for the procedure, else why not."""
        policy = self._policy(procedure)
        if policy is None:
            return f"{procedure} is not a procedure of this dossier"
        used = sum(1 for s in self._state.supplements if s.procedure == procedure)
        if used >= policy.max_supplement_requests:
            return (
                f"{procedure} allows {policy.max_supplement_requests} supplement request(s); "
                f"{used} already made"
            )
        if policy.supplement_deadline is not None and workflow.now() > policy.supplement_deadline:
            return (
                f"supplement requests for {procedure} were allowed until "
                f"{policy.supplement_deadline.isoformat()}"
            )
        if self._supplement_open():
            return "a supplement request is already waiting for the applicant"
        return None

    def _request_supplement(
        self, planned: PlannedStep, agency: str, missing: list[str], reason: str
    ) -> None:
        state = self._state
        state.supplements.append(
            SupplementRequest(
                procedure=planned.procedure,
                step=planned.step,
                requested_by=agency,
                missing_documents=missing,
                reason=reason,
                at=workflow.now(),
            )
        )
        self._open_pause(
            Pause(start=workflow.now(), reason="bổ sung hồ sơ", moves_appointment=True)
        )
        self._dirty = True

    def _send_back(self, planned: PlannedStep, target: str, reason: str, officer_id: str) -> None:
        state = self._state
        assert state.plan is not None
        again = {target}
        grew = True
        while grew:  # the target and everything downstream of it runs again
            grew = False
            for s in state.plan.steps:
                if s.key not in again and any(d in again for d in s.depends_on):
                    again.add(s.key)
                    grew = True
        self._ledger(
            planned, [self._planned(target).agency], "sent back: " + reason, officer_id,
            state.steps[planned.key].due, None, 0.0,
        )  # fmt: skip
        for key in again:
            task = self._tasks.pop(key, None)
            if task is not None:
                task.cancel()
            state.steps[key].status = StepStatus.PENDING
        self._dirty = True

    # ---- status, search attributes, deadlines ----------------------------------------------

    def _refresh_status(self) -> None:
        state = self._state
        if state.plan is None or state.status in TERMINAL:
            return
        if state.withdrawn_reason is not None:
            state.status = DossierStatus.WITHDRAWN
        elif state.procedure_outcomes and all(
            state.steps[s.key].status in (StepStatus.DONE, StepStatus.CANCELLED)
            for s in state.plan.steps
        ):
            outcomes = set(state.procedure_outcomes.values())
            returned = [
                s for s in state.plan.steps
                if s.kind == "return_result" and state.steps[s.key].status is StepStatus.DONE
            ]  # fmt: skip
            if returned:
                state.status = DossierStatus.RETURNED  # a partial result was returned
            else:
                state.status = (
                    DossierStatus.REFUSED if "refused" in outcomes else DossierStatus.STOPPED
                )
        elif all(state.steps[s.key].status is StepStatus.DONE for s in state.plan.steps):
            state.status = DossierStatus.RETURNED
        elif self._supplement_open():
            state.status = DossierStatus.SUPPLEMENT_REQUESTED
        elif any(
            s.kind == "payment" and state.steps[s.key].status is StepStatus.OPEN
            for s in state.plan.steps
        ):
            state.status = DossierStatus.FINANCIAL_OBLIGATION
        elif all(
            state.steps[s.key].status in (StepStatus.DONE, StepStatus.CANCELLED)
            for s in state.plan.steps
            if s.kind != "return_result"
        ):
            state.status = DossierStatus.DECIDED
        elif any(step.status is not StepStatus.PENDING for step in state.steps.values()):
            state.status = DossierStatus.IN_PROGRESS
        self._publish()

    def _open(self) -> list[tuple[PlannedStep, StepState]]:
        state = self._state
        if state.plan is None:
            return []
        return [
            (s, state.steps[s.key])
            for s in state.plan.steps
            if state.steps[s.key].status is StepStatus.OPEN
        ]

    def _publish(self) -> None:
        """Search attributes and the UI's current details, from the state."""
        state = self._state
        self._registry_dirty = True
        open_steps = self._open() if state.status not in TERMINAL else []
        agencies = sorted({planned.agency for planned, _ in open_steps})
        overdue = sorted({planned.agency for planned, step in open_steps if step.overdue})
        published: tuple[object, ...] = (str(state.status), tuple(agencies), tuple(overdue))
        updates: list[SearchAttributeUpdate[Any]] = [
            names.DOSSIER_STATUS.value_set(state.status),
            names.CURRENT_AGENCIES.value_set(agencies),
            names.OVERDUE_AGENCIES.value_set(overdue),
            names.OVERDUE.value_set(bool(overdue)),
        ]
        if self._enforce_deadlines:
            due_soon = sorted(
                {p.agency for p, step in open_steps if step.warned and not step.overdue}
            )
            published += (bool(due_soon), len(state.apologies))
            updates += [
                names.DUE_SOON.value_set(bool(due_soon)),
                names.APOLOGIES.value_set(len(state.apologies)),
            ]
        if published != self._published:  # an upsert is a history event: only on change
            self._published = published
            workflow.upsert_search_attributes(updates)
        lines = [f"**Hồ sơ {self._request.dossier_code}** — trạng thái: `{state.status}`"]
        if state.plan is not None:
            lines.append(f"Hẹn trả kết quả: {state.plan.appointment:%H:%M ngày %d/%m/%Y}")
        for planned, step in open_steps:
            due = f"hạn {step.due:%H:%M %d/%m/%Y}" if step.due else "đồng hồ tạm dừng"
            flag = " — **QUÁ HẠN**" if step.overdue else ""
            lines.append(f"- {planned.agency}: {planned.name_vi} ({due}){flag}")
        workflow.set_current_details("\n".join(lines))

    async def _watch_deadlines(self) -> None:
        """One durable timer at the next deadline moment, re-armed whenever the moments change.

        The moments: each open step's due moment (overdue), its warning moment, and, for the
        dossier, the moment to check the appointment still holds and the appointment itself.
        """
        while not self._closing:
            self._deadlines_changed = False
            if self._enforce_deadlines and self._forecast_at is None:
                await self._plan_forecast_check()
            moments = self._deadline_moments()
            wait = max(min(moments) - workflow.now(), timedelta(0)) if moments else None
            try:
                await workflow.wait_condition(
                    lambda: self._deadlines_changed or self._closing,
                    timeout=wait,
                    timeout_summary="Mốc thời hạn gần nhất" if wait is not None else None,
                )
            except TimeoutError:
                await self._deadlines_reached(workflow.now())

    def _deadline_moments(self) -> list[datetime]:
        state = self._state
        moments = [
            step.due for _, step in self._open() if step.due is not None and not step.overdue
        ]
        if self._enforce_deadlines:
            moments += [
                step.warn_at
                for _, step in self._open()
                if step.warn_at is not None and not step.warned and not step.overdue
            ]
            if self._awaiting_result() and state.appointment is not None:
                if not self._apologised_for(state.appointment):
                    moments.append(state.appointment)
                if self._forecast_at is not None and self._forecast_at < state.appointment:
                    moments.append(self._forecast_at)
        return moments

    def _awaiting_result(self) -> bool:
        """The appointment is still to be kept: not returned yet, and not waiting on the
        applicant (whose time moves the appointment instead)."""
        state = self._state
        applicant_pause = any(p.moves_appointment and p.end is None for p in state.pauses)
        return (
            state.status not in TERMINAL
            and state.status is not DossierStatus.NEW
            and not applicant_pause
            and not self._shifting
            and not self._delivering()  # with the post in time: the appointment is kept
        )

    def _apologised_for(self, appointment: datetime) -> bool:
        return any(a.original_appointment == appointment for a in self._state.apologies)

    async def _deadlines_reached(self, now: datetime) -> None:
        state = self._state
        for planned, step in self._open():
            if step.due is not None and step.due <= now and not step.overdue:
                step.overdue = True
                if self._enforce_deadlines:
                    self._notify(planned, "escalation", step.due)
            elif (
                self._enforce_deadlines
                and step.warn_at is not None
                and step.warn_at <= now
                and not step.warned
                and not step.overdue
            ):
                step.warned = True
                self._notify(planned, "due_soon", step.due)
        self._publish()
        if not self._enforce_deadlines or not self._awaiting_result():
            return
        if state.appointment is not None and state.appointment <= now:
            await self._check_appointment(missed=True)
        elif self._forecast_at is not None and self._forecast_at <= now:
            self._forecast_at = state.appointment  # checked; next stop: the appointment itself
            await self._check_appointment(missed=False)
        elif any(step.overdue for _, step in self._open()):
            await self._check_appointment(missed=False)

    async def _plan_forecast_check(self) -> None:
        """The appointment is checked this long before it (at least N working days)."""
        appointment = self._state.appointment
        if appointment is None:
            return
        before = await self._ask_clock(
            ClockActivities.before,
            BeforeInput(end=appointment, working_hours=self._request.apology_lead_hours),
            "Mốc kiểm tra khả năng trễ hẹn",
        )
        self._forecast_at = before.moment

    async def _check_appointment(self, missed: bool) -> None:
        """Apologise (form 04) once per appointment that is missed or can no longer be met."""
        state = self._state
        assert state.plan is not None and state.appointment is not None
        if self._apologised_for(state.appointment):
            return
        now = workflow.now()
        forecast = await self._ask_clock(
            ClockActivities.forecast,
            ForecastInput(
                now=now,
                steps=[
                    StepBudget(
                        key=p.key,
                        depends_on=p.depends_on,
                        budget_hours=p.budget_hours if p.counted else 0.0,
                        opened_at=self._counted_from(p)
                        if state.steps[p.key].status is StepStatus.OPEN
                        else None,
                        done=state.steps[p.key].status in (StepStatus.DONE, StepStatus.CANCELLED),
                    )
                    for p in state.plan.steps
                ],
                pauses=[p for p in state.pauses if p.moves_appointment],
                grace_hours=self._request.apology_grace_hours,
            ),
            "Dự báo thời điểm hoàn thành",
        )
        if not missed and forecast.projected_finish <= state.appointment:
            return
        agency, reason = self._fault()
        record = ApologyRecord(
            sequence=len(state.apologies) + 1,
            agency=agency,
            reason_vi=reason,
            original_appointment=state.appointment,
            new_appointment=max(forecast.new_appointment, now),
            issued_at=now,
        )
        state.apologies.append(record)
        state.appointment = record.new_appointment
        self._forecast_at = None
        self._deadlines_changed = True
        workflow.upsert_search_attributes([names.APPOINTMENT_AT.value_set(state.appointment)])
        self._publish()
        self._spawn(self._send_apology(record))

    def _fault(self) -> tuple[str, str]:
        """The agency whose step made the dossier late, and why (from the ledger)."""
        open_steps = self._open()
        overdue = sorted(
            (step.due, planned) for planned, step in open_steps if step.overdue and step.due
        )
        if overdue:
            due, planned = overdue[0]
            return planned.agency, (
                f"Bước “{planned.name_vi}” tại {planned.agency} quá hạn xử lý "
                f"(hạn {due:%H:%M %d/%m/%Y})."
            )
        late_rows = [row for row in self._state.ledger if row.verdict == Verdict.LATE]
        if late_rows:
            row = max(late_rows, key=lambda r: r.late_working_hours)
            return row.from_agency, (
                f"Bước {row.procedure}:{row.step} tại {row.from_agency} đã trễ "
                f"{row.late_working_hours:g} giờ làm việc."
            )
        if open_steps:
            planned = open_steps[0][0]
            return planned.agency, (
                f"Hồ sơ đang ở bước “{planned.name_vi}” tại {planned.agency}; thời gian còn lại "
                f"không đủ để trả kết quả đúng hẹn."
            )
        return "one-stop", "Hồ sơ chưa được trả kết quả đúng hẹn."

    async def _send_apology(self, record: ApologyRecord) -> None:
        state = self._state
        assert state.plan is not None
        result: ApologyResult = await self._at_the_desk(
            "letters.issue-apology",
            ApologyInput(
                dossier_code=self._request.dossier_code,
                sequence=record.sequence,
                procedure_code=state.plan.procedure,
                procedure_name_vi=state.plan.name_vi,
                received_at=state.plan.received_at,
                original_appointment=record.original_appointment,
                new_appointment=record.new_appointment,
                agency=record.agency,
                reason_vi=record.reason_vi,
            ),
            ApologyResult,
            f"Phiếu xin lỗi và hẹn lại (mẫu 04) số {record.sequence}",
            start_to_close=timedelta(minutes=2),
        )
        record.letter_id, record.sent = result.letter_id, result.sent
        self._registry_dirty = True

    def _notify(
        self,
        planned: PlannedStep,
        kind: Literal["due_soon", "overdue", "escalation", "withdrawn"],
        due: datetime | None,
    ) -> None:
        """Tell the agency (a warning, a withdrawal) or its head (an escalation); once each."""
        sequence = 1 + sum(
            1
            for row in self._state.ledger
            if (row.procedure, row.step) == (planned.procedure, planned.step)
        )
        self._spawn(
            self._send_notice(
                AgencyNoticeInput(
                    dossier_code=self._request.dossier_code,
                    kind=kind,
                    step=planned.key,
                    agency=planned.agency,
                    due=due,
                    sequence=sequence,
                )
            )
        )

    async def _send_notice(self, notice: AgencyNoticeInput) -> None:
        await self._at_the_desk(
            "notify.agency",
            notice,
            AgencyNoticeResult,
            f"Thông báo {notice.kind} cho {notice.agency}",
        )

    async def _judge_dossier(self) -> None:
        """The dossier's verdict against its legal appointment (moved only by supplements)."""
        state = self._state
        if state.plan is None or state.legal_appointment is None:
            return
        assessed = await self._ask_clock(
            ClockActivities.assess_step,
            StepAssessInput(
                started=state.plan.clock_starts,
                done=workflow.now(),
                due=state.legal_appointment,
                pauses=[p for p in state.pauses if p.moves_appointment],
            ),
            "Đánh giá thời hạn hồ sơ",
        )
        state.verdict, state.late_working_hours = assessed.verdict, assessed.late_working_hours
        state.working_hours = assessed.working_hours_used

    # ---- home delivery ---------------------------------------------------------------------

    def _home_delivery(self) -> bool:
        """The applicant asked for the result by post, and the procedure allows it."""
        plan = self._state.plan
        return self._state.facts.home_delivery and plan is not None and plan.home_delivery

    def _delivering(self) -> bool:
        return any(
            d.status in ("dispatching", "dispatched") for d in self._state.deliveries.values()
        )

    async def _deliver(self, planned: PlannedStep, officer_id: str) -> str:
        """Send the result home; retry on the next working day; else back to the desk.

        Returns the step's outcome. Postal time is not the agencies': the procedure's clock is
        paused meanwhile, and the appointment counts as kept once the result is with the post.
        After the last failed attempt the step waits for an officer to record that the
        applicant collected the result at the desk.
        """
        state = self._state
        delivery = state.deliveries.setdefault(planned.key, DeliveryState(step=planned.key))
        name_vi = self._policy_name(planned.procedure)
        reason = f"chuyển phát {planned.key}"
        if not any(p.reason == reason and p.end is None for p in state.pauses):
            self._open_pause(
                Pause(start=workflow.now(), reason=reason, procedure=planned.procedure)
            )
        if delivery.tracking_number is None:
            try:
                dispatched: DispatchResult = await self._at_the_desk(
                    "post.dispatch",
                    DispatchInput(
                        dossier_code=self._request.dossier_code,
                        step=planned.key,
                        procedure_name_vi=name_vi,
                        at=workflow.now(),
                    ),
                    DispatchResult,
                    "Chuyển kết quả cho bưu điện",
                )
            except ActivityError as err:
                if not (isinstance(err.cause, ApplicationError) and err.cause.non_retryable):
                    raise
                delivery.status = "no_address"
                return await self._collect_at_desk(planned, reason, err.cause.message)
            delivery.tracking_number = dispatched.tracking_number
            delivery.status = "dispatched"
            self._ledger(
                planned, ["post"], f"handed to the post: {dispatched.tracking_number}",
                officer_id, None, None, 0.0,
            )  # fmt: skip
            self._publish()
        while delivery.attempts < self._request.delivery_attempts:
            now = workflow.now()
            next_day = await self._ask_clock(
                ClockActivities.step_due,
                StepDueInput(start=now, working_hours=8.0),
                "Ngày phát tiếp theo",
            )
            await workflow.sleep(
                max((next_day.due or now) - now, timedelta(0)),
                summary=f"Bưu tá phát lần {delivery.attempts + 1}",
            )
            attempt: AttemptResult = await self._at_the_desk(
                "post.attempt-delivery",
                AttemptInput(
                    dossier_code=self._request.dossier_code,
                    step=planned.key,
                    tracking_number=delivery.tracking_number,
                    attempt=delivery.attempts + 1,
                    at=workflow.now(),
                ),
                AttemptResult,
                f"Phát bưu gửi lần {delivery.attempts + 1}",
            )
            delivery.attempts += 1
            delivery.outcomes.append(attempt.outcome)
            self._publish()
            if attempt.outcome == "delivered":
                delivery.status = "delivered"
                await self._close_delivery(planned, reason)
                return f"delivered by post: {delivery.tracking_number}"
        await self._at_the_desk(
            "post.return-to-desk",
            ReturnToDeskInput(
                dossier_code=self._request.dossier_code,
                step=planned.key,
                procedure_name_vi=name_vi,
                at=workflow.now(),
            ),
            ReturnToDeskResult,
            "Chuyển kết quả về Bộ phận Một cửa, báo người nộp",
        )
        delivery.status = "returned_to_desk"
        return await self._collect_at_desk(
            planned, reason, f"not delivered after {delivery.attempts} attempts"
        )

    async def _collect_at_desk(self, planned: PlannedStep, reason: str, why: str) -> str:
        """The result waits at the desk until an officer records that the applicant took it."""
        self._ledger(planned, ["one-stop"], f"back to the desk: {why}", None, None, None, 0.0)
        await self._close_delivery(planned, reason)
        self._decisions.pop(planned.key, None)
        await workflow.wait_condition(lambda: planned.key in self._decisions)
        return "collected at the desk: " + self._decisions[planned.key].reason

    async def _close_delivery(self, planned: PlannedStep, reason: str) -> None:
        await self._close_pause(reason)
        await self._set_due(planned)  # the verdict below needs the step's due moment again
        self._publish()

    # ---- the registry's read model ---------------------------------------------------------

    async def _keep_registry(self) -> None:
        """Send the registry what changed, one sync at a time, until the dossier stops."""
        while True:
            await workflow.wait_condition(lambda: self._registry_dirty or self._registry_stop)
            if not self._registry_dirty:
                return
            self._registry_dirty = False
            await self._sync_registry()

    async def _stop_registry(self) -> None:
        """Let the running sync finish, then send the final state."""
        if self._registry_task is None:
            return
        self._registry_stop = True
        await self._registry_task
        self._registry_task = None
        await self._sync_registry()

    async def _sync_registry(self) -> None:
        snapshot = self._registry_snapshot()
        if snapshot is None:
            return
        await self._at_the_desk(
            "registry.sync",
            snapshot,
            SyncResult,
            f"Cập nhật sổ theo dõi hồ sơ (lần {snapshot.revision})",
        )
        self._synced.update(self._pending_sync)

    def _changed(self, key: str, row: BaseModel) -> bool:
        """Whether the registry has not seen this row as it is now (noted for after the sync)."""
        text = row.model_dump_json()
        if self._synced.get(key) == text:
            return False
        self._pending_sync[key] = text
        return True

    def _registry_snapshot(self) -> RegistrySnapshot | None:
        """The dossier row and the rows that changed since the last sync; None if nothing did."""
        state = self._state
        plan = state.plan
        if plan is None:
            return None
        self._pending_sync = {}
        procedures = [
            ProcedureSnapshot(
                code=policy.code,
                version=policy.version,
                name_vi=policy.name_vi,
                outcome=state.procedure_outcomes.get(policy.code)
                or ("returned" if state.status is DossierStatus.RETURNED else "running"),
            )
            for policy in plan.policies
        ]
        steps = [
            StepSnapshot(
                key=planned.key,
                procedure=planned.procedure,
                agency=planned.agency,
                kind=planned.kind,
                name_vi=planned.name_vi,
                status=step.status,
                opened_at=step.opened_at,
                due=step.due,
                done_at=step.done_at,
                overdue=step.overdue,
                outcome=step.outcome,
                officer_id=step.officer_id,
                verdict=step.verdict,
                working_hours=step.working_hours,
                late_working_hours=step.late_working_hours,
            )
            for planned in plan.steps
            for step in [state.steps[planned.key]]
        ]
        handovers = [HandoverSnapshot(**row.model_dump()) for row in state.ledger]
        received = [
            ReceivedSnapshot(
                sequence=number,
                name_vi=document.name_vi,
                sha256=document.sha256,
                supplement=number > len(self._request.facts.documents),
            )
            for number, document in enumerate(state.facts.documents, start=1)
        ]
        snapshot = RegistrySnapshot(
            dossier_code=self._request.dossier_code,
            revision=state.registry_revision + 1,
            desk_code=self._request.desk_code,
            procedure_code=plan.procedure,
            procedure_version=plan.version,
            name_vi=plan.name_vi,
            received_at=plan.received_at,
            clock_starts_at=plan.clock_starts,
            appointment=state.appointment or plan.appointment,
            legal_appointment=state.legal_appointment,
            status=state.status,
            finished_at=state.finished_at,
            verdict=state.verdict,
            working_hours=state.working_hours,
            late_working_hours=state.late_working_hours,
            apologies=len(state.apologies),
            amount_due_vnd=state.amount_due_vnd,
            amount_paid_vnd=state.amount_paid_vnd,
        )
        snapshot.procedures = [p for p in procedures if self._changed(f"p:{p.code}", p)]
        snapshot.steps = [s for s in steps if self._changed(f"s:{s.key}", s)]
        snapshot.handovers = [h for h in handovers if self._changed(f"h:{h.sequence}", h)]
        snapshot.received = [r for r in received if self._changed(f"r:{r.sequence}", r)]
        snapshot.issued = [
            d for d in self._issued() if self._changed(f"d:{d.kind}:{d.sequence}", d)
        ]
        snapshot.audit = [a for a in state.audit if self._changed(f"a:{a.update_id}", a)]
        row = snapshot.model_copy(
            update={
                "revision": 0,
                "procedures": [],
                "steps": [],
                "handovers": [],
                "issued": [],
                "received": [],
                "audit": [],
            }
        )
        if not self._changed("dossier", row) and len(self._pending_sync) == 0:
            return None
        state.registry_revision = snapshot.revision
        return snapshot

    def _issued(self) -> list[IssuedSnapshot]:
        """Every document the dossier produced so far, numbered per kind."""
        state = self._state
        assert state.plan is not None
        plan = state.plan
        issued = [
            IssuedSnapshot(
                kind="form-01",
                sequence=1,
                procedure=plan.procedure,
                agency="one-stop",
                summary_vi=f"Hẹn trả kết quả {plan.appointment:%d/%m/%Y}",
                detail={"appointment": plan.appointment.isoformat()},
                issued_at=plan.received_at,
            )
        ]
        for number, request in enumerate(state.supplements, start=1):
            issued.append(
                IssuedSnapshot(
                    kind="form-02",
                    sequence=number,
                    procedure=request.procedure,
                    step=request.step,
                    agency=request.requested_by,
                    summary_vi=request.reason,
                    detail={
                        "missing_documents": request.missing_documents,
                        "requested_by": request.requested_by,
                        "answered_at": request.answered_at.isoformat()
                        if request.answered_at
                        else None,
                    },
                    issued_at=request.at,
                )
            )
        refusals = [row for row in state.ledger if row.result.startswith("refused: ")]
        for number, row in enumerate(refusals, start=1):
            issued.append(
                IssuedSnapshot(
                    kind="form-03",
                    sequence=number,
                    procedure=row.procedure,
                    step=row.step,
                    agency=row.from_agency,
                    summary_vi=row.result.removeprefix("refused: "),
                    issued_at=row.at,
                )
            )
        for letter in state.apologies:
            issued.append(
                IssuedSnapshot(
                    kind="form-04",
                    sequence=letter.sequence,
                    procedure=plan.procedure,
                    agency=letter.agency,
                    reference=letter.letter_id,
                    summary_vi=letter.reason_vi,
                    detail={
                        "original_appointment": letter.original_appointment.isoformat(),
                        "new_appointment": letter.new_appointment.isoformat(),
                        "sent": letter.sent,
                    },
                    issued_at=letter.issued_at or letter.original_appointment,
                )
            )
        counters: dict[str, int] = {}
        for document in state.documents:
            counters[document.kind] = counters.get(document.kind, 0) + 1
            issued.append(
                IssuedSnapshot(
                    kind=document.kind,
                    sequence=counters[document.kind],
                    procedure=document.procedure,
                    step=document.step,
                    agency=self._planned(f"{document.procedure}:{document.step}").agency,
                    reference=document.reference,
                    summary_vi=document.summary_vi,
                    issued_at=document.at,
                )
            )
        results = [
            (planned, step)
            for planned in plan.steps
            for step in [state.steps[planned.key]]
            if planned.kind == "return_result"
            and step.status is StepStatus.DONE
            and step.done_at is not None
            and not step.outcome.startswith("refused")
        ]
        for number, (planned, step) in enumerate(results, start=1):
            assert step.done_at is not None
            issued.append(
                IssuedSnapshot(
                    kind="result",
                    sequence=number,
                    procedure=planned.procedure,
                    step=planned.step,
                    agency=planned.agency,
                    summary_vi=f"Trả kết quả: {self._policy_name(planned.procedure)}",
                    issued_at=step.done_at,
                )
            )
        return issued

    def _policy_name(self, procedure: str) -> str:
        policy = self._policy(procedure)
        return policy.name_vi if policy is not None else procedure

    @staticmethod
    def _update_id() -> str:
        info = workflow.current_update_info()
        assert info is not None
        return info.id

    def _audit(self, entry: AuditEntry) -> None:
        self._state.audit.append(entry)
        self._registry_dirty = True

    # ---- messages --------------------------------------------------------------------------

    @workflow.update
    async def decide(self, decision: DecisionInput) -> DecisionResult:
        """An officer of the agency holding an open step decides on it."""
        planned = self._planned(decision.step)
        detail = ", ".join(decision.missing_documents) or (decision.send_back_to or "")
        self._audit(
            AuditEntry(
                update_id=self._update_id(),
                at=workflow.now(),
                actor_kind="officer",
                actor_id=decision.officer_id,
                agency=decision.agency,
                action=decision.action,
                step=decision.step,
                reason=decision.reason,
                detail=detail,
            )
        )
        if decision.action is DecisionAction.APPROVE:
            self._decisions[decision.step] = decision
        elif decision.action is DecisionAction.REQUEST_SUPPLEMENT:
            self._request_supplement(
                planned, decision.agency, decision.missing_documents, decision.reason
            )
            self._ledger(
                planned, ["applicant"], "supplement requested: " + decision.reason,
                decision.officer_id, self._state.steps[decision.step].due, None, 0.0,
            )  # fmt: skip
        elif decision.action is DecisionAction.REFUSE:
            task = self._tasks.pop(decision.step, None)
            if task is not None:
                task.cancel()
            self._refuse(planned, decision.reason, decision.officer_id)
        else:
            assert decision.send_back_to is not None
            self._send_back(planned, decision.send_back_to, decision.reason, decision.officer_id)
        self._dirty = True
        await workflow.wait_condition(lambda: not self._dirty or self._draining)
        return DecisionResult(step=decision.step, action=decision.action, status=self._state.status)

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        state = self._state
        self._refuse_while_draining()
        if state.plan is None:
            raise ApplicationError("the dossier is still being received", type="NotReady")
        if state.status in TERMINAL:
            raise ApplicationError(f"the dossier is {state.status}", type="DossierClosed")
        if not decision.officer_id.strip():
            raise ApplicationError("officer_id is required", type="InvalidDecision")
        step = state.steps.get(decision.step)
        if step is None:
            raise ApplicationError(
                f"no step {decision.step!r}; steps: {', '.join(state.steps)}", type="UnknownStep"
            )
        planned = self._planned(decision.step)
        if decision.agency != planned.agency:
            raise ApplicationError(
                f"step {decision.step} is held by {planned.agency}; "
                f"an officer of {decision.agency} cannot act on it",
                type="WrongAgency",
            )
        if step.status is StepStatus.PENDING and step.carried_over:
            # This run has just begun and has not reopened the step it carried over yet.
            raise ApplicationError(
                f"step {decision.step} is being reopened in the dossier's next run; "
                "send the decision again",
                type=CONTINUING_AS_NEW,
            )
        if step.status is not StepStatus.OPEN:
            raise ApplicationError(
                f"step {decision.step} is {step.status}, not open", type="StepNotOpen"
            )
        if planned.kind not in OFFICER_KINDS:
            raise ApplicationError(
                f"step {decision.step} ({planned.kind}) is not decided by an officer",
                type="NotAnOfficerStep",
            )
        if decision.step in self._decisions:
            raise ApplicationError(f"step {decision.step} is already decided", type="StepNotOpen")
        if self._supplement_open():
            raise ApplicationError(
                "the dossier is waiting for the applicant's supplement", type="ClockPaused"
            )
        if decision.action is DecisionAction.REQUEST_SUPPLEMENT:
            if not decision.missing_documents:
                raise ApplicationError(
                    "a supplement request must list the missing documents", type="InvalidDecision"
                )
            why_not = self._supplement_allowed(planned.procedure)
            if why_not:
                raise ApplicationError(why_not, type="SupplementNotAllowed")
        if (
            decision.action in (DecisionAction.REFUSE, DecisionAction.SEND_BACK)
            and not decision.reason.strip()
        ):
            raise ApplicationError(f"{decision.action} needs a reason", type="InvalidDecision")
        if decision.action is DecisionAction.SEND_BACK:
            target = decision.send_back_to or ""
            if target not in state.steps or not self._is_upstream(target, decision.step):
                raise ApplicationError(
                    f"send_back_to must be an earlier step of {decision.step}; got {target!r}",
                    type="InvalidDecision",
                )
            if state.steps[target].status is not StepStatus.DONE:
                raise ApplicationError(f"step {target} has not run yet", type="InvalidDecision")

    def _refuse_while_draining(self) -> None:
        if self._draining:
            raise ApplicationError(
                "the dossier is moving to its next run; send the request again",
                type=CONTINUING_AS_NEW,
            )

    def _is_upstream(self, candidate: str, key: str) -> bool:
        seen: set[str] = set()
        frontier = list(self._planned(key).depends_on)
        while frontier:
            current = frontier.pop()
            if current == candidate:
                return True
            if current not in seen:
                seen.add(current)
                frontier.extend(self._planned(current).depends_on)
        return False

    @workflow.update
    async def provide_supplement(self, supplement: SupplementInput) -> DossierStatus:
        """The applicant hands in what was asked; the clock runs again."""
        state = self._state
        self._audit(
            AuditEntry(
                update_id=self._update_id(),
                at=workflow.now(),
                actor_kind="applicant",
                action="provide_supplement",
                detail=", ".join(d.name_vi for d in supplement.documents),
            )
        )
        for request in state.supplements:
            if request.answered_at is None:
                request.answered_at = workflow.now()
        state.facts = state.facts.model_copy(
            update={"documents": [*state.facts.documents, *supplement.documents]}
        )
        await self._close_pause("bổ sung hồ sơ")
        self._dirty = True
        await workflow.wait_condition(lambda: not self._dirty or self._draining)
        return state.status

    @provide_supplement.validator
    def _validate_supplement(self, supplement: SupplementInput) -> None:
        self._refuse_while_draining()
        if not self._supplement_open():
            raise ApplicationError("no supplement was requested", type="NoSupplementRequested")
        if not supplement.documents:
            raise ApplicationError("hand in at least one document", type="InvalidSupplement")

    @workflow.update
    async def withdraw(self, request: WithdrawInput) -> DossierStatus:
        """The applicant withdraws: open steps end, nothing is left running."""
        state = self._state
        self._audit(
            AuditEntry(
                update_id=self._update_id(),
                at=workflow.now(),
                actor_kind="applicant",
                action="withdraw",
                reason=request.reason,
            )
        )
        state.withdrawn_reason = request.reason or "applicant withdrew"
        assert state.plan is not None
        tell = workflow.patched(WITHDRAWAL_NOTICE_PATCH)
        for planned, step in self._open():
            if tell:  # the agency holding the step stops working on it
                self._notify(planned, "withdrawn", step.due)
            self._ledger(planned, ["applicant"], "withdrawn", None, step.due, None, 0.0)
        for procedure in {s.procedure for s in state.plan.steps}:
            state.procedure_outcomes.setdefault(procedure, "withdrawn")
        self._cancel_unreachable()
        state.status = DossierStatus.WITHDRAWN
        self._dirty = True
        self._publish()
        return state.status

    @withdraw.validator
    def _validate_withdraw(self, request: WithdrawInput) -> None:
        self._refuse_while_draining()
        status = self._state.status
        if self._state.plan is None:
            raise ApplicationError("the dossier is still being received", type="NotReady")
        if status in TERMINAL or status is DossierStatus.DECIDED:
            raise ApplicationError(
                f"the dossier is {status}; it can no longer be withdrawn", type="DossierClosed"
            )

    @workflow.signal
    def payment_received(self, payment: PaymentInput) -> None:
        """The payment side reports a payment of the financial obligation."""
        state = self._state
        if payment.amount_vnd <= 0 or payment.reference == state.payment_reference:
            return  # a duplicate delivery of the same payment, or nonsense: nothing to add
        state.amount_paid_vnd += payment.amount_vnd
        state.payment_reference = payment.reference
        self._audit(
            AuditEntry(
                update_id=f"payment:{payment.reference}",
                at=workflow.now(),
                actor_kind="payment",
                actor_id=payment.reference,
                action="payment_received",
                detail=f"{payment.amount_vnd} VND",
            )
        )
        self._dirty = True

    @workflow.query
    def tracking(self) -> TrackingState:
        """Status, open steps with their agencies and due moments, the ledger, documents."""
        state = self._state
        return TrackingState(
            dossier_code=self._request.dossier_code,
            procedure_code=self._request.procedure_code,
            status=state.status,
            received_at=self._request.received_at,
            appointment=state.appointment or (state.plan.appointment if state.plan else None),
            open_steps=[
                OpenStep(
                    key=planned.key,
                    name_vi=planned.name_vi,
                    agency=planned.agency,
                    kind=planned.kind,
                    opened_at=step.opened_at,
                    due=step.due,
                    overdue=step.overdue,
                    warn_at=step.warn_at,
                    warned=step.warned,
                    decided=planned.key in self._decisions,
                )
                for planned, step in self._open()
            ],
            ledger=state.ledger,
            documents=state.documents,
            supplements=state.supplements,
            amount_due_vnd=state.amount_due_vnd,
            amount_paid_vnd=state.amount_paid_vnd,
            apologies=state.apologies,
        )


DossierState.model_rebuild()
DossierInput.model_rebuild()
