"""What-if questions on a district profile, each answered against the baseline run.

``starter.py simulate --profile dong-da-2023 --scale 0.05 --lose land-registration:2:2027-03``
runs the profile twice on the core engine, as it is and with the change, and prints both side
by side: received, on-time share and apology letters per level and per agency.

- ``--lose AGENCY[@DESK]:N:YYYY-MM``: the agency has N officers fewer from that month on; for
  an agency staffed per desk (``staff``), at DESK (default: its one office ``*``), whose
  officers are then gone from the roll; for a district-wide pool (``capacity_per_day`` and
  ``officers``) its daily capacity falls by N times what one officer decides a day;
- ``--tet-backlog``: around Tết (the longest stretch of days off in January–February) every
  agency works at half capacity for five working days before and after it (leave, the year-end
  rush): half of a staffed desk's officers on leave, half a pool's capacity [unverified: a
  modelling assumption, not a measured figure];
- ``--holiday YYYY-MM-DD``: the government adds a day off, known before the year starts (the
  calendar of the whole run has it; dossiers already open when an amendment is announced are
  re-planned by ``starter.py calendar amend`` in production, which this does not play);
- ``--surge DESK:PROCEDURE:COUNT:YYYY-MM``: COUNT more dossiers of a procedure at a desk in that
  month, at scale 1 (the article's site clearance: ``PHUONGLIEN:land-and-permit:300:2027-03``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from domain.calendar import (
    OVERRIDES_FILE,
    CalendarOverride,
    WorkingCalendar,
    default_calendar,
    load_overrides,
)
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from sim.events import number_dossiers, tet
from sim.profile import (
    Draft,
    LevelRow,
    Profile,
    by_level,
    capacities,
    draw_chart,
    draw_drafts,
    profile_result,
    weekly,
)
from sim.runner import Progress, SimulationResult
from sim.scenario import OTHER_DESKS, StaffChange
from store.reports import ReportResult


@dataclass
class Loss:
    """An agency loses officers from a month on (at one desk when it is staffed per desk)."""

    agency: str
    officers: int
    month: date  # its first day
    desk: str = OTHER_DESKS


@dataclass
class Surge:
    """More dossiers of a procedure at a desk in one month."""

    desk: str
    procedure: str
    count: int
    month: date


@dataclass
class WhatIf:
    """The changes asked on the command line (none: no what-if)."""

    losses: list[Loss] = field(default_factory=list)
    holidays: list[date] = field(default_factory=list)
    surges: list[Surge] = field(default_factory=list)
    tet_backlog: bool = False

    def __bool__(self) -> bool:
        return bool(self.losses or self.holidays or self.surges or self.tet_backlog)

    def describe(self) -> str:
        """The changes in one line."""
        parts = [f"{x.agency} −{x.officers} officers from {x.month:%Y-%m}" for x in self.losses]
        parts += [f"day off {day}" for day in self.holidays]
        parts += [f"+{x.count} {x.procedure} at {x.desk} in {x.month:%Y-%m}" for x in self.surges]
        parts += ["Tết backlog (half capacity 5 working days either side)"] * self.tet_backlog
        return "; ".join(parts)


def _month(text: str, what: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a month YYYY-MM") from None


def parse_loss(text: str) -> Loss:
    """``AGENCY[@DESK]:N:YYYY-MM``."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < 1:
        raise ValueError(
            f"--lose {text!r}: write AGENCY[@DESK]:N:YYYY-MM, e.g. land-registration:2:2027-03"
        )
    agency, _, desk = parts[0].partition("@")
    return Loss(agency, int(parts[1]), _month(parts[2], "--lose"), desk or OTHER_DESKS)


def parse_surge(text: str) -> Surge:
    """``DESK:PROCEDURE:COUNT:YYYY-MM``."""
    parts = text.split(":")
    if len(parts) != 4 or not parts[2].isdigit() or int(parts[2]) < 1:
        raise ValueError(
            f"--surge {text!r}: write DESK:PROCEDURE:COUNT:YYYY-MM, "
            "e.g. PHUONGLIEN:land-and-permit:300:2027-03"
        )
    return Surge(parts[0], parts[1], int(parts[2]), _month(parts[3], "--surge"))


def parse_day(text: str) -> date:
    """``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--holiday {text!r} is not a date YYYY-MM-DD") from None


def check(what_if: WhatIf, profile: Profile, months: int) -> None:
    """Raise ValueError naming the first change the profile cannot take."""
    first, last = profile.start, profile.end(months)
    desks = {desk for level in profile.levels.values() for desk in level.desks}
    for loss in what_if.losses:
        _check_loss(loss, profile, desks)
        if not first <= loss.month <= last:
            raise ValueError(f"--lose {loss.month:%Y-%m} is outside the run {first}..{last}")
    for day in what_if.holidays:
        if not first <= day <= last:
            raise ValueError(f"--holiday {day} is outside the run {first}..{last}")
    catalog = default_catalog()
    for surge in what_if.surges:
        if surge.desk not in desks:
            raise ValueError(f"--surge {surge.desk}: not a desk of the profile")
        try:
            if catalog.is_combined(surge.procedure):
                catalog.combined_on(surge.procedure, surge.month)
            else:
                catalog.version_on(surge.procedure, surge.month)
        except LookupError as exc:
            raise ValueError(
                f"--surge {surge.procedure}: {exc.args[0] if exc.args else exc}"
            ) from None
        if not first <= surge.month <= last:
            raise ValueError(f"--surge {surge.month:%Y-%m} is outside the run {first}..{last}")


def _check_loss(loss: Loss, profile: Profile, desks: set[str]) -> None:
    """Raise ValueError when the profile has not the officers ``loss`` takes away."""
    agency = profile.agencies.get(loss.agency)
    if agency is not None and agency.staff is not None:
        staff = agency.staff
        if staff.office is not None and loss.desk != OTHER_DESKS:
            raise ValueError(f"--lose {loss.agency}@{loss.desk}: it has one office, no desks")
        if staff.office is None and loss.desk not in desks:
            raise ValueError(
                f"--lose {loss.agency}: it has officers per desk; write "
                f"{loss.agency}@DESK:N:YYYY-MM with a desk of the profile"
            )
        have = staff.officers(staff.pool(loss.desk))
        if loss.officers >= have:
            raise ValueError(
                f"--lose {loss.agency}: it has only {have} officers"
                + ("" if loss.desk == OTHER_DESKS else f" at {loss.desk}")
            )
    elif agency is None or agency.capacity_per_day is None or agency.officers is None:
        known = sorted(c for c, a in profile.agencies.items() if a.officers is not None or a.staff)
        raise ValueError(
            f"--lose {loss.agency}: the profile gives no officers and capacity for it; "
            f"agencies with officers: {', '.join(known)}"
        )
    elif loss.officers >= agency.officers:
        raise ValueError(f"--lose {loss.agency}: it has only {agency.officers} officers")


def _clock(holidays: list[date]) -> LegalClock:
    if not holidays:
        return LegalClock(default_calendar())
    overrides = [o for o in load_overrides(OVERRIDES_FILE) if o.day not in holidays]
    overrides += [
        CalendarOverride(
            day=day,
            kind="day_off",
            reason="Ngày nghỉ bổ sung (giả định của mô phỏng)",
            source="what-if",
        )
        for day in holidays
    ]
    return LegalClock(WorkingCalendar(overrides))


def staffed_variant(what_if: WhatIf, profile: Profile) -> Profile:
    """The profile with the what-if's changes to agencies staffed per desk: officers lost from
    the roll of their desk, half of every desk's officers on leave around Tết."""
    agencies = dict(profile.agencies)
    for code, agency in profile.agencies.items():
        staff = agency.staff
        if staff is None:
            continue
        changes = list(staff.changes) + [
            StaffChange.model_validate({"from": x.month, "desk": x.desk, "officers": x.officers})
            for x in what_if.losses
            if x.agency == code
        ]
        update: dict[str, Any] = {"changes": changes}
        if what_if.tet_backlog:
            update |= {
                "tet_leave_days": max(staff.tet_leave_days, 5),
                "tet_leave_rate": max(staff.tet_leave_rate, 0.5),
            }
        agencies[code] = agency.model_copy(update={"staff": staff.model_copy(update=update)})
    return profile.model_copy(update={"agencies": agencies})


def schedules(
    what_if: WhatIf, profile: Profile, scale: float, clock: LegalClock
) -> dict[str, tuple[tuple[date, float], ...]]:
    """Capacity changes by agency (`sim.events.Capacity.schedule`)."""
    base = capacities(profile, scale)
    changes: dict[str, list[tuple[date, float]]] = {code: [] for code in base}
    lost: dict[str, float] = dict.fromkeys(base, 0.0)
    events: list[tuple[date, str, float]] = []
    for loss in what_if.losses:
        agency = profile.agencies[loss.agency]
        if agency.staff is not None:
            continue  # `staffed_variant`
        assert agency.capacity_per_day is not None and agency.officers is not None
        per_officer = agency.capacity_per_day * scale / agency.officers
        events.append((loss.month, loss.agency, loss.officers * per_officer))
    halves: list[tuple[date, date]] = []
    if what_if.tet_backlog:
        first, last = tet(clock, profile.start.year)
        before, after = first, last
        for _ in range(5):
            before = clock.calendar.previous_working_day(before)
            after = clock.calendar.next_working_day(after)
        halves.append((before, after + timedelta(days=1)))
    moments = sorted({day for day, _, _ in events} | {d for span in halves for d in span})
    for moment in moments:
        for day, code, amount in events:
            if day == moment:
                lost[code] += amount
        half = any(start <= moment < end for start, end in halves)
        for code, per_day in base.items():
            value = max(per_day - lost[code], 0.5) * (0.5 if half else 1.0)
            changes[code].append((moment, max(value, 0.5)))
    return {code: tuple(values) for code, values in changes.items() if values}


def surge_drafts(what_if: WhatIf, profile: Profile, scale: float, clock: LegalClock) -> list[Draft]:
    """The extra dossiers of the surges, on working days of their month in office hours; they
    count in their desk's level."""
    level_of = {desk: name for name, level in profile.levels.items() for desk in level.desks}
    seed = profile.seed
    drafts: list[Draft] = []
    for number, surge in enumerate(what_if.surges):
        rng = random.Random(f"{seed}:surge:{number}")
        days = []
        day = surge.month
        while day.month == surge.month.month:
            if clock.calendar.is_working_day(day):
                days.append(day)
            day += timedelta(days=1)
        for _ in range(max(1, round(surge.count * scale))):
            moment = datetime.combine(
                rng.choice(days), time(rng.choice((8, 9, 10, 14, 15)), rng.randrange(60)), VN_TZ
            )
            drafts.append(
                (
                    moment,
                    10_000_000 + len(drafts),
                    {
                        "desk": surge.desk,
                        "procedure": surge.procedure,
                        "group": level_of[surge.desk],
                    },
                )
            )
    return drafts


@dataclass
class Run:
    """One of the two runs."""

    result: SimulationResult
    levels: list[LevelRow]
    dossiers: int


async def run_what_if(
    profile: Profile,
    what_if: WhatIf,
    *,
    scale: float,
    months: int,
    chart: Path | None,
    as_json: bool,
    progress: Progress | None = None,
    workers: int | None = None,
) -> str:
    """The baseline and the changed run on the core engine, compared; the changed run's chart.
    ``workers``: each run's processes (`sim.profile.profile_result`)."""
    check(what_if, profile, months)
    runs = []
    for changed in (False, True):
        clock = _clock(what_if.holidays if changed else [])
        drafts = draw_drafts(profile, scale, months, clock)
        if changed:
            drafts += surge_drafts(what_if, profile, scale, clock)
        dossiers = number_dossiers(drafts)
        options: dict[str, Any] = {}
        run_profile = profile
        if changed:
            options = {"clock": clock, "schedules": schedules(what_if, profile, scale, clock)}
            run_profile = staffed_variant(what_if, profile)
        result = await profile_result(
            run_profile, months, scale, dossiers, progress=progress, workers=workers, **options
        )
        runs.append(Run(result, by_level(result, dossiers), len(dossiers)))
    baseline, variant = runs
    chart_path = chart or Path(f"{profile.name}-x{scale:g}-whatif.png")
    draw_chart(weekly(variant.result), chart_path, f"{profile.name} x{scale:g}: what if")
    if as_json:
        return (
            json.dumps(
                {
                    "profile": profile.name,
                    "scale": scale,
                    "months": months,
                    "what_if": what_if.describe(),
                    "baseline": _figures(baseline),
                    "what_if_run": _figures(variant),
                    "chart": str(chart_path),
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    return comparison_text(profile, scale, what_if, baseline, variant, chart_path)


def _agencies(report: ReportResult) -> dict[str, tuple[int, float | None, int]]:
    rows = {}
    for row in report.rows:
        counted = row.early + row.on_time + row.late
        rate = round(100 * (row.early + row.on_time) / counted, 2) if counted else None
        rows[row.group or ""] = (row.decided, rate, row.apology_letters)
    return rows


def _figures(run: Run) -> dict[str, Any]:
    return {
        "dossiers": run.dossiers,
        "unfinished": sum(1 for o in run.result.outcomes if not o.finished),
        "by_level": [row.model_dump() for row in run.levels],
        "by_agency": {
            code: {"decided": d, "on_time_rate_pct": r, "apology_letters": letters}
            for code, (d, r, letters) in _agencies(run.result.report_by_agency).items()
        },
    }


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def comparison_text(
    profile: Profile, scale: float, what_if: WhatIf, baseline: Run, variant: Run, chart: Path
) -> str:
    """Baseline and what-if side by side (Vietnamese first, English after)."""
    lines = [
        f"Giả định / what if — {profile.name} x{scale:g}: {what_if.describe()}",
        f"Hồ sơ / dossiers: {baseline.dossiers} (gốc / baseline) → {variant.dossiers}",
        "",
        "Theo cấp / by level        on-time % baseline → what-if    letters baseline → what-if",
    ]
    before = {row.level: row for row in baseline.levels}
    for row in variant.levels:
        base = before.get(row.level)
        lines.append(
            f"{row.level:<12}{_rate(base.on_time_rate_pct if base else None):>18} → "
            f"{_rate(row.on_time_rate_pct):<10}{(base.apology_letters if base else 0):>14} → "
            f"{row.apology_letters}"
        )
    lines += [
        "",
        "Theo cơ quan / by agency   on-time % baseline → what-if    letters baseline → what-if",
    ]
    base_agencies = _agencies(baseline.result.report_by_agency)
    for code, (_, rate, letters) in sorted(_agencies(variant.result.report_by_agency).items()):
        _, base_rate, base_letters = base_agencies.get(code, (0, None, 0))
        lines.append(
            f"{code:<22}{_rate(base_rate):>8} → {_rate(rate):<10}{base_letters:>14} → {letters}"
        )
    lines.append(f"\nBiểu đồ tuần (what-if) / weekly chart: {chart}")
    return "\n".join(lines) + "\n"
