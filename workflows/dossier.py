"""One dossier, from receipt to result, across every agency its procedures need: the shell.

One workflow per dossier (workflow id = the dossier code printed on the receipt) runs the merged
step graph of all its procedures, so a combined (liên thông) dossier shares one clock, one
appointment and its cross-procedure dependencies. Everything the dossier *decides* is in the pure
core, `domain.dossier_core.DossierCore`; this shell only feeds it and carries out its effects:

- messages: updates ``decide`` (officer: approve / request supplement / refuse / send back),
  ``provide_supplement`` and ``withdraw`` (applicant), each validated by the core before it
  reaches the history; signals ``payment_received`` (the payment side) and
  ``calendar_amended`` (the government changed working days); query ``tracking``;
- activities: automated checks on the owning agency's task queue; letters, notices, the post
  and the registry on the one-stop desk's; the plan (and the calendar snapshot, when the client
  pinned none) once at receipt;
- time: one durable timer (`WakeTimer`) at the core's next moment, armed again only when that
  moment comes earlier; the legal clock itself is computed in the core from the pinned calendar.

Versioning: 1.0 is the baseline (docs/versioning.md); every change of the commands this shell
issues goes behind ``workflow.patched`` with a recorded history (tests/histories/). Patches:
``applicant-letters-early-apology`` (1.1): the applicant's letters (forms 02, 03, 05, the
reminder to supplement) and the apology as soon as the appointment can no longer be met.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.letters import (
        ApologyInput,
        ApologyResult,
        ApplicantNoticeInput,
        AppointmentMovedInput,
        NoticeSent,
    )
    from activities.notify import AgencyNoticeInput, AgencyNoticeResult
    from activities.post import (
        AttemptInput,
        AttemptResult,
        DispatchInput,
        DispatchResult,
        ReturnToDeskInput,
        ReturnToDeskResult,
    )
    from activities.reception import CalendarInput, PlanDossierInput, PlanDossierResult
    from domain import dossier_views as views
    from domain import effects as fx
    from domain.deadlines import ClockSnapshot
    from domain.dossier import (
        CONTINUING_AS_NEW,
        TERMINAL,
        ApologyRecord,
        ApplicantNoticeKind,
        AutomatedCheckResult,
        CalendarAmendmentInput,
        DecisionAction,
        DecisionInput,
        DecisionResult,
        DossierInput,
        DossierResult,
        DossierStatus,
        HandoverRow,
        OpenStep,
        Outcome,
        PaymentInput,
        Refusal,
        StepStatus,
        SupplementInput,
        TrackingState,
        WithdrawInput,
    )
    from domain.dossier_core import OFFICER_KINDS, DossierCore
    from domain.registry import SyncResult
    from engine import names

__all__ = [  # the workflow's contract, re-exported for its clients
    "CONTINUING_AS_NEW",
    "OFFICER_KINDS",
    "TERMINAL",
    "ApologyRecord",
    "DecisionAction",
    "DecisionInput",
    "DecisionResult",
    "DossierInput",
    "DossierResult",
    "DossierStatus",
    "DossierWorkflow",
    "HandoverRow",
    "OpenStep",
    "Outcome",
    "PaymentInput",
    "StepStatus",
    "SupplementInput",
    "TrackingState",
    "WithdrawInput",
]

ONE_STOP = names.agency_task_queue("one-stop")
# Dossier 1.1: the applicant's letters and the apology as soon as it is known (docs/versioning.md).
APPLICANT_LETTERS_EARLY_APOLOGY = "applicant-letters-early-apology"
ResultT = TypeVar("ResultT", bound=BaseModel)
AGENCY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


class WakeTimer:
    """One durable timer at the dossier's next moment (after samples-python updatable_timer).

    Armed again only when the moment comes *earlier* than the one it waits for: a later moment
    keeps the timer, which then fires early, finds nothing due and is armed for the later one.
    Most steps finish long before they are due, so most dossiers start one timer, not one per
    step, and never cancel it.
    """

    def __init__(self, on_fire: Callable[[], None]) -> None:
        self._on_fire = on_fire
        self._at: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def arm(self, at: datetime | None) -> None:
        """Make sure the timer fires no later than ``at`` (None: nothing to wait for)."""
        if at is None or (self._task is not None and self._at is not None and self._at <= at):
            return
        if self._task is not None:
            self._task.cancel()
        self._at = at
        self._task = asyncio.create_task(self._sleep(at))

    async def _sleep(self, at: datetime) -> None:
        delay = at - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay, summary="Mốc thời hạn gần nhất")
        else:
            await asyncio.sleep(0)  # already due: no timer, just the next turn of the loop
        self._task, self._at = None, None
        self._on_fire()


class RegistryWriter:
    """Sends the registry what changed, one ``registry.sync`` at a time: whatever changes while
    a sync runs goes out in the next one, so a burst of changes costs one activity.

    What automated checks change waits while other checks still run (``quiet`` is false): a
    chain of checks that runs in seconds is written once, when it stops. A person's act, a
    deadline, the post or the receipt is written at once, with whatever waited.
    """

    def __init__(
        self,
        core: DossierCore,
        run: Callable[..., Coroutine[Any, Any, Any]],
        quiet: Callable[[], bool],
    ) -> None:
        self._core = core
        self._run = run
        self._quiet = quiet
        self._dirty = self._urgent = self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._synced: dict[str, str] = {}  # row key -> what the registry was last sent

    def start(self) -> None:
        """Begin writing (after receipt)."""
        self._task = asyncio.create_task(self._loop())

    def touch(self, urgent: bool = True) -> None:
        """Something may have changed; ``urgent`` unless an automated check changed it."""
        self._dirty = True
        self._urgent = self._urgent or urgent

    async def stop(self) -> None:
        """Let the running sync finish, then send the final state."""
        if self._task is None:
            return
        self._stopping = True
        await self._task
        self._task = None
        await self._sync()

    async def _loop(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: (self._dirty and (self._urgent or self._quiet())) or self._stopping
            )
            if not self._dirty:
                return
            self._dirty = self._urgent = False
            await self._sync()

    async def _sync(self) -> None:
        rows = views.registry_rows(self._core)
        pending: dict[str, str] = {}

        def changed(key: str, row: BaseModel) -> bool:
            text = row.model_dump_json()
            if self._synced.get(key) == text:
                return False
            pending[key] = text
            return True

        snapshot = rows.model_copy(
            update={
                "procedures": [p for p in rows.procedures if changed(f"p:{p.code}", p)],
                "steps": [s for s in rows.steps if changed(f"s:{s.key}", s)],
                "handovers": [h for h in rows.handovers if changed(f"h:{h.sequence}", h)],
                "received": [r for r in rows.received if changed(f"r:{r.sequence}", r)],
                "issued": [d for d in rows.issued if changed(f"d:{d.kind}:{d.sequence}", d)],
                "audit": [a for a in rows.audit if changed(f"a:{a.update_id}", a)],
            }
        )
        # The dossier row as it stands, less the revision that each sync itself moves.
        lists = ("procedures", "steps", "handovers", "received", "issued", "audit")
        dossier_row = rows.model_copy(update={"revision": 0} | {k: [] for k in lists})
        changed("dossier", dossier_row)
        if not pending:
            return
        state = self._core.state
        state.registry_revision += 1
        snapshot.revision = state.registry_revision
        snapshot.synced_at = workflow.now()
        await self._run(
            "registry.sync",
            snapshot,
            SyncResult,
            f"Cập nhật sổ theo dõi hồ sơ (lần {snapshot.revision})",
        )
        self._synced.update(pending)


def plan_input(request: DossierInput, calendar: ClockSnapshot | None) -> PlanDossierInput:
    """What ``reception.plan-dossier`` needs to receive the dossier of ``request`` with
    ``calendar`` (the one its client pinned; None: the desk's own); the simulator's core engine
    sends the same, with the calendar its desk pins for the receipt day."""
    return PlanDossierInput(
        dossier_code=request.dossier_code,
        procedure_code=request.procedure_code,
        received_at=request.received_at,
        calendar=calendar,
    )


def apology_input(core: DossierCore, sequence: int) -> ApologyInput:
    """What ``letters.issue-apology`` needs for the dossier's form 04 number ``sequence``."""
    record = core.state.apologies[sequence - 1]
    plan = core.plan
    return ApologyInput(
        dossier_code=core.request.dossier_code,
        sequence=record.sequence,
        procedure_code=plan.procedure,
        procedure_name_vi=plan.name_vi,
        received_at=plan.received_at,
        original_appointment=record.original_appointment,
        new_appointment=record.new_appointment,
        agency=record.agency,
        reason_vi=record.reason_vi,
    )


def appointment_moved_input(core: DossierCore, change: int) -> AppointmentMovedInput:
    """What ``letters.appointment-moved`` needs for calendar change number ``change``."""
    moved = core.state.calendar_changes[change]
    return AppointmentMovedInput(
        dossier_code=core.request.dossier_code,
        sequence=change + 1,
        procedure_name_vi=core.plan.name_vi,
        announced_by=moved.announced_by,
        days=[o.day for o in moved.days],
        original_appointment=moved.appointment_before,
        new_appointment=moved.appointment_after,
    )


def agency_notice_input(core: DossierCore, effect: fx.NotifyAgency) -> AgencyNoticeInput:
    """What ``notify.agency`` needs to warn an agency (or its head) about one of its steps; the
    simulator's core engine sends the same."""
    return AgencyNoticeInput(
        dossier_code=core.request.dossier_code,
        kind=effect.kind,
        step=effect.step,
        agency=effect.agency,
        due=effect.due,
        sequence=effect.sequence,
    )


def post_input(
    core: DossierCore, effect: fx.PostEffect, at: datetime
) -> DispatchInput | AttemptInput | ReturnToDeskInput:
    """What the post's activity for ``effect`` needs (``post.dispatch``,
    ``post.attempt-delivery``, ``post.return-to-desk``), handed over ``at``; the simulator's
    core engine sends the same."""
    code, step = core.request.dossier_code, effect.step
    if isinstance(effect, fx.AttemptDelivery):
        tracking_number = core.state.deliveries[step].tracking_number
        assert tracking_number is not None  # dispatched before any attempt
        return AttemptInput(
            dossier_code=code,
            step=step,
            tracking_number=tracking_number,
            attempt=effect.attempt,
            at=at,
        )
    name_vi = core.policy_name(core.planned(step).procedure)
    handover = DispatchInput if isinstance(effect, fx.Dispatch) else ReturnToDeskInput
    return handover(dossier_code=code, step=step, procedure_name_vi=name_vi, at=at)


def applicant_notice_input(core: DossierCore, effect: fx.NotifyApplicant) -> ApplicantNoticeInput:
    """What ``letters.applicant-notice`` needs to write the applicant (form 02, its reminder,
    form 03, form 05); the simulator's core engine sends the same."""
    notice = ApplicantNoticeInput(
        dossier_code=core.request.dossier_code,
        kind=effect.kind,
        sequence=effect.sequence,
        procedure_name_vi=core.plan.name_vi,
        received_at=core.plan.received_at,
        agency="one-stop",
    )
    if effect.kind is ApplicantNoticeKind.REFUSED:
        rows = [row for row in core.state.ledger if row.kind is Outcome.REFUSED]
        row = rows[effect.sequence - 1]
        return notice.model_copy(
            update={
                "procedure_name_vi": core.policy_name(row.procedure),
                "agency": row.from_agency,
                "reason_vi": row.result.removeprefix("refused: "),
            }
        )
    request = core.state.supplements[effect.sequence - 1]
    return notice.model_copy(
        update={
            "procedure_name_vi": core.policy_name(request.procedure),
            "agency": request.requested_by,
            "reason_vi": request.reason,
            "missing_documents": request.missing_documents,
            "answer_by": request.answer_by,
        }
    )


@workflow.defn
class DossierWorkflow:
    """Carries one dossier through its agencies; see the module docstring for its messages."""

    @workflow.init
    def __init__(self, request: DossierInput) -> None:
        self._request = request
        self._core = DossierCore(request)
        self._checks: dict[str, asyncio.Task[None]] = {}  # automated checks by step
        self._desk: set[asyncio.Task[None]] = set()  # letters, notices, the post, the calendar
        self._timer = WakeTimer(lambda: self._apply(self._core.tick(workflow.now())))
        self._registry = RegistryWriter(self._core, self._at_the_desk, lambda: not self._checks)
        self._draining = False  # continuing as new: requests are refused, to be sent again
        self._published: tuple[object, ...] | None = None

    @workflow.run
    async def run(self, request: DossierInput) -> DossierResult:
        """Receive (or resume), let the core run the dossier to its end, then close it."""
        core = self._core
        # A dossier whose history began before 1.1 keeps the 1.0 behaviour (its replay has no
        # marker); a new run (a new dossier, or continue-as-new) takes the 1.1 rules.
        rules_1_1 = workflow.patched(APPLICANT_LETTERS_EARLY_APOLOGY)
        core.state.applicant_notices = core.state.apology_when_known = rules_1_1
        if not core.received:
            planned = await self._plan(request)
            self._apply(core.receive(planned.plan, planned.calendar, workflow.now()))
        else:
            self._apply(core.resume(workflow.now()))
        self._registry.start()
        while not core.finished:
            await workflow.wait_condition(
                lambda: core.finished or workflow.info().is_continue_as_new_suggested()
            )
            if not core.finished:
                await self._continue_as_new()
        # The armed timer is left to lapse with the run: cancelling it is one more event.
        for task in self._checks.values():
            task.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._settle_desk()
        result = core.close(workflow.now())
        self._publish()
        await self._registry.stop()
        return result

    async def _plan(self, request: DossierInput) -> PlanDossierResult:
        try:
            planned: PlanDossierResult = await workflow.execute_activity(
                "reception.plan-dossier",
                plan_input(request, request.calendar),
                result_type=PlanDossierResult,
                task_queue=ONE_STOP,
                start_to_close_timeout=timedelta(seconds=30),
                summary="Lập kế hoạch thời hạn giải quyết",
            )
            return planned
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                raise ApplicationError(
                    f"dossier {request.dossier_code} not received: {err.cause.message}",
                    type="ReceptionRefused",
                    non_retryable=True,
                ) from err
            raise

    async def _continue_as_new(self) -> None:
        # From here on, new requests are refused with a retryable ContinuingAsNew error
        # (clients.dossiers.update_dossier retries it), so none is accepted and then lost with
        # this run. Automated checks in flight run again in the next run (they are idempotent
        # by dossier code); the desk's letters, notices and the post finish here.
        self._draining = True
        for task in self._checks.values():
            task.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._settle_desk()
        await self._registry.stop()
        self._core.prepare_continue_as_new()
        workflow.continue_as_new(self._request.model_copy(update={"state": self._core.state}))

    async def _settle_desk(self) -> None:
        while self._desk:
            await asyncio.gather(*self._desk)

    # ---- carrying out the core's effects ------------------------------------------------------

    def _apply(self, effects: list[fx.Effect], urgent: bool = True) -> None:
        """Carry out the effects, then re-arm the timer and publish what changed (``urgent``:
        see `RegistryWriter`)."""
        for effect in effects:
            if isinstance(effect, fx.RunCheck):
                if not self._draining:  # a check opened while draining runs in the next run
                    self._start_check(effect)
            elif isinstance(effect, fx.CancelCheck):
                task = self._checks.pop(effect.key, None)
                if task is not None:
                    task.cancel()
            else:
                self._spawn(self._desk_effect(effect))
        if self._core.received:
            self._timer.arm(self._core.next_wakeup())
            self._publish()
            self._registry.touch(urgent)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            # Desk activities retry until they succeed; one that fails for good (a
            # non-retryable error) is logged, and the dossier goes on without its outcome.
            try:
                await coroutine
            except ActivityError as err:
                workflow.logger.error("desk activity failed for good: %s", err.cause or err)

        task = asyncio.create_task(guarded())
        self._desk.add(task)
        task.add_done_callback(self._desk.discard)

    def _start_check(self, effect: fx.RunCheck) -> None:
        task = asyncio.create_task(self._run_check(effect))
        self._checks[effect.key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._checks.get(effect.key) is done:  # a step run again has a new task
                del self._checks[effect.key]

        task.add_done_callback(forget)

    async def _run_check(self, effect: fx.RunCheck) -> None:
        core = self._core
        planned = core.planned(effect.key)
        assert planned.activity is not None
        try:
            result = await workflow.execute_activity(
                planned.activity,
                core.check_input(effect.key),
                result_type=AutomatedCheckResult,
                task_queue=names.agency_task_queue(planned.agency),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=AGENCY_RETRY,
                summary=planned.name_vi,
            )
        except ActivityError as err:
            # Retried until it answers; a non-retryable failure (the agency's system refuses
            # the question itself) leaves the step open for an operator, and says why.
            workflow.logger.error("check %s failed for good: %s", effect.key, err.cause or err)
            return
        self._apply(core.check_done(effect.key, effect.run, result, workflow.now()), urgent=False)

    async def _desk_effect(self, effect: fx.Effect) -> None:
        """Run one of the one-stop desk's effects, then feed the outcome back to the core."""
        core = self._core
        if isinstance(effect, fx.SendApology):
            letter = await self._at_the_desk(
                "letters.issue-apology",
                apology_input(core, effect.sequence),
                ApologyResult,
                f"Phiếu xin lỗi và hẹn lại (mẫu 04) số {effect.sequence}",
                start_to_close=timedelta(minutes=2),
            )
            core.apology_sent(effect.sequence, letter.letter_id, letter.sent)
            self._registry.touch()
        elif isinstance(effect, fx.NotifyAgency):
            await self._at_the_desk(
                "notify.agency",
                agency_notice_input(core, effect),
                AgencyNoticeResult,
                f"Thông báo {effect.kind} cho {effect.agency}",
            )
        elif isinstance(effect, fx.NotifyApplicant):
            await self._at_the_desk(
                "letters.applicant-notice",
                applicant_notice_input(core, effect),
                NoticeSent,
                f"Thông báo cho người nộp hồ sơ: {effect.kind} ({effect.sequence})",
            )
        elif isinstance(effect, fx.NotifyAppointmentMoved):
            await self._at_the_desk(
                "letters.appointment-moved",
                appointment_moved_input(core, effect.change),
                NoticeSent,
                "Thông báo dời ngày hẹn do điều chỉnh lịch làm việc",
            )
            core.applicant_notified(effect.change)
        elif isinstance(effect, fx.ExtendCalendar):
            calendar = await self._at_the_desk(
                "reception.calendar",
                CalendarInput(first=effect.first, last=effect.last),
                ClockSnapshot,
                "Gia hạn lịch làm việc của hồ sơ",
            )
            self._apply(core.calendar_extended(calendar, workflow.now()))
        else:
            assert isinstance(effect, fx.PostEffect)
            await self._post(effect)

    async def _post(self, effect: fx.PostEffect) -> None:
        core = self._core
        request = post_input(core, effect, workflow.now())
        if isinstance(effect, fx.Dispatch):
            try:
                dispatched = await self._at_the_desk(
                    "post.dispatch", request, DispatchResult, "Chuyển kết quả cho bưu điện"
                )
            except ActivityError as err:
                if not (isinstance(err.cause, ApplicationError) and err.cause.non_retryable):
                    raise
                self._apply(core.dispatch_refused(effect.step, err.cause.message, workflow.now()))
                return
            self._apply(core.dispatched(effect.step, dispatched.tracking_number, workflow.now()))
        elif isinstance(effect, fx.AttemptDelivery):
            attempt = await self._at_the_desk(
                "post.attempt-delivery",
                request,
                AttemptResult,
                f"Phát bưu gửi lần {effect.attempt}",
            )
            self._apply(core.delivery_attempted(effect.step, attempt.outcome, workflow.now()))
        else:
            await self._at_the_desk(
                "post.return-to-desk",
                request,
                ReturnToDeskResult,
                "Chuyển kết quả về Bộ phận Một cửa, báo người nộp",
            )
            self._apply(core.returned_to_desk(effect.step, workflow.now()))

    async def _at_the_desk(
        self,
        activity: str,
        request: BaseModel,
        result_type: type[ResultT],
        summary: str,
        start_to_close: timedelta = timedelta(minutes=1),
    ) -> ResultT:
        """Run one of the one-stop desk's activities, retried for as long as it takes."""
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

    def _publish(self) -> None:
        """Search attributes (only when they change: an upsert is a history event) and the UI's
        current details, from the core's views."""
        core = self._core
        status, agencies, overdue, due_soon, apologies, appointment = views.visibility(core)
        published: tuple[object, ...] = (
            str(status), tuple(agencies), tuple(overdue), due_soon, apologies, appointment
        )  # fmt: skip
        if published != self._published:
            updates: list[SearchAttributeUpdate[Any]] = [
                names.DOSSIER_STATUS.value_set(status),
                names.CURRENT_AGENCIES.value_set(agencies),
                names.OVERDUE_AGENCIES.value_set(overdue),
                names.OVERDUE.value_set(bool(overdue)),
                names.DUE_SOON.value_set(due_soon),
                names.APOLOGIES.value_set(apologies),
            ]
            if appointment is not None:
                updates.append(names.APPOINTMENT_AT.value_set(appointment))
            if self._published is None:  # the first publication names the dossier too
                plan = core.plan
                updates += [
                    names.DOSSIER_CODE.value_set(self._request.dossier_code),
                    names.DESK.value_set(self._request.desk_code),
                    names.PROCEDURE_CODES.value_set(
                        list(dict.fromkeys([plan.procedure, *(c.code for c in plan.components)]))
                    ),
                ]
            self._published = published
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(views.details(core))

    # ---- messages ------------------------------------------------------------------------------

    def _validate(self, check: Callable[[], None]) -> None:
        """Run a core validator; its refusal becomes the ApplicationError clients see."""
        if self._draining:
            raise ApplicationError(
                "the dossier is moving to its next run; send the request again",
                type=CONTINUING_AS_NEW,
            )
        try:
            check()
        except Refusal as refusal:
            raise ApplicationError(refusal.message, type=refusal.kind.value) from None

    @staticmethod
    def _update_id() -> str:
        info = workflow.current_update_info()
        assert info is not None
        return info.id

    @workflow.update
    async def decide(self, decision: DecisionInput) -> DecisionResult:
        """An officer of the agency holding an open step decides on it."""
        self._apply(self._core.decide(decision, self._update_id(), workflow.now()))
        return DecisionResult(
            step=decision.step, action=decision.action, status=self._core.state.status
        )

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        self._validate(lambda: self._core.check_decision(decision, workflow.now()))

    @workflow.update
    async def provide_supplement(self, supplement: SupplementInput) -> DossierStatus:
        """The applicant hands in what was asked; the clock runs again."""
        now = workflow.now()
        self._apply(self._core.provide_supplement(supplement.documents, self._update_id(), now))
        return self._core.state.status

    @provide_supplement.validator
    def _validate_supplement(self, supplement: SupplementInput) -> None:
        self._validate(lambda: self._core.check_supplement(supplement.documents))

    @workflow.update
    async def withdraw(self, request: WithdrawInput) -> DossierStatus:
        """The applicant withdraws: open steps end, their agencies are told."""
        self._apply(self._core.withdraw(request.reason, self._update_id(), workflow.now()))
        return self._core.state.status

    @withdraw.validator
    def _validate_withdraw(self, request: WithdrawInput) -> None:
        self._validate(self._core.check_withdraw)

    @workflow.signal
    def payment_received(self, payment: PaymentInput) -> None:
        """The payment side reports a payment of the financial obligation."""
        self._apply(self._core.payment_received(payment, workflow.now()))

    @workflow.signal
    def calendar_amended(self, amendment: CalendarAmendmentInput) -> None:
        """Working days changed after receipt: the core re-plans (see its docstring)."""
        self._apply(self._core.amend_calendar(amendment, workflow.now()))

    @workflow.query
    def tracking(self) -> TrackingState:
        """Status, open steps with their agencies and due moments, the ledger, documents."""
        return views.tracking(self._core)
