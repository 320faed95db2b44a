"""What-if runs on the core engine: each change moves what it should, bad options are named."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from domain.calendar import default_calendar
from domain.clock import LegalClock
from sim.events import Capacity, tet
from sim.profile import AgencyProfile, load_profile, profile_path
from sim.whatif import (
    WhatIf,
    _clock,
    check,
    parse_loss,
    parse_surge,
    run_what_if,
    schedules,
)

REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile(profile_path("dong-da-2023"))


async def test_losing_land_officers_in_march_lowers_its_on_time_share(tmp_path: Path) -> None:
    what_if = WhatIf(losses=[parse_loss("land-registration:4:2027-03")])
    text = await run_what_if(
        PROFILE, what_if, scale=0.01, months=4, chart=tmp_path / "c.png", as_json=True
    )
    document = json.loads(text)
    before = document["baseline"]["by_agency"]["land-registration"]
    after = document["what_if_run"]["by_agency"]["land-registration"]
    assert after["on_time_rate_pct"] < before["on_time_rate_pct"]
    assert document["baseline"]["dossiers"] == document["what_if_run"]["dossiers"]
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


async def test_a_site_clearance_surge_adds_its_dossiers_to_the_ward_level(tmp_path: Path) -> None:
    what_if = WhatIf(surges=[parse_surge("PHUONGLIEN:land-and-permit:300:2027-02")])
    document = json.loads(
        await run_what_if(
            PROFILE, what_if, scale=0.01, months=2, chart=tmp_path / "c.png", as_json=True
        )
    )
    assert document["what_if_run"]["dossiers"] == document["baseline"]["dossiers"] + 3
    levels = {row["level"] for row in document["what_if_run"]["by_level"]}
    assert levels == {"district", "ward", "TOTAL"}


def test_capacity_schedules_lose_officers_and_halve_around_tet() -> None:
    clock = LegalClock(default_calendar())
    first, last = tet(clock, 2027)
    assert first.month == 2 and (last - first).days >= 4  # Tết 2027 falls in February
    what_if = WhatIf(losses=[parse_loss("land-registration:2:2027-03")], tet_backlog=True)
    pooled = PROFILE.model_copy(
        update={
            "agencies": {
                **PROFILE.agencies,
                "land-registration": AgencyProfile(capacity_per_day=95, officers=12),
                "commune-committee": AgencyProfile(capacity_per_day=700, officers=35),
            }
        }
    )
    plan = schedules(what_if, pooled, 1.0, clock)
    land = Capacity(95, "land-registration", schedule=plan["land-registration"])
    assert land.per_day_on(date(2027, 1, 5)) == 95
    assert land.per_day_on(first) == 47.5  # half, around Tết
    assert land.per_day_on(date(2027, 3, 2)) == pytest.approx(95 - 2 * 95 / 12)
    assert (
        Capacity(700, "commune-committee", schedule=plan["commune-committee"]).per_day_on(
            date(2027, 3, 2)
        )
        == 700
    )


def test_an_added_holiday_is_a_day_off_in_the_run_s_calendar() -> None:
    monday = date(2027, 3, 15)
    assert default_calendar().is_working_day(monday)
    assert not _clock([monday]).calendar.is_working_day(monday)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--lose", "land-registration:2"], "write AGENCY[@DESK]:N:YYYY-MM"),
        (["--lose", "one-stop:1:2027-03"], "it has officers per desk"),
        (["--lose", "one-stop@KIMLIEN:2:2027-03"], "it has only 2 officers at KIMLIEN"),
        (["--lose", "tax:1:2027-03"], "the profile gives no officers and capacity for it"),
        (["--lose", "land-registration:20:2027-03"], "it has only 12 officers"),
        (["--holiday", "2030-01-02"], "is outside the run"),
        (["--surge", "NOWHERE:certified-copy:5:2027-03"], "not a desk of the profile"),
    ],
)
def test_a_bad_what_if_is_one_line_and_exit_2(options: list[str], problem: str) -> None:
    done = subprocess.run(
        [sys.executable, "starter.py", "simulate", "--profile", "dong-da-2023", *options],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert problem in done.stderr and len(done.stderr.strip().splitlines()) == 1


async def test_the_planner_finds_the_fewest_land_officers_for_the_target() -> None:
    from sim.staffing import ONE_POOL, plan_agency, rates

    (plan,) = await plan_agency(PROFILE, "land-registration", 90.0, scale=0.02, months=2)
    assert (plan.desk, plan.officers_now) == (ONE_POOL, 12) and plan.runs >= 2
    assert plan.officers_needed is not None and 1 <= plan.officers_needed <= 36
    assert plan.on_time_rate_pct is not None and plan.on_time_rate_pct >= 90.0
    if plan.officers_needed > 1:  # one officer fewer misses the target
        fewer = {ONE_POOL: plan.officers_needed - 1}
        assert (await rates(PROFILE, 0.02, 2, "land-registration", fewer))[ONE_POOL] < 90


def test_the_planner_names_an_agency_it_cannot_staff() -> None:
    done = subprocess.run(
        [sys.executable, "starter.py", "plan-staff", "--profile", "dong-da-2023",
         "--agency", "tax"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "--agency tax: the profile gives it no officers" in done.stderr


def test_a_what_if_on_desk_staffing_takes_officers_off_one_desk_and_sends_half_on_tet_leave() -> (
    None
):
    from sim.whatif import staffed_variant

    what_if = WhatIf(
        losses=[
            parse_loss("one-stop@KIMLIEN:1:2027-03"),
            parse_loss("land-registration:2:2027-04"),
        ],
        tet_backlog=True,
    )
    check(what_if, PROFILE, 10)
    changed = staffed_variant(what_if, PROFILE)
    one_stop = changed.agencies["one-stop"].staff
    land = changed.agencies["land-registration"].staff
    assert one_stop is not None and land is not None
    assert one_stop.lost("KIMLIEN", date(2027, 3, 1)) == 1
    assert one_stop.lost("KIMLIEN", date(2027, 2, 26)) == 0
    assert one_stop.lost("CATLINH", date(2027, 3, 1)) == 0
    assert land.lost("", date(2027, 4, 1)) == 2
    assert (one_stop.tet_leave_days, one_stop.tet_leave_rate) == (5, 0.5)
    assert PROFILE.agencies["one-stop"].staff.changes == []  # type: ignore[union-attr]
