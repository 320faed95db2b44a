"""District profiles: a year's workload of a district and its wards, as editable parameters.

A profile (``sim/profiles/NAME.yaml``) gives the dossiers received at each level over some
months, the desks, the procedure mix, when arrivals happen (weekday, hour, month), and per
agency how officers behave and how many decisions a day it can make. `run_profile` draws the
dossiers with the seed, runs them through `sim.runner.run_scenario` and reports as the source
article does: received, decided, on-time rate and letters, by level, agency and month, plus a
PNG chart of the weekly backlog and on-time rate.

The time-skipping server cannot go back in time, so a profile is laid on a future calendar (its
``start``); the procedures are the versions in force then. A "level" is where the dossier was
received (the district desk or a ward desk), whatever tier the procedure belongs to on that date.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.calendar import default_calendar
from domain.catalog import Catalog, default_catalog
from domain.clock import VN_TZ, LegalClock
from sim.events import SimDossier, number_dossiers
from sim.runner import Progress, RunOptions, SimulationResult, run_scenario
from sim.scenario import (
    OTHER_DESKS,
    AgencyRule,
    PostSpec,
    Rules,
    Scenario,
    ScenarioError,
    Span,
    read_document,
    validation_message,
)
from store.reports import ReportResult, format_report

PROFILES = Path(__file__).parent / "profiles"
RunScenario = Callable[[Scenario, RunOptions], Awaitable[SimulationResult]]
Weight = Annotated[float, Field(ge=0.0)]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """Dossiers received at one level (the district desk, or the ward desks)."""

    dossiers: int = Field(ge=0, description="over the profile's months, at scale 1")
    desks: list[Annotated[str, Field(pattern=r"^[A-Z0-9.]{2,12}$")]] = Field(min_length=1)
    mix: dict[str, Weight] = Field(min_length=1, description="procedure -> weight")
    home_delivery: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = {}


class Arrivals(_Strict):
    """When dossiers arrive: weights by weekday, by hour of the day and by month."""

    weekdays: dict[str, Weight] = {d: 1.0 for d in _WEEKDAYS[:5]}
    hours: dict[int, Weight] = {h: 1.0 for h in (8, 9, 10, 11, 13, 14, 15, 16)}
    months: list[Weight] = Field(default=[], description="one weight per month; none: even")

    @model_validator(mode="after")
    def _known(self) -> Arrivals:
        for day in self.weekdays:
            if day not in _WEEKDAYS:
                raise ValueError(f"weekday {day!r} is not one of {', '.join(_WEEKDAYS)}")
        for hour in self.hours:
            if not 0 <= hour <= 23:
                raise ValueError(f"hour {hour} is not 0..23")
        if not any(self.hours.values()) or not any(self.weekdays.values()):
            raise ValueError("every hour (or weekday) weight is 0: nothing can arrive")
        return self


class AgencyProfile(AgencyRule):
    """An agency's officers (as in a scenario's rules) and its capacity."""

    capacity_per_day: int | None = Field(
        default=None, ge=1, description="decisions per working day at scale 1; none: unlimited"
    )
    officers: int | None = Field(
        default=None, ge=1, description="officers making those decisions (what-ifs lose some)"
    )

    @model_validator(mode="after")
    def _one_model(self) -> AgencyProfile:
        if self.staff is not None and (self.capacity_per_day or self.officers):
            raise ValueError(
                "staff gives officers per desk and their capacity: drop capacity_per_day and "
                "officers (the district-wide pool)"
            )
        return self


class Profile(_Strict):
    """A district profile file."""

    name: str
    description: str = ""
    start: date
    months: int = Field(ge=1, le=24)
    seed: int = 0
    levels: dict[str, Level] = Field(min_length=1)
    arrivals: Arrivals = Arrivals()
    agencies: dict[str, AgencyProfile] = {}
    default_agency: AgencyProfile = AgencyProfile()
    payment_delay_days: Span = Span(low=1, high=3)
    supplement_reply_days: Span = Span(low=1, high=3)
    post: PostSpec = PostSpec()
    tail_days: int = Field(default=120, ge=0, le=730, description="time to finish after")

    def end(self, months: int) -> date:
        """The last day of arrivals when ``months`` months are simulated."""
        year, month = divmod(self.start.month - 1 + months, 12)
        return date(self.start.year + year, month + 1, 1) - timedelta(days=1)


def profile_path(name: str) -> Path:
    """``sim/profiles/NAME.yaml`` for a bare name, else the path given."""
    if "/" in name or name.endswith((".yaml", ".yml", ".json")):
        return Path(name)
    return PROFILES / f"{name}.yaml"


def load_profile(path: Path, catalog: Catalog | None = None) -> Profile:
    """Read and check a profile.

    Raises:
        ScenarioError: one line naming the file, the place and the problem.
    """
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise ScenarioError(f"{path}: no such profile; shipped profiles: {known}")
    document = read_document(path)
    try:
        profile = Profile.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(validation_message(path, exc)) from None
    catalog = catalog or default_catalog()
    agencies = {agency.code for agency in catalog.agencies}
    for level_name, level in profile.levels.items():
        for procedure in level.mix:
            try:
                if catalog.is_combined(procedure):
                    catalog.combined_on(procedure, profile.start)
                else:
                    catalog.version_on(procedure, profile.start)
            except LookupError as exc:
                message = exc.args[0] if exc.args else exc
                raise ScenarioError(
                    f"{path}: levels.{level_name}.mix.{procedure}: {message}"
                ) from None
    desks = {desk for level in profile.levels.values() for desk in level.desks}
    for code, agency in profile.agencies.items():
        if code not in agencies:
            raise ScenarioError(f"{path}: agencies.{code}: unknown agency")
        if agency.staff is None:
            continue
        if agency.staff.office is not None:
            continue
        listed = set(agency.staff.desks) - {OTHER_DESKS}
        if listed - desks:
            raise ScenarioError(
                f"{path}: agencies.{code}.staff.desks: {', '.join(sorted(listed - desks))} "
                "not a desk of the profile's levels"
            )
        if OTHER_DESKS not in agency.staff.desks and desks - listed:
            raise ScenarioError(
                f"{path}: agencies.{code}.staff.desks: no officers for "
                f"{', '.join(sorted(desks - listed))} (list them, or give '*' for the others)"
            )
        for change in agency.staff.changes:
            if change.desk not in desks:
                raise ScenarioError(
                    f"{path}: agencies.{code}.staff.changes: {change.desk} is not a desk"
                )
    return profile


def _choose(rng: random.Random, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def draw_dossiers(
    profile: Profile, scale: float, months: int, clock: LegalClock
) -> list[SimDossier]:
    """The profile's dossiers, numbered (see `draw_drafts`)."""
    return number_dossiers(draw_drafts(profile, scale, months, clock))


Draft = tuple[datetime, int, dict[str, object]]


def draw_drafts(profile: Profile, scale: float, months: int, clock: LegalClock) -> list[Draft]:
    """The profile's dossiers at ``scale`` over its first ``months`` months, drawn with the seed.

    Each level gets ``round(dossiers * scale * months / profile.months)`` dossiers (at least
    one when the level has any), each on a working day drawn by month and weekday weights, at
    an hour drawn by hour weights and a minute drawn evenly.
    """
    end = profile.end(months)
    days = []
    day = profile.start
    while day <= end:
        if clock.calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    month_weights = profile.arrivals.months
    day_weights = {
        d: profile.arrivals.weekdays.get(_WEEKDAYS[d.weekday()], 0.0)
        * (
            month_weights[_month_index(profile.start, d)]
            if _month_index(profile.start, d) < len(month_weights)
            else 1.0
        )
        for d in days
    }
    drafts: list[tuple[datetime, int, dict[str, object]]] = []
    for name, level in profile.levels.items():
        rng = random.Random(f"{profile.seed}:level:{name}")
        count = round(level.dossiers * scale * months / profile.months)
        if level.dossiers and count == 0:
            count = 1
        for _ in range(count):
            day = _choose(rng, day_weights)
            hour = _choose(rng, dict(profile.arrivals.hours))
            moment = datetime.combine(day, time(hour, rng.randrange(60)), VN_TZ)
            procedure = _choose(rng, dict(level.mix))
            drafts.append(
                (
                    moment,
                    len(drafts),
                    {
                        "desk": rng.choice(level.desks),
                        "procedure": procedure,
                        "home_delivery": rng.random() < level.home_delivery.get(procedure, 0.0),
                        "group": name,
                    },
                )
            )
    return drafts


def _month_index(start: date, day: date) -> int:
    return (day.year - start.year) * 12 + day.month - start.month


def as_scenario(profile: Profile, months: int, scale: float = 1.0) -> Scenario:
    """The scenario the profile's dossiers run under (its behaviour rules, its officers at
    ``scale`` and post office)."""

    def rule(agency: AgencyProfile) -> AgencyRule:
        staff = agency.staff
        if staff is not None:
            staff = staff.model_copy(update={"scale": scale})
        return AgencyRule.model_validate(
            {**agency.model_dump(exclude={"capacity_per_day", "officers", "staff"}), "staff": staff}
        )

    return Scenario(
        name=profile.name,
        start=profile.start,
        seed=profile.seed,
        horizon_days=(profile.end(months) - profile.start).days + 1 + profile.tail_days,
        post=profile.post,
        rules=Rules(
            agencies={code: rule(agency) for code, agency in profile.agencies.items()},
            default=rule(profile.default_agency),
            payment_delay_days=profile.payment_delay_days,
            supplement_reply_days=profile.supplement_reply_days,
        ),
    )


def capacities(profile: Profile, scale: float) -> dict[str, float]:
    """Decisions per working day per agency, scaled like the workload, at least one a day (a
    queue served less often than daily makes every dossier wait weeks, which no scale-down of
    a real office means); fractions are kept on average (`sim.events.Capacity`)."""
    return {
        code: max(1.0, rule.capacity_per_day * scale)
        for code, rule in profile.agencies.items()
        if rule.capacity_per_day is not None
    }


# ---- the run and its report -------------------------------------------------------------------


class LevelRow(BaseModel):
    """The article's figures for one level."""

    level: str
    received: int
    decided: int
    on_time_rate_pct: float | None
    apology_letters: int


class WeekRow(BaseModel):
    """One week of the chart: dossiers received and finished, backlog, on-time rate."""

    week: date  # its Monday
    received: int
    finished: int
    backlog: int  # received minus finished, at the end of the week
    on_time_rate_pct: float | None  # of the dossiers decided that week
    on_time_by_level: dict[str, float | None] = {}  # the same, per level
    apology_letters: int = 0  # form 04 letters issued that week


async def run_profile(
    profile: Profile,
    *,
    scale: float,
    months: int,
    chart: Path | None,
    as_json: bool,
    database_url: str | None = None,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
    engine: str = "core",
    workers: int | None = None,
) -> str:
    """Run the profile and return the report text (or JSON document); write the chart.

    ``engine``: ``core`` (`sim.core`, the default) or ``temporal`` (`sim.runner`); ``workers``:
    the core engine's processes (`profile_result`).
    """
    catalog = catalog or default_catalog()
    clock = LegalClock(default_calendar())
    dossiers = draw_dossiers(profile, scale, months, clock)
    result = await profile_result(
        profile, months, scale, dossiers, engine=engine, catalog=catalog,
        database_url=database_url, progress=progress, workers=workers,
    )  # fmt: skip
    weekly_rows = weekly(result)
    levels = by_level(result, dossiers)
    chart_path = chart or Path(f"{profile.name}-x{scale:g}-weekly.png")
    draw_chart(weekly_rows, chart_path, f"{profile.name} x{scale:g}")
    if as_json:
        document = {
            "profile": profile.name,
            "scale": scale,
            "months": months,
            "start": profile.start.isoformat(),
            "end": profile.end(months).isoformat(),
            "dossiers": len(dossiers),
            "unfinished": sum(1 for o in result.outcomes if not o.finished),
            # of which stopped because the test server kept refusing their workflow task
            "wedged": sum(1 for o in result.outcomes if o.wedged),
            "unfinished_codes": [o.dossier.code for o in result.outcomes if not o.finished],
            "by_level": [row.model_dump() for row in levels],
            "by_agency": json.loads(format_report(result.report_by_agency, "json")),
            "by_month": json.loads(format_report(result.report_by_month, "json")),
            "weekly": [row.model_dump(mode="json") for row in weekly_rows],
            "chart": str(chart_path),
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return report_text(profile, scale, months, len(dossiers), result, levels, chart_path)


async def profile_result(
    profile: Profile,
    months: int,
    scale: float,
    dossiers: list[SimDossier],
    *,
    engine: str = "core",
    catalog: Catalog | None = None,
    database_url: str | None = None,
    progress: Progress | None = None,
    clock: LegalClock | None = None,
    schedules: dict[str, tuple[tuple[date, float], ...]] | None = None,
    workers: int | None = None,
) -> SimulationResult:
    """Run the profile's dossiers on ``engine``; ``clock``, ``schedules`` (a what-if's) and
    ``workers`` (processes; every usable processor by default) are the core engine's alone
    (`sim.core.run_scenario_core`)."""
    scenario = as_scenario(profile, months, scale)
    options = RunOptions(
        catalog=catalog or default_catalog(),
        database_url=database_url,
        progress=progress,
        capacities=capacities(profile, scale),
        keep_details=False,
        dossiers=dossiers,
    )
    if engine != "core":
        if clock is not None or schedules is not None:
            raise TypeError(f"a what-if's clock and schedules run on the core engine, not {engine}")
        return await scenario_runner(engine)(scenario, options)
    from sim.core import run_scenario_core
    from sim.parallel import usable_cpus

    # The core engine records letters and counts warnings without rendering or sending.
    return await run_scenario_core(
        scenario, options, paperwork=False, clock=clock, schedules=schedules,
        workers=usable_cpus() if workers is None else workers,
    )  # fmt: skip


def by_level(result: SimulationResult, dossiers: Sequence[SimDossier]) -> list[LevelRow]:
    """Received, decided, on-time rate and letters per level, from the registry's desk rows."""
    level_of_desk = {d.desk: d.group or "" for d in dossiers}
    sums: dict[str, list[int]] = {}
    for row in result.report_by_desk.rows:
        level = level_of_desk.get(row.group or "", "other")
        figures = sums.setdefault(level, [0, 0, 0, 0, 0])
        for index, value in enumerate(
            (row.received, row.decided, row.early + row.on_time, row.late, row.apology_letters)
        ):
            figures[index] += value
    rows = []
    for level in sorted(sums):
        received, decided, good, late, letters = sums[level]
        rows.append(
            LevelRow(
                level=level,
                received=received,
                decided=decided,
                on_time_rate_pct=round(100 * good / (good + late), 2) if good + late else None,
                apology_letters=letters,
            )
        )
    total = result.report_by_desk.total
    counted = total.early + total.on_time + total.late
    rows.append(
        LevelRow(
            level="TOTAL",
            received=total.received,
            decided=total.decided,
            on_time_rate_pct=(
                round(100 * (total.early + total.on_time) / counted, 2) if counted else None
            ),
            apology_letters=total.apology_letters,
        )
    )
    return rows


def weekly(result: SimulationResult) -> list[WeekRow]:
    """Per week (Monday to Sunday, Vietnam time): received, finished, backlog, on-time rate
    (overall and per level), apology letters issued."""
    received: dict[date, int] = {}
    finished: dict[date, int] = {}
    good: dict[tuple[date, str], int] = {}
    counted: dict[tuple[date, str], int] = {}
    letters: dict[date, int] = {}
    levels: set[str] = set()
    for outcome in result.outcomes:
        start = _monday(outcome.dossier.submit_at)
        received[start] = received.get(start, 0) + 1
        apologies = (
            outcome.result.apologies
            if outcome.result is not None
            else outcome.tracking.apologies
            if outcome.tracking is not None
            else []
        )
        for letter in apologies:
            if letter.issued_at is not None:
                week = _monday(letter.issued_at)
                letters[week] = letters.get(week, 0) + 1
        if outcome.finished and outcome.finished_at is not None:
            week = _monday(outcome.finished_at)
            finished[week] = finished.get(week, 0) + 1
            verdict = outcome.result.verdict if outcome.result is not None else None
            if verdict in ("early", "on_time", "late"):
                level = outcome.dossier.group or ""
                levels.add(level)
                for key in ((week, ""), (week, level)):
                    counted[key] = counted.get(key, 0) + 1
                    good[key] = good.get(key, 0) + (verdict != "late")
    if not received:
        return []
    week, last = min(received), max([*received, *finished])
    rows, backlog = [], 0

    def rate(key: tuple[date, str]) -> float | None:
        return round(100 * good.get(key, 0) / counted[key], 2) if counted.get(key) else None

    while week <= last:
        backlog += received.get(week, 0) - finished.get(week, 0)
        rows.append(
            WeekRow(
                week=week,
                received=received.get(week, 0),
                finished=finished.get(week, 0),
                backlog=backlog,
                on_time_rate_pct=rate((week, "")),
                on_time_by_level={level: rate((week, level)) for level in sorted(levels) if level},
                apology_letters=letters.get(week, 0),
            )
        )
        week += timedelta(days=7)
    return rows


def scenario_runner(engine: str) -> RunScenario:
    """The run function of an engine: ``core`` (the default) or ``temporal``."""
    if engine == "core":
        from sim.core import run_scenario_core

        return run_scenario_core
    if engine == "temporal":
        return run_scenario
    raise ValueError(f"unknown engine {engine!r}; engines: core, temporal")


def _monday(moment: datetime) -> date:
    day = moment.astimezone(VN_TZ).date()
    return day - timedelta(days=day.weekday())


def report_text(
    profile: Profile,
    scale: float,
    months: int,
    count: int,
    result: SimulationResult,
    levels: list[LevelRow],
    chart: Path,
) -> str:
    """The article's report: by level, by agency, by month; where the chart is."""
    unfinished = sum(1 for o in result.outcomes if not o.finished)
    wedged = sum(1 for o in result.outcomes if o.wedged)
    lines = [
        f"Profile {profile.name} at scale {scale:g}: {count} dossiers received "
        f"{profile.start} .. {profile.end(months)}; simulated until {result.ended_on}"
        + (f"; {unfinished} unfinished at the horizon" if unfinished else "")
        + (f" ({wedged} stopped: the test server refused their task)" if wedged else ""),
        "",
        "By level (where the dossier was received)",
        f"{'level':<10}{'received':>10}{'decided':>10}{'on-time %':>11}{'letters':>9}",
    ]
    for row in levels:
        rate = "—" if row.on_time_rate_pct is None else f"{row.on_time_rate_pct:.2f}"
        lines.append(
            f"{row.level:<10}{row.received:>10}{row.decided:>10}{rate:>11}{row.apology_letters:>9}"
        )
    lines += ["", "By agency", _report(result.report_by_agency)]
    lines += ["By month", _report(result.report_by_month)]
    lines.append(f"Weekly backlog and on-time rate: {chart}")
    return "\n".join(lines) + "\n"


def _report(report: ReportResult) -> str:
    return format_report(report)


_LEVEL_COLOURS = ("darkorange", "seagreen", "purple", "brown")


def draw_chart(rows: Sequence[WeekRow], path: Path, title: str) -> None:
    """A PNG per run. Above: weekly backlog (bars) and arrivals (grey line) on the left axis,
    on-time share of the dossiers decided that week (dark red; per level in colour) on the
    right axis. Below: apology letters (form 04) issued per week."""
    from PIL import Image, ImageDraw

    width, height = 1000, 640
    left, right, top, bottom = 70, 70, 40, 220
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (left, 12),
        f"{title}: backlog (bars), arrivals (grey), on-time % (red; levels in colour)",
        fill="black",
    )
    plot_w, plot_h = width - left - right, height - top - bottom
    draw.rectangle((left, top, left + plot_w, top + plot_h), outline="black")
    # The left axis tops at a multiple of 4 so that its five ticks are whole numbers.
    top_value = max([row.backlog for row in rows] + [row.received for row in rows] + [1])
    peak = -(-top_value // 4) * 4
    n = max(len(rows), 1)
    slot = plot_w / n
    for tick in range(5):
        y = top + plot_h - tick * plot_h / 4
        draw.line((left - 4, y, left, y), fill="black")
        draw.text((5, y - 6), f"{peak * tick // 4}", fill="steelblue")
        draw.text((left + plot_w + 6, y - 6), f"{25 * tick}%", fill="darkred")
    levels = sorted({level for row in rows for level in row.on_time_by_level})
    lines: dict[str, list[tuple[float, float]]] = {"": [], "arrivals": []}
    lines.update({level: [] for level in levels})
    for index, row in enumerate(rows):
        x0 = left + index * slot
        middle = x0 + slot / 2
        bar = plot_h * max(row.backlog, 0) / peak
        draw.rectangle(
            (x0 + 1, top + plot_h - bar, x0 + max(slot - 1, 1), top + plot_h), fill="steelblue"
        )
        lines["arrivals"].append((middle, top + plot_h - plot_h * row.received / peak))
        if row.on_time_rate_pct is not None:
            lines[""].append((middle, top + plot_h - plot_h * row.on_time_rate_pct / 100))
        for level in levels:
            rate = row.on_time_by_level.get(level)
            if rate is not None:
                lines[level].append((middle, top + plot_h - plot_h * rate / 100))
        if index % max(n // 10, 1) == 0:
            draw.text((x0, height - 40), row.week.strftime("%d/%m"), fill="black")
    colours = {"": "darkred", "arrivals": "grey"}
    colours.update({level: _LEVEL_COLOURS[i % 4] for i, level in enumerate(levels)})
    for name, points in lines.items():
        if len(points) > 1:
            draw.line(points, fill=colours[name], width=2 if name == "" else 1)
    for x, y in lines[""]:
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill="darkred")
    legend = "  ".join(f"{level}: {colours[level]}" for level in levels)
    draw.text((left, top + plot_h + 6), f"on-time by level: {legend}", fill="black")
    # Below: apology letters per week.
    low_top, low_h = top + plot_h + 40, bottom - 90
    draw.rectangle((left, low_top, left + plot_w, low_top + low_h), outline="black")
    most = max([row.apology_letters for row in rows] + [1])
    draw.text((5, low_top - 6), f"{most}", fill="black")
    draw.text((5, low_top + low_h - 6), "0", fill="black")
    draw.text((left + plot_w + 6, low_top), "form 04", fill="black")
    for index, row in enumerate(rows):
        x0 = left + index * slot
        bar = low_h * row.apology_letters / most
        if bar:
            draw.rectangle(
                (x0 + 1, low_top + low_h - bar, x0 + max(slot - 1, 1), low_top + low_h),
                fill="indianred",
            )
    draw.text((left, height - 24), "week (Monday); apology letters per week below", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
