"""Deadlines that bite, on the time-skipping server: warnings, lateness, apology letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.calendar import default_calendar
from domain.clock import VN_TZ, LegalClock, working_days
from domain.dossier import DossierStatus, SubmittedDocument
from tests.harness import officers_at_pace, officers_until, running_engine, submit
from workflows.dossier import (
    DecisionAction,
    DecisionInput,
    DossierResult,
    DossierWorkflow,
    SupplementInput,
    TrackingState,
)

pytestmark = pytest.mark.postgres
CLOCK = LegalClock(default_calendar())
MINUTE = timedelta(minutes=1)


@pytest.fixture
async def engine_running(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> AsyncIterator[None]:
    async with running_engine(env.client, task_queue, pg_url):
        yield


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    now = await env.get_current_time()
    assert moment > now, f"the test server is already at {now}, past {moment}"
    await env.sleep(moment - now)


async def result_of(handle: WorkflowHandle[DossierWorkflow, object]) -> DossierResult:
    return await handle.result()  # type: ignore[return-value]


def open_step(state: TrackingState, key: str) -> object:
    return next(step for step in state.open_steps if step.key == key)


def close(a: datetime, b: datetime) -> bool:
    return abs(a - b) <= MINUTE


async def test_land_office_two_days_late_across_tet_sends_one_letter_signed_for_it(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    # Received at the desk on Tuesday 5 January 2027 and keyed in the next morning: the clock
    # runs from receipt, so the one-stop desk's day is used up, as every officer's budget is.
    await skip_to(env, datetime(2027, 1, 6, 8, 50, tzinfo=VN_TZ))
    received = datetime(2027, 1, 5, 9, tzinfo=VN_TZ)
    handle = await submit(env, task_queue, "land-first-certificate", received=received)
    key = "land-first-certificate:prepare-file"
    late = {key: working_days(2)}
    at_land = await officers_at_pace(
        env, handle, lambda s: any(o.key == key and o.due for o in s.open_steps), CLOCK
    )
    due = open_step(at_land, key).due  # type: ignore[attr-defined]
    assert due < datetime(2027, 2, 4, tzinfo=VN_TZ)  # due before Tet (4-10 February 2027)
    assert CLOCK.add(due, working_days(2)) > datetime(2027, 2, 11, tzinfo=VN_TZ)  # late after
    final = await officers_at_pace(env, handle, lambda s: False, CLOCK, late=late, within=180)
    result = await result_of(handle)
    assert result.status == DossierStatus.RETURNED == final.status
    land_row = next(row for row in result.ledger if row.step == "prepare-file")
    assert land_row.verdict == "late"
    assert land_row.late_working_hours == pytest.approx(16, abs=0.1)
    others_late = [r for r in result.ledger if r.verdict == "late" and r.step != "prepare-file"]
    assert not others_late
    assert len(result.apologies) == 1
    letter = result.apologies[0]
    assert (letter.sequence, letter.agency) == (1, "land-registration")
    assert letter.sent and letter.letter_id == f"{handle.id}-apology-1"
    # Since 1.1 the letter goes as soon as the land office holds the dossier past its latest
    # finish (the appointment less the budgets after it), well over a working day ahead; the
    # new date is the forecast then (the land office done at once, the others in their
    # budgets: the original appointment) plus a day's margin.
    assert letter.lead_working_hours is not None and letter.lead_working_hours >= 8
    expected = CLOCK.add(letter.original_appointment, working_days(1))
    assert expected <= letter.new_appointment <= expected + timedelta(minutes=20)
    assert result.verdict == "late"


async def test_two_missed_dates_produce_two_numbered_letters(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "certified-copy")
    key = "certified-copy:certify"
    state = await officers_until(env, handle, lambda s: key in {o.key for o in s.open_steps})
    first = state.appointment
    assert first is not None
    await skip_to(env, first + MINUTE)
    one = await handle.query(DossierWorkflow.tracking)
    assert [a.sequence for a in one.apologies] == [1]
    second = one.apologies[0].new_appointment
    assert one.apologies[0].original_appointment == first
    assert one.apologies[0].agency == "commune-committee", one.apologies
    await skip_to(env, second + MINUTE)
    two = await handle.query(DossierWorkflow.tracking)
    assert [a.sequence for a in two.apologies] == [1, 2]
    assert two.apologies[1].original_appointment == second
    assert two.appointment == two.apologies[1].new_appointment > second
    final = await officers_until(env, handle, lambda s: False)
    assert final.status == DossierStatus.RETURNED
    result = await result_of(handle)
    assert len(result.apologies) == 2 and all(a.sent for a in result.apologies)


async def test_a_warning_lands_on_the_working_day_before_across_a_weekend_and_a_holiday(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    # The appraisal (6 working days) is due Monday 4 January 2027 at 10:00; Friday 1 January is
    # New Year's Day, so one working day before is Thursday 31 December 2026 at 10:00.
    due = datetime(2027, 1, 4, 10, tzinfo=VN_TZ)
    opens = CLOCK.subtract(due, working_days(6))
    await skip_to(env, opens)
    handle = await submit(env, task_queue, "house-building-permit")
    key = "house-building-permit:appraise"
    state = await officers_until(
        env, handle, lambda s: any(o.key == key and o.warn_at for o in s.open_steps)
    )
    step = open_step(state, key)
    assert close(step.due, due)  # type: ignore[attr-defined]
    warn_at = step.warn_at  # type: ignore[attr-defined]
    assert close(warn_at, datetime(2026, 12, 31, 10, tzinfo=VN_TZ))
    await skip_to(env, datetime(2026, 12, 31, 9, 50, tzinfo=VN_TZ))
    assert not open_step(await handle.query(DossierWorkflow.tracking), key).warned  # type: ignore[attr-defined]
    await skip_to(env, datetime(2026, 12, 31, 10, 5, tzinfo=VN_TZ))
    assert open_step(await handle.query(DossierWorkflow.tracking), key).warned  # type: ignore[attr-defined]
    final = await officers_until(env, handle, lambda s: False)
    assert final.status == DossierStatus.RETURNED


async def test_a_supplement_pause_causes_no_false_apology_or_late_step(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "house-building-permit")
    key = "house-building-permit:appraise"
    state = await officers_until(
        env, handle, lambda s: any(o.key == key and o.due for o in s.open_steps)
    )
    appointment = state.appointment
    assert appointment is not None
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=open_step(state, key).agency, officer_id="o",  # type: ignore[attr-defined]
                      action=DecisionAction.REQUEST_SUPPLEMENT, reason="thiếu bản vẽ",
                      missing_documents=["Bản vẽ"]),
    )  # fmt: skip
    # The applicant takes a month, well past the original appointment.
    await skip_to(env, appointment + timedelta(days=30))
    await handle.execute_update(
        DossierWorkflow.provide_supplement,
        SupplementInput(documents=[SubmittedDocument(name_vi="Bản vẽ")]),
    )
    await officers_at_pace(env, handle, lambda s: False, CLOCK, within=180)
    result = await result_of(handle)
    assert result.status == DossierStatus.RETURNED
    assert not [row for row in result.ledger if row.verdict == "late"], [
        (r.step, r.due, r.at, r.late_working_hours) for r in result.ledger
    ]
    assert result.apologies == []
    assert result.verdict in ("early", "on_time")


async def test_a_dossier_finished_on_time_has_no_letter_and_no_late_mark(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "land-and-permit")
    await officers_at_pace(env, handle, lambda s: False, CLOCK, within=180)
    result = await result_of(handle)
    assert result.status == DossierStatus.RETURNED
    assert not [row for row in result.ledger if row.verdict == "late"], [
        (r.step, r.due, r.at, r.late_working_hours) for r in result.ledger
    ]
    assert result.apologies == []
    assert result.verdict in ("early", "on_time")


async def test_a_short_procedure_received_in_office_hours_gets_no_letter_at_receipt(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    # A certified copy is due within hours; its appointment check is due before it was even
    # received. Keyed in a few minutes after the applicant handed it in, it must still not
    # be "foreseen late" at once.
    now = (await env.get_current_time()).astimezone(VN_TZ)
    morning = datetime.combine(
        default_calendar().next_working_day(now.date()), datetime.min.time(), VN_TZ
    ).replace(hour=9)
    await skip_to(env, morning + timedelta(minutes=5))
    handle = await submit(env, task_queue, "certified-copy", received=morning)
    await officers_until(env, handle, lambda s: False)
    result = await result_of(handle)
    assert result.status == DossierStatus.RETURNED
    assert result.apologies == []
    assert result.verdict in ("early", "on_time")
