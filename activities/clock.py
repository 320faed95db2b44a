"""The legal clock as activities, so the workflow's answers are recorded in its history.

Run as local activities by the orchestration worker: pure computation, no I/O beyond the
calendar file read at start, and too frequent (twice per step) to pay a task-queue round trip.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from temporalio import activity

from domain.clock import VN_TZ, LegalClock


class Pause(BaseModel):
    """A period the legal clock stood still (supplement, public notice, waiting for payment)."""

    start: datetime
    end: datetime | None = None  # None: still paused
    reason: str = ""
    procedure: str | None = None  # whose clock stops; None: the whole dossier's


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


class StepDueResult(BaseModel):
    """The due moment; None while the clock is stopped by an open pause."""

    due: datetime | None


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


def closed_pauses(pauses: list[Pause]) -> list[tuple[datetime, datetime]]:
    """The pauses as intervals; an open pause must be handled by the caller first."""
    return [(p.start, p.end) for p in pauses if p.end is not None]


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 4)


class ClockActivities:
    """Due moments and verdicts from the legal clock."""

    def __init__(self, clock: LegalClock) -> None:
        self._clock = clock

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
        return StepDueResult(due=due)

    @activity.defn(name="clock.assess-step")
    async def assess_step(self, request: StepAssessInput) -> StepAssessResult:
        """Early if done on an earlier day than due; on time if by the due moment; else late."""
        pauses = closed_pauses(request.pauses)
        used = self._clock.working_time_between(request.started, request.done, pauses)
        if request.done > request.due:
            late = self._clock.working_time_between(request.due, request.done, pauses)
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
