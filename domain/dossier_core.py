"""The dossier core: a dossier's state and every transition of it, as plain Python.

Functional core, imperative shell: `workflows.dossier.DossierWorkflow` feeds this class the
dossier's messages (an officer's decision, a supplement, a payment, a withdrawal, a calendar
amendment), the results of the activities it ran and the firing of its one deadline timer, and
carries out the `Effect` values each transition returns (run this check on that agency's queue,
send an apology, tell an agency, hand the result to the post...). Every transition takes ``now``;
nothing here reads a clock, does I/O or imports Temporal, so the whole life of a dossier can be
played in milliseconds (tests/domain/test_dossier_core.py) and the workflow stays deterministic.

Time: every due moment comes from the legal clock over the calendar snapshot pinned in the
dossier (`DossierState.clock`), with `domain.deadlines`. The clock is paused while the applicant
supplements (the whole dossier), while a public notice is posted and while the post carries the
result (that procedure), and while the applicant pays an uncounted obligation; the applicant's
pauses move the appointment.

Deadlines: each open step is due its budget of working time after it opened; an agency is warned
``warning_lead_hours`` before, escalated at the due moment. The appointment is checked
``apology_lead_hours`` before it and when any step is overdue: if it can no longer be met, or was
missed, an apology (form 04) with a new appointment goes out, once per appointment.

Since dossier 1.1 (``DossierState.apology_when_known``) the apology goes out as soon as the
appointment can no longer be met, and at the latest ``apology_lead_hours`` before it: after
every transition (a step sent back, a late answer: the remaining budgets no longer fit) and at
each open step's *latest finish* (the appointment less the longest chain of budgets after it:
past that moment the step holds the dossier beyond its appointment). Local rules under Decree
61/2018 art. 19 ask the agency at fault to send it at the latest one working day before the
appointment (e.g. Lâm Hà district, baolamdong.vn 12/7/2018; Quảng Bình Decision 15/2018/QĐ-UBND);
whether Decree 118/2025 keeps that day is [unverified], so the lead stays a policy value.

The applicant is told by e-mail (``DossierState.applicant_notices``, 1.1) when a supplement is
requested (form 02), a working day before their time to supplement ends, when it has ended and
processing stops (form 05 of Circular 03/2025/TT-VPCP) and when a procedure is refused (form 03).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel

from domain.catalog import StepKind
from domain.clock import VN_TZ, LegalClock
from domain.deadlines import (
    LATE_AFTER,
    BudgetLine,
    ClockSnapshot,
    Pause,
    Verdict,
    assess,
    new_appointment,
    projected_finish,
    shift,
    step_due,
)
from domain.dossier import (
    TERMINAL,
    ApologyRecord,
    ApplicantNoticeKind,
    AutomatedCheckInput,
    AutomatedCheckResult,
    CalendarAmendmentInput,
    CalendarChange,
    DecisionAction,
    DecisionInput,
    DeliveryState,
    DocumentIssued,
    DossierInput,
    DossierResult,
    DossierState,
    DossierStatus,
    HandoverRow,
    Outcome,
    PaymentInput,
    Refusal,
    RefusalKind,
    StepState,
    StepStatus,
    SubmittedDocument,
    SupplementRequest,
)
from domain.effects import (
    AttemptDelivery,
    CancelCheck,
    Dispatch,
    Effect,
    ExtendCalendar,
    NoticeKind,
    NotifyAgency,
    NotifyApplicant,
    NotifyAppointmentMoved,
    ReturnToDesk,
    RunCheck,
    SendApology,
)
from domain.plan import DossierPlan, PlannedStep, ProcedurePolicy
from domain.registry import (
    AuditEntry,
)

# Steps officers act on; the others finish by themselves (activity, timer, payment).
OFFICER_KINDS = frozenset({StepKind.OFFICER_DECISION, StepKind.SIGNATURE, StepKind.RETURN_RESULT})
SUPPLEMENT_PAUSE = "bổ sung hồ sơ"
# The snapshot is extended when less than this is left of it (a dossier open for a year).
CALENDAR_MARGIN = timedelta(days=365)
CALENDAR_HORIZON = timedelta(days=730)  # how far a snapshot reaches past its start
POSTMAN_ROUND = timedelta(hours=8)  # the next attempt: one working day later
_CHAIN_SLACK = timedelta(milliseconds=1)  # see `DossierCore._longest_chain_left`


def assign(model: BaseModel, **values: Any) -> None:
    """``model.name = value`` for each name, as pydantic's ``__setattr__`` does it for a field of
    a model that neither validates assignment nor is frozen (`StepState`): the value into the
    model's ``__dict__``, the name into its set fields; for many fields at one call. The core
    changes a step's fields this way where it changes many at every transition; the model is
    the same, value for value and set field for set field (tests/domain/test_dossier_core.py)."""
    model.__dict__.update(values)
    model.__pydantic_fields_set__.update(values)


def calendar_window(received_at: datetime) -> tuple[date, date]:
    """The days a dossier received then pins: a month before (a paper dossier keyed in late)
    to two years after, well past the longest appointment any procedure gives."""
    day = received_at.astimezone(VN_TZ).date()
    return day - timedelta(days=31), day + CALENDAR_HORIZON


class _Tally(NamedTuple):
    """The steps of a dossier counted by status (see `DossierCore._refresh_status`)."""

    steps: int
    done: int
    cancelled: int
    pending: int
    result_returned: bool  # a step returning a result is done
    payment_open: bool
    undecided: bool  # a step other than returning the result is neither done nor cancelled


class _PlanShape:
    """What the core looks up in a plan again and again: each step's key, the step by key, the
    steps waiting for each, each step's kind as the status reads it, and the counted budgets in
    an order where a step comes after those it depends on."""

    __slots__ = ("budgets", "by_key", "following", "keyed", "kinds", "plan")

    def __init__(self, plan: DossierPlan) -> None:
        self.plan = plan
        self.keyed = [(step, step.key) for step in plan.steps]
        self.by_key: dict[str, PlannedStep] = {}
        for step, key in self.keyed:
            self.by_key.setdefault(key, step)  # the first, as a search in plan order finds
        self.following: dict[str, list[PlannedStep]] = {}
        for step in plan.steps:
            for before in step.depends_on:
                self.following.setdefault(before, []).append(step)
        # (key, returns the result, is a payment), in plan order.
        self.kinds = [
            (key, step.kind == StepKind.RETURN_RESULT, step.kind == StepKind.PAYMENT)
            for step, key in self.keyed
        ]
        # (key, the keys of the plan it depends on, its counted budget), dependencies first.
        self.budgets: list[tuple[str, tuple[str, ...], float]] = []
        placed: set[str] = set()

        def place(key: str) -> None:
            if key in placed:
                return
            placed.add(key)
            step = self.by_key[key]
            before = tuple(d for d in step.depends_on if d in self.by_key)
            for d in before:
                place(d)
            budget = max(step.budget_hours, 0.0) if step.counted else 0.0
            self.budgets.append((key, before, budget))

        for _, key in self.keyed:
            place(key)


class DossierCore:
    """One dossier's state and transitions. See the module docstring.

    Every public transition returns the effects to carry out, in order; the validators
    (``check_*``) raise `Refusal` and change nothing.
    """

    def __init__(self, request: DossierInput, state: DossierState | None = None) -> None:
        self.request = request
        self.state = state or request.state or DossierState(facts=request.facts)
        self._effects: list[Effect] = []
        # Derived from the plan and the pinned calendar, both replaced (never changed) when they
        # change: kept with the object they were derived from, recomputed when it is another.
        self._clock: tuple[ClockSnapshot, LegalClock] | None = None
        self._shape: _PlanShape | None = None
        # The last forecast and what it was computed from (see `_projected_finish`).
        self._forecast_memo: tuple[tuple[Any, ...], datetime] | None = None
        self._latest_memo: tuple[tuple[Any, ...], tuple[datetime, ...]] | None = None
        self._moot_memo: tuple[tuple[Any, ...], datetime | None] | None = None

    # ---- reading the plan ----------------------------------------------------------------------

    @property
    def plan(self) -> DossierPlan:
        """The dossier's plan (set at receipt)."""
        assert self.state.plan is not None, "the dossier is not received yet"
        return self.state.plan

    @property
    def clock(self) -> LegalClock:
        """The legal clock over the dossier's pinned calendar."""
        snapshot = self.state.clock
        assert snapshot is not None, "the dossier has no calendar yet"
        if self._clock is None or self._clock[0] is not snapshot:
            self._clock = (snapshot, snapshot.clock())
        return self._clock[1]

    def _plan_shape(self) -> _PlanShape:
        plan = self.state.plan
        shape = self._shape
        if shape is None or shape.plan is not plan:
            assert plan is not None, "the dossier is not received yet"
            shape = self._shape = _PlanShape(plan)
        return shape

    @property
    def received(self) -> bool:
        """Whether the dossier was received (planned)."""
        return self.state.plan is not None

    @property
    def finished(self) -> bool:
        """Whether the dossier has ended (refused, withdrawn, stopped or returned)."""
        return self.state.status in TERMINAL

    def planned(self, key: str) -> PlannedStep:
        """The planned step ``procedure:step``; KeyError if the dossier has none."""
        return self._plan_shape().by_key[key]

    def policy(self, procedure: str) -> ProcedurePolicy | None:
        """The rules of one of the dossier's procedures."""
        return next((p for p in self.plan.policies if p.code == procedure), None)

    def policy_name(self, procedure: str) -> str:
        """The procedure's name in Vietnamese (its code if unknown)."""
        policy = self.policy(procedure)
        return policy.name_vi if policy is not None else procedure

    def open_steps(self) -> list[tuple[PlannedStep, StepState]]:
        """The open steps in plan order."""
        if self.state.plan is None:
            return []
        steps = self.state.steps
        is_open = StepStatus.OPEN
        return [(p, step) for p, key in self._plan_shape().keyed
                if (step := steps[key]).status is is_open]  # fmt: skip

    def check_input(self, key: str) -> AutomatedCheckInput:
        """What the automated check of step ``key`` is asked."""
        planned = self.planned(key)
        version = next(c.version for c in self.plan.components if c.code == planned.procedure)
        return AutomatedCheckInput(
            dossier_code=self.request.dossier_code,
            procedure=planned.procedure,
            procedure_version=version,
            step=planned.step,
            facts=self.state.facts,
        )

    def home_delivery(self) -> bool:
        """The applicant asked for the result by post, and the procedure allows it."""
        return self.state.facts.home_delivery and self.plan.home_delivery

    def _drain(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    # ---- receipt, resumption, the end ----------------------------------------------------------

    def receive(self, plan: DossierPlan, clock: ClockSnapshot, now: datetime) -> list[Effect]:
        """The desk planned the dossier: its steps exist, the first ones open."""
        state = self.state
        state.plan, state.clock = plan, clock
        state.steps = {step.key: StepState(key=step.key) for step in plan.steps}
        state.status = DossierStatus.ACCEPTED
        state.appointment = state.legal_appointment = plan.appointment
        if state.facts.filed_online_by is not None:
            # The desk filed it online for the applicant (an online-only procedure): on record.
            self._audit(
                AuditEntry(
                    update_id="receipt:filed-online-for-applicant",
                    at=now,
                    actor_kind="officer",
                    actor_id=state.facts.filed_online_by,
                    agency="one-stop",
                    action="file_online_for_applicant",
                )
            )
        self._plan_forecast()
        self._advance(now)
        for amendment in state.early_amendments:
            # amend_calendar hands back every effect gathered so far, its own included.
            self._effects = self.amend_calendar(amendment, now)
        state.early_amendments = []
        return self._drain()

    def resume(self, now: datetime) -> list[Effect]:
        """A new run (continue-as-new) picks up: carried-over steps reopen, the post goes on."""
        for delivery in self.state.deliveries.values():
            delivery.busy = False
            if delivery.status == "dispatching":
                delivery.busy = True
                self._effects.append(Dispatch(step=delivery.step))
            elif delivery.status == "dispatched" and delivery.next_attempt_at is None:
                delivery.next_attempt_at = now
        self._advance(now)
        return self._drain()

    def prepare_continue_as_new(self) -> None:
        """Open steps are carried over: automated checks run again (they are idempotent by
        dossier code), officer steps wait again with the decisions already accepted."""
        for step in self.state.steps.values():
            if step.status is StepStatus.OPEN:
                step.status = StepStatus.PENDING
                step.carried_over = True
                step.checking = False

    def close(self, now: datetime) -> DossierResult:
        """The dossier's result (judged when it ended; judged now if it was not)."""
        state = self.state
        if state.finished_at is None:
            self._judge(now)
        return DossierResult(
            dossier_code=self.request.dossier_code,
            status=state.status,
            ledger=state.ledger,
            documents=state.documents,
            apologies=state.apologies,
            verdict=state.verdict,
            late_working_hours=state.late_working_hours,
        )

    def _judge(self, now: datetime) -> None:
        """The dossier ended: its verdict against the legal appointment (moved only by the
        applicant's time and calendar amendments)."""
        state = self.state
        state.finished_at = now
        if state.plan is not None and state.legal_appointment is not None:
            assessed = assess(
                self.clock,
                state.plan.clock_starts,
                now,
                state.legal_appointment,
                self._applicant_pauses(),
            )
            state.verdict = assessed.verdict
            state.late_working_hours = assessed.late_working_hours
            state.working_hours = assessed.working_hours_used

    # ---- the step graph ------------------------------------------------------------------------

    def _advance(self, now: datetime) -> None:
        """Open every step whose dependencies passed, then settle the dossier's status."""
        opened = True
        while opened and not self.finished:
            opened = self._open_ready_steps(now)
        self._refresh_status()
        if self.finished and self.state.finished_at is None:
            self._judge(now)  # now, so the registry's next write already carries the verdict
        if self.state.apology_when_known and self.awaiting_result():
            # A step sent back, a check answered late: the budgets may no longer fit.
            self._check_appointment(missed=False, now=now)
        self._maybe_extend_calendar(now)

    def _passed(self, key: str) -> bool:
        step = self.state.steps[key]
        return (
            step.status is StepStatus.DONE
            and step.outcome_kind is not None
            and step.outcome_kind.finishes_step
        )

    def _open_ready_steps(self, now: datetime) -> bool:
        state = self.state
        opened = False
        for planned, step_key in self._plan_shape().keyed:
            step = state.steps[step_key]
            if step.status is not StepStatus.PENDING:
                continue
            if planned.procedure in state.procedure_outcomes:
                continue
            if not all(self._passed(d) for d in planned.depends_on):
                continue
            opened = True
            if not step.carried_over:
                # A step carried over a continue-as-new keeps when it first opened and the
                # decision already accepted for it; one run again starts afresh.
                assign(step, opened_at=now, warned=False)
                state.decisions.pop(step_key, None)
            assign(
                step,
                status=StepStatus.OPEN,
                carried_over=False,
                due=None,
                warn_at=None,
                overdue=False,
                outcome="",
                outcome_kind=None,
                done_at=None,
                verdict=None,
                working_hours=None,
                late_working_hours=0.0,
                awaiting_supplement=False,
            )
            self._set_due(planned)
            self._start(planned, step, now)
        return opened

    def _start(self, planned: PlannedStep, step: StepState, now: datetime) -> None:
        kind = StepKind(planned.kind)
        if kind is StepKind.AUTOMATED_CHECK:
            step.runs += 1
            step.checking = True
            if not planned.counted:
                # An agency's time the law leaves out of the limit (the tax authority's under
                # Decree 151/2025): the appointment moves by it; the other steps keep counting.
                self._pause_step(
                    planned,
                    now,
                    self._uncounted_pause(planned),
                    moves_appointment=True,
                    keeps_steps_running=True,
                )
            self._effects.append(RunCheck(key=planned.key, run=step.runs))
        elif kind is StepKind.PUBLIC_NOTICE:
            # A statutory posting period; its time is not counted.
            self._pause_step(planned, now, f"niêm yết {planned.key}")
            step.notice_ends = now + timedelta(days=planned.notice_days or 0)
        elif kind is StepKind.PAYMENT:
            if not planned.counted:
                self._pause_step(planned, now, self._payment_pause(planned), moves_appointment=True)
            self._try_payment(planned, now)
        elif planned.key in self.state.decisions:
            # Carried over with its approval accepted: the result was on its way home.
            self._start_delivery(planned, self.state.decisions[planned.key], now)

    def _pause_step(
        self,
        planned: PlannedStep,
        now: datetime,
        reason: str,
        *,
        moves_appointment: bool = False,
        keeps_steps_running: bool = False,
    ) -> None:
        """Stop the clock of ``planned``'s procedure from ``now``, as the step's own pause."""
        self._open_pause(
            Pause(
                start=now,
                reason=reason,
                procedure=planned.procedure,
                moves_appointment=moves_appointment,
                step=planned.key,
                keeps_steps_running=keeps_steps_running,
            )
        )

    @staticmethod
    def _uncounted_pause(planned: PlannedStep) -> str:
        return f"không tính thời gian {planned.key}"

    @staticmethod
    def _payment_pause(planned: PlannedStep) -> str:
        return f"nghĩa vụ tài chính {planned.key}"

    def _counted_from(self, planned: PlannedStep, step: StepState) -> datetime | None:
        """Since when an open step's working time counts: a first step counts from the clock's
        start even if the dossier reached the software later (keyed in after the fact)."""
        if not planned.depends_on and step.opened_at is not None:
            return min(step.opened_at, self.plan.clock_starts)
        return step.opened_at

    def _pauses(self, procedure: str) -> list[Pause]:
        """The pauses that stop this procedure's clock: its own and the whole dossier's."""
        return [
            p
            for p in self.state.pauses
            if p.procedure in (None, procedure) and not p.keeps_steps_running
        ]

    def _applicant_pauses(self) -> list[Pause]:
        """The pauses that move the appointment: the applicant's time and uncounted agency time."""
        return [p for p in self.state.pauses if p.moves_appointment]

    def _set_due(self, planned: PlannedStep) -> None:
        step = self.state.steps[planned.key]
        if not planned.counted or step.opened_at is None:
            return
        # The law counts from receipt: a first step's clock starts when the dossier's did.
        start = self.plan.clock_starts if not planned.depends_on else step.opened_at
        # Warned a working day before it is due, or when half its time is gone if it is
        # shorter: a step warned as it opens would only be noise for its agency.
        lead = min(self.request.warning_lead_hours, planned.budget_hours / 2)
        step.due, step.warn_at = step_due(
            self.clock, start, planned.budget_hours, self._pauses(planned.procedure), lead
        )

    def _finish(
        self,
        planned: PlannedStep,
        kind: Outcome,
        text: str,
        officer_id: str | None,
        now: datetime,
    ) -> None:
        step = self.state.steps[planned.key]
        verdict: Verdict = Verdict.NOT_COUNTED
        late = 0.0
        used: float | None = None
        if planned.counted and step.opened_at is not None and step.due is not None:
            assessed = assess(
                self.clock, step.opened_at, now, step.due, self._pauses(planned.procedure)
            )
            verdict, late, used = (
                assessed.verdict,
                assessed.late_working_hours,
                assessed.working_hours_used,
            )
        assign(
            step,
            status=StepStatus.DONE,
            done_at=now,
            outcome=text,
            outcome_kind=kind,
            officer_id=officer_id,
            checking=False,
            notice_ends=None,
            verdict=verdict,
            working_hours=used,
            late_working_hours=late,
        )
        following = sorted({s.agency for s in self._plan_shape().following.get(planned.key, ())})
        self._ledger(planned, following or ["applicant"], kind, text, officer_id, now,
                     due=step.due, verdict=verdict, late=late)  # fmt: skip
        self._advance(now)

    def _ledger(
        self,
        planned: PlannedStep,
        to_agencies: list[str],
        kind: Outcome,
        text: str,
        officer_id: str | None,
        now: datetime,
        *,
        due: datetime | None = None,
        verdict: Verdict | None = None,
        late: float = 0.0,
    ) -> None:
        self.state.ledger.append(
            HandoverRow(
                sequence=len(self.state.ledger) + 1,
                procedure=planned.procedure,
                step=planned.step,
                from_agency=planned.agency,
                to_agencies=to_agencies,
                at=now,
                result=text,
                kind=kind,
                officer_id=officer_id,
                due=due,
                verdict=verdict,
                late_working_hours=late,
            )
        )

    def _refuse(
        self, planned: PlannedStep, reason: str, officer_id: str | None, now: datetime
    ) -> None:
        state = self.state
        step = state.steps[planned.key]
        step.status = StepStatus.DONE
        step.done_at = now
        step.outcome, step.outcome_kind = "refused: " + reason, Outcome.REFUSED
        step.officer_id = officer_id
        step.checking = False
        self._ledger(planned, ["applicant"], Outcome.REFUSED, step.outcome, officer_id, now,
                     due=step.due)  # fmt: skip
        if self.state.applicant_notices:
            refusals = sum(1 for row in state.ledger if row.kind is Outcome.REFUSED)
            self._effects.append(NotifyApplicant(ApplicantNoticeKind.REFUSED, refusals))
        policy = self.policy(planned.procedure)
        if policy is None or policy.refusal_ends_dossier:
            for procedure in {s.procedure for s in self.plan.steps}:
                state.procedure_outcomes.setdefault(procedure, "refused")
        else:
            state.procedure_outcomes[planned.procedure] = "refused"
        self._cancel_unreachable(now)
        self._advance(now)

    def _cancel_unreachable(self, now: datetime) -> None:
        """Cancel the steps of ended procedures and those that wait for them."""
        state = self.state
        changed = True
        while changed:
            changed = False
            for planned in self.plan.steps:
                step = state.steps[planned.key]
                if step.status in (StepStatus.DONE, StepStatus.CANCELLED):
                    continue
                blocked = planned.procedure in state.procedure_outcomes or any(
                    state.steps[d].status is StepStatus.CANCELLED
                    or state.steps[d].outcome_kind is Outcome.REFUSED
                    for d in planned.depends_on
                )
                if blocked:
                    step.status = StepStatus.CANCELLED
                    self._stop(planned.key, now)
                    state.procedure_outcomes.setdefault(planned.procedure, "stopped")
                    changed = True

    def _stop(self, key: str, now: datetime) -> None:
        """A step goes back to waiting, or is cancelled: its check stops, its own pause ends."""
        self._stop_check(key)
        self.state.steps[key].notice_ends = None
        for pause in self.state.pauses:
            if pause.step == key and pause.end is None:
                self._close_pause(pause.reason, now)

    def _stop_check(self, key: str) -> None:
        step = self.state.steps[key]
        if step.checking:
            step.checking = False
            self._effects.append(CancelCheck(key=key))

    # ---- pauses and the appointment ------------------------------------------------------------

    def _open_pause(self, pause: Pause) -> None:
        """Stop the clock of the pause's procedure (or the dossier's): no due moment meanwhile."""
        self.state.pauses.append(pause)
        if pause.keeps_steps_running:
            return
        for planned, step in self.open_steps():
            if planned.counted and pause.procedure in (None, planned.procedure):
                step.due = None

    def _close_pause(self, reason: str, now: datetime) -> None:
        closed = []
        for pause in self.state.pauses:
            if pause.reason == reason and pause.end is None:
                pause.end = now
                closed.append(pause)
        # The clock runs again: every open counted step gets its due moment anew.
        for planned, _ in self.open_steps():
            self._set_due(planned)
        # The applicant's time is not the agencies': both appointments move by it.
        for pause in closed:
            if pause.moves_appointment:
                state = self.state
                if state.appointment is not None:
                    state.appointment = shift(self.clock, state.appointment, pause)
                if state.legal_appointment is not None:
                    state.legal_appointment = shift(self.clock, state.legal_appointment, pause)
                self._plan_forecast()

    def _plan_forecast(self) -> None:
        """The appointment is checked this long (working time) before it."""
        appointment = self.state.appointment
        self.state.forecast_at = (
            self.clock.subtract(appointment, timedelta(hours=self.request.apology_lead_hours))
            if appointment is not None
            else None
        )

    def supplement_open(self) -> bool:
        """Whether a supplement request waits for the applicant (the clock is stopped)."""
        return any(s.answered_at is None and s.lapsed_at is None for s in self.state.supplements)

    def _remind_supplements(self, now: datetime) -> None:
        """A working day before the applicant's time to supplement ends, remind them (once)."""
        for number, request in enumerate(self.state.supplements, start=1):
            if request.answered_at or request.lapsed_at or request.reminded:
                continue
            if request.remind_at is not None and request.remind_at <= now:
                request.reminded = True
                self._effects.append(
                    NotifyApplicant(ApplicantNoticeKind.SUPPLEMENT_REMINDER, number)
                )

    def _lapse_supplements(self, now: datetime) -> None:
        """The applicant's time to supplement ran out: processing stops (the whole dossier)."""
        state = self.state
        for number, request in enumerate(state.supplements, start=1):
            if request.answered_at or request.lapsed_at or not request.answer_by:
                continue
            if request.answer_by > now:
                continue
            request.lapsed_at = now
            self._close_pause(SUPPLEMENT_PAUSE, now)
            planned = self.planned(f"{request.procedure}:{request.step}")
            deadline = f"{request.answer_by.astimezone(VN_TZ):%H:%M %d/%m/%Y}"
            text = f"supplement not received by {deadline}"
            self._ledger(planned, ["applicant"], Outcome.SUPPLEMENT_LAPSED, text, None, now)
            if state.applicant_notices:
                # Form 05 of Circular 03/2025/TT-VPCP: the notice that processing stops.
                self._effects.append(
                    NotifyApplicant(ApplicantNoticeKind.PROCESSING_STOPPED, number)
                )
            for procedure in {s.procedure for s in self.plan.steps}:
                state.procedure_outcomes.setdefault(procedure, "stopped")
            self._cancel_unreachable(now)

    def _only_the_post_left(self) -> bool:
        """Whether every step still to finish is a result with the post (none held by an agency)."""
        deliveries = self.state.deliveries
        if not deliveries:
            return False  # nothing with the post (most dossiers): no need to look at the steps
        waiting = [key for key, step in self.state.steps.items()
                   if step.status not in (StepStatus.DONE, StepStatus.CANCELLED)]  # fmt: skip
        return bool(waiting) and all(
            key in deliveries and deliveries[key].status in ("dispatching", "dispatched")
            for key in waiting
        )

    def awaiting_result(self) -> bool:
        """The appointment is still to be kept: not returned yet, not waiting on the applicant
        (whose time moves the appointment instead), and not left only to the post (a result
        handed to it keeps the appointment; another procedure still held by an agency does not)."""
        state = self.state
        applicant_pause = any(p.moves_appointment and p.end is None for p in state.pauses)
        return (
            state.status not in TERMINAL
            and state.status is not DossierStatus.NEW
            and not applicant_pause
            and not self._only_the_post_left()
        )

    def _apologised_for(self, appointment: datetime) -> bool:
        return any(a.original_appointment == appointment for a in self.state.apologies)

    def _check_appointment(self, missed: bool, now: datetime) -> None:
        """Apologise (form 04) once per appointment that is missed or can no longer be met."""
        state = self.state
        appointment = state.appointment
        if appointment is None or self._apologised_for(appointment):
            return
        if not missed and self._forecast_is_moot(now):
            return  # what the forecast below would conclude, without making it
        finish = self._projected_finish(now)
        if not missed and finish <= appointment and not self._past_latest_finish(now):
            return
        agency, reason = self._fault()
        lead = self.clock.working_time_between(now, appointment) if now < appointment else None
        record = ApologyRecord(
            sequence=len(state.apologies) + 1,
            agency=agency,
            reason_vi=reason,
            original_appointment=appointment,
            new_appointment=max(
                new_appointment(self.clock, finish, self.request.apology_grace_hours), now
            ),
            issued_at=now,
            lead_working_hours=round(lead.total_seconds() / 3600, 4) if lead else 0.0,
        )
        state.apologies.append(record)
        state.appointment = record.new_appointment
        self._plan_forecast()
        self._effects.append(SendApology(sequence=record.sequence))

    def _projected_finish(self, now: datetime) -> datetime:
        """`projected_finish` of the dossier's steps and applicant pauses at ``now``. Asked at every
        transition; the answer is kept for the transitions at the same moment that leave the
        steps, the pauses and the clock as they were (a pure function of them: the same)."""
        steps = self.state.steps
        shape = self._plan_shape()
        ended = (StepStatus.DONE, StepStatus.CANCELLED)
        progress = []  # each step's (counted from if open, done)
        for planned, step_key in shape.keyed:
            step = steps[step_key]
            status = step.status
            progress.append(
                (
                    self._counted_from(planned, step) if status is StepStatus.OPEN else None,
                    status in ended,
                )
            )
        pauses = self._applicant_pauses()
        key = (now, self.clock, shape, progress, [(p.start, p.end) for p in pauses])
        if self._forecast_memo is not None and self._forecast_memo[0] == key:
            return self._forecast_memo[1]
        lines = [
            BudgetLine(
                step_key,
                planned.depends_on,
                planned.budget_hours if planned.counted else 0.0,
                opened_at,
                done,
            )
            for (planned, step_key), (opened_at, done) in zip(shape.keyed, progress, strict=True)
        ]
        answer = projected_finish(self.clock, now, lines, pauses)
        self._forecast_memo = (key, answer)
        return answer

    def _latest_finishes(self) -> tuple[datetime, ...]:
        """For each open step, the moment it is late for the appointment: the appointment less
        the longest chain of (counted) budgets of the steps still after it, plus the minute of
        tolerance lateness is counted with (a step done at that very moment keeps it)."""
        state = self.state
        appointment = state.appointment
        if appointment is None:
            return ()
        shape = self._plan_shape()
        # Kept while the appointment, the clock and every step's status stay as they were; a
        # tuple, so that no caller can change the kept answer.
        inputs = (appointment, self.clock, shape, tuple(s.status for s in state.steps.values()))
        if self._latest_memo is not None and self._latest_memo[0] == inputs:
            return self._latest_memo[1]
        following = shape.following
        ended = (StepStatus.DONE, StepStatus.CANCELLED)
        memo: dict[str, float] = {}

        def after(key: str) -> float:
            if key not in memo:
                memo[key] = max(
                    (
                        (step.budget_hours if step.counted else 0.0) + after(step.key)
                        for step in following.get(key, [])
                        if state.steps[step.key].status not in ended
                    ),
                    default=0.0,
                )
            return memo[key]

        latest = tuple(
            self.clock.subtract(appointment, timedelta(hours=after(planned.key))) + LATE_AFTER
            for planned, _ in self.open_steps()
        )
        self._latest_memo = (inputs, latest)
        return latest

    def _forecast_is_moot(self, now: datetime) -> bool:
        """Whether no apology can be due at ``now`` whatever the forecast says: ``now`` is at or
        before `_moot_until`, every open step opened by ``now`` and every applicant pause ended by
        it. Then the projected finish is at or before the appointment and no open step is past
        its latest finish (see `_moot_until`), which is what `_check_appointment` would find.

        Why it holds: the projected finish is ``now`` plus the longest chain of what is left of
        the budgets, on the clock with the applicant's pauses, which all ended by ``now`` and so
        stop nothing after it. What is left of a budget is at most the budget (the time used is
        not negative, the step having opened by ``now``), so the chain is at most ``L``, the
        longest chain of whole budgets of the steps not ended; ``add`` is monotone in its start
        and its duration, so the finish is at most ``add(moot_until, L)``, which is at or before
        the appointment (``L`` > 0). Each open step's chain after it is at most ``L`` too, and
        ``subtract`` is monotone in its duration, so its latest finish is at least
        ``moot_until`` plus the minute of tolerance, after ``now``."""
        until = self._moot_until()
        if until is None or now > until:
            return False
        is_open = StepStatus.OPEN
        for step in self.state.steps.values():
            if step.status is is_open and step.opened_at is not None and step.opened_at > now:
                return False
        return all(
            p.end <= now for p in self.state.pauses if p.moves_appointment and p.end is not None
        )

    def _moot_until(self) -> datetime | None:
        """The appointment less ``L``, the longest chain of (counted) budgets of the steps not
        ended yet: the latest moment from which ``L`` elapses by the appointment (`subtract`'s
        contract), None if the pinned calendar has no such moment (the forecast is then always
        made). Kept, as `_latest_finishes` is, while the appointment, the clock and every step's
        status stay as they were."""
        state = self.state
        appointment = state.appointment
        if appointment is None:
            return None
        shape = self._plan_shape()
        inputs = (appointment, self.clock, shape, tuple(s.status for s in state.steps.values()))
        if self._moot_memo is not None and self._moot_memo[0] == inputs:
            return self._moot_memo[1]
        until: datetime | None
        try:
            until = self.clock.subtract(appointment, self._longest_chain_left())
        except ValueError:  # before the pinned calendar: the forecast will say what it says
            until = None
        self._moot_memo = (inputs, until)
        return until

    def _longest_chain_left(self) -> timedelta:
        """``L``: the longest chain of whole (counted) budgets of the steps not ended yet."""
        steps = self.state.steps
        done, cancelled = StepStatus.DONE, StepStatus.CANCELLED
        chain: dict[str, float] = {}  # the heaviest chain of steps that ends with each
        for key, before, budget in self._plan_shape().budgets:
            status = steps[key].status
            own = 0.0 if status is done or status is cancelled else budget
            chain[key] = own + max([chain[d] for d in before], default=0.0)
        # The chains after each open step (`_latest_finishes`) are summed from their far end, this
        # one from its start: floating-point sums in another order may differ in the last bit,
        # which a millisecond more covers (and, moving the bound earlier, can only forecast more).
        return timedelta(hours=max(chain.values(), default=0.0)) + _CHAIN_SLACK

    def _past_latest_finish(self, now: datetime) -> bool:
        """Whether an open step is still open at or after its latest finish (1.1 only): the
        appointment can no longer be met if the agencies after it take their budgets."""
        if not self.state.apology_when_known:
            return False
        return any(moment <= now for moment in self._latest_finishes())

    def _fault(self) -> tuple[str, str]:
        """The agency whose step made the dossier late, and why (from the ledger)."""
        open_steps = self.open_steps()
        overdue = sorted(
            ((step.due, planned.key, planned) for planned, step in open_steps
             if step.overdue and step.due),
        )  # fmt: skip
        if overdue:
            due, _, planned = overdue[0]
            return planned.agency, (
                f"Bước “{planned.name_vi}” tại {planned.agency_vi} quá hạn xử lý "
                f"(hạn {due.astimezone(VN_TZ):%H:%M %d/%m/%Y})."
            )
        late_rows = [row for row in self.state.ledger if row.verdict == Verdict.LATE]
        if late_rows:
            row = max(late_rows, key=lambda r: r.late_working_hours)
            late = next(
                (p for p in self.plan.steps if (p.procedure, p.step) == (row.procedure, row.step)),
                None,
            )
            step_vi, agency_vi = (
                (late.name_vi, late.agency_vi) if late else (row.step, row.from_agency)
            )
            return row.from_agency, (
                f"Bước “{step_vi}” tại {agency_vi} đã trễ {row.late_working_hours:g} giờ làm việc."
            )
        if open_steps:
            planned = open_steps[0][0]
            return planned.agency, (
                f"Hồ sơ đang ở bước “{planned.name_vi}” tại {planned.agency_vi}; thời gian còn "
                f"lại không đủ để trả kết quả đúng hẹn."
            )
        return "one-stop", "Hồ sơ chưa được trả kết quả đúng hẹn."

    def _notify(self, planned: PlannedStep, kind: NoticeKind, due: datetime | None) -> None:
        """Tell the agency (a warning, a withdrawal) or its head (an escalation); once each."""
        sequence = 1 + sum(
            1
            for row in self.state.ledger
            if (row.procedure, row.step) == (planned.procedure, planned.step)
        )
        self._effects.append(
            NotifyAgency(
                kind=kind, step=planned.key, agency=planned.agency, due=due, sequence=sequence
            )
        )

    # ---- time ----------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        """The earliest moment the dossier must act on by itself, if any."""
        state = self.state
        if state.plan is None or self.finished:
            return None
        moments: list[datetime] = []
        open_steps = self.open_steps()
        for _, step in open_steps:
            if step.overdue:
                continue
            if step.due is not None:
                moments.append(step.due)
            if step.warn_at is not None and not step.warned:
                moments.append(step.warn_at)
            if step.notice_ends is not None:
                moments.append(step.notice_ends)
        for _, step in open_steps:
            if step.overdue and step.notice_ends is not None:
                moments.append(step.notice_ends)
        moments += [
            d.next_attempt_at
            for d in state.deliveries.values()
            if d.next_attempt_at is not None and not d.busy
        ]
        moments += [
            s.answer_by
            for s in state.supplements
            if s.answer_by is not None and s.answered_at is None and s.lapsed_at is None
        ]
        if state.applicant_notices:
            moments += [
                s.remind_at
                for s in state.supplements
                if s.remind_at is not None
                and not s.reminded
                and s.answered_at is None
                and s.lapsed_at is None
            ]
        if self.awaiting_result() and state.appointment is not None:
            if not self._apologised_for(state.appointment):
                moments.append(state.appointment)
                if state.apology_when_known:
                    moments += self._latest_finishes()
            if state.forecast_at is not None and state.forecast_at < state.appointment:
                moments.append(state.forecast_at)
        return min(moments, default=None)

    def tick(self, now: datetime) -> list[Effect]:
        """Time has come: warnings, escalations, notice ends, the postman, apologies."""
        state = self.state
        if state.plan is None or self.finished:
            return self._drain()
        if state.applicant_notices:
            self._remind_supplements(now)
        self._lapse_supplements(now)
        for planned, step in self.open_steps():
            if step.due is not None and step.due <= now and not step.overdue:
                step.overdue = True
                self._notify(planned, "escalation", step.due)
            elif (
                step.warn_at is not None
                and step.warn_at <= now
                and not step.warned
                and not step.overdue
            ):
                step.warned = True
                self._notify(planned, "due_soon", step.due)
        for planned, step in self.open_steps():
            if step.notice_ends is not None and step.notice_ends <= now:
                self._close_pause(f"niêm yết {planned.key}", now)
                self._finish(planned, Outcome.NOTICE_ENDED, "notice period ended", None, now)
        for delivery in state.deliveries.values():
            due = delivery.next_attempt_at
            if due is not None and due <= now and not delivery.busy:
                delivery.busy = True
                delivery.next_attempt_at = None
                self._effects.append(
                    AttemptDelivery(step=delivery.step, attempt=delivery.attempts + 1)
                )
        if self.awaiting_result() and state.appointment is not None:
            if state.appointment <= now:
                self._check_appointment(missed=True, now=now)
            elif state.forecast_at is not None and state.forecast_at <= now:
                state.forecast_at = state.appointment  # checked; next: the appointment itself
                self._check_appointment(missed=False, now=now)
            elif any(step.overdue for _, step in self.open_steps()) or self._past_latest_finish(
                now
            ):
                self._check_appointment(missed=False, now=now)
        self._advance(now)
        return self._drain()

    def _maybe_extend_calendar(self, now: datetime) -> None:
        snapshot = self.state.clock
        if snapshot is None or self.state.calendar_extension_asked or self.finished:
            return
        if snapshot.calendar.last_day - now.astimezone(VN_TZ).date() < CALENDAR_MARGIN:
            self.state.calendar_extension_asked = True
            self._effects.append(
                ExtendCalendar(
                    first=snapshot.calendar.first_day,
                    last=now.astimezone(VN_TZ).date() + CALENDAR_HORIZON,
                )
            )

    def calendar_extended(self, snapshot: ClockSnapshot, now: datetime) -> list[Effect]:
        """The longer snapshot arrived; the amendments this dossier received still hold."""
        amendments = self.state.clock.calendar.amendments if self.state.clock else ()
        self.state.clock = snapshot.amended(amendments)
        self.state.calendar_extension_asked = False
        return self._drain()

    def amend_calendar(self, amendment: CalendarAmendmentInput, now: datetime) -> list[Effect]:
        """The government changed working days: re-plan open due moments and the appointment.

        The promised appointment never moves earlier; the legal one follows the law. Nothing
        done is judged again, and an overdue flag, once raised, stays: an amendment can neither
        produce a false apology (due moments and the appointment move together) nor hide
        lateness already established.
        """
        state = self.state
        if state.clock is None or state.plan is None:
            # Not received yet: the amendment applies once the dossier has its calendar.
            state.early_amendments.append(amendment)
            return self._drain()
        if self.finished:
            return self._drain()
        before = state.clock
        after = before.amended(amendment.overrides)
        changed = set(before.calendar.changed_days(after.calendar))
        if not changed:
            return self._drain()
        old_clock, new_clock = before.clock(), after.clock()
        state.clock = after

        def moved(moment: datetime | None) -> datetime | None:
            if moment is None or moment <= now:
                return moment
            anchor = max(now, state.plan.clock_starts) if state.plan else now
            left = old_clock.working_time_between(anchor, moment)
            return new_clock.add(anchor, left)

        appointment_before = state.appointment
        legal = moved(state.legal_appointment)
        promised = moved(state.appointment)
        state.legal_appointment = legal
        if promised is not None and state.appointment is not None:
            state.appointment = max(promised, state.appointment)
        for planned, _ in self.open_steps():
            self._set_due(planned)
        if state.appointment != appointment_before:
            self._plan_forecast()
        state.calendar_changes.append(
            CalendarChange(
                at=now,
                announced_by=amendment.announced_by,
                days=[o for o in amendment.overrides if o.day in changed],
                appointment_before=appointment_before,
                appointment_after=state.appointment,
            )
        )
        if state.appointment != appointment_before:
            self._effects.append(NotifyAppointmentMoved(change=len(state.calendar_changes) - 1))
        return self._drain()

    # ---- results of the shell's activities -----------------------------------------------------

    def check_done(
        self, key: str, run: int, result: AutomatedCheckResult, now: datetime
    ) -> list[Effect]:
        """An agency's automated check answered (an answer to an earlier run is ignored)."""
        state = self.state
        step = state.steps[key]
        if step.status is not StepStatus.OPEN or step.runs != run or not step.checking:
            return self._drain()
        step.checking = False
        planned = self.planned(key)
        if not planned.counted:
            self._close_pause(self._uncounted_pause(planned), now)
        if result.amount_due_vnd is not None:
            state.amount_due_vnd += result.amount_due_vnd
        if result.reference or result.amount_due_vnd is not None:
            state.documents.append(
                DocumentIssued(
                    procedure=planned.procedure,
                    step=planned.step,
                    kind="notice" if result.amount_due_vnd else "registration",
                    reference=result.reference,
                    summary_vi=result.summary_vi,
                    at=now,
                )
            )
        if result.passed:
            self._finish(planned, Outcome.PASSED, "passed: " + result.summary_vi, None, now)
        elif result.missing_documents and self.why_no_supplement(planned.procedure, now) is None:
            self._request_supplement(
                planned, planned.agency, result.missing_documents, result.summary_vi, now
            )
            step.awaiting_supplement = True  # checked again from the start when they arrive
            self._refresh_status()
        else:
            self._refuse(planned, result.summary_vi, None, now)
        return self._drain()

    def apology_sent(self, sequence: int, letter_id: str | None, sent: bool) -> None:
        """Form 04 number ``sequence`` went out."""
        record = self.state.apologies[sequence - 1]
        record.letter_id, record.sent = letter_id, sent

    def applicant_notified(self, change: int) -> None:
        """The applicant was told of the appointment a calendar amendment moved."""
        self.state.calendar_changes[change].notified = True

    # ---- officers' decisions -------------------------------------------------------------------

    def check_decision(self, decision: DecisionInput, now: datetime) -> None:
        """Raise `Refusal` unless the officer may take this decision now."""
        state = self.state
        if state.plan is None:
            raise Refusal(RefusalKind.NOT_READY, "the dossier is still being received")
        if self.finished:
            raise Refusal(RefusalKind.DOSSIER_CLOSED, f"the dossier is {state.status}")
        if not decision.officer_id.strip():
            raise Refusal(RefusalKind.INVALID_DECISION, "officer_id is required")
        step = state.steps.get(decision.step)
        if step is None:
            raise Refusal(
                RefusalKind.UNKNOWN_STEP,
                f"no step {decision.step!r}; steps: {', '.join(state.steps)}",
            )
        planned = self.planned(decision.step)
        self._check_step_open(decision, step, planned)
        self._check_action(decision, planned, now)

    def _check_step_open(
        self, decision: DecisionInput, step: StepState, planned: PlannedStep
    ) -> None:
        """Raise `Refusal` unless this officer's agency may act on the open step now."""
        state = self.state
        if decision.agency != planned.agency:
            raise Refusal(
                RefusalKind.WRONG_AGENCY,
                f"step {decision.step} is held by {planned.agency}; "
                f"an officer of {decision.agency} cannot act on it",
            )
        if step.status is StepStatus.PENDING and step.carried_over:
            raise Refusal(
                RefusalKind.CONTINUING_AS_NEW,
                f"step {decision.step} is being reopened in the dossier's next run; "
                "send the decision again",
            )
        if step.status is not StepStatus.OPEN:
            raise Refusal(
                RefusalKind.STEP_NOT_OPEN, f"step {decision.step} is {step.status}, not open"
            )
        if planned.kind not in OFFICER_KINDS:
            raise Refusal(
                RefusalKind.NOT_AN_OFFICER_STEP,
                f"step {decision.step} ({planned.kind}) is not decided by an officer",
            )
        if decision.step in state.decisions:
            raise Refusal(RefusalKind.STEP_NOT_OPEN, f"step {decision.step} is already decided")
        if self.supplement_open():
            raise Refusal(
                RefusalKind.CLOCK_PAUSED, "the dossier is waiting for the applicant's supplement"
            )

    def _check_action(self, decision: DecisionInput, planned: PlannedStep, now: datetime) -> None:
        """Raise `Refusal` unless the decision's action carries what it needs."""
        state = self.state
        if decision.action is DecisionAction.REQUEST_SUPPLEMENT:
            if not decision.missing_documents:
                raise Refusal(
                    RefusalKind.INVALID_DECISION,
                    "a supplement request must list the missing documents",
                )
            why_not = self.why_no_supplement(planned.procedure, now)
            if why_not:
                raise Refusal(RefusalKind.SUPPLEMENT_NOT_ALLOWED, why_not)
        if (
            decision.action in (DecisionAction.REFUSE, DecisionAction.SEND_BACK)
            and not decision.reason.strip()
        ):
            raise Refusal(RefusalKind.INVALID_DECISION, f"{decision.action} needs a reason")
        if decision.action is DecisionAction.SEND_BACK:
            target = decision.send_back_to or ""
            if target not in state.steps or not self._is_upstream(target, decision.step):
                raise Refusal(
                    RefusalKind.INVALID_DECISION,
                    f"send_back_to must be an earlier step of {decision.step}; got {target!r}",
                )
            if state.steps[target].status is not StepStatus.DONE:
                raise Refusal(RefusalKind.INVALID_DECISION, f"step {target} has not run yet")

    def _is_upstream(self, candidate: str, key: str) -> bool:
        seen: set[str] = set()
        frontier = list(self.planned(key).depends_on)
        while frontier:
            current = frontier.pop()
            if current == candidate:
                return True
            if current not in seen:
                seen.add(current)
                frontier.extend(self.planned(current).depends_on)
        return False

    def decide(self, decision: DecisionInput, update_id: str, now: datetime) -> list[Effect]:
        """An officer's decision (validated by `check_decision`) takes effect."""
        state = self.state
        planned = self.planned(decision.step)
        step = state.steps[decision.step]
        self._audit(
            AuditEntry(
                update_id=update_id,
                at=now,
                actor_kind="officer",
                actor_id=decision.officer_id,
                agency=decision.agency,
                action=decision.action,
                step=decision.step,
                reason=decision.reason,
                detail=", ".join(decision.missing_documents) or (decision.send_back_to or ""),
            )
        )
        if decision.action is DecisionAction.APPROVE:
            delivery = state.deliveries.get(planned.key)
            if delivery is not None and delivery.status in ("returned_to_desk", "no_address"):
                text = "collected at the desk: " + decision.reason
                self._finish(planned, Outcome.COLLECTED, text, decision.officer_id, now)
            elif planned.kind == StepKind.RETURN_RESULT and self.home_delivery():
                state.decisions[planned.key] = decision
                self._start_delivery(planned, decision, now)
            else:
                self._finish(planned, Outcome.APPROVED, "approved: " + decision.reason,
                             decision.officer_id, now)  # fmt: skip
        elif decision.action is DecisionAction.REQUEST_SUPPLEMENT:
            due = step.due
            self._request_supplement(
                planned, decision.agency, decision.missing_documents, decision.reason, now
            )
            self._ledger(planned, ["applicant"], Outcome.SUPPLEMENT_REQUESTED,
                         "supplement requested: " + decision.reason, decision.officer_id, now,
                         due=due)  # fmt: skip
        elif decision.action is DecisionAction.REFUSE:
            self._refuse(planned, decision.reason, decision.officer_id, now)
        else:
            assert decision.send_back_to is not None
            self._send_back(
                planned, decision.send_back_to, decision.reason, decision.officer_id, now
            )
        self._advance(now)
        return self._drain()

    def _send_back(
        self, planned: PlannedStep, target: str, reason: str, officer_id: str, now: datetime
    ) -> None:
        again = {target}
        grew = True
        while grew:  # the target and everything downstream of it runs again
            grew = False
            for s in self.plan.steps:
                if s.key not in again and any(d in again for d in s.depends_on):
                    again.add(s.key)
                    grew = True
        self._ledger(planned, [self.planned(target).agency], Outcome.SENT_BACK,
                     "sent back: " + reason, officer_id, now,
                     due=self.state.steps[planned.key].due)  # fmt: skip
        for key in sorted(again):
            self.state.steps[key].status = StepStatus.PENDING
            self._stop(key, now)

    # ---- the applicant -------------------------------------------------------------------------

    def why_no_supplement(self, procedure: str, now: datetime) -> str | None:
        """None if one more supplement request is allowed for the procedure, else why not."""
        policy = self.policy(procedure)
        if policy is None:
            return f"{procedure} is not a procedure of this dossier"
        used = sum(1 for s in self.state.supplements if s.procedure == procedure)
        if used >= policy.max_supplement_requests:
            return (
                f"{procedure} allows {policy.max_supplement_requests} supplement request(s); "
                f"{used} already made"
            )
        if policy.supplement_deadline is not None and now > policy.supplement_deadline:
            return (
                f"supplement requests for {procedure} were allowed until "
                f"{policy.supplement_deadline.isoformat()}"
            )
        if self.supplement_open():
            return "a supplement request is already waiting for the applicant"
        return None

    def _request_supplement(
        self, planned: PlannedStep, agency: str, missing: list[str], reason: str, now: datetime
    ) -> None:
        state = self.state
        policy = self.policy(planned.procedure)
        hours = policy.supplement_answer_hours if policy is not None else None
        answer_by = self.clock.add(now, timedelta(hours=hours)) if hours else None
        remind_at = None
        if state.applicant_notices and answer_by is not None:
            # A working day before the time ends; none when the time is shorter than that
            # (the request itself says when it ends).
            lead = timedelta(hours=self.request.warning_lead_hours)
            remind_at = self.clock.subtract(answer_by, lead)
            if remind_at <= now:
                remind_at = None
        state.supplements.append(
            SupplementRequest(
                procedure=planned.procedure,
                step=planned.step,
                requested_by=agency,
                missing_documents=missing,
                reason=reason,
                at=now,
                answer_by=answer_by,
                remind_at=remind_at,
            )
        )
        self._open_pause(Pause(start=now, reason=SUPPLEMENT_PAUSE, moves_appointment=True))
        if state.applicant_notices:
            self._effects.append(
                NotifyApplicant(ApplicantNoticeKind.SUPPLEMENT_REQUESTED, len(state.supplements))
            )

    def check_supplement(self, documents: list[SubmittedDocument]) -> None:
        """Raise `Refusal` unless a supplement is awaited and some document is handed in."""
        if not self.supplement_open():
            raise Refusal(RefusalKind.NO_SUPPLEMENT_REQUESTED, "no supplement was requested")
        if not documents:
            raise Refusal(RefusalKind.INVALID_SUPPLEMENT, "hand in at least one document")

    def provide_supplement(
        self, documents: list[SubmittedDocument], update_id: str, now: datetime
    ) -> list[Effect]:
        """The applicant hands in what was asked; the clock runs again."""
        state = self.state
        self._audit(
            AuditEntry(
                update_id=update_id,
                at=now,
                actor_kind="applicant",
                action="provide_supplement",
                detail=", ".join(d.name_vi for d in documents),
            )
        )
        for request in state.supplements:
            if request.answered_at is None and request.lapsed_at is None:
                request.answered_at = now
        state.facts = state.facts.model_copy(
            update={"documents": [*state.facts.documents, *documents]}
        )
        self._close_pause(SUPPLEMENT_PAUSE, now)
        for step in state.steps.values():
            if step.status is StepStatus.OPEN and step.awaiting_supplement:
                step.status = StepStatus.PENDING  # the check runs again, from the start
        self._advance(now)
        return self._drain()

    def check_withdraw(self) -> None:
        """Raise `Refusal` unless the dossier can still be withdrawn."""
        status = self.state.status
        if self.state.plan is None:
            raise Refusal(RefusalKind.NOT_READY, "the dossier is still being received")
        if status in TERMINAL or status is DossierStatus.DECIDED:
            raise Refusal(
                RefusalKind.DOSSIER_CLOSED,
                f"the dossier is {status}; it can no longer be withdrawn",
            )

    def withdraw(self, reason: str, update_id: str, now: datetime) -> list[Effect]:
        """The applicant withdraws: open steps end, their agencies are told."""
        state = self.state
        self._audit(
            AuditEntry(
                update_id=update_id,
                at=now,
                actor_kind="applicant",
                action="withdraw",
                reason=reason,
            )
        )
        state.withdrawn_reason = reason or "applicant withdrew"
        for planned, step in self.open_steps():
            self._notify(planned, "withdrawn", step.due)
            self._ledger(planned, ["applicant"], Outcome.WITHDRAWN, "withdrawn", None, now,
                         due=step.due)  # fmt: skip
        for procedure in {s.procedure for s in self.plan.steps}:
            state.procedure_outcomes.setdefault(procedure, "withdrawn")
        self._cancel_unreachable(now)
        state.status = DossierStatus.WITHDRAWN
        self._advance(now)
        return self._drain()

    def payment_received(self, payment: PaymentInput, now: datetime) -> list[Effect]:
        """The payment side reports a payment; a duplicate or nonsense adds nothing."""
        state = self.state
        if payment.amount_vnd <= 0 or payment.reference == state.payment_reference:
            return self._drain()
        state.amount_paid_vnd += payment.amount_vnd
        state.payment_reference = payment.reference
        self._audit(
            AuditEntry(
                update_id=f"payment:{payment.reference}",
                at=now,
                actor_kind="payment",
                actor_id=payment.reference,
                action="payment_received",
                detail=f"{payment.amount_vnd} VND",
            )
        )
        if state.plan is not None:
            for planned, _ in self.open_steps():
                if planned.kind == StepKind.PAYMENT:
                    self._try_payment(planned, now)
            self._advance(now)
        return self._drain()

    def _try_payment(self, planned: PlannedStep, now: datetime) -> None:
        state = self.state
        # Nothing to pay (no obligation computed): the step passes at once.
        paid = state.amount_due_vnd == 0 or (
            state.amount_paid_vnd >= state.amount_due_vnd and state.payment_reference is not None
        )
        if not paid:
            return
        if not planned.counted:
            self._close_pause(self._payment_pause(planned), now)
        text = f"paid {state.amount_paid_vnd} VND ({state.payment_reference})"
        self._finish(planned, Outcome.PAID, text, None, now)

    def _audit(self, entry: AuditEntry) -> None:
        self.state.audit.append(entry)

    # ---- home delivery -------------------------------------------------------------------------

    def _delivery_pause(self, key: str) -> str:
        return f"chuyển phát {key}"

    def _start_delivery(self, planned: PlannedStep, decision: DecisionInput, now: datetime) -> None:
        """Send the result home. Postal time is not the agencies': the procedure's clock is
        paused meanwhile, and the appointment counts as kept once the result is with the post."""
        state = self.state
        delivery = state.deliveries.setdefault(planned.key, DeliveryState(step=planned.key))
        reason = self._delivery_pause(planned.key)
        if not any(p.reason == reason and p.end is None for p in state.pauses):
            self._open_pause(
                Pause(start=now, reason=reason, procedure=planned.procedure, step=planned.key)
            )
        if delivery.tracking_number is None:
            delivery.status = "dispatching"
            delivery.busy = True
            self._effects.append(Dispatch(step=planned.key))
        elif not delivery.busy and delivery.next_attempt_at is None:
            delivery.next_attempt_at = self.clock.add(now, POSTMAN_ROUND)

    def _still_delivering(self, key: str) -> bool:
        """Whether the return step still waits on the post: an answer that comes back after the
        dossier ended (withdrawn, refused) is noted on the delivery and goes no further."""
        return self.state.steps[key].status is StepStatus.OPEN

    def dispatched(self, key: str, tracking_number: str, now: datetime) -> list[Effect]:
        """The post took the result."""
        delivery = self.state.deliveries[key]
        delivery.busy = False
        delivery.tracking_number = tracking_number
        if not self._still_delivering(key):
            return self._drain()
        delivery.status = "dispatched"
        decision = self.state.decisions.get(key)
        self._ledger(self.planned(key), ["post"], Outcome.POSTED,
                     f"handed to the post: {tracking_number}",
                     decision.officer_id if decision else None, now)  # fmt: skip
        delivery.next_attempt_at = self.clock.add(now, POSTMAN_ROUND)
        return self._drain()

    def dispatch_refused(self, key: str, why: str, now: datetime) -> list[Effect]:
        """The post cannot take it (no address on file): the applicant collects at the desk."""
        delivery = self.state.deliveries[key]
        delivery.busy = False
        if not self._still_delivering(key):
            return self._drain()
        delivery.status = "no_address"
        self._collect_at_desk(key, why, now)
        return self._drain()

    def delivery_attempted(self, key: str, outcome: str, now: datetime) -> list[Effect]:
        """The postman came back: delivered, or try again next working day, or give up."""
        delivery = self.state.deliveries[key]
        delivery.busy = False
        delivery.attempts += 1
        delivery.outcomes.append(outcome)
        if not self._still_delivering(key):
            return self._drain()
        if outcome == "delivered":
            delivery.status = "delivered"
            self._close_pause(self._delivery_pause(key), now)
            decision = self.state.decisions.get(key)
            self._finish(self.planned(key), Outcome.DELIVERED,
                         f"delivered by post: {delivery.tracking_number}",
                         decision.officer_id if decision else None, now)  # fmt: skip
        elif delivery.attempts < self.request.delivery_attempts:
            delivery.next_attempt_at = self.clock.add(now, POSTMAN_ROUND)
        else:
            delivery.busy = True
            self._effects.append(ReturnToDesk(step=key))
        return self._drain()

    def returned_to_desk(self, key: str, now: datetime) -> list[Effect]:
        """The result is back at the desk; the applicant is told to collect it."""
        delivery = self.state.deliveries[key]
        delivery.busy = False
        if not self._still_delivering(key):
            return self._drain()
        delivery.status = "returned_to_desk"
        self._collect_at_desk(key, f"not delivered after {delivery.attempts} attempts", now)
        return self._drain()

    def _collect_at_desk(self, key: str, why: str, now: datetime) -> None:
        """The result waits at the desk until an officer records that the applicant took it."""
        self._ledger(self.planned(key), ["one-stop"], Outcome.BACK_TO_DESK,
                     f"back to the desk: {why}", None, now)  # fmt: skip
        self._close_pause(self._delivery_pause(key), now)
        self.state.decisions.pop(key, None)
        self._refresh_status()

    # ---- status and views ----------------------------------------------------------------------

    def _refresh_status(self) -> None:
        state = self.state
        if state.plan is None or state.status in TERMINAL:
            return
        tally = self._tally()
        if state.withdrawn_reason is not None:
            state.status = DossierStatus.WITHDRAWN
        elif state.procedure_outcomes and tally.done + tally.cancelled == tally.steps:
            if tally.result_returned:
                state.status = DossierStatus.RETURNED  # a partial result was returned
            else:
                outcomes = set(state.procedure_outcomes.values())
                state.status = (
                    DossierStatus.REFUSED if "refused" in outcomes else DossierStatus.STOPPED
                )
        elif tally.done == tally.steps:
            state.status = DossierStatus.RETURNED
        elif self.supplement_open():
            state.status = DossierStatus.SUPPLEMENT_REQUESTED
        elif tally.payment_open:
            state.status = DossierStatus.FINANCIAL_OBLIGATION
        elif not tally.undecided:
            state.status = DossierStatus.DECIDED
        elif tally.pending < tally.steps:
            state.status = DossierStatus.IN_PROGRESS

    def _tally(self) -> _Tally:
        """What `_refresh_status` asks of the steps, in one pass (it runs at every transition)."""
        steps = self.state.steps
        kinds = self._plan_shape().kinds
        done = cancelled = pending = 0
        result_returned = payment_open = undecided = False
        for key, returns, pays in kinds:
            status = steps[key].status
            if status is StepStatus.DONE:
                done += 1
                result_returned = result_returned or returns
            elif status is StepStatus.CANCELLED:
                cancelled += 1
            else:
                undecided = undecided or not returns
                if status is StepStatus.PENDING:
                    pending += 1
                elif pays and status is StepStatus.OPEN:
                    payment_open = True
        return _Tally(
            len(kinds), done, cancelled, pending, result_returned, payment_open, undecided
        )


__all__ = [
    "CALENDAR_HORIZON",
    "OFFICER_KINDS",
    "AttemptDelivery",
    "CancelCheck",
    "Dispatch",
    "DossierCore",
    "Effect",
    "ExtendCalendar",
    "NotifyAgency",
    "NotifyApplicant",
    "NotifyAppointmentMoved",
    "ReturnToDesk",
    "RunCheck",
    "SendApology",
    "calendar_window",
]
