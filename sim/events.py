"""From a scenario to events: the dossiers to submit, and what each actor does next and when.

Every draw comes from ``random.Random(f"{seed}:{dossier code}:{what}:{n}")``, a generator of its
own per decision, so an outcome does not depend on the order in which the simulation happens
to ask (many drivers run at once). Moments are counted in working time on the legal clock from
the moment a step became actionable, and floored to the minute: the time-skipping server's
clock runs at wall speed while work is in flight, so the moment a step opens carries a few
milliseconds of jitter that must not reach the output.

Pure: the catalog and the clock come in; nothing here talks to Temporal or the database.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

import structlog
from pydantic import BaseModel

from domain.catalog import Catalog, NotInForce, default_catalog
from domain.clock import VN_TZ, LegalClock
from domain.dossier import DossierStatus
from domain.dossier_code import format_dossier_code
from domain.plan import DossierPlan, plan_dossier
from sim.scenario import AgencyRule, DossierSpec, OfficerAct, Scenario, Span, Staffing
from workflows.dossier import OFFICER_KINDS, TERMINAL, OpenStep, TrackingState

log = structlog.get_logger(__name__)

# Actors act half a minute past the minute, and the driver looks again only after SETTLE: the
# dossier's own timers fall just after a whole minute (due moments, warnings), and an act that
# races one of them can strand the dossier on the time-skipping server (see sim/driver.py's
# TIMER_GUARD, which catches the races this offset does not).
ACT_OFFSET = timedelta(seconds=30)
SETTLE = timedelta(seconds=20)
SOON = timedelta(minutes=1)  # look again: an automated check or the workflow is still moving
WAITING_POLL = timedelta(hours=8)  # nothing to do but wait for time (the post, a notice)
HOURS_PER_DAY = 8.0


class SimDossier(BaseModel):
    """A dossier the simulation submits."""

    index: int
    code: str
    desk: str
    procedure: str
    submit_at: datetime
    home_delivery: bool = False
    label: str | None = None
    spec: int | None = None  # index in ``scenario.dossiers`` (explicit), None when drawn
    group: str | None = None  # a profile's level (district / ward), for its report


class Act(BaseModel):
    """One thing an actor does to a dossier."""

    kind: Literal["decide", "pay", "supplement", "withdraw"]
    at: datetime
    occurrence: int = 0  # the how-many-th act of this kind on this step
    step: str | None = None
    agency: str | None = None
    action: Literal["approve", "request_supplement", "refuse", "send_back"] = "approve"
    reason: str = ""
    missing: list[str] = []
    send_back_to: str | None = None
    amount_vnd: int = 0
    reference: str = ""


class Next(BaseModel):
    """What the driver does now: act (at most one act, then look again), or sleep until."""

    act: Act | None = None
    wake_at: datetime | None = None
    done: bool = False


def floor_minute(moment: datetime) -> datetime:
    """The moment without seconds, in Vietnam time."""
    return moment.astimezone(VN_TZ).replace(second=0, microsecond=0)


def _draw(span: Span, rng: random.Random) -> float:
    return span.low if span.high == span.low else rng.uniform(span.low, span.high)


def _working_days(clock: LegalClock, start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if clock.calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def expand(scenario: Scenario, clock: LegalClock) -> list[SimDossier]:
    """Every dossier of the scenario, in submission order, with its dossier code.

    Codes follow ``DESK-yyMMdd-NNNN`` with the sequence per desk and Vietnam day in submission
    order, as the registry would hand them out.
    """
    drafts: list[tuple[datetime, int, dict[str, object]]] = []
    for number, spec in enumerate(scenario.dossiers):
        drafts.append(
            (
                floor_minute(spec.submit_at),
                len(drafts),
                {
                    "desk": spec.desk or scenario.desk,
                    "procedure": spec.procedure,
                    "home_delivery": spec.home_delivery,
                    "label": spec.label,
                    "spec": number,
                },
            )
        )
    rules = scenario.rules
    for number, rule in enumerate(rules.arrivals if rules is not None else []):
        assert rules is not None
        rng = random.Random(f"{scenario.seed}:arrivals:{number}")
        days = _working_days(clock, rule.start, rule.end)
        if not days:
            continue
        for _ in range(rule.count):
            day = rng.choice(days)
            hours = _draw(rules.arrival_hours, rng)
            moment = datetime.combine(day, time(0), VN_TZ) + timedelta(minutes=int(hours * 60))
            drafts.append(
                (
                    moment,
                    len(drafts),
                    {
                        "desk": rule.desk or scenario.desk,
                        "procedure": rule.procedure,
                        "home_delivery": rng.random() < rule.home_delivery_rate,
                    },
                )
            )
    return number_dossiers(drafts)


def _in_force(catalog: Catalog, procedure: str, day: date) -> bool:
    try:
        if catalog.is_combined(procedure):
            catalog.components_on(procedure, day)
        else:
            catalog.version_on(procedure, day)
    except NotInForce:
        return False
    return True


def receivable(
    drafts: list[tuple[datetime, int, dict[str, object]]], catalog: Catalog | None = None
) -> list[tuple[datetime, int, dict[str, object]]]:
    """The drafts the desk can receive: a procedure with no version in force on the day (its
    legal basis ended with no successor published, e.g. land after Decree 151 ends) is refused
    at the desk as in life, so it never becomes a dossier; the count is logged."""
    catalog = catalog or default_catalog()
    kept, refused = [], Counter[str]()
    for draft in drafts:
        procedure, day = str(draft[2]["procedure"]), draft[0].astimezone(VN_TZ).date()
        if _in_force(catalog, procedure, day):
            kept.append(draft)
        else:
            refused[procedure] += 1
    if refused:
        log.warning("dossiers_not_receivable", no_rules_in_force=dict(sorted(refused.items())))
    return kept


def number_dossiers(drafts: list[tuple[datetime, int, dict[str, object]]]) -> list[SimDossier]:
    """Sort the receivable drafts by (moment, order) and give each its dossier code."""
    sequences: dict[tuple[str, date], int] = {}
    dossiers = []
    ordered = sorted(receivable(drafts), key=lambda d: (d[0], d[1]))
    for index, (moment, _, fields) in enumerate(ordered):
        desk = str(fields["desk"])
        day = moment.astimezone(VN_TZ).date()
        sequence = sequences[(desk, day)] = sequences.get((desk, day), 0) + 1
        dossiers.append(
            SimDossier.model_validate(
                {
                    **fields,
                    "index": index,
                    "code": format_dossier_code(desk, day, sequence),
                    "submit_at": moment,
                }
            )
        )
    return dossiers


@dataclass
class Capacity:
    """An agency's daily capacity: on average ``per_day`` officer decisions on a working day.

    A fractional capacity (a scaled-down profile's 1.4 a day) is honoured on average: each day
    has ``floor(per_day)`` slots and one more with probability ``per_day - floor(per_day)``,
    drawn from the day and the agency alone (so the same days, whatever the order of claims).
    A decision planned for a full day moves to the next working day with room (at the same time
    of day). Claims are made when a step is first seen, so steps seen at the same simulated
    minute may take the last slot of a day in either order.
    """

    per_day: float
    agency: str = ""
    used: dict[date, int] = field(default_factory=dict)
    # What-ifs: from each day on, another capacity (officers lost, a Tết backlog); in day order.
    schedule: tuple[tuple[date, float], ...] = ()

    def per_day_on(self, day: date) -> float:
        """The capacity in force on ``day``."""
        per_day = self.per_day
        for start, value in self.schedule:
            if start <= day:
                per_day = value
        return per_day

    def room(self, day: date) -> int:
        """Decisions the agency can make on ``day``."""
        per_day = self.per_day_on(day)
        whole = int(per_day)
        extra = random.Random(f"capacity:{self.agency}:{day.isoformat()}").random()
        return whole + (1 if extra < per_day - whole else 0)

    def claim(self, clock: LegalClock, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` on a working day that still has room."""
        local = moment.astimezone(VN_TZ)
        day = local.date()
        while self.used.get(day, 0) >= self.room(day) or not clock.calendar.is_working_day(day):
            day = clock.calendar.next_working_day(day)
            local = datetime.combine(day, max(local.time(), time(8)), VN_TZ)
        self.used[day] = self.used.get(day, 0) + 1
        return local


def tet(clock: LegalClock, year: int) -> tuple[date, date]:
    """The longest stretch of days off in January and February of ``year`` (Tết)."""
    best: tuple[date, date] = (date(year, 1, 1), date(year, 1, 1))
    day, run_start = date(year, 1, 1), None
    while day <= date(year, 2, 28):
        off = not clock.calendar.is_working_day(day)
        if off and run_start is None:
            run_start = day
        if not off and run_start is not None:
            if (day - run_start) > (best[1] - best[0]):
                best = (run_start, day - timedelta(days=1))
            run_start = None
        day += timedelta(days=1)
    return best


class DeskCapacity(Capacity):
    """The decisions one desk's officers (`sim.scenario.Staffing`) can make on a day.

    On a working day each officer of the pool is in or away (``absence_rate``, and
    ``tet_leave_rate`` on the ``tet_leave_days`` working days either side of Tết), drawn from
    the agency, pool, officer and day alone with no seed: the same absences in every run and
    in both engines. The officers in decide ``per_officer_per_day`` each (times the run's
    ``scale``; at a reduced scale the whole roll at least one decision a day, of which the
    officers away take their share); a fraction is honoured on average as in `Capacity`. A
    decision falls in the officers' ``hours``: planned earlier it waits for them to start, at or
    after their end it moves to the next working day with room.
    """

    def __init__(self, staff: Staffing, agency: str, pool: str, clock: LegalClock) -> None:
        super().__init__(0.0, agency)
        self.staff = staff
        self.pool = pool
        self._clock = clock
        self._rooms: dict[date, int] = {}
        self._leave: dict[int, tuple[date, date]] = {}

    def _tet_leave(self, day: date) -> bool:
        if not self.staff.tet_leave_days or not self.staff.tet_leave_rate:
            return False
        span = self._leave.get(day.year)
        if span is None:
            before, after = tet(self._clock, day.year)
            for _ in range(self.staff.tet_leave_days):
                before = self._clock.calendar.previous_working_day(before)
                after = self._clock.calendar.next_working_day(after)
            span = self._leave[day.year] = (before, after)
        return span[0] <= day <= span[1]

    def officers_on(self, day: date) -> int:
        """Officers of the pool on the roll that day (what-if losses taken off)."""
        return max(self.staff.officers(self.pool) - self.staff.lost(self.pool, day), 0)

    def present(self, day: date) -> int:
        """Officers of the pool at work on ``day``."""
        leave = self._tet_leave(day)
        present = 0
        for officer in range(self.officers_on(day)):
            draw = random.Random(f"absence:{self.agency}:{self.pool}:{officer}:{day}").random()
            if draw < self.staff.absence_rate:
                continue
            if leave and draw < self.staff.absence_rate + self.staff.tet_leave_rate:
                continue
            present += 1
        return present

    def per_day_on(self, day: date) -> float:
        # At a reduced scale the desk's whole roll decides at least one a day; absences and
        # officers lost take their share off that, so a what-if still shows at scale 0.01.
        roll = self.staff.officers(self.pool)
        if not roll:
            return 0.0
        full = roll * self.staff.per_officer_per_day * self.staff.scale
        if self.staff.scale < 1:
            full = max(full, 1.0)
        return full * self.present(day) / roll

    def room(self, day: date) -> int:
        room = self._rooms.get(day)
        if room is None:
            per_day = self.per_day_on(day)
            whole = int(per_day)
            extra = random.Random(f"capacity:{self.agency}:{self.pool}:{day}").random()
            room = self._rooms[day] = whole + (1 if extra < per_day - whole else 0)
        return room

    def claim(self, clock: LegalClock, moment: datetime) -> datetime:
        start, end = self.staff.hours.low, self.staff.hours.high
        opens = time(int(start), min(round(start % 1 * 60), 59))
        local = moment.astimezone(VN_TZ)
        day = local.date()
        hour = local.hour + local.minute / 60
        if hour >= end:  # after the officers' day: their next one
            day = clock.calendar.next_working_day(day)
            local = datetime.combine(day, opens, VN_TZ)
        elif hour < start:
            local = datetime.combine(day, opens, VN_TZ)
        first = day
        while self.used.get(day, 0) >= self.room(day) or not clock.calendar.is_working_day(day):
            day = clock.calendar.next_working_day(day)
            local = datetime.combine(day, max(local.time(), opens), VN_TZ)
            if (day - first).days > 730 and not self.officers_on(day):
                raise ValueError(
                    f"{self.agency}: no officers at {self.pool or 'its office'} from {first} on"
                )
        self.used[day] = self.used.get(day, 0) + 1
        return local


class Oracle:
    """Decides, from a dossier's tracking state, the next act of its officers, applicant and
    payer, and when. Remembers only what was planned (so a plan is not drawn twice) and which
    acts the workflow refused (so they are not repeated)."""

    def __init__(
        self,
        scenario: Scenario,
        catalog: Catalog,
        clock: LegalClock,
        capacities: dict[str, float] | None = None,
        schedules: dict[str, tuple[tuple[date, float], ...]] | None = None,
    ) -> None:
        self._scenario = scenario
        self._catalog = catalog
        self._clock = clock
        self._plans: dict[str, DossierPlan] = {}
        self._planned: dict[tuple[str, str, int], Act] = {}
        self._keys: dict[str, list[tuple[str, str, int]]] = {}  # planned keys by dossier code
        self._refused: set[tuple[str, str, int]] = set()
        self._capacity = {
            code: Capacity(per_day, code, schedule=(schedules or {}).get(code, ()))
            for code, per_day in (capacities or {}).items()
        }
        # Agencies staffed desk by desk (`Staffing`): one capacity per pool, made when needed.
        rules = scenario.rules
        self._staff = {
            code: rule.staff
            for code, rule in (rules.agencies.items() if rules is not None else ())
            if rule.staff is not None
        }
        self._desk_capacity: dict[tuple[str, str], DeskCapacity] = {}
        self.horizon = datetime.combine(scenario.start, time(0), VN_TZ) + timedelta(
            days=scenario.horizon_days
        )

    # ---- helpers ---------------------------------------------------------------------------

    def plan(self, dossier: SimDossier) -> DossierPlan:
        """The dossier's legal plan, as the reception activity computes it."""
        plan = self._plans.get(dossier.code)
        if plan is None:
            plan = plan_dossier(self._catalog, self._clock, dossier.procedure, dossier.submit_at)
            self._plans[dossier.code] = plan
        return plan

    def remember_plan(self, dossier: SimDossier, plan: DossierPlan) -> None:
        """The plan the desk made at receipt (the same computation `plan` would repeat)."""
        self._plans[dossier.code] = plan

    def forget(self, dossier: SimDossier) -> None:
        """Drop what was remembered of a finished dossier."""
        self._plans.pop(dossier.code, None)
        for key in self._keys.pop(dossier.code, ()):
            self._planned.pop(key, None)

    def _plan_act(self, key: tuple[str, str, int], act: Act) -> None:
        self._planned[key] = act
        self._keys.setdefault(key[0], []).append(key)

    def refused(self, dossier: SimDossier, act: Act) -> None:
        """The workflow refused the act: a decision is then simply an approval, a withdrawal
        is not tried again."""
        key = (dossier.code, act.step or act.kind, act.occurrence)
        self._refused.add(key)
        self._planned.pop(key, None)

    def after(self, since: datetime, hours: float) -> datetime:
        """``hours`` of working time after ``since``, at half past that minute; an act that
        would fall at a closing time (or after it) waits for the next opening. (Counting that
        ends exactly at 17:00 must not depend on a few milliseconds of the time-skipping
        server's clock, which put it either at 17:00 or at the next morning's 08:00.)"""
        hours = round(hours * 4) / 4  # a quarter of an hour is as precise as officers are
        moment = floor_minute(self._clock.add(since, timedelta(hours=hours))) + ACT_OFFSET
        if not self._clock.is_office_time(moment):
            moment = floor_minute(self._clock.clock_start(moment)) + ACT_OFFSET
        return moment

    def _rng(self, dossier: SimDossier, what: str, occurrence: int) -> random.Random:
        return random.Random(f"{self._scenario.seed}:{dossier.code}:{what}:{occurrence}")

    def _spec(self, dossier: SimDossier) -> DossierSpec | None:
        return None if dossier.spec is None else self._scenario.dossiers[dossier.spec]

    # ---- the next act ----------------------------------------------------------------------

    def next(self, dossier: SimDossier, state: TrackingState, now: datetime) -> Next:
        """The act due now, or when to look again."""
        if state.status in TERMINAL:
            return Next(done=True)
        if now >= self.horizon:
            return Next(done=True)
        if state.appointment is None or not state.open_steps:
            return Next(wake_at=now + SOON)  # being received, or between two steps
        acts: list[Act] = []
        transient = False
        unplanned = False  # an open step that moves without an act of ours: look now and then
        spec = self._spec(dossier)
        withdraw = spec.applicant.withdraw_after_days if spec is not None else None
        if (
            withdraw is not None
            and state.status is not DossierStatus.DECIDED
            and (dossier.code, "withdraw", 0) not in self._refused
        ):
            acts.append(
                Act(kind="withdraw", at=self.after(dossier.submit_at, withdraw * HOURS_PER_DAY))
            )
        waiting = [s for s in state.supplements if s.answered_at is None and s.lapsed_at is None]
        if waiting:
            acts.append(self._supplement_answer(dossier, state))
        else:
            transient, unplanned, notice_end = self._open_step_acts(dossier, state, acts)
            if notice_end is not None:
                return self._wake(acts, now, max(notice_end, now + SOON))
        due = [act for act in acts if act.at <= now]
        if due:
            return Next(act=min(due, key=lambda a: a.at))
        if transient:
            return Next(wake_at=now + SOON)
        if acts and not unplanned:
            # Every open step waits for one of our acts: nothing changes before the first.
            return self._wake(acts, now, max(act.at for act in acts))
        return self._wake(acts, now, now + WAITING_POLL)

    def _open_step_acts(
        self, dossier: SimDossier, state: TrackingState, acts: list[Act]
    ) -> tuple[bool, bool, datetime | None]:
        """Add to ``acts`` the act each open step waits for. Says whether a step is in passing
        (transient), whether one moves without an act of ours (unplanned), and when the first
        public notice found ends (the steps after it are not looked at)."""
        transient = unplanned = False
        for step in state.open_steps:
            if step.kind == "automated_check" or step.opened_at is None:
                transient = True
            elif step.kind in OFFICER_KINDS and not step.decided:
                acts.append(self._officer(dossier, state, step))
            elif step.kind == "payment":
                if state.amount_due_vnd > state.amount_paid_vnd:
                    pay = self._payment(dossier, state, step)
                    if pay is not None:
                        acts.append(pay)
                    else:
                        unplanned = True
                else:
                    transient = True
            elif step.kind == "public_notice":
                acts_at = self._notice_end(dossier, step)
                if acts_at is not None:
                    return transient, unplanned, acts_at
            else:
                unplanned = True  # e.g. a result with the post: it moves on its own
        return transient, unplanned, None

    @staticmethod
    def _wake(acts: list[Act], now: datetime, fallback: datetime) -> Next:
        moments = [act.at for act in acts if act.at > now]
        return Next(wake_at=min([*moments, fallback]))

    def _notice_end(self, dossier: SimDossier, step: OpenStep) -> datetime | None:
        planned = next((s for s in self.plan(dossier).steps if s.key == step.key), None)
        if planned is None or step.opened_at is None:
            return None
        return step.opened_at + timedelta(days=planned.notice_days or 0, minutes=1)

    def _occurrence(self, state: TrackingState, step: OpenStep) -> tuple[int, datetime]:
        """How many times the step was already acted on in this opening, and since when it is
        actionable again (the supplement answered, the result back at the desk)."""
        assert step.opened_at is not None
        procedure, _, name = step.key.partition(":")
        since = step.opened_at
        count = 0
        for request in state.supplements:
            if (request.procedure, request.step) == (procedure, name) and request.at >= since:
                count += 1
                if request.answered_at is not None:
                    since = max(since, request.answered_at)
        for row in state.ledger:
            if (
                (row.procedure, row.step) == (procedure, name)
                and row.result.startswith("back to the desk")
                and row.at >= step.opened_at
            ):
                count += 1
                since = max(since, row.at)
            elif (row.procedure, row.step) == (procedure, name) and row.result.startswith(
                "sent back"
            ):
                count += 1  # the step opens again later: its next scripted act is used then
        return count, since

    def _officer(self, dossier: SimDossier, state: TrackingState, step: OpenStep) -> Act:
        occurrence, since = self._occurrence(state, step)
        key = (dossier.code, step.key, occurrence)
        planned = self._planned.get(key)
        if planned is not None:
            return planned
        plan = self.plan(dossier)
        budget = next((s.budget_hours for s in plan.steps if s.key == step.key), HOURS_PER_DAY)
        spec = self._spec(dossier)
        if spec is not None:
            act = self._scripted(spec, plan, step, occurrence, since, budget)
        else:
            act = self._drawn(dossier, plan, step, occurrence, since, budget)
        if key in self._refused and act.action != "approve":
            act = act.model_copy(update={"action": "approve", "reason": "", "missing": []})
        capacity = self._capacity_of(step.agency, dossier.desk)
        if capacity is not None and spec is None:
            act = act.model_copy(update={"at": floor_minute(capacity.claim(self._clock, act.at))})
        self._plan_act(key, act)
        return act

    def pool_of(self, agency: str, desk: str) -> tuple[str, str] | None:
        """Whose day a step of ``agency`` in a dossier received at ``desk`` takes room from:
        (agency, desk) for a desk's own officers, (agency, "") for the agency's one office,
        pool or district-wide capacity; None when the agency's decisions are not counted."""
        staff = self._staff.get(agency)
        if staff is not None:
            return (agency, staff.pool(desk))
        return (agency, "") if agency in self._capacity else None

    def _capacity_of(self, agency: str, desk: str) -> Capacity | None:
        staff = self._staff.get(agency)
        if staff is None:
            return self._capacity.get(agency)
        pool = staff.pool(desk)
        capacity = self._desk_capacity.get((agency, pool))
        if capacity is None:
            capacity = DeskCapacity(staff, agency, pool, self._clock)
            self._desk_capacity[(agency, pool)] = capacity
        return capacity

    def _decision(
        self,
        step: OpenStep,
        occurrence: int,
        at: datetime,
        action: str,
        reason: str,
        missing: list[str],
        send_back_to: str | None = None,
    ) -> Act:
        return Act.model_validate(
            {
                "kind": "decide",
                "occurrence": occurrence,
                "at": at,
                "step": step.key,
                "agency": step.agency,
                "action": action,
                "reason": reason,
                "missing": missing,
                "send_back_to": send_back_to,
            }
        )

    def _scripted(
        self,
        spec: DossierSpec,
        plan: DossierPlan,
        step: OpenStep,
        occurrence: int,
        since: datetime,
        budget: float,
    ) -> Act:
        single = plan.components[0].code if len(plan.components) == 1 else None
        scripted: list[OfficerAct] = [
            act
            for act in spec.officers
            if act.step == step.key or (single is not None and f"{single}:{act.step}" == step.key)
        ]
        chosen = scripted[occurrence] if occurrence < len(scripted) else None
        if chosen is None:
            return self._decision(
                step, occurrence, self.after(since, spec.officer_share * budget), "approve", "", []
            )
        hours = (
            chosen.after_days * HOURS_PER_DAY
            if chosen.after_days is not None
            else spec.officer_share * budget
        )
        missing = chosen.missing or self._missing_documents(plan, step)
        target = chosen.send_back_to
        if target is not None and ":" not in target:
            target = f"{step.key.partition(':')[0]}:{target}"
        return self._decision(
            step,
            occurrence,
            self.after(since, hours),
            chosen.action,
            chosen.reason or ("Hồ sơ còn thiếu giấy tờ" if chosen.action != "approve" else ""),
            missing if chosen.action == "request_supplement" else [],
            target,
        )

    def _drawn(
        self,
        dossier: SimDossier,
        plan: DossierPlan,
        step: OpenStep,
        occurrence: int,
        since: datetime,
        budget: float,
    ) -> Act:
        assert self._scenario.rules is not None
        rule: AgencyRule = self._scenario.rules.agency(step.agency)
        rng = self._rng(dossier, step.key, occurrence)
        hours = (
            _draw(rule.officer_days, rng) * HOURS_PER_DAY
            if rule.officer_days is not None
            else _draw(rule.budget_share, rng) * budget
        )
        outcome = rng.random()
        action, reason, missing = "approve", "", []
        if step.kind == "officer_decision" and occurrence == 0:
            if outcome < rule.supplement_rate and self._may_request(plan, step):
                action, reason = "request_supplement", "Hồ sơ cần bổ sung giấy tờ"
                missing = self._missing_documents(plan, step)
            elif rule.supplement_rate <= outcome < rule.supplement_rate + rule.refusal_rate:
                action, reason = "refuse", "Hồ sơ không đủ điều kiện giải quyết"
        return self._decision(step, occurrence, self.after(since, hours), action, reason, missing)

    @staticmethod
    def _may_request(plan: DossierPlan, step: OpenStep) -> bool:
        procedure = step.key.partition(":")[0]
        policy = next((p for p in plan.policies if p.code == procedure), None)
        return policy is not None and policy.max_supplement_requests > 0

    def _missing_documents(self, plan: DossierPlan, step: OpenStep) -> list[str]:
        procedure = step.key.partition(":")[0]
        version = self._catalog.version_on(procedure, plan.received_at.astimezone(VN_TZ).date())
        names = [d.name_vi for d in version.required_documents]
        return names[:1] or ["Giấy tờ bổ sung"]

    def _supplement_answer(self, dossier: SimDossier, state: TrackingState) -> Act:
        request = next(
            s for s in state.supplements if s.answered_at is None and s.lapsed_at is None
        )
        occurrence = len(state.supplements)
        key = (dossier.code, "supplement", occurrence)
        planned = self._planned.get(key)
        if planned is not None:
            return planned
        spec = self._spec(dossier)
        if spec is not None:
            days = spec.applicant.supplement_after_days
        else:
            assert self._scenario.rules is not None
            days = _draw(
                self._scenario.rules.supplement_reply_days,
                self._rng(dossier, "supplement", occurrence),
            )
        act = Act(
            kind="supplement",
            at=self.after(request.at, days * HOURS_PER_DAY),
            missing=request.missing_documents,
        )
        self._plan_act(key, act)
        return act

    def _payment(self, dossier: SimDossier, state: TrackingState, step: OpenStep) -> Act | None:
        assert step.opened_at is not None
        spec = self._spec(dossier)
        if spec is not None:
            days = spec.payer.pay_after_days
        else:
            assert self._scenario.rules is not None
            days = _draw(self._scenario.rules.payment_delay_days, self._rng(dossier, "pay", 0))
        if days is None:
            return None
        return Act(
            kind="pay",
            at=self.after(step.opened_at, days * HOURS_PER_DAY),
            amount_vnd=state.amount_due_vnd - state.amount_paid_vnd,
            reference=f"PAY-{dossier.code}-{state.amount_paid_vnd}",
        )
