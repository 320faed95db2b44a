"""The legal clock as activities, so the workflow's answers are recorded in its history.

Run as local activities by the orchestration worker: pure computation, no I/O beyond the
calendar file read at start, and too frequent (twice per step) to pay a task-queue round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from domain.clock import VN_TZ, LegalClock


class Pause(BaseModel):
    """A period the legal clock stood still (supplement, public notice, waiting for payment)."""

    start: datetime
    end: datetime | None = None  # None: still paused
    reason: str = ""
    procedure: str | None = None  # whose clock stops; None: the whole dossier's
    moves_appointment: bool = False  # the applicant's time (supplement, paying) moves the date


class Verdict(StrEnum):
    """How a step or a dossier ended against its due moment (form 05)."""

    EARLY = "early"  # done on an earlier day than due
    ON_TIME = "on_time"  # done on the due day, by the due moment
    LATE = "late"
    NOT_COUNTED = "not_counted"  # a step whose time does not count (notice, payment)


class StepDueInput(BaseModel):
    """When a step that started at ``start`` with this budget is due, given the pauses."""

    start: datetime
    working_hours: float
    pauses: list[Pause] = []
    warn_lead_hours: float = 0.0  # 0: no warning moment wanted


class StepDueResult(BaseModel):
    """The due moment; None while the clock is stopped by an open pause."""

    due: datetime | None
    warn_at: datetime | None = None  # ``warn_lead_hours`` of working time before ``due``


class StepAssessInput(BaseModel):
    """A finished step to judge against its due moment."""

    started: datetime
    done: datetime
    due: datetime
    pauses: list[Pause] = []


class StepAssessResult(BaseModel):
    """Verdict and the working time used, and by how much it was late (0 when not late)."""

    verdict: Verdict
    working_hours_used: float
    late_working_hours: float


LATE_AFTER = timedelta(minutes=1)


def closed_pauses(pauses: list[Pause]) -> list[tuple[datetime, datetime]]:
    """The pauses as intervals; an open pause must be handled by the caller first."""
    return [(p.start, p.end) for p in pauses if p.end is not None]


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 4)


class ShiftInput(BaseModel):
    """Move a promised moment by the working time of a closed pause (supplement)."""

    moment: datetime
    pause: Pause


class BeforeInput(BaseModel):
    """The moment ``working_hours`` of working time before ``end`` (warnings, apology lead)."""

    end: datetime
    working_hours: float


class MomentResult(BaseModel):
    """A single moment computed by the clock."""

    moment: datetime


class StepBudget(BaseModel):
    """A step as the forecast sees it."""

    key: str
    depends_on: list[str]
    budget_hours: float
    opened_at: datetime | None = None  # set when open
    done: bool = False


class ForecastInput(BaseModel):
    """Project when the dossier would finish if every remaining step took its budget."""

    now: datetime
    steps: list[StepBudget]
    pauses: list[Pause] = []
    grace_hours: float = 0.0  # added after the projected finish (a new appointment's margin)


class ForecastResult(BaseModel):
    """The projected finish, and that plus the grace (a new appointment date)."""

    projected_finish: datetime
    new_appointment: datetime


def _remaining_path_hours(request: ForecastInput, used: dict[str, float]) -> float:
    """Longest chain of remaining work: done steps 0, open steps what is left of their budget."""
    by_key = {step.key: step for step in request.steps}
    memo: dict[str, float] = {}

    def longest(key: str) -> float:
        if key not in memo:
            step = by_key[key]
            own = 0.0 if step.done else max(step.budget_hours - used.get(key, 0.0), 0.0)
            before = [longest(d) for d in step.depends_on if d in by_key]
            memo[key] = own + max(before, default=0.0)
        return memo[key]

    return max((longest(key) for key in by_key), default=0.0)


class ClockActivities:
    """Due moments, verdicts and forecasts from the legal clock."""

    def __init__(self, clock: LegalClock) -> None:
        self._clock = clock

    def all(self) -> list[Callable[..., Any]]:
        """Every clock activity, for the orchestration worker to register."""
        return [self.step_due, self.assess_step, self.shift, self.before, self.forecast]

    @activity.defn(name="clock.step-due")
    async def step_due(self, request: StepDueInput) -> StepDueResult:
        """Add the budget in working time to the start, leaving the pauses out."""
        if any(p.end is None for p in request.pauses):
            return StepDueResult(due=None)
        due = self._clock.add(
            request.start,
            timedelta(hours=request.working_hours),
            closed_pauses(request.pauses),
        )
        warn_at = None
        if request.warn_lead_hours > 0:
            # Never before the step started: a short step is warned about as it opens.
            warn_at = max(
                self._clock.subtract(due, timedelta(hours=request.warn_lead_hours)),
                request.start,
            )
        return StepDueResult(due=due, warn_at=warn_at)

    @activity.defn(name="clock.assess-step")
    async def assess_step(self, request: StepAssessInput) -> StepAssessResult:
        """Early if done on an earlier day than due; on time if by the due moment; else late."""
        pauses = closed_pauses(request.pauses)
        used = self._clock.working_time_between(request.started, request.done, pauses)
        late = self._clock.working_time_between(request.due, request.done, pauses)
        # Lateness is counted in whole minutes: a click a few milliseconds after the due
        # moment is on time.
        if late >= LATE_AFTER:
            return StepAssessResult(
                verdict=Verdict.LATE,
                working_hours_used=_hours(used),
                late_working_hours=_hours(late),
            )
        done_day = request.done.astimezone(VN_TZ).date()
        due_day = request.due.astimezone(VN_TZ).date()
        verdict = Verdict.EARLY if done_day < due_day else Verdict.ON_TIME
        return StepAssessResult(
            verdict=verdict, working_hours_used=_hours(used), late_working_hours=0.0
        )

    @activity.defn(name="clock.shift")
    async def shift(self, request: ShiftInput) -> MomentResult:
        """The moment moved later by the working time the (closed) pause took before it."""
        if request.pause.end is None or request.moment <= request.pause.start:
            # Still open, or it began after the moment (a payment made after a missed
            # appointment): the moment does not move.
            return MomentResult(moment=request.moment)
        left = self._clock.working_time_between(request.pause.start, request.moment)
        moved = self._clock.add(
            request.pause.start, left, [(request.pause.start, request.pause.end)]
        )
        return MomentResult(moment=max(moved, request.moment))

    @activity.defn(name="clock.before")
    async def before(self, request: BeforeInput) -> MomentResult:
        """Working time before a moment: Monday 10:00 less 1 working day is Friday 10:00."""
        return MomentResult(
            moment=self._clock.subtract(request.end, timedelta(hours=request.working_hours))
        )

    @activity.defn(name="clock.forecast")
    async def forecast(self, request: ForecastInput) -> ForecastResult:
        """Now plus the longest remaining chain of budgets, on the legal clock."""
        pauses = closed_pauses(request.pauses)
        used = {
            step.key: self._clock.working_time_between(
                step.opened_at, request.now, pauses
            ).total_seconds()
            / 3600
            for step in request.steps
            if step.opened_at is not None and not step.done
        }
        remaining = timedelta(hours=_remaining_path_hours(request, used))
        finish = self._clock.add(request.now, remaining, pauses)
        return ForecastResult(
            projected_finish=finish,
            new_appointment=self._clock.add(finish, timedelta(hours=request.grace_hours)),
        )
