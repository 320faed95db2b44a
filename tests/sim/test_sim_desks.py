"""Desks and officers as they are: each desk decides with its own officers, who keep hours and
take days off; no desk lends officers unless the profile pools them; the planner answers per
desk."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from domain.calendar import default_calendar
from domain.clock import VN_TZ, LegalClock
from sim.events import DeskCapacity, tet
from sim.profile import load_profile
from sim.scenario import ScenarioError, Staffing

CLOCK = LegalClock(default_calendar())
MONDAY = date(2027, 3, 1)

TINY = """\
name: two-desks
start: 2027-03-01
months: 1
seed: 5
tail_days: 40
levels:
  busy: {dossiers: 160, desks: [BUSY], mix: {certified-copy: 1.0}}
  quiet: {dossiers: 20, desks: [QUIET], mix: {certified-copy: 1.0}}
agencies:
  one-stop:
    staff: {desks: {BUSY: 1, QUIET: 1}, per_officer_per_day: 4}
  commune-committee:
    staff: {desks: {'*': 6}, per_officer_per_day: 20}
"""


def _staff(**fields: object) -> Staffing:
    return Staffing.model_validate({"desks": {"KIMLIEN": 4}, "per_officer_per_day": 5, **fields})


def _profile(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_absences_are_drawn_per_officer_and_day_the_same_in_every_run() -> None:
    staff = _staff(absence_rate=0.25)
    first = DeskCapacity(staff, "one-stop", "KIMLIEN", CLOCK)
    again = DeskCapacity(staff, "one-stop", "KIMLIEN", CLOCK)
    days = [MONDAY + timedelta(days=n) for n in range(120)]
    present = [first.present(day) for day in days]
    assert present == [again.present(day) for day in days]
    assert min(present) < 4 and max(present) == 4
    assert 0.15 < 1 - sum(present) / (4 * len(days)) < 0.35  # about a quarter away
    assert all(first.room(day) == 5 * p for day, p in zip(days, present, strict=True))


def test_officers_on_tet_leave_leave_the_desk_short_around_tet() -> None:
    staff = _staff(tet_leave_days=3, tet_leave_rate=1.0)
    desk = DeskCapacity(staff, "one-stop", "KIMLIEN", CLOCK)
    first, last = tet(CLOCK, 2027)
    before = CLOCK.calendar.previous_working_day(first)
    assert desk.present(before) == 0 and desk.room(before) == 0
    assert desk.present(date(2027, 3, 15)) == 4
    claimed = desk.claim(CLOCK, datetime.combine(before, time(9), VN_TZ))
    assert claimed.date() > last  # the first day the desk is back


def test_a_decision_waits_for_the_officers_hours() -> None:
    desk = DeskCapacity(_staff(hours=[13.5, 16]), "one-stop", "KIMLIEN", CLOCK)
    morning = desk.claim(CLOCK, datetime.combine(MONDAY, time(9), VN_TZ))
    assert morning == datetime.combine(MONDAY, time(13, 30), VN_TZ)
    evening = desk.claim(CLOCK, datetime.combine(MONDAY, time(16, 5), VN_TZ))
    assert evening == datetime.combine(date(2027, 3, 2), time(13, 30), VN_TZ)


def test_officers_lost_from_a_day_leave_the_roll() -> None:
    staff = _staff(changes=[{"from": "2027-03-10", "desk": "KIMLIEN", "officers": 3}])
    desk = DeskCapacity(staff, "one-stop", "KIMLIEN", CLOCK)
    assert desk.room(MONDAY) == 20 and desk.room(date(2027, 3, 10)) == 5


def test_desks_do_not_share_officers_unless_pooled() -> None:
    staff = Staffing.model_validate({"desks": {"A1": 1, "B1": 1}, "per_officer_per_day": 2})
    assert (staff.pool("A1"), staff.pool("B1")) == ("A1", "B1")
    pooled = staff.model_copy(update={"pooled": True})
    assert pooled.pool("A1") == pooled.pool("B1") == "" and pooled.officers("") == 2
    office = Staffing.model_validate({"office": 7, "per_officer_per_day": 2})
    assert office.pool("A1") == "" and office.officers("") == 7
    by_star = Staffing.model_validate({"desks": {"A1": 3, "*": 1}, "per_officer_per_day": 2})
    assert (by_star.officers("A1"), by_star.officers("ZZ")) == (3, 1)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            "    staff: {desks: {BUSY: 1}, per_officer_per_day: 4}",
            "agencies.one-stop.staff.desks: no officers for QUIET (list them, or give '*'",
        ),
        (
            "    staff: {desks: {BUSY: 1, NOPE: 1, QUIET: 1}, per_officer_per_day: 4}",
            "agencies.one-stop.staff.desks: NOPE not a desk of the profile's levels",
        ),
        (
            "    staff: {office: 3, desks: {BUSY: 1}, per_officer_per_day: 4}",
            "give either office (one office's officers) or desks, not both",
        ),
        (
            "    staff: {desks: {BUSY: 1, QUIET: 1}, per_officer_per_day: 4}\n"
            "    capacity_per_day: 40",
            "drop capacity_per_day and officers",
        ),
        (
            "    staff: {desks: {BUSY: 1, '*': 1}, per_officer_per_day: 4, pooled: true}",
            "pooled needs every desk listed by name",
        ),
        (
            "    staff: {desks: {BUSY: 1, QUIET: 1}, per_officer_per_day: 4, hours: [8, 25]}",
            "hours: write [start, end] with start < end <= 24",
        ),
    ],
)
def test_bad_staffing_is_named_in_one_line(tmp_path: Path, change: str, problem: str) -> None:
    text = TINY.replace("    staff: {desks: {BUSY: 1, QUIET: 1}, per_officer_per_day: 4}", change)
    with pytest.raises(ScenarioError) as error:
        load_profile(_profile(tmp_path, text))
    assert problem in str(error.value) and "\n" not in str(error.value)


async def test_a_short_desk_is_late_while_the_other_keeps_time_and_the_planner_sees_it(
    tmp_path: Path,
) -> None:
    from sim.staffing import plan_agency, rates

    profile = load_profile(_profile(tmp_path))
    found = await rates(profile, 1.0, 1, "one-stop", {"BUSY": 1, "QUIET": 1})
    assert found["BUSY"] < 90 <= found["QUIET"]  # the quiet desk lends the busy one nobody
    pooled = await rates(
        profile.model_copy(
            update={
                "agencies": {
                    **profile.agencies,
                    "one-stop": profile.agencies["one-stop"].model_copy(
                        update={
                            "staff": profile.agencies["one-stop"].staff.model_copy(  # type: ignore[union-attr]
                                update={"pooled": True}
                            )
                        }
                    ),
                }
            }
        ),
        1.0,
        1,
        "one-stop",
        {"(district)": 2},
    )
    assert pooled["(district)"] > found["BUSY"]
    plans = {p.desk: p for p in await plan_agency(profile, "one-stop", 100.0, 1.0, 1)}
    busy, quiet = plans["BUSY"], plans["QUIET"]
    assert busy.officers_needed is not None and quiet.officers_needed is not None
    assert busy.officers_needed > quiet.officers_needed >= 1
    assert busy.on_time_rate_pct == 100.0 and busy.runs == quiet.runs >= 2
    fewer = {"BUSY": busy.officers_needed - 1, "QUIET": quiet.officers_needed}
    assert (await rates(profile, 1.0, 1, "one-stop", fewer))["BUSY"] < 100


async def test_the_article_s_year_runs_under_its_own_law(tmp_path: Path) -> None:
    import json

    from domain.catalog import default_catalog
    from domain.plan import plan_dossier
    from sim.profile import profile_path, run_profile

    profile = load_profile(profile_path("dong-da-2023-own-law"))
    assert profile.start == date(2023, 1, 1)
    received = datetime(2023, 3, 1, 9, tzinfo=VN_TZ)
    plan = plan_dossier(default_catalog(), CLOCK, "land-first-certificate", received)
    agencies = {step.agency for step in plan.steps}
    assert {"district-committee", "natural-resources", "ward"} <= agencies  # before 2025
    document = json.loads(
        await run_profile(profile, scale=0.002, months=1, chart=tmp_path / "c.png", as_json=True)
    )
    assert document["start"] == "2023-01-01" and document["unfinished"] == 0
    by_agency = {row["group"] for row in document["by_agency"]["rows"]}
    assert {"ward", "district-committee", "urban-management"} <= by_agency


def test_the_planner_table_says_its_scale_and_flags_an_answer_at_the_one_a_day_floor() -> None:
    from sim.staffing import DeskPlan, table

    plans = [
        DeskPlan("one-stop", "BUSY", 1, 3, 100.0, 4),
        DeskPlan("one-stop", "QUIET", 1, 1, 100.0, 4, at_floor=True),
        DeskPlan("one-stop", "FAR", 1, None, 91.0, 4),
    ]
    text = table(plans, 100.0, 0.02, 2)
    assert "reduced scale x0.02, 2 months" in text
    assert "= total" in text and "4+" in text  # FAR not reached: the total is a floor
    assert "1¹" in text and "one-a-day floor" in text
    assert "not reached at 3x the officers: one-stop@FAR" in text
