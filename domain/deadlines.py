"""The legal clock's questions about a dossier: due moments, verdicts, shifts and forecasts.

Pure functions of a `LegalClock` (in a workflow: one built from the calendar snapshot pinned in
the dossier's input), so the dossier workflow computes every due moment itself instead of asking
an activity. They used to be the ``clock.*`` activities; their answers are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr

from domain.calendar import CalendarOverride, CalendarSnapshot, WorkingCalendar
from domain.clock import DEFAULT_OFFICE_HOURS, VN_TZ, LegalClock, OfficeHours

__all__ = [
    "LATE_AFTER",
    "Assessment",
    "BudgetLine",
    "ClockSnapshot",
    "Pause",
    "StepBudget",
    "Verdict",
    "assess",
    "closed_pauses",
    "forecast",
    "new_appointment",
    "projected_finish",
    "shift",
    "snapshot_of",
    "step_due",
]

# Lateness is counted in whole minutes: a click a few milliseconds after the due moment is on time.
LATE_AFTER = timedelta(minutes=1)


class Pause(BaseModel):
    """A period the legal clock stood still (supplement, public notice, waiting for payment)."""

    start: datetime
    end: datetime | None = None  # None: still paused
    reason: str = ""
    procedure: str | None = None  # whose clock stops; None: the whole dossier's
    moves_appointment: bool = False  # the applicant's time (supplement, paying) moves the date
    step: str | None = None  # the step whose own pause it is (a notice, a payment, the post)
    # Time the law does not count but other steps still work through (the tax authority setting
    # the amount owed under Decree 151/2025): it moves the appointment, not their due moments.
    keeps_steps_running: bool = False


class Verdict(StrEnum):
    """How a step or a dossier ended against its due moment (form 05)."""

    EARLY = "early"  # done on an earlier day than due
    ON_TIME = "on_time"  # done on the due day, by the due moment
    LATE = "late"
    NOT_COUNTED = "not_counted"  # a step whose time does not count (notice, payment)


class Assessment(BaseModel):
    """Verdict and the working time used, and by how much it was late (0 when not late)."""

    verdict: Verdict
    working_hours_used: float
    late_working_hours: float


class StepBudget(BaseModel):
    """A step as the forecast sees it."""

    key: str
    depends_on: list[str]
    budget_hours: float
    opened_at: datetime | None = None  # set when open
    done: bool = False


class BudgetLine(NamedTuple):
    """A step as the forecast sees it, as a plain tuple: what a caller that forecasts at every
    transition builds (no model to build or validate), and what it compares to reuse an answer."""

    key: str
    depends_on: Sequence[str]
    budget_hours: float
    opened_at: datetime | None
    done: bool


class _Budget(Protocol):
    """What `forecast` reads of a step: a `StepBudget` or a `BudgetLine`."""

    @property
    def key(self) -> str: ...
    @property
    def depends_on(self) -> Sequence[str]: ...
    @property
    def budget_hours(self) -> float: ...
    @property
    def opened_at(self) -> datetime | None: ...
    @property
    def done(self) -> bool: ...


def closed_pauses(pauses: Iterable[Pause]) -> list[tuple[datetime, datetime]]:
    """The closed pauses as intervals (an open pause has no end to count with)."""
    return [(p.start, p.end) for p in pauses if p.end is not None]


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 4)


def step_due(
    clock: LegalClock,
    start: datetime,
    working_hours: float,
    pauses: Sequence[Pause] = (),
    warn_lead_hours: float = 0.0,
) -> tuple[datetime | None, datetime | None]:
    """When a step that started at ``start`` with this budget is due, and when to warn.

    Returns ``(None, None)`` while an open pause stops the clock. The warning moment is
    ``warn_lead_hours`` of working time before the due moment, never before the start (a short
    step is warned about as it opens); None when no lead is asked for.
    """
    if any(p.end is None for p in pauses):
        return None, None
    due = clock.add(start, timedelta(hours=working_hours), closed_pauses(pauses))
    warn_at = None
    if warn_lead_hours > 0:
        warn_at = max(clock.subtract(due, timedelta(hours=warn_lead_hours)), start)
    return due, warn_at


def assess(
    clock: LegalClock, started: datetime, done: datetime, due: datetime, pauses: Sequence[Pause]
) -> Assessment:
    """Early if done on an earlier day than due; on time if by the due moment; else late."""
    intervals = closed_pauses(pauses)
    used = clock.working_time_between(started, done, intervals)
    late = clock.working_time_between(due, done, intervals)
    if late >= LATE_AFTER:
        return Assessment(
            verdict=Verdict.LATE, working_hours_used=_hours(used), late_working_hours=_hours(late)
        )
    done_day = done.astimezone(VN_TZ).date()
    due_day = due.astimezone(VN_TZ).date()
    verdict = Verdict.EARLY if done_day < due_day else Verdict.ON_TIME
    return Assessment(verdict=verdict, working_hours_used=_hours(used), late_working_hours=0.0)


def shift(clock: LegalClock, moment: datetime, pause: Pause) -> datetime:
    """The moment moved later by the working time the (closed) pause took before it.

    A pause still open, or one that began after the moment (a payment made after a missed
    appointment), does not move it.
    """
    if pause.end is None or moment <= pause.start:
        return moment
    left = clock.working_time_between(pause.start, moment)
    moved = clock.add(pause.start, left, [(pause.start, pause.end)])
    return max(moved, moment)


def _remaining_path_hours(steps: Sequence[_Budget], used: dict[str, float]) -> float:
    """Longest chain of remaining work: done steps 0, open steps what is left of their budget."""
    by_key = {step.key: step for step in steps}
    memo: dict[str, float] = {}

    def longest(key: str) -> float:
        if key not in memo:
            step = by_key[key]
            own = 0.0 if step.done else max(step.budget_hours - used.get(key, 0.0), 0.0)
            before = [longest(d) for d in step.depends_on if d in by_key]
            memo[key] = own + max(before, default=0.0)
        return memo[key]

    return max((longest(key) for key in by_key), default=0.0)


def forecast(
    clock: LegalClock,
    now: datetime,
    steps: Sequence[_Budget],
    pauses: Sequence[Pause] = (),
    grace_hours: float = 0.0,
) -> tuple[datetime, datetime]:
    """``(projected finish, new appointment)``: now plus the longest remaining chain of budgets
    on the legal clock, and that plus the grace (the margin a letter's new date leaves)."""
    finish = projected_finish(clock, now, steps, pauses)
    return finish, new_appointment(clock, finish, grace_hours)


def new_appointment(clock: LegalClock, finish: datetime, grace_hours: float) -> datetime:
    """The appointment a letter sets for a projected finish: that plus the grace."""
    return clock.add(finish, timedelta(hours=grace_hours))


def projected_finish(
    clock: LegalClock, now: datetime, steps: Sequence[_Budget], pauses: Sequence[Pause] = ()
) -> datetime:
    """`forecast`'s projected finish alone: what a check that apologises only when the finish
    is past the appointment needs every time (the new appointment only when it does)."""
    intervals = closed_pauses(pauses)
    used = {
        step.key: clock.working_time_between(step.opened_at, now, intervals).total_seconds() / 3600
        for step in steps
        if step.opened_at is not None and not step.done
    }
    remaining = timedelta(hours=_remaining_path_hours(steps, used))
    return clock.add(now, remaining, intervals)


class _Built:
    """The clock a snapshot builds once. Always equal to another: pydantic compares private
    attributes, and a snapshot that has computed must still equal a fresh copy of itself."""

    def __init__(self) -> None:
        self.clock: LegalClock | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Built)

    __hash__ = None  # type: ignore[assignment]


class ClockSnapshot(BaseModel):
    """The working calendar and office hours a dossier's clock counts with, pinned in its input.

    Small (only the exceptions to the weekly rhythm are listed), recorded once in the history,
    and computed with in the workflow: the dossier never asks an activity what day it is.
    """

    model_config = ConfigDict(frozen=True)

    calendar: CalendarSnapshot
    office_hours: OfficeHours = DEFAULT_OFFICE_HOURS
    _built: _Built = PrivateAttr(default_factory=_Built)

    def clock(self) -> LegalClock:
        """The legal clock over this snapshot (built once)."""
        if self._built.clock is None:
            self._built.clock = LegalClock(self.calendar, self.office_hours)
        return self._built.clock

    def amended(self, overrides: Iterable[CalendarOverride]) -> ClockSnapshot:
        """The same snapshot with the days' status changed (days outside it are ignored)."""
        return ClockSnapshot(
            calendar=self.calendar.amended(overrides), office_hours=self.office_hours
        )


def snapshot_of(clock: LegalClock, first: date, last: date) -> ClockSnapshot:
    """The snapshot of a clock's calendar over ``[first, last]``, with its office hours."""
    calendar = clock.calendar
    if isinstance(calendar, CalendarSnapshot):
        # Already a snapshot (a test's or a simulation's): keep it as it is.
        return ClockSnapshot(calendar=calendar, office_hours=clock.office_hours)
    assert isinstance(calendar, WorkingCalendar)
    return ClockSnapshot(calendar=calendar.snapshot(first, last), office_hours=clock.office_hours)
