"""The scenario runner on the time-skipping test server: schema errors, a scripted scenario's
statuses, ledgers, letters and deliveries, determinism, and a tiny district profile."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from domain.calendar import default_calendar
from domain.clock import VN_TZ, LegalClock
from sim.output import as_json, result_document
from sim.profile import load_profile, profile_path, run_profile
from sim.runner import run_scenario
from sim.scenario import ScenarioError, load_scenario
from store.models import DeliveryOutcome

REPO = Path(__file__).resolve().parents[2]
WITHIN = 240.0  # seconds: a run that takes longer is stuck (see docs/simulation.md)

# A combined dossier sent home by post: the permit is decided while the land result is with the
# post, and each shipment fails once. Received before the bundle's land part ends with Decree
# 151/2025 on 2027-02-28 (a later receipt is refused until a successor version is catalogued).
BY_POST = """
start: 2027-02-15
seed: 11
desk: PLIEN
post:
  script: [recipient_absent]     # every shipment: nobody home once, delivered the next day
dossiers:
  - label: by post
    procedure: land-and-permit
    submit_at: 2027-02-22T09:30
    home_delivery: true
    officers:
      - {step: "house-building-permit:decision", after_days: 0.25}
      - {step: "house-building-permit:sign", after_days: 0.25}
      - {step: "house-building-permit:return", after_days: 0.25}
      - {step: "land-first-certificate:return", after_days: 5}
"""

SCENARIO = """
name: three dossiers
start: 2027-03-01
seed: 11
desk: PLIEN
dossiers:
  - label: on time
    procedure: marital-status-confirmation
    submit_at: 2027-03-01T09:00
  - label: economic office late
    procedure: house-building-permit
    submit_at: 2027-03-01T10:00
    officers:
      - {step: appraise, after_days: 18}    # its budget is 6; the whole limit 15
  - label: refused
    procedure: house-building-permit
    submit_at: 2027-03-03T14:00
    officers:
      - {step: appraise, action: refuse, after_days: 2, reason: Không phù hợp quy hoạch}
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start: 2027-03-01\ndossiers: []\n", "(top level): the scenario submits nothing"),
        (
            "start: 2027-03-01\ndossiers:\n  - procedure: certified-copy\n"
            "    submit_at: 2027-03-01T09:00\n    officers:\n"
            "      - {step: certify, after_days: -1}\n",
            "dossiers[0].officers[0].after_days: Input should be greater than or equal to 0",
        ),
        (
            "start: 2027-03-01\ndossiers:\n  - procedure: no-such-thing\n"
            "    submit_at: 2027-03-01T09:00\n",
            "dossiers[0].procedure:",
        ),
        (
            "start: 2027-03-01\ndossiers:\n  - procedure: certified-copy\n"
            "    submit_at: 2027-03-01T09:00\n    officers:\n      - {step: sign}\n",
            "dossiers[0].officers[0].step: no step 'sign' in certified-copy",
        ),
        (
            "start: 2027-03-01\nrules:\n  agencies:\n"
            "    land-registration: {officer_days: [6, 3]}\n",
            "rules.agencies.land-registration.officer_days: the range [6, 3] is reversed",
        ),
        ("start: 2027-03-01\ndossiers: [\n", "line 3: not YAML"),
    ],
)
def test_a_bad_scenario_names_the_file_the_place_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_the_cli_refuses_a_bad_scenario_with_exit_2_and_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "start: 2027-03-01\nseed: many\ndossiers: []\n")
    done = subprocess.run(
        [sys.executable, "starter.py", "simulate", "--scenario", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "seed: Input should be a valid integer" in lines[0] and str(path) in lines[0]


async def test_a_scenario_in_the_past_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "start: 2025-03-03\ndossiers:\n  - procedure: certified-copy\n"
        "    submit_at: 2025-03-03T09:00\n",
    )
    with pytest.raises(ScenarioError, match="is not in the future"):
        await run_scenario(load_scenario(path))


async def test_a_scripted_scenario_gives_its_statuses_ledgers_letters_and_deliveries_twice_alike(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(write(tmp_path, SCENARIO))
    first = await asyncio.wait_for(run_scenario(scenario), WITHIN)
    document = result_document(first)
    by_label = {d["label"]: d for d in document["dossiers"]}
    assert [d["code"] for d in document["dossiers"]] == [
        "PLIEN-270301-0001",
        "PLIEN-270301-0002",
        "PLIEN-270303-0001",
    ]
    assert {label: d["status"] for label, d in by_label.items()} == {
        "on time": "returned",
        "economic office late": "returned",
        "refused": "refused",
    }
    # The late dossier's officer acts a day after a re-armed deadline timer started: without the
    # driver's timer guard the test server stranded it (temporalio/sdk-java#3088).
    assert document["unfinished"] == []

    on_time = by_label["on time"]
    assert on_time["verdict"] in ("early", "on_time") and on_time["apology_letters"] == []

    late = by_label["economic office late"]
    appraise = next(row for row in late["ledger"] if row["step"] == "appraise")
    assert appraise["verdict"] == "late" and appraise["from"] == "commune-economic"
    assert late["verdict"] == "late"
    assert late["apology_letters"], "a missed appointment gives a form 04 letter"
    letter = late["apology_letters"][0]
    assert letter["agency"] == "commune-economic" and letter["sent"]
    assert letter["new_appointment"] > letter["original_appointment"]
    assert letter["issued_at"] <= letter["original_appointment"]

    refused = by_label["refused"]
    assert refused["ledger"][-1]["result"] == "refused: Không phù hợp quy hoạch"

    # The registry's report counts the same dossiers.
    assert document["report"]["by_month"]["total"]["received"] == 3

    second = await asyncio.wait_for(run_scenario(scenario), WITHIN)
    assert as_json(second) == as_json(first)


async def test_a_result_sent_home_fails_once_and_arrives_the_next_working_day(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(write(tmp_path, BY_POST))
    result = await asyncio.wait_for(run_scenario(scenario), WITHIN)
    (post,) = result_document(result)["dossiers"]
    assert post["status"] == "returned" and post["finished"]
    assert len(post["shipments"]) == 2
    for shipment in post["shipments"]:
        outcomes = [attempt["outcome"] for attempt in shipment["attempts"]]
        assert outcomes == [DeliveryOutcome.RECIPIENT_ABSENT, DeliveryOutcome.DELIVERED]
        assert shipment["status"] == "delivered"
        absent, delivered = (date.fromisoformat(a["at"][:10]) for a in shipment["attempts"])
        assert delivered == default_calendar().next_working_day(absent)
    handed = [row for row in post["ledger"] if row["result"].startswith("handed to the post")]
    delivered_rows = [row for row in post["ledger"] if row["result"].startswith("delivered by")]
    assert len(handed) == len(delivered_rows) == 2


async def test_a_tiny_profile_reports_by_level_agency_and_month_and_draws_its_chart(
    tmp_path: Path,
) -> None:
    profile = load_profile(profile_path("dong-da-2023"))
    chart = tmp_path / "weekly.png"
    text = await asyncio.wait_for(
        run_profile(profile, scale=0.0005, months=1, chart=chart, as_json=True), WITHIN
    )
    document = json.loads(text)
    levels = {row["level"]: row for row in document["by_level"]}
    assert set(levels) == {"district", "ward", "TOTAL"}
    assert levels["TOTAL"]["received"] == document["dossiers"] == 5
    assert levels["district"]["received"] + levels["ward"]["received"] == 5
    assert document["by_month"]["rows"][0]["group"] == "2027-01"
    assert document["by_agency"]["total"]["received"] > 0
    assert document["weekly"][0]["week"] >= date(2026, 12, 28).isoformat()
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_profile_arrivals_are_reproducible_office_hours_in_their_months() -> None:
    from sim.profile import draw_dossiers

    profile = load_profile(profile_path("dong-da-2023"))
    dossiers = draw_dossiers(profile, 0.001, 2, LegalClock(default_calendar()))
    assert dossiers == draw_dossiers(profile, 0.001, 2, LegalClock(default_calendar()))
    for dossier in dossiers:
        local = dossier.submit_at.astimezone(VN_TZ)
        assert 8 <= local.hour <= 16 and local.date() <= date(2027, 2, 28)
        assert dossier.code.split("-")[1] == f"{local:%y%m%d}"


def test_a_fractional_capacity_is_kept_on_average_and_fills_days_in_order() -> None:
    from sim.events import Capacity

    clock = LegalClock(default_calendar())
    capacity = Capacity(1.4, "commune-committee")
    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(1000)]
    rooms = [capacity.room(day) for day in days]
    assert set(rooms) == {1, 2} and abs(sum(rooms) / len(rooms) - 1.4) < 0.05
    assert rooms == [Capacity(1.4, "commune-committee").room(day) for day in days]

    monday = datetime(2027, 3, 1, 9, 30, tzinfo=VN_TZ)
    claims = [capacity.claim(clock, monday) for _ in range(6)]
    used = Counter(moment.date() for moment in claims)
    for day, count in used.items():
        assert count == capacity.room(day) and clock.calendar.is_working_day(day)
    assert claims == sorted(claims) and claims[0] == monday


async def test_a_dossier_still_open_at_the_horizon_is_reported_unfinished(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(
            tmp_path,
            "start: 2027-03-01\nhorizon_days: 10\ndesk: PLIEN\ndossiers:\n"
            "  - label: slow\n    procedure: house-building-permit\n"
            "    submit_at: 2027-03-01T09:00\n    officers:\n"
            "      - {step: appraise, after_days: 30}\n",
        )
    )
    document = result_document(await asyncio.wait_for(run_scenario(scenario), WITHIN))
    (slow,) = document["dossiers"]
    assert document["unfinished"] == [slow["code"]]
    assert not slow["finished"] and slow["status"] == "in_progress"
