"""The legal plan of a dossier: which rules apply, when the clock starts, every due moment.

A dossier is pinned to the procedure versions in force on its receipt date (Vietnam time).
The clock starts at ``LegalClock.clock_start`` (after hours → next opening; the receipt cut-off
of the procedure, or the earliest of a bundle's components). Planning walks the step graph in
topological order, as if every step took exactly its budget:

- a step starts when all the steps it depends on (within its procedure and, in a combined
  dossier, across procedures) are due; the first steps start when the clock starts;
- a counted step is due its budget of working time after it starts;
- a public notice (not counted) takes its ``notice_days`` calendar days, and that statutory
  interval is a pause of the legal clock, planned from the start;
- another uncounted step (the applicant paying) is planned as taking no time: the clock stops
  only while it actually waits, and its budget is just the horizon for chasing it (its ``due``);
- the appointment (form 01) is the statutory limit counted from the clock start, with the
  given pauses (supplement requests) and the planned notice periods not counted.

Pure: the catalog and the clock come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from domain.calendar import ProvisionalPeriod, provisional_between
from domain.catalog import Budget, Catalog, ProcedureVersion, Step, StepKind
from domain.clock import VN_TZ, LegalClock


class PlannedStep(BaseModel):
    """One step of the plan with its planned start and due moment."""

    procedure: str
    step: str
    name_vi: str
    agency: str
    kind: str
    counted: bool
    depends_on: list[str]  # keys (``procedure:step``) of the steps it waits for
    starts: datetime
    due: datetime
    budget_hours: float = 0.0  # the step's budget in working hours
    activity: str | None = None  # the agency activity of an automated check
    notice_days: int | None = None  # calendar days a public notice stays posted
    # The agency's name as people read it (plans made before it was recorded leave it empty).
    agency_name_vi: str = ""

    @property
    def agency_vi(self) -> str:
        """The agency's Vietnamese name, or its code in a plan made before names were kept."""
        return self.agency_name_vi or self.agency

    @property
    def key(self) -> str:
        """``procedure:step``, unique within a dossier."""
        return f"{self.procedure}:{self.step}"


class ComponentVersion(BaseModel):
    """A procedure of the dossier and the version it is pinned to."""

    code: str
    version: str


class ProcedurePolicy(BaseModel):
    """Per-procedure rules the dossier workflow enforces (from the pinned version)."""

    code: str
    version: str
    name_vi: str
    max_supplement_requests: int
    supplement_deadline: datetime | None  # requests allowed until then (None: until decided)
    refusal_ends_dossier: bool
    home_delivery: bool
    supplement_answer_hours: float | None = None  # the applicant's time to supplement


class DossierPlan(BaseModel):
    """Everything the receipt (form 01) promises, and the per-step budgets behind it."""

    procedure: str  # the code asked for: a procedure or a combined bundle
    version: str
    name_vi: str
    combined: bool
    components: list[ComponentVersion]
    received_at: datetime
    clock_starts: datetime
    limit_working_hours: float
    appointment: datetime
    # The desk's own service target (catalog ``service_target``), if any: stricter than the law,
    # shown to the applicant as a target; on-time verdicts use only the appointment.
    service_target: datetime | None = None
    steps: list[PlannedStep]
    policies: list[ProcedurePolicy] = []
    # The result may be sent home by post (the bundle's rule for a combined dossier).
    home_delivery: bool = False
    # One note per provisional calendar period (an unannounced year, an unconfirmed day off)
    # between the receipt and the appointment: the appointment may move (form 01 says so).
    calendar_notes_vi: list[str] = []


def _step_length(step: Step, hours_per_day: timedelta) -> timedelta:
    return step.budget.working_time(hours_per_day)


def limit_working_time(clock: LegalClock, clock_starts: datetime, limit: Budget) -> timedelta:
    """The working time a statutory limit gives a dossier whose clock starts at ``clock_starts``.

    A working-time limit is the same for every dossier; "by the closing of the n-th working
    day" (a certified copy: the same day) is the office time from the clock's start to that
    closing, so the appointment is exactly the closing time.
    """
    if limit.to_closing:
        closing = clock.closing_of_working_day(clock_starts, int(limit.amount))
        return clock.working_time_between(clock_starts, closing)
    return limit.working_time(clock.office_hours.hours_per_day)


def plan_dossier(
    catalog: Catalog,
    clock: LegalClock,
    code: str,
    received_at: datetime,
    pauses: Sequence[tuple[datetime, datetime]] = (),
    provisional: Sequence[ProvisionalPeriod] = (),
) -> DossierPlan:
    """Plan a dossier received at ``received_at`` for a procedure or combined bundle ``code``.

    Args:
        catalog: the procedure catalog.
        clock: the legal clock (calendar + office hours).
        code: a procedure code or a combined (liên thông) code.
        received_at: the receipt moment, with a time-zone offset.
        pauses: periods during which the clock stopped (supplement requests).
        provisional: the calendar's provisional periods (``default_provisional()``); those the
            count from receipt to appointment touches become ``calendar_notes_vi``.

    Raises:
        UnknownProcedure, NotInForce: ``code`` is not catalogued, or not in force that day.
        ValueError: ``received_at`` or a pause is naive, or a pause ends before it starts.
    """
    if received_at.tzinfo is None:
        raise ValueError("the receipt moment must carry a time-zone offset (e.g. +07:00)")
    for start, end in pauses:
        if end < start:
            raise ValueError(
                f"the pause {start.isoformat()}/{end.isoformat()} ends before it starts"
            )
    received_at = received_at.astimezone(VN_TZ)
    day = received_at.date()
    hours_per_day = clock.office_hours.hours_per_day

    cross: dict[str, list[str]] = {}
    combined = catalog.is_combined(code)
    if combined:
        bundle = catalog.combined_on(code, day)
        versions: tuple[ProcedureVersion, ...] = catalog.components_on(code, day)
        for dependency in bundle.cross_dependencies:
            cross.setdefault(f"{dependency.procedure}:{dependency.step}", []).append(
                f"{dependency.waits_for_procedure}:{dependency.waits_for_step}"
            )
        version_label, name_vi, limit = bundle.version, bundle.name_vi, bundle.limit
        home_delivery = bundle.home_delivery
    else:
        versions = (catalog.version_on(code, day),)
        version_label, name_vi, limit = versions[0].version, versions[0].name_vi, versions[0].limit
        home_delivery = versions[0].home_delivery

    cutoffs = [version.receipt_cutoff for version in versions if version.receipt_cutoff]
    clock_starts = clock.clock_start(received_at, min(cutoffs) if cutoffs else None)

    # Kahn's order over all steps of all components, joined by the cross dependencies.
    steps: dict[str, tuple[ProcedureVersion, Step]] = {}
    deps: dict[str, list[str]] = {}
    for version in versions:
        for step in version.topological_order():
            key = f"{version.code}:{step.id}"
            steps[key] = (version, step)
            deps[key] = [f"{version.code}:{d}" for d in step.depends_on] + cross.get(key, [])
    due: dict[str, datetime] = {}
    planned: list[PlannedStep] = []
    uncounted: list[tuple[datetime, datetime]] = []
    pending = list(steps)
    while pending:
        ready = [key for key in pending if all(d in due for d in deps[key])]
        if not ready:  # the catalog loader rejects cycles; this guards a hand-built catalog
            raise ValueError(f"the steps of {code} form a cycle: {', '.join(pending)}")
        for key in ready:
            version, step = steps[key]
            starts = max((due[d] for d in deps[key]), default=clock_starts)
            if step.counts_toward_limit:
                ends = clock.add(starts, _step_length(step, hours_per_day), pauses)
                due[key] = ends
            elif step.kind is StepKind.PUBLIC_NOTICE and step.notice_days:
                # A statutory posting period is certain: plan it, and stop the clock during it.
                ends = clock.clock_start(starts + timedelta(days=step.notice_days))
                uncounted.append((starts, ends))
                due[key] = ends
            else:
                # Waiting on the applicant (payment) stops the clock only when it happens; the
                # plan assumes no wait, and the step's budget is only the horizon for chasing.
                ends = clock.add(starts, _step_length(step, hours_per_day))
                due[key] = starts
            planned.append(
                PlannedStep(
                    procedure=version.code,
                    step=step.id,
                    name_vi=step.name_vi,
                    agency=step.agency,
                    kind=str(step.kind),
                    counted=step.counts_toward_limit,
                    depends_on=deps[key],
                    starts=starts,
                    due=ends,
                    budget_hours=_step_length(step, hours_per_day).total_seconds() / 3600,
                    activity=step.activity,
                    notice_days=step.notice_days,
                    agency_name_vi=catalog.agency(step.agency).name_vi,
                )
            )
        pending = [key for key in pending if key not in due]

    limit_time = limit_working_time(clock, clock_starts, limit)
    appointment = clock.add(clock_starts, limit_time, [*pauses, *uncounted])
    target = None if combined or versions[0].service_target is None else versions[0].service_target
    service_target = (
        clock.add(clock_starts, target.working_time(hours_per_day), pauses) if target else None
    )
    return DossierPlan(
        procedure=code,
        version=version_label,
        name_vi=name_vi,
        combined=combined,
        components=[ComponentVersion(code=v.code, version=v.version) for v in versions],
        received_at=received_at,
        clock_starts=clock_starts,
        limit_working_hours=limit_time.total_seconds() / 3600,
        appointment=appointment,
        service_target=service_target,
        steps=planned,
        home_delivery=home_delivery,
        calendar_notes_vi=[
            period.reason
            for period in provisional_between(
                provisional, received_at.date(), appointment.astimezone(VN_TZ).date()
            )
        ],
        policies=[
            ProcedurePolicy(
                code=v.code,
                version=v.version,
                name_vi=v.name_vi,
                max_supplement_requests=v.supplement_policy.max_requests,
                supplement_deadline=(
                    clock.add(clock_starts, v.supplement_policy.within.working_time(hours_per_day))
                    if v.supplement_policy.within
                    else None
                ),
                refusal_ends_dossier=v.refusal_ends_dossier,
                home_delivery=v.home_delivery,
                supplement_answer_hours=(
                    v.supplement_policy.applicant_time.working_time(hours_per_day).total_seconds()
                    / 3600
                    if v.supplement_policy.applicant_time
                    else None
                ),
            )
            for v in versions
        ],
    )
