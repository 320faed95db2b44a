"""``starter.py plan-staff``: the fewest officers per agency that keep a target on-time rate.

For each agency the profile staffs (``officers`` and ``capacity_per_day``), a bisection over
its officer count, each candidate judged by a run of the profile on the core engine with the
other agencies as the profile staffs them: the fewest officers whose agency steps are at least
``--target`` % on time over the period. One officer decides ``capacity_per_day / officers`` a
working day. When even ``MAX_FACTOR`` times the profile's officers misses the target, the
agency is reported as not reaching it (its lateness does not come from its capacity: officers'
own timing, upstream steps, the calendar).

Capacity is one pool per agency across the district (see docs/simulation.md): the planner
answers per agency, not yet per ward desk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from domain.calendar import default_calendar
from domain.clock import LegalClock
from sim.profile import AgencyProfile, Profile, draw_dossiers, load_profile, profile_path
from sim.profile import profile_result as run_result
from sim.whatif import _agencies

MAX_FACTOR = 3


@dataclass
class AgencyPlan:
    """The answer for one agency."""

    agency: str
    officers_now: int
    officers_needed: int | None  # None: not reached even at MAX_FACTOR times
    on_time_rate_pct: float | None  # at officers_needed (or at the most tried)
    runs: int


async def _rate(profile: Profile, scale: float, months: int, agency: str, officers: int) -> float:
    base = profile.agencies[agency]
    assert base.capacity_per_day is not None and base.officers is not None
    per_officer = base.capacity_per_day / base.officers
    staffed = base.model_copy(
        update={"officers": officers, "capacity_per_day": max(1, round(officers * per_officer))}
    )
    changed = profile.model_copy(update={"agencies": {**profile.agencies, agency: staffed}})
    dossiers = draw_dossiers(changed, scale, months, LegalClock(default_calendar()))
    result = await run_result(changed, months, scale, dossiers)
    rate = _agencies(result.report_by_agency).get(agency, (0, None, 0))[1]
    return 100.0 if rate is None else rate


async def plan_agency(
    profile: Profile, agency: str, target: float, scale: float, months: int
) -> AgencyPlan:
    """Bisection over the agency's officers (see the module docstring)."""
    now = profile.agencies[agency].officers
    assert now is not None
    runs = 0
    high = now * MAX_FACTOR
    rates: dict[int, float] = {}

    async def rate(officers: int) -> float:
        nonlocal runs
        if officers not in rates:
            runs += 1
            rates[officers] = await _rate(profile, scale, months, agency, officers)
        return rates[officers]

    if await rate(high) < target:
        return AgencyPlan(agency, now, None, rates[high], runs)
    low = 0  # 0 officers never keeps a target: the answer is in (low, high]
    while high - low > 1:
        middle = (low + high) // 2
        if await rate(middle) >= target:
            high = middle
        else:
            low = middle
    return AgencyPlan(agency, now, high, rates[high], runs)


def staffed(profile: Profile) -> list[str]:
    """The agencies the profile gives officers and a capacity."""
    return sorted(
        code
        for code, agency in profile.agencies.items()
        if isinstance(agency, AgencyProfile)
        and agency.officers is not None
        and agency.capacity_per_day is not None
    )


def table(plans: list[AgencyPlan], target: float) -> str:
    """The plan as text (Vietnamese first, English after)."""
    lines = [
        f"Biên chế tối thiểu để đạt {target:g}% đúng hạn / fewest officers for {target:g}% on time",
        f"{'cơ quan / agency':<22}{'hiện có / now':>14}{'cần / needed':>14}{'đúng hạn %':>12}",
    ]
    for plan in plans:
        needed = "—" if plan.officers_needed is None else str(plan.officers_needed)
        rate = "—" if plan.on_time_rate_pct is None else f"{plan.on_time_rate_pct:.2f}"
        lines.append(f"{plan.agency:<22}{plan.officers_now:>14}{needed:>14}{rate:>12}")
    unreached = [p.agency for p in plans if p.officers_needed is None]
    if unreached:
        lines.append(
            f"not reached at {MAX_FACTOR}x the officers: {', '.join(unreached)} "
            "(their lateness does not come from capacity)"
        )
    return "\n".join(lines) + "\n"


def draw(plans: list[AgencyPlan], path: Path, title: str) -> None:
    """A PNG: officers now (grey) and needed (blue) per agency."""
    from PIL import Image, ImageDraw

    width, height, left, bottom, top = 900, 420, 60, 80, 40
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
            (0.5, plan.officers_needed or 0, "steelblue"),
        ):
            bar = plot_h * value / peak
            pen.rectangle(
                (x + slot * offset, top + plot_h - bar, x + slot * (offset + 0.35), top + plot_h),
                fill=colour,
            )
            pen.text((x + slot * offset, top + plot_h - bar - 12), str(value), fill="black")
        pen.text((x + slot * 0.1, top + plot_h + 8), plan.agency, fill="black")
    pen.text(
        (left, height - 24), "grey: officers now; blue: fewest keeping the target", fill="black"
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

    async def plan_all() -> list[AgencyPlan]:
        plans = []
        for code in agencies:
            plans.append(await plan_agency(profile, code, args.target, args.scale, months))
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
        sys.stdout.write(table(plans, args.target) + f"chart: {chart}\n")
    return 0
