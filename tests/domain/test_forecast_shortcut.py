"""The appointment check's shortcut (`DossierCore._forecast_is_moot`) against the forecast it skips.

The core skips the forecast of the dossier's finish while the appointment, counted back over the
longest chain of the budgets still to run, is not reached yet: no apology can then be due. These
tests play random dossiers of every procedure (officers early and late, supplements, send-backs,
refusals, payments, the post, calendar amendments) and check that

- at every moment the shortcut is taken, the full forecast finds no apology due either;
- a dossier played with the shortcut ends with the same state and the same effects as one played
  without it;
- the first check catches a bound that is too loose, so that it can fail.

The clock properties the argument rests on (``add`` monotone in its start and its duration,
``subtract`` monotone in its duration) are tested in test_clock_properties.py.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from domain.calendar import CalendarOverride
from domain.catalog import default_catalog
from domain.clock import VN_TZ
from domain.dossier import (
    AutomatedCheckResult,
    CalendarAmendmentInput,
    DecisionAction,
    DecisionInput,
    DossierInput,
    DossierState,
    DossierStatus,
    Refusal,
    StepStatus,
    SubmittedDocument,
)
from domain.dossier_core import OFFICER_KINDS, DossierCore
from tests.domain.test_dossier_core import MONDAY_9, World, passes, received

PROCEDURES = default_catalog().codes()
SEEDS = range(5)
MOOT_FAILURE = "the shortcut skipped a forecast that apologises"


class FullForecast(DossierCore):
    """The core as it was: the forecast is made at every check."""

    def _forecast_is_moot(self, now: datetime) -> bool:
        return False


class CheckedShortcut(DossierCore):
    """The core whose every shortcut is checked against the forecast it skips."""

    def __init__(self, request: DossierInput, state: DossierState | None = None) -> None:
        super().__init__(request, state)
        self.taken = 0

    def _forecast_is_moot(self, now: datetime) -> bool:
        moot = super()._forecast_is_moot(now)
        if moot:
            self.taken += 1
            appointment = self.state.appointment
            finish = self._projected_finish(now)
            past = [moment for moment in self._latest_finishes() if moment <= now]
            assert appointment is not None and finish <= appointment and not past, (
                f"{MOOT_FAILURE}: at {now}, appointment {appointment}, projected finish "
                f"{finish}, latest finishes passed {past}"
            )
        return moot


class AppointmentAsBound(CheckedShortcut):
    """A broken bound: the appointment itself, as if nothing were left to do."""

    def _longest_chain_left(self) -> timedelta:
        return timedelta(0)


class HalfTheChainAsBound(CheckedShortcut):
    """A broken bound: half the chain left."""

    def _longest_chain_left(self) -> timedelta:
        return super()._longest_chain_left() / 2


class OpenStepsUncountedBound(CheckedShortcut):
    """A broken bound: the chain of the steps not opened yet, as if the open ones were done."""

    def _longest_chain_left(self) -> timedelta:
        steps = self.state.steps
        saved = {key: step.status for key, step in steps.items()}
        for step in steps.values():
            if step.status is StepStatus.OPEN:
                step.status = StepStatus.DONE
        try:
            return super()._longest_chain_left()
        finally:
            for key, status in saved.items():
                steps[key].status = status


def _checks(rng: random.Random) -> object:
    def check(key: str) -> AutomatedCheckResult:
        draw = rng.random()
        if draw < 0.1:
            return AutomatedCheckResult(
                passed=False, summary_vi="thiếu giấy tờ", missing_documents=["Giấy tờ"]
            )
        if draw < 0.13:
            return AutomatedCheckResult(passed=False, summary_vi="không đạt")
        return passes(key)

    return check


def _some_hours(rng: random.Random) -> timedelta:
    """How long an actor takes: mostly within a working day or two, sometimes a week or more."""
    return timedelta(hours=rng.choice([0.25, 1, 3, 9, 20, 30, 50, 80, 200]) * rng.random())


def walk(procedure: str, seed: int, core_type: type[DossierCore]) -> World:
    """A dossier of ``procedure`` played at random (the same for the same seed)."""
    rng = random.Random(f"{procedure}:{seed}")
    at = MONDAY_9 + timedelta(days=rng.randrange(300), minutes=rng.randrange(600))
    world = received(procedure, at, home_delivery=rng.random() < 0.4, core_type=core_type)
    world.check = _checks(random.Random(f"{procedure}:{seed}:checks"))  # type: ignore[assignment]
    world.core.state.apology_when_known = rng.random() < 0.8
    world.post = rng.choices(["delivered", "recipient_absent"], k=6)
    core = world.core
    for _ in range(80):
        if core.finished:
            break
        if rng.random() < 0.05:
            day = world.now.astimezone(VN_TZ).date() + timedelta(days=rng.randrange(30))
            kind = rng.choice(["day_off", "working_day"])
            override = CalendarOverride(day=day, kind=kind, reason="r", source="s")
            amendment = CalendarAmendmentInput(announced_by="TB", overrides=[override])
            world.run(core.amend_calendar(amendment, world.now))
        world.wait(_some_hours(rng))
        if core.finished:
            break
        if core.supplement_open():
            if rng.random() < 0.8:
                documents = [SubmittedDocument(name_vi="Giấy tờ")]
                world.run(core.provide_supplement(documents, "s", world.now))
            continue
        if core.state.status is DossierStatus.FINANCIAL_OBLIGATION:
            world.pay_due()
            continue
        officer_steps = [
            planned
            for planned, _ in core.open_steps()
            if planned.kind in OFFICER_KINDS and planned.key not in core.state.decisions
        ]
        if not officer_steps:
            moment = core.next_wakeup()
            world.wait(moment - world.now if moment and moment > world.now else timedelta(hours=1))
            continue
        planned = rng.choice(officer_steps)
        action = rng.choices(list(DecisionAction), weights=[80, 8, 3, 9])[0]
        upstream = sorted(
            key
            for key, step in core.state.steps.items()
            if step.status is StepStatus.DONE and core._is_upstream(key, planned.key)
        )
        decision = DecisionInput(
            step=planned.key,
            agency=planned.agency,
            officer_id="cb",
            action=action,
            reason="lý do",
            missing_documents=["Giấy tờ"] if action is DecisionAction.REQUEST_SUPPLEMENT else [],
            send_back_to=rng.choice(upstream) if upstream else None,
        )
        try:
            core.check_decision(decision, world.now)
        except Refusal:
            continue
        world.run(core.decide(decision, f"u{len(core.state.audit)}", world.now))
    return world


def _outcome(world: World) -> tuple[object, ...]:
    return (
        world.core.state.model_dump_json(),
        world.now,
        world.notices,
        world.apologies_sent,
        world.moved_notices,
        world.applicant_notices,
        world.checks_run,
        world.cancelled,
    )


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_dossier_played_with_the_shortcut_ends_as_one_played_without_it(procedure: str) -> None:
    for seed in SEEDS:
        with_shortcut = walk(procedure, seed, CheckedShortcut)
        without = walk(procedure, seed, FullForecast)
        assert _outcome(with_shortcut) == _outcome(without), seed


def test_the_shortcut_is_taken_and_apologies_still_go_out() -> None:
    """The comparison above is not empty: forecasts are skipped, and letters are sent."""
    worlds = [walk(p, seed, CheckedShortcut) for p in PROCEDURES for seed in SEEDS]
    taken = sum(w.core.taken for w in worlds if isinstance(w.core, CheckedShortcut))
    assert taken > 1000
    assert sum(len(w.core.state.apologies) for w in worlds) > 100


@pytest.mark.parametrize(
    "broken", [AppointmentAsBound, HalfTheChainAsBound, OpenStepsUncountedBound]
)
def test_a_bound_that_is_too_loose_is_caught(broken: type[CheckedShortcut]) -> None:
    with pytest.raises(AssertionError, match=MOOT_FAILURE):
        for procedure in PROCEDURES:
            for seed in SEEDS:
                walk(procedure, seed, broken)
