"""The one-stop desk's reception: the legal plan of a dossier and the calendar it counts with.

Runs on the one-stop desk's task queue. The catalog and the calendar are read here, not in the
workflow, so that what they said on the day of receipt (they change when their files change) is
recorded once in the workflow's history: the plan, and the calendar snapshot the dossier's legal
clock computes with from then on (unless the client pinned one in the workflow's input).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import date, datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.calendar import (
    OVERRIDES_FILE,
    CalendarRangeError,
    ProvisionalPeriod,
    WorkingCalendar,
    load_overrides,
    load_provisional,
)
from domain.catalog import Catalog
from domain.clock import LegalClock
from domain.deadlines import ClockSnapshot, snapshot_of
from domain.dossier_core import calendar_window
from domain.plan import DossierPlan, plan_dossier


class PlanDossierInput(BaseModel):
    """What the desk knows when it receives a dossier."""

    dossier_code: str
    procedure_code: str
    received_at: datetime
    calendar: ClockSnapshot | None = None  # pinned by the client; else the desk's own


class PlanDossierResult(BaseModel):
    """The plan (form 01's promises) and the calendar it was computed with."""

    plan: DossierPlan
    calendar: ClockSnapshot


class CalendarInput(BaseModel):
    """A calendar snapshot over ``[first, last]`` (a dossier about to outlive its own)."""

    first: date
    last: date


class _ShippedClock:
    """The legal clock over the shipped override file, read again when the file changes, so a
    calendar amendment (``starter.py calendar amend``) reaches dossiers received after it
    without a worker restart."""

    def __init__(self) -> None:
        self._stamp: float | None = None
        self._clock: LegalClock | None = None

    def __call__(self) -> LegalClock:
        stamp = os.stat(OVERRIDES_FILE).st_mtime
        if self._clock is None or stamp != self._stamp:
            self._clock = LegalClock(WorkingCalendar(load_overrides(OVERRIDES_FILE)))
            self._stamp = stamp
        return self._clock


class ReceptionActivities:
    """Activities of the one-stop desk; dependencies come in through the constructor."""

    def __init__(self, catalog: Catalog, clock: LegalClock | None = None) -> None:
        """``clock``: a fixed legal clock (tests, simulations); by default the shipped calendar,
        re-read when its file changes."""
        self._catalog = catalog
        self._clock: Callable[[], LegalClock] = (
            (lambda: clock) if clock is not None else _ShippedClock()
        )
        # The shipped calendar's provisional periods, read with it; a fixed clock has none.
        self._provisional: Callable[[], Sequence[ProvisionalPeriod]] = (
            (lambda: ()) if clock is not None else (lambda: load_provisional(OVERRIDES_FILE))
        )

    @activity.defn(name="reception.plan-dossier")
    async def plan_dossier(self, request: PlanDossierInput) -> PlanDossierResult:
        """Pin the procedure version in force on the receipt date, the calendar, and every due
        moment.

        An unknown procedure, one not in force that day, or a pinned calendar that does not
        cover the dossier fails at once: retrying cannot help.
        """
        try:
            snapshot = request.calendar or snapshot_of(
                self._clock(), *calendar_window(request.received_at)
            )
            plan = plan_dossier(
                self._catalog,
                snapshot.clock(),
                request.procedure_code,
                request.received_at,
                provisional=self._provisional(),
            )
        except (LookupError, ValueError) as exc:  # CalendarRangeError is a ValueError
            raise ApplicationError(
                str(exc.args[0]) if exc.args else str(exc),
                type=type(exc).__name__,
                non_retryable=True,
            ) from None
        return PlanDossierResult(plan=plan, calendar=snapshot)

    @activity.defn(name="reception.calendar")
    async def calendar(self, request: CalendarInput) -> ClockSnapshot:
        """The desk's calendar over a range, for a dossier about to outlive its snapshot."""
        try:
            return snapshot_of(self._clock(), request.first, request.last)
        except CalendarRangeError as exc:
            raise ApplicationError(
                str(exc), type="CalendarRangeError", non_retryable=True
            ) from None
