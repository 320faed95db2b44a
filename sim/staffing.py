"""``starter.py plan-staff``: the fewest officers per agency and desk that keep a target on-time
rate.

Each candidate is judged by a run of the profile on the core engine (other agencies as the
profile staffs them), over the period: the agency's steps decided at a desk are on time at
least ``--target`` % of the time. An agency staffed per desk (``staff.desks``) is searched
desk by desk, all its desks at once: desks do not lend each other officers, so one run tells
every desk's rate at its own candidate, and a bisection per desk needs about log2(3 x officers)
runs for the whole agency. An agency with one office (``staff.office``), a pooled one, or a
district-wide pool (``capacity_per_day`` and ``officers``) is one pool. When even
``MAX_FACTOR`` times the profile's officers misses the target, the pool is reported as not
reaching it (its lateness does not come from its capacity: officers' own timing, upstream
steps, the calendar).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Connection

from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import LegalClock
from sim.profile import AgencyProfile, Profile, draw_dossiers, load_profile, profile_path
from sim.profile import profile_result as run_result
from sim.runner import SimulationResult
from sim.whatif import _agencies
from store.db import sync_engine
from store.reports import ReportBy, report_input, run_report

MAX_FACTOR = 3
ONE_POOL = "(district)"  # the desk column of an agency that is one pool


@dataclass
class DeskPlan:
    """The answer for one agency at one desk (or its one pool)."""

    agency: str
    desk: str
    officers_now: int
    officers_needed: int | None  # None: not reached even at MAX_FACTOR times
    on_time_rate_pct: float | None  # at officers_needed (or at the most tried)
    runs: int  # runs of the search for this agency
    # At the run's scale the answer decides less than one a day, so the one-a-day floor of a
    # reduced scale (`sim.events.DeskCapacity`) answered: the need at scale 1 may be higher.
    at_floor: bool = False


def per_officer(profile: Profile, agency: str) -> float:
    """Decisions one of the agency's officers makes a working day at scale 1."""
    rule = profile.agencies[agency]
    if rule.staff is not None:
        return rule.staff.per_officer_per_day
    assert rule.capacity_per_day is not None and rule.officers is not None
    return rule.capacity_per_day / rule.officers


def pools(profile: Profile, agency: str) -> dict[str, int]:
    """The agency's pools and their officers now: each desk of the profile, or one pool."""
    rule = profile.agencies[agency]
    staff = rule.staff
    if staff is None:
        assert rule.officers is not None
        return {ONE_POOL: rule.officers}
    if staff.office is not None or staff.pooled:
        return {ONE_POOL: staff.officers("")}
    desks = [desk for level in profile.levels.values() for desk in level.desks]
    return {desk: staff.officers(desk) for desk in desks}


def staffed_with(profile: Profile, agency: str, officers: dict[str, int]) -> Profile:
    """The profile with the agency's pools staffed with ``officers``."""
    rule = profile.agencies[agency]
    staff = rule.staff
    if staff is None:
        assert rule.capacity_per_day is not None and rule.officers is not None
        per_officer = rule.capacity_per_day / rule.officers
        count = officers[ONE_POOL]
        changed = rule.model_copy(
            update={"officers": count, "capacity_per_day": max(1, round(count * per_officer))}
        )
    elif ONE_POOL in officers:  # one office, or a pool: the same in effect
        changed = rule.model_copy(
            update={
                "staff": staff.model_copy(
                    update={"office": officers[ONE_POOL], "desks": {}, "pooled": False}
                )
            }
        )
    else:
        changed = rule.model_copy(
            update={"staff": staff.model_copy(update={"desks": dict(officers)})}
        )
    return profile.model_copy(update={"agencies": {**profile.agencies, agency: changed}})


def _desk_rates(connection: Connection, result: SimulationResult, agency: str) -> dict[str, float]:
    params = report_input(
        result.scenario.start, result.ended_on, catalog=default_catalog(), agency=agency,
        by=ReportBy.DESK,
    )  # fmt: skip
    rates = {}
    for row in run_report(connection, params).rows:
        counted = row.early + row.on_time + row.late
        if counted:
            rates[row.group or ""] = 100 * (row.early + row.on_time) / counted
    return rates


async def rates(
    profile: Profile, scale: float, months: int, agency: str, officers: dict[str, int]
) -> dict[str, float]:
    """One run with the agency's pools staffed with ``officers``: the on-time % of its steps
    per pool (100 where none was counted)."""
    changed = staffed_with(profile, agency, officers)
    dossiers = draw_dossiers(changed, scale, months, LegalClock(default_calendar()))
    with tempfile.TemporaryDirectory(prefix="lienthong-plan-") as scratch:
        url = f"sqlite:///{scratch}/registry.db"
        result = await run_result(changed, months, scale, dossiers, database_url=url)
        if ONE_POOL in officers:
            rate = _agencies(result.report_by_agency).get(agency, (0, None, 0))[1]
            return {ONE_POOL: 100.0 if rate is None else rate}
        engine = sync_engine(url)
        try:
            with engine.connect() as connection:
                found = _desk_rates(connection, result, agency)
        finally:
            engine.dispose()
    return {desk: found.get(desk, 100.0) for desk in officers}


async def plan_agency(
    profile: Profile, agency: str, target: float, scale: float, months: int
) -> list[DeskPlan]:
    """A bisection per pool of the agency, every pool's candidate in the same run (see the
    module docstring)."""
    now = pools(profile, agency)
    low = dict.fromkeys(now, 0)  # 0 officers never keeps a target: each answer is in (low, high]
    high = {pool: max(1, count * MAX_FACTOR) for pool, count in now.items()}
    best = await rates(profile, scale, months, agency, high)
    runs = 1
    unreached = {pool for pool in now if best[pool] < target}

    def open_pools() -> list[str]:
        return [p for p in now if p not in unreached and high[p] - low[p] > 1]

    one = per_officer(profile, agency)
    while open_pools():
        candidate = dict(high)
        for pool in open_pools():
            candidate[pool] = (low[pool] + high[pool]) // 2
        found = await rates(profile, scale, months, agency, candidate)
        runs += 1
        for pool in open_pools():
            if found[pool] >= target:
                high[pool], best[pool] = candidate[pool], found[pool]
            else:
                low[pool] = candidate[pool]
    return [
        DeskPlan(
            agency=agency,
            desk=pool,
            officers_now=now[pool],
            officers_needed=None if pool in unreached else high[pool],
            on_time_rate_pct=round(best[pool], 2),
            runs=runs,
            at_floor=pool not in unreached and high[pool] * one * scale < 1,
        )
        for pool in now
    ]


def staffed(profile: Profile) -> list[str]:
    """The agencies the profile gives officers: per desk or office (``staff``), or a pool."""
    return sorted(
        code
        for code, agency in profile.agencies.items()
        if isinstance(agency, AgencyProfile)
        and (
            agency.staff is not None
            or (agency.officers is not None and agency.capacity_per_day is not None)
        )
    )


def table(plans: list[DeskPlan], target: float, scale: float, months: int) -> str:
    """The plan as text (Vietnamese first, English after): per agency its desks, then the
    agency's total."""
    lines = [
        f"Biên chế tối thiểu để đạt {target:g}% đúng hạn / fewest officers for {target:g}% on "
        f"time (reduced scale x{scale:g}, {months} months: dossiers and each officer's daily "
        "decisions scaled, a desk's whole roll at least one decision a day)",
        f"{'cơ quan / agency':<20}{'bàn / desk':<14}{'hiện có / now':>14}{'cần / needed':>14}"
        f"{'đúng hạn %':>12}",
    ]
    for agency in dict.fromkeys(plan.agency for plan in plans):
        rows = [plan for plan in plans if plan.agency == agency]
        for plan in rows:
            needed = "—" if plan.officers_needed is None else str(plan.officers_needed)
            needed += "¹" if plan.at_floor else ""
            rate = "—" if plan.on_time_rate_pct is None else f"{plan.on_time_rate_pct:.2f}"
            lines.append(
                f"{plan.agency:<20}{plan.desk:<14}{plan.officers_now:>14}{needed:>14}{rate:>12}"
            )
        if len(rows) > 1:
            missing = any(plan.officers_needed is None for plan in rows)
            total = sum(plan.officers_needed or 0 for plan in rows)
            lines.append(
                f"{agency:<20}{'= total':<14}{sum(p.officers_now for p in rows):>14}"
                f"{(str(total) + ('+' if missing else '')):>14}{'':>12}"
            )
    unreached = [f"{p.agency}@{p.desk}" for p in plans if p.officers_needed is None]
    if unreached:
        lines.append(
            f"not reached at {MAX_FACTOR}x the officers: {', '.join(unreached)} "
            "(their lateness does not come from capacity)"
        )
    if any(plan.at_floor for plan in plans):
        lines.append(
            f"¹ at x{scale:g} these officers decide less than one a day: the one-a-day floor "
            "answered, the need at full scale may be higher (run a larger --scale)"
        )
    runs = {plan.agency: plan.runs for plan in plans}
    lines.append("runs / lượt chạy: " + ", ".join(f"{a} {n}" for a, n in runs.items()))
    return "\n".join(lines) + "\n"


def draw(plans: list[DeskPlan], path: Path, title: str) -> None:
    """A PNG: officers now (grey) and needed (blue) per agency and desk."""
    from PIL import Image, ImageDraw

    width = max(900, 60 + 34 * len(plans))
    height, left, bottom, top = 460, 60, 120, 40
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    pen.text((left, 12), title, fill="black")
    peak = max([p.officers_now for p in plans] + [p.officers_needed or 0 for p in plans] + [1])
    plot_h = height - top - bottom
    slot = (width - left - 20) / max(len(plans), 1)
    for index, plan in enumerate(plans):
        x = left + index * slot
        for offset, value, colour in (
            (0.1, plan.officers_now, "grey"),
            (0.5, plan.officers_needed, "steelblue"),
        ):
            if value is None:  # not reached at MAX_FACTOR times: no bar, a red x
                pen.text((x + slot * offset, top + plot_h - 12), "x", fill="darkred")
                continue
            bar = plot_h * value / peak
            pen.rectangle(
                (x + slot * offset, top + plot_h - bar, x + slot * (offset + 0.35), top + plot_h),
                fill=colour,
            )
            pen.text((x + slot * offset, top + plot_h - bar - 12), str(value), fill="black")
        label = plan.agency if plan.desk == ONE_POOL else f"{plan.agency[:10]}@{plan.desk[:8]}"
        for line, part in enumerate((label[:12], label[12:24])):  # two short lines a bar
            pen.text((x + 2, top + plot_h + 8 + 12 * (line + index % 3 * 2)), part, fill="black")
    pen.text(
        (left, height - 24),
        f"grey: officers now; blue: fewest keeping the target; red x: not reached at {MAX_FACTOR}x",
        fill="black",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``plan-staff`` subcommand's options."""
    parser.add_argument("--profile", required=True, metavar="NAME", help="a district profile")
    parser.add_argument("--target", type=float, default=100.0, help="on-time %% (default 100)")
    parser.add_argument("--scale", type=float, default=0.01, help="share of dossiers (0.01)")
    parser.add_argument("--months", type=int, default=None, help="months simulated (all)")
    parser.add_argument("--agency", action="append", default=[], help="only these agencies")
    parser.add_argument("--chart", type=Path, metavar="PNG", help="default NAME-staff.png")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    """Plan and print; a bad option raises ValueError (exit 2)."""
    profile = load_profile(profile_path(args.profile))
    if not 0 < args.target <= 100:
        raise ValueError(f"--target {args.target:g} must be more than 0 and at most 100")
    if not 0 < args.scale <= 1:
        raise ValueError(f"--scale {args.scale:g} must be more than 0 and at most 1")
    months = args.months or profile.months
    if not 1 <= months <= profile.months:
        raise ValueError(f"--months must be 1..{profile.months}")
    agencies = args.agency or staffed(profile)
    for code in agencies:
        if code not in staffed(profile):
            raise ValueError(
                f"--agency {code}: the profile gives it no officers; staffed: "
                f"{', '.join(staffed(profile))}"
            )

    async def plan_all() -> list[DeskPlan]:
        plans = []
        for code in agencies:
            plans += await plan_agency(profile, code, args.target, args.scale, months)
            sys.stderr.write(f"plan-staff: {code} done\n")
        return plans

    plans = asyncio.run(plan_all())
    chart = args.chart or Path(f"{profile.name}-staff.png")
    draw(plans, chart, f"{profile.name} x{args.scale:g}: officers for {args.target:g}% on time")
    if args.json:
        document = {
            "profile": profile.name,
            "target": args.target,
            "scale": args.scale,
            "months": months,
            "plans": [asdict(p) for p in plans],
            "chart": str(chart),
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(table(plans, args.target, args.scale, months) + f"chart: {chart}\n")
    return 0
