"""The dossier core without Temporal: whole dossiers played in milliseconds.

`World` stands in for the workflow shell: it carries out the core's effects at once (checks pass
unless told otherwise, the post follows a script) and moves time to the core's next moment, as
the shell's one timer does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain import dossier_views as views
from domain.calendar import CalendarOverride, default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from domain.deadlines import Verdict, snapshot_of
from domain.dossier import (
    TERMINAL,
    AutomatedCheckResult,
    CalendarAmendmentInput,
    DecisionAction,
    DecisionInput,
    DossierFacts,
    DossierInput,
    DossierStatus,
    Outcome,
    PaymentInput,
    Refusal,
    RefusalKind,
    StepStatus,
    SubmittedDocument,
)
from domain.dossier_core import (
    OFFICER_KINDS,
    AttemptDelivery,
    CancelCheck,
    Dispatch,
    DossierCore,
    Effect,
    ExtendCalendar,
    NotifyAgency,
    NotifyAppointmentMoved,
    ReturnToDesk,
    RunCheck,
    SendApology,
    calendar_window,
)
from domain.plan import plan_dossier

CATALOG = default_catalog()
CLOCK = LegalClock(default_calendar())
MONDAY_9 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 2/3/2026 09:00 in Hà Nội
Check = Callable[[str], AutomatedCheckResult]


def passes(key: str) -> AutomatedCheckResult:
    return AutomatedCheckResult(
        passed=True,
        summary_vi="đạt",
        amount_due_vnd=1_000_000 if key.endswith("compute-obligation") else None,
    )


@dataclass
class World:
    """The shell, played synchronously: effects are carried out as they come."""

    core: DossierCore
    now: datetime
    check: Check = passes
    post: list[str] = field(default_factory=list)  # delivery outcomes, in order
    notices: list[NotifyAgency] = field(default_factory=list)
    apologies_sent: list[int] = field(default_factory=list)
    moved_notices: list[int] = field(default_factory=list)
    checks_run: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    pending_checks: list[RunCheck] = field(default_factory=list)
    hold_checks: bool = False  # leave checks running (to cancel or answer them later)
    held_post: list[Effect] = field(default_factory=list)
    hold_post: bool = False  # leave the post's calls running (to answer them later)

    def run(self, effects: list[Effect]) -> None:
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            queue += self._carry_out(effect)

    def _carry_out(self, effect: Effect) -> list[Effect]:
        core, now = self.core, self.now
        if isinstance(effect, RunCheck):
            self.checks_run.append(effect.key)
            if self.hold_checks:
                self.pending_checks.append(effect)
                return []
            return core.check_done(effect.key, effect.run, self.check(effect.key), now)
        if isinstance(effect, CancelCheck):
            self.cancelled.append(effect.key)
            return []
        if isinstance(effect, SendApology):
            self.apologies_sent.append(effect.sequence)
            core.apology_sent(effect.sequence, f"letter-{effect.sequence}", True)
            return []
        if isinstance(effect, NotifyAgency):
            self.notices.append(effect)
            return []
        if isinstance(effect, NotifyAppointmentMoved):
            self.moved_notices.append(effect.change)
            core.applicant_notified(effect.change)
            return []
        if self.hold_post and isinstance(effect, Dispatch | AttemptDelivery | ReturnToDesk):
            self.held_post.append(effect)
            return []
        if isinstance(effect, Dispatch):
            return core.dispatched(effect.step, "EB000000001VN", now)
        if isinstance(effect, AttemptDelivery):
            outcome = self.post.pop(0) if self.post else "delivered"
            return core.delivery_attempted(effect.step, outcome, now)
        if isinstance(effect, ReturnToDesk):
            return core.returned_to_desk(effect.step, now)
        assert isinstance(effect, ExtendCalendar)
        return core.calendar_extended(snapshot_of(CLOCK, effect.first, effect.last), now)

    def wait(self, delta: timedelta) -> None:
        """Let time pass, waking the core at each of its moments on the way."""
        until = self.now + delta
        while (moment := self.core.next_wakeup()) is not None and moment <= until:
            self.now = max(self.now, moment)
            self.run(self.core.tick(self.now))
        self.now = until

    def officer(
        self, key: str, action: DecisionAction = DecisionAction.APPROVE, **kw: object
    ) -> None:
        planned = self.core.planned(key)
        decision = DecisionInput(
            step=key, agency=planned.agency, officer_id="cb-01", action=action,
            reason=str(kw.pop("reason", "đồng ý")), **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        self.core.check_decision(decision, self.now)
        self.run(self.core.decide(decision, f"u-{len(self.core.state.audit)}", self.now))

    def pay_due(self) -> None:
        state = self.core.state
        self.run(
            self.core.payment_received(
                PaymentInput(reference=f"PAY-{len(state.audit)}", amount_vnd=state.amount_due_vnd),
                self.now,
            )
        )

    def play_out(self, pause: timedelta = timedelta(hours=1), limit: int = 200) -> None:
        """Officers approve whatever is open, an hour apart; the payer pays what is due."""
        for _ in range(limit):
            if self.core.finished:
                return
            if self.core.state.status is DossierStatus.FINANCIAL_OBLIGATION:
                self.pay_due()
            acted = False
            for planned, _ in self.core.open_steps():
                if planned.kind in OFFICER_KINDS and planned.key not in self.core.state.decisions:
                    self.officer(planned.key)
                    acted = True
                    break
            if not acted:
                moment = self.core.next_wakeup()
                self.wait((moment - self.now) if moment and moment > self.now else pause)
            else:
                self.wait(pause)
        raise AssertionError(f"the dossier did not finish: {views.tracking(self.core)}")


def received(
    procedure: str,
    at: datetime = MONDAY_9,
    *,
    home_delivery: bool = False,
    check: Check = passes,
    **policy: object,
) -> World:
    """A dossier of ``procedure`` received at ``at`` with every required document."""
    day = at.astimezone(VN_TZ).date()
    versions = (
        CATALOG.components_on(procedure, day)
        if CATALOG.is_combined(procedure)
        else (CATALOG.version_on(procedure, day),)
    )
    documents = [
        SubmittedDocument(name_vi=d.name_vi)
        for v in versions
        for d in v.required_documents
        if not d.optional
    ]
    request = DossierInput(
        dossier_code="DONGDA-260302-0001",
        desk_code="DONGDA",
        procedure_code=procedure,
        received_at=at,
        facts=DossierFacts(documents=documents, home_delivery=home_delivery),
        **policy,  # type: ignore[arg-type]
    )
    snapshot = snapshot_of(CLOCK, *calendar_window(at))
    core = DossierCore(request)
    world = World(core=core, now=at, check=check)
    world.run(core.receive(plan_dossier(CATALOG, snapshot.clock(), procedure, at), snapshot, at))
    return world


def finish(world: World) -> None:
    world.play_out()
    world.core.close(world.now)


# ---- example tests ------------------------------------------------------------------------------


def test_a_certified_copy_is_returned_early_with_one_form_05_row_per_step() -> None:
    world = received("certified-copy")
    finish(world)
    state = world.core.state
    assert state.status is DossierStatus.RETURNED
    assert [row.kind for row in state.ledger] == [
        Outcome.PASSED,
        Outcome.APPROVED,
        Outcome.APPROVED,
    ]
    assert state.verdict in (Verdict.EARLY, Verdict.ON_TIME)
    assert world.apologies_sent == []


def test_land_and_permit_runs_both_procedures_through_notice_and_payment() -> None:
    world = received("land-and-permit")
    finish(world)
    state = world.core.state
    assert state.status is DossierStatus.RETURNED
    assert all(step.status is StepStatus.DONE for step in state.steps.values())
    kinds = {row.kind for row in state.ledger}
    assert {Outcome.NOTICE_ENDED, Outcome.PAID, Outcome.PASSED, Outcome.APPROVED} <= kinds
    assert state.amount_paid_vnd == state.amount_due_vnd == 1_000_000
    # The 15-day notice is not counted: the dossier was kept on time.
    assert state.verdict in (Verdict.EARLY, Verdict.ON_TIME)
    assert world.apologies_sent == []


def test_a_late_step_is_escalated_once_and_one_apology_names_its_agency() -> None:
    world = received("certified-copy")
    world.wait(timedelta(hours=4))  # nobody certifies: the step is late, the appointment lost
    state = world.core.state
    certify = state.steps["certified-copy:certify"]
    assert certify.overdue
    assert [n.kind for n in world.notices].count("escalation") == 1
    assert world.apologies_sent == [1]
    assert state.apologies[0].agency == "commune-committee"
    assert (
        state.appointment
        == state.apologies[0].new_appointment
        > state.apologies[0].original_appointment
    )
    world.wait(timedelta(hours=1))
    assert world.apologies_sent == [1]  # the same appointment is not apologised for twice
    world.wait(timedelta(days=3))  # still nobody: each new appointment missed has its letter
    assert world.apologies_sent == list(range(1, len(state.apologies) + 1))
    assert len({a.original_appointment for a in state.apologies}) == len(state.apologies) > 1


def test_what_people_read_names_agencies_statuses_and_procedures_in_vietnamese() -> None:
    world = received("certified-copy")
    details = views.details(world.core)
    assert "Đang giải quyết" in details and "in_progress" not in details
    assert "Thủ tục: Chứng thực bản sao từ bản chính giấy tờ, văn bản" in details
    assert "- Ủy ban nhân dân cấp xã: " in details and "commune-committee" not in details
    world.wait(timedelta(hours=4))  # nobody certifies: late, and an apology is due
    (letter, *_) = world.core.state.apologies
    assert letter.agency == "commune-committee"  # the code stays in the data ...
    assert "tại Ủy ban nhân dân cấp xã" in letter.reason_vi  # ... the letter reads the name
    assert "commune-committee" not in letter.reason_vi


def test_a_plan_made_before_agency_names_were_kept_still_reads_its_codes() -> None:
    world = received("certified-copy")
    for step in world.core.plan.steps:
        step.agency_name_vi = ""  # as a 1.0 history's plan deserialises
    assert "- commune-committee: " in views.details(world.core)


def test_a_supplement_stops_the_clock_and_moves_the_appointment_by_its_working_time() -> None:
    world = received("house-building-permit")
    world.wait(timedelta(hours=1))
    appointment = world.core.state.appointment
    assert appointment is not None
    world.officer(
        "house-building-permit:appraise",
        DecisionAction.REQUEST_SUPPLEMENT,
        reason="thiếu bản vẽ",
        missing_documents=["Bản vẽ thiết kế"],
    )
    state = world.core.state
    assert state.status is DossierStatus.SUPPLEMENT_REQUESTED
    assert state.steps["house-building-permit:appraise"].due is None  # no due while paused
    with pytest.raises(Refusal) as refused:
        world.officer("house-building-permit:appraise")
    assert refused.value.kind is RefusalKind.CLOCK_PAUSED
    world.wait(timedelta(days=7))  # a calendar week: five working days
    world.run(
        world.core.provide_supplement(
            [SubmittedDocument(name_vi="Bản vẽ thiết kế")], "s-1", world.now
        )
    )
    assert state.status is DossierStatus.IN_PROGRESS
    assert state.appointment == CLOCK.add(appointment, timedelta(hours=40))
    assert state.steps["house-building-permit:appraise"].due is not None
    assert world.apologies_sent == []


def test_a_refusal_ends_the_dossier_and_cancels_a_running_check() -> None:
    world = received("land-and-permit")
    world.hold_checks = True
    world.run(world.core.tick(world.now))  # nothing due yet
    for check in list(world.pending_checks):
        world.run(world.core.check_done(check.key, check.run, passes(check.key), world.now))
    world.pending_checks.clear()
    world.officer("land-first-certificate:confirm-origin")
    # The parcel check starts only after the notice; the permit's appraisal is open now.
    world.officer(
        "house-building-permit:appraise", DecisionAction.REFUSE, reason="không phù hợp quy hoạch"
    )
    state = world.core.state
    assert state.status in TERMINAL
    assert world.core.open_steps() == []
    assert state.ledger[-1].kind is Outcome.REFUSED


def test_send_back_runs_the_target_and_everything_after_it_again() -> None:
    world = received("house-building-permit")
    world.wait(timedelta(hours=1))
    world.officer("house-building-permit:appraise")
    world.officer(
        "house-building-permit:consult",
        DecisionAction.SEND_BACK,
        reason="thiếu ý kiến",
        send_back_to="house-building-permit:appraise",
    )
    state = world.core.state
    assert state.steps["house-building-permit:appraise"].status is StepStatus.OPEN
    assert state.steps["house-building-permit:consult"].status is StepStatus.PENDING
    assert state.ledger[-1].kind is Outcome.SENT_BACK


def test_withdrawal_tells_each_agency_holding_an_open_step() -> None:
    world = received("house-building-permit")
    world.wait(timedelta(hours=1))
    world.core.check_withdraw()
    world.run(world.core.withdraw("bán nhà", "w-1", world.now))
    assert world.core.state.status is DossierStatus.WITHDRAWN
    assert [(n.kind, n.agency) for n in world.notices][-1] == ("withdrawn", "commune-economic")
    with pytest.raises(Refusal) as refused:
        world.core.check_withdraw()
    assert refused.value.kind is RefusalKind.DOSSIER_CLOSED


def test_delivery_tries_three_working_days_then_waits_at_the_desk() -> None:
    world = received("land-and-permit", home_delivery=True)
    world.post = ["recipient_absent"] * 6  # both results, three rounds each
    finish(world)
    state = world.core.state
    kinds = [row.kind for row in state.ledger]
    assert kinds.count(Outcome.POSTED) == 2  # both results
    assert kinds.count(Outcome.BACK_TO_DESK) == kinds.count(Outcome.COLLECTED) == 2
    assert state.status is DossierStatus.RETURNED


def test_a_payment_sent_twice_counts_once() -> None:
    world = received("certified-copy")
    payment = PaymentInput(reference="P-1", amount_vnd=10_000)
    world.run(world.core.payment_received(payment, world.now))
    world.run(world.core.payment_received(payment, world.now))
    assert world.core.state.amount_paid_vnd == 10_000


def test_decisions_are_refused_with_typed_reasons() -> None:
    world = received("certified-copy")
    core = world.core

    def refusal(**kw: object) -> RefusalKind:
        decision = DecisionInput(**{"step": "certified-copy:certify", "agency": "commune-committee",
                                    "officer_id": "cb", "action": "approve", **kw})  # type: ignore[arg-type]  # fmt: skip
        with pytest.raises(Refusal) as refused:
            core.check_decision(decision, world.now)
        return refused.value.kind

    assert refusal(step="nope") is RefusalKind.UNKNOWN_STEP
    assert refusal(agency="tax") is RefusalKind.WRONG_AGENCY
    assert refusal(officer_id=" ") is RefusalKind.INVALID_DECISION
    assert refusal(step="certified-copy:receive", agency="one-stop") is RefusalKind.STEP_NOT_OPEN
    assert refusal(action="refuse") is RefusalKind.INVALID_DECISION  # no reason
    with pytest.raises(Refusal) as refused:
        core.check_supplement([])
    assert refused.value.kind is RefusalKind.NO_SUPPLEMENT_REQUESTED


def test_a_calendar_amendment_moves_the_appointment_with_a_notice_and_no_apology() -> None:
    world = received("house-building-permit")
    state = world.core.state
    before = state.appointment
    assert before is not None
    # The government makes a working day before the appointment a day off.
    day = (before - timedelta(days=2)).astimezone(VN_TZ).date()
    while not default_calendar().is_working_day(day) or day.weekday() >= 5:
        day -= timedelta(days=1)
    amendment = CalendarAmendmentInput(
        announced_by="Thông báo thử nghiệm",
        overrides=[CalendarOverride(day=day, kind="day_off", reason="nghỉ bù", source="thử")],
    )
    world.run(world.core.amend_calendar(amendment, world.now))
    assert state.appointment == CLOCK.add(before, timedelta(hours=8)) or state.appointment > before
    assert state.legal_appointment == state.appointment
    assert world.moved_notices == [0]
    assert state.calendar_changes[0].appointment_before == before
    # Reversed: the legal appointment comes back, the promise to the applicant does not move
    # earlier.
    promised = state.appointment
    reversal = CalendarAmendmentInput(
        announced_by="Đính chính",
        overrides=[CalendarOverride(day=day, kind="working_day", reason="đi làm", source="thử")],
    )
    world.run(world.core.amend_calendar(reversal, world.now))
    assert state.legal_appointment == before
    assert state.appointment == promised
    finish(world)
    assert world.apologies_sent == []


def test_an_amendment_outside_the_dossier_changes_nothing() -> None:
    world = received("certified-copy")
    amendment = CalendarAmendmentInput(
        announced_by="x",
        overrides=[CalendarOverride(day=date(2031, 1, 6), kind="day_off", reason="r", source="s")],
    )
    assert world.core.amend_calendar(amendment, world.now) == []
    assert world.core.state.calendar_changes == []


def test_a_dossier_open_for_a_year_asks_once_for_a_longer_calendar() -> None:
    world = received("house-building-permit")
    world.wait(timedelta(hours=1))
    world.officer(
        "house-building-permit:appraise",
        DecisionAction.REQUEST_SUPPLEMENT,
        reason="thiếu",
        missing_documents=["Bản vẽ"],
    )
    last = world.core.state.clock.calendar.last_day if world.core.state.clock else None
    world.now += timedelta(days=400)  # the applicant takes over a year
    effects = world.core.provide_supplement([SubmittedDocument(name_vi="Bản vẽ")], "s", world.now)
    assert [e for e in effects if isinstance(e, ExtendCalendar)]
    world.run(effects)
    assert world.core.state.clock is not None and world.core.state.clock.calendar.last_day > last


def test_the_state_survives_a_json_round_trip_mid_way() -> None:
    world = received("land-and-permit")
    world.wait(timedelta(hours=2))
    world.officer("land-first-certificate:confirm-origin")
    core = world.core
    core.prepare_continue_as_new()
    text = core.request.model_copy(update={"state": core.state}).model_dump_json()
    again = DossierCore(DossierInput.model_validate_json(text))
    world.core = again
    world.run(again.resume(world.now))
    finish(world)
    assert again.state.status is DossierStatus.RETURNED


# ---- the state machine --------------------------------------------------------------------------


class DossierMachine(RuleBasedStateMachine):
    """Random officers, applicants, payers and clocks on a land-and-permit dossier."""

    def __init__(self) -> None:
        super().__init__()
        self.world = received("land-and-permit", home_delivery=True)
        self.appointments_promised: list[datetime] = [self.state.appointment]  # type: ignore[list-item]
        self.terminal_seen = False

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.world.core.state

    def _officer_steps(self) -> list[str]:
        return [
            p.key
            for p, _ in self.world.core.open_steps()
            if p.kind in OFFICER_KINDS and p.key not in self.state.decisions
        ]

    @rule(hours=st.integers(min_value=1, max_value=720))
    def time_passes(self, hours: int) -> None:
        self.world.wait(timedelta(hours=hours))

    # Mostly approvals, so that dossiers live long enough to be late, apologised for, delivered.
    @rule(
        pick=st.integers(min_value=0, max_value=10),
        action=st.sampled_from([DecisionAction.APPROVE] * 5 + list(DecisionAction)),
    )
    def an_officer_decides(self, pick: int, action: DecisionAction) -> None:
        steps = self._officer_steps()
        if not steps:
            return
        key = steps[pick % len(steps)]
        planned = self.world.core.planned(key)
        upstream = sorted(
            other
            for other, step in self.state.steps.items()
            if step.status is StepStatus.DONE and self.world.core._is_upstream(other, key)
        )
        decision = DecisionInput(
            step=key,
            agency=planned.agency,
            officer_id="cb",
            action=action,
            reason="lý do",
            missing_documents=["Giấy tờ"] if action is DecisionAction.REQUEST_SUPPLEMENT else [],
            send_back_to=upstream[pick % len(upstream)] if upstream else None,
        )
        try:
            self.world.core.check_decision(decision, self.world.now)
        except Refusal:
            return
        self.world.run(
            self.world.core.decide(decision, f"u{len(self.state.audit)}", self.world.now)
        )

    @rule()
    def a_busy_day_at_every_desk(self) -> None:
        """Every officer approves what they hold and the applicant pays what is due, so that
        dossiers reach their result and the post."""
        if self.state.status is DossierStatus.FINANCIAL_OBLIGATION:
            self.world.pay_due()
        for key in self._officer_steps():
            planned = self.world.core.planned(key)
            decision = DecisionInput(
                step=key, agency=planned.agency, officer_id="cb", action=DecisionAction.APPROVE
            )
            try:
                self.world.core.check_decision(decision, self.world.now)
            except Refusal:
                continue
            self.world.run(self.world.core.decide(decision, "busy", self.world.now))

    @precondition(lambda self: self.world.core.supplement_open())
    @rule()
    def the_applicant_supplements(self) -> None:
        docs = [SubmittedDocument(name_vi="Giấy tờ")]
        self.world.core.check_supplement(docs)
        self.world.run(self.world.core.provide_supplement(docs, "s", self.world.now))

    @rule()
    def the_payer_pays(self) -> None:
        self.world.pay_due()

    @rule(post=st.sampled_from(["delivered", "recipient_absent"]))
    def the_post_will(self, post: str) -> None:
        self.world.post.append(post)

    @precondition(lambda self: not self.world.core.finished)
    @rule(mind=st.integers(min_value=0, max_value=19))
    def the_applicant_withdraws(self, mind: int) -> None:
        if mind:  # most applicants think better of it
            return
        try:
            self.world.core.check_withdraw()
        except Refusal:
            return
        self.world.run(self.world.core.withdraw("", "w", self.world.now))

    @rule(
        offset=st.integers(min_value=0, max_value=60),
        kind=st.sampled_from(["day_off", "working_day"]),
    )
    def the_government_amends_the_calendar(self, offset: int, kind: str) -> None:
        day = self.world.now.astimezone(VN_TZ).date() + timedelta(days=offset)
        amendment = CalendarAmendmentInput(
            announced_by="TB",
            overrides=[CalendarOverride(day=day, kind=kind, reason="r", source="s")],  # type: ignore[arg-type]
        )
        self.world.run(self.world.core.amend_calendar(amendment, self.world.now))

    @invariant()
    def at_most_one_apology_per_appointment(self) -> None:
        if self.state.apologies:
            event("apologised")
        originals = [a.original_appointment for a in self.state.apologies]
        assert len(originals) == len(set(originals))
        assert self.world.apologies_sent == list(range(1, len(self.state.apologies) + 1))

    @invariant()
    def no_open_step_after_a_terminal_status(self) -> None:
        if self.state.status in TERMINAL:
            self.terminal_seen = True
            assert self.world.core.open_steps() == []
            assert self.world.core.next_wakeup() is None
        assert not (self.terminal_seen and self.state.status not in TERMINAL)

    @invariant()
    def the_clock_is_paused_exactly_while_a_supplement_is_outstanding(self) -> None:
        paused = any(p.reason == "bổ sung hồ sơ" and p.end is None for p in self.state.pauses)
        assert paused == self.world.core.supplement_open()
        if paused:
            assert all(step.due is None for p, step in self.world.core.open_steps() if p.counted)

    @invariant()
    def an_open_counted_step_is_due_exactly_while_its_clock_runs(self) -> None:
        for planned, step in self.world.core.open_steps():
            if not planned.counted:
                continue
            paused = any(
                p.end is None and p.procedure in (None, planned.procedure)
                for p in self.state.pauses
            )
            assert (step.due is None) == paused, (planned.key, step.due, paused)

    @invariant()
    def every_view_builds(self) -> None:
        core = self.world.core
        views.tracking(core)
        views.details(core)
        views.visibility(core)
        views.registry_rows(core)

    @invariant()
    def every_open_pause_belongs_to_what_still_waits(self) -> None:
        for pause in self.state.pauses:
            if pause.end is not None:
                continue
            if pause.step is not None:  # a notice, a payment, the post: its step is still open
                assert self.state.steps[pause.step].status is StepStatus.OPEN, pause
            else:  # the whole dossier's: a supplement still outstanding
                assert self.world.core.supplement_open(), pause

    @invariant()
    def every_finished_step_has_one_form_05_row(self) -> None:
        finishing = {
            Outcome.APPROVED, Outcome.PASSED, Outcome.NOTICE_ENDED, Outcome.PAID,
            Outcome.DELIVERED, Outcome.COLLECTED, Outcome.REFUSED,
        }  # fmt: skip
        sent_back = any(r.kind is Outcome.SENT_BACK for r in self.state.ledger)
        for planned in self.world.core.plan.steps:
            step = self.state.steps[planned.key]
            if step.status is not StepStatus.DONE:
                continue
            here = (planned.procedure, planned.step)
            rows = [r for r in self.state.ledger if (r.procedure, r.step) == here]
            rows = [r for r in rows if r.kind in finishing]
            assert rows and (rows[-1].at, rows[-1].kind) == (step.done_at, step.outcome_kind)
            if not sent_back:  # a step run again finishes again, with a row each time
                assert len(rows) == 1, (planned.key, rows)

    @invariant()
    def the_appointment_never_moves_earlier_than_promised(self) -> None:
        appointment = self.state.appointment
        assert appointment is not None
        assert appointment >= self.appointments_promised[-1]
        self.appointments_promised.append(appointment)


DossierMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDossierMachine = DossierMachine.TestCase


def test_a_supplement_not_handed_in_within_seven_working_days_stops_processing() -> None:
    def missing_papers(key: str) -> AutomatedCheckResult:
        if key.endswith("register-birth"):
            return AutomatedCheckResult(
                passed=False,
                summary_vi="thiếu giấy chứng sinh",
                missing_documents=["Giấy chứng sinh"],
            )
        return passes(key)

    world = received("birth-residence-insurance", check=missing_papers)
    state = world.core.state
    assert state.status is DossierStatus.SUPPLEMENT_REQUESTED
    answer_by = state.supplements[0].answer_by
    assert answer_by == CLOCK.add(state.supplements[0].at, timedelta(days=7) * 8 / 24)
    world.wait(timedelta(days=6))  # a calendar week is not yet seven working days
    assert state.status is DossierStatus.SUPPLEMENT_REQUESTED
    world.wait(timedelta(days=7))
    assert state.status is DossierStatus.STOPPED
    assert state.ledger[-1].kind is Outcome.SUPPLEMENT_LAPSED
    assert world.core.open_steps() == [] and not world.core.supplement_open()
    with pytest.raises(Refusal):
        world.core.check_supplement([SubmittedDocument(name_vi="Giấy chứng sinh")])


def test_a_supplement_handed_in_in_time_runs_the_check_again() -> None:
    answers = iter([False, True])

    def second_time_lucky(key: str) -> AutomatedCheckResult:
        if key.endswith("register-birth") and not next(answers):
            return AutomatedCheckResult(passed=False, summary_vi="thiếu", missing_documents=["X"])
        return passes(key)

    world = received("birth-residence-insurance", check=second_time_lucky)
    world.wait(timedelta(days=2))
    world.run(world.core.provide_supplement([SubmittedDocument(name_vi="X")], "s", world.now))
    finish(world)
    assert world.core.state.status is DossierStatus.RETURNED
    assert world.checks_run.count("birth-residence-insurance:register-birth") == 2


def test_an_amendment_that_arrives_before_the_plan_applies_once_the_dossier_is_received() -> None:
    at = MONDAY_9
    request = DossierInput(
        dossier_code="DONGDA-260302-0002",
        desk_code="DONGDA",
        procedure_code="certified-copy",
        received_at=at,
    )
    core = DossierCore(request)
    amendment = CalendarAmendmentInput(
        announced_by="TB",
        overrides=[CalendarOverride(day=date(2026, 3, 2), kind="day_off", reason="r", source="s")],
    )
    assert core.amend_calendar(amendment, at) == []  # nothing to re-plan yet
    snapshot = snapshot_of(CLOCK, *calendar_window(at))
    plan = plan_dossier(CATALOG, snapshot.clock(), "certified-copy", at)
    effects = core.receive(plan, snapshot, at)
    assert core.state.clock is not None
    assert not core.state.clock.calendar.is_working_day(date(2026, 3, 2))
    assert [c.days[0].day for c in core.state.calendar_changes] == [date(2026, 3, 2)]
    assert core.state.appointment is not None and core.state.appointment > plan.appointment
    assert any(isinstance(e, NotifyAppointmentMoved) for e in effects)


def until_certificate_is_returned(world: World) -> None:
    """Officers approve and the applicant pays until the land certificate's return step opens;
    the permit's decision is left untaken."""
    for _ in range(100):
        open_keys = [p.key for p, _ in world.core.open_steps()]
        if "land-first-certificate:return" in open_keys:
            return
        if world.core.state.status is DossierStatus.FINANCIAL_OBLIGATION:
            world.pay_due()
        officer_steps = [
            k for k in open_keys
            if world.core.planned(k).kind in OFFICER_KINDS and not k.endswith(":decision")
        ]  # fmt: skip
        if officer_steps:
            world.officer(officer_steps[0])
        else:
            world.wait(timedelta(days=1))
    raise AssertionError("the land certificate's return step never opened")


def test_an_answer_from_the_post_after_a_withdrawal_changes_nothing() -> None:
    # The land result is with the post while the permit is still being decided; the applicant
    # withdraws; then the post answers.
    world = received("land-and-permit", home_delivery=True)
    land_return = "land-first-certificate:return"
    until_certificate_is_returned(world)
    world.hold_post = True
    world.officer(land_return)
    assert [type(e).__name__ for e in world.held_post] == ["Dispatch"]
    world.core.check_withdraw()
    world.run(world.core.withdraw("đổi ý", "w-1", world.now))
    rows = len(world.core.state.ledger)
    world.run(world.core.dispatched(land_return, "EB000000009VN", world.now))
    state = world.core.state
    assert state.status is DossierStatus.WITHDRAWN
    assert len(state.ledger) == rows  # no row after the withdrawal
    assert state.steps[land_return].status is StepStatus.CANCELLED
    assert world.core.next_wakeup() is None


def test_a_late_permit_is_apologised_for_while_the_certificate_is_in_the_mail() -> None:
    # The appointment counts as kept once the post is all that is left, not while an agency
    # still holds the other procedure.
    world = received("land-and-permit", home_delivery=True)
    land_return = "land-first-certificate:return"
    until_certificate_is_returned(world)
    world.hold_post = True
    world.officer(land_return)  # with the post from now on; the permit's decision is not taken
    appointment = world.core.state.appointment
    assert appointment is not None
    world.wait(appointment - world.now + timedelta(hours=1))
    assert [a.agency for a in world.core.state.apologies] == ["commune-economic"]


def test_a_step_sent_back_while_its_pause_runs_does_not_stop_the_clock_for_ever() -> None:
    # The tax payment waits for the applicant (an uncounted pause) while the appraisal runs
    # beside it; the appraiser sends the file back, which takes the payment back too.
    world = received("land-first-certificate")
    for _ in range(100):
        open_keys = [p.key for p, _ in world.core.open_steps()]
        if {"land-first-certificate:pay", "land-first-certificate:appraise"} <= set(open_keys):
            break
        officer_steps = [k for k in open_keys if world.core.planned(k).kind in OFFICER_KINDS]
        if officer_steps:
            world.officer(officer_steps[0])
        else:
            world.wait(timedelta(days=1))
    world.officer(
        "land-first-certificate:appraise",
        DecisionAction.SEND_BACK,
        reason="hồ sơ địa chính chưa đúng",
        send_back_to="land-first-certificate:prepare-file",
    )
    state = world.core.state
    assert [p.reason for p in state.pauses if p.end is None] == []
    prepare = state.steps["land-first-certificate:prepare-file"]
    assert prepare.status is StepStatus.OPEN and prepare.due is not None
    assert world.core.awaiting_result()
