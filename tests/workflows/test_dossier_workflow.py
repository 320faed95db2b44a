"""The dossier workflow on the time-skipping server, with every real agency activity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import default_calendar
from domain.clock import LegalClock
from domain.dossier import DossierFacts, DossierStatus, SubmittedDocument
from store.seed import DEMO_PARCEL
from tests.harness import officers_until, running_engine, submit
from workflows.dossier import (
    DecisionAction,
    DecisionInput,
    DossierResult,
    DossierWorkflow,
    SupplementInput,
    TrackingState,
    WithdrawInput,
)

pytestmark = pytest.mark.postgres
CLOCK = LegalClock(default_calendar())


@pytest.fixture
async def engine_running(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> AsyncIterator[None]:
    async with running_engine(env.client, task_queue, pg_url):
        yield


def open_keys(state: TrackingState) -> set[str]:
    return {step.key for step in state.open_steps}


async def result_of(handle: WorkflowHandle[DossierWorkflow, object]) -> DossierResult:
    return await handle.result()  # type: ignore[return-value]


async def test_combined_land_and_permit_dossier_runs_end_to_end_and_is_returned(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "land-and-permit")
    seen_permit_decision_open = []

    def check(state: TrackingState) -> None:
        # The permit's decision never opens before the certificate is signed.
        if "house-building-permit:decision" in open_keys(state):
            signed = [
                row for row in state.ledger
                if (row.procedure, row.step) == ("land-first-certificate", "sign")
            ]  # fmt: skip
            assert signed, "permit decision opened before the land certificate was signed"
            seen_permit_decision_open.append(True)

    final = await officers_until(env, handle, lambda s: False, on_state=check, within=120)
    result = await result_of(handle)
    assert result.status == DossierStatus.RETURNED == final.status
    assert seen_permit_decision_open
    steps = [(row.procedure, row.step) for row in result.ledger]
    assert steps.index(("land-first-certificate", "sign")) < steps.index(
        ("house-building-permit", "decision")
    )
    # Every step of both procedures was handed over exactly once, with a verdict.
    assert len(steps) == len(set(steps)) == 18
    counted = [row for row in result.ledger if row.verdict not in (None, "not_counted")]
    assert counted and all(row.verdict in ("early", "on_time") for row in counted), [
        (r.step, r.verdict, r.at, r.due) for r in counted if r.verdict not in ("early", "on_time")
    ]
    # The tax authority computed the obligation and the applicant paid it.
    assert final.amount_due_vnd > 0 and final.amount_paid_vnd == final.amount_due_vnd
    notice = next(row for row in result.ledger if row.step == "post-notice")
    assert notice.verdict == "not_counted"
    # The legal clock is computed in the workflow from its pinned calendar: no activity asks it,
    # and no local activity (whose late result once made replays resume in another order) runs.
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
    ]
    assert "core_local_activity" not in markers
    assert not [name for name in scheduled if name.startswith("clock.")]


async def test_an_officer_of_another_agency_is_rejected_and_nothing_is_written(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "house-building-permit")
    state = await officers_until(
        env,
        handle,
        lambda s: any(o.key == "house-building-permit:appraise" and o.due for o in s.open_steps),
    )
    holder = next(s.agency for s in state.open_steps if s.key == "house-building-permit:appraise")
    for agency, step in [
        ("tax", "house-building-permit:appraise"),
        (holder, "house-building-permit:sign"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(
                DossierWorkflow.decide,
                DecisionInput(step=step, agency=agency, officer_id="intruder",
                              action=DecisionAction.APPROVE),
            )  # fmt: skip
        assert isinstance(rejected.value.cause, ApplicationError)
        assert rejected.value.cause.type in ("WrongAgency", "StepNotOpen")
    # A rejected update never reaches the history, and the dossier did not move.
    history = await handle.fetch_history()
    assert not [e for e in history.events if "UPDATE" in EventType.Name(e.event_type)]
    assert (await handle.query(DossierWorkflow.tracking)).ledger == state.ledger
    await handle.execute_update(DossierWorkflow.withdraw, WithdrawInput(reason="test over"))


async def test_a_supplement_round_trip_pauses_the_clock_and_allows_only_one_request(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    # Received now on the test server: supplement requests are allowed in the first 7 days.
    handle = await submit(env, task_queue, "house-building-permit")
    key = "house-building-permit:appraise"
    state = await officers_until(
        env, handle, lambda s: key in open_keys(s) and s.open_steps[0].due is not None
    )
    appraise = next(s for s in state.open_steps if s.key == key)
    original_due = appraise.due
    assert original_due is not None
    before_request = await env.get_current_time()
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=appraise.agency, officer_id="o1",
                      action=DecisionAction.REQUEST_SUPPLEMENT, reason="thiếu bản vẽ",
                      missing_documents=["Bản vẽ mặt cắt"]),
    )  # fmt: skip
    paused = await handle.query(DossierWorkflow.tracking)
    assert paused.status == DossierStatus.SUPPLEMENT_REQUESTED
    assert [s.due for s in paused.open_steps] == [None]  # the clock is stopped
    after_request = await env.get_current_time()
    await env.sleep(timedelta(days=3))
    before_supplement = await env.get_current_time()
    status = await handle.execute_update(
        DossierWorkflow.provide_supplement,
        SupplementInput(documents=[SubmittedDocument(name_vi="Bản vẽ mặt cắt")]),
    )
    after_supplement = await env.get_current_time()
    assert status == DossierStatus.IN_PROGRESS
    resumed = await officers_until(
        env, handle, lambda s: all(step.due is not None for step in s.open_steps), approve=False
    )
    # The workflow paused and resumed at moments the test can only bracket (the test server's
    # clock runs at wall speed around each update): the due moved by the working time between
    # them, no less than the shortest pause and no more than the longest.
    shortest = CLOCK.working_time_between(after_request, before_supplement)
    longest = CLOCK.working_time_between(before_request, after_supplement)
    due = resumed.open_steps[0].due
    assert due is not None
    assert CLOCK.add(original_due, shortest) <= due <= CLOCK.add(original_due, longest)
    assert longest - shortest < timedelta(minutes=1)  # the bracket is tight enough to mean it
    with pytest.raises(WorkflowUpdateFailedError) as second:
        await handle.execute_update(
            DossierWorkflow.decide,
            DecisionInput(step=key, agency=appraise.agency, officer_id="o1",
                          action=DecisionAction.REQUEST_SUPPLEMENT, reason="again",
                          missing_documents=["x"]),
        )  # fmt: skip
    assert isinstance(second.value.cause, ApplicationError)
    assert second.value.cause.type == "SupplementNotAllowed"
    final = await officers_until(env, handle, lambda s: False)
    assert final.status == DossierStatus.RETURNED
    late = [row for row in final.ledger if row.verdict == "late"]
    assert not late  # the paused days were not counted against the agency


async def test_refusal_with_reasons_ends_the_dossier(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "house-building-permit")
    key = "house-building-permit:appraise"
    state = await officers_until(env, handle, lambda s: key in open_keys(s))
    agency = next(s.agency for s in state.open_steps if s.key == key)
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=agency, officer_id="o2", action=DecisionAction.REFUSE,
                      reason="Công trình nằm trong chỉ giới đường đỏ"),
    )  # fmt: skip
    result = await result_of(handle)
    assert result.status == DossierStatus.REFUSED
    assert result.ledger[-1].result == "refused: Công trình nằm trong chỉ giới đường đỏ"


async def test_withdrawal_mid_way_ends_open_steps_and_leaves_nothing_running(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "land-and-permit")
    await officers_until(env, handle, lambda s: len(s.ledger) >= 4)
    status = await handle.execute_update(
        DossierWorkflow.withdraw, WithdrawInput(reason="gia đình đổi ý")
    )
    assert status == DossierStatus.WITHDRAWN
    result = await result_of(handle)
    assert result.status == DossierStatus.WITHDRAWN
    assert any(row.result == "withdrawn" for row in result.ledger)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.raw_description.pending_activities == []


async def test_missing_documents_are_requested_automatically_then_checked_again(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(
        env, task_queue, "house-building-permit", facts=DossierFacts(parcel=DEMO_PARCEL)
    )
    state = await officers_until(
        env, handle, lambda s: s.status == DossierStatus.SUPPLEMENT_REQUESTED
    )
    missing = state.supplements[0].missing_documents
    assert missing and state.supplements[0].requested_by == "one-stop"
    await handle.execute_update(
        DossierWorkflow.provide_supplement,
        SupplementInput(documents=[SubmittedDocument(name_vi=name) for name in missing]),
    )
    final = await officers_until(env, handle, lambda s: False)
    assert final.status == DossierStatus.RETURNED


async def test_a_second_submission_with_the_same_code_does_not_start_a_second_workflow(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    first = await submit(env, task_queue, "certified-copy")
    with pytest.raises(WorkflowAlreadyStartedError):
        await submit(env, task_queue, "certified-copy", code=first.id)
    final = await officers_until(env, first, lambda s: False)
    assert final.status == DossierStatus.RETURNED


async def test_send_back_reruns_the_earlier_step_and_everything_after_it(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "house-building-permit")
    key = "house-building-permit:decision"
    state = await officers_until(env, handle, lambda s: key in open_keys(s))
    agency = next(s.agency for s in state.open_steps if s.key == key)
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=agency, officer_id="o3", action=DecisionAction.SEND_BACK,
                      reason="Thẩm định lại chiều cao công trình",
                      send_back_to="house-building-permit:appraise"),
    )  # fmt: skip
    again = await handle.query(DossierWorkflow.tracking)
    assert open_keys(again) == {"house-building-permit:appraise"}
    assert again.ledger[-1].result.startswith("sent back: ")
    with pytest.raises(WorkflowUpdateFailedError) as bad:
        await handle.execute_update(
            DossierWorkflow.decide,
            DecisionInput(step="house-building-permit:appraise", agency=agency, officer_id="o3",
                          action=DecisionAction.SEND_BACK, reason="x",
                          send_back_to="house-building-permit:sign"),
        )  # fmt: skip
    assert isinstance(bad.value.cause, ApplicationError)
    assert "earlier step" in bad.value.cause.message
    final = await officers_until(env, handle, lambda s: False)
    assert final.status == DossierStatus.RETURNED
    appraisals = [row for row in final.ledger if row.step == "appraise"]
    assert len(appraisals) == 2


async def test_withdrawal_during_the_public_notice_ends_the_timer_too(
    env: WorkflowEnvironment, task_queue: str, engine_running: None
) -> None:
    handle = await submit(env, task_queue, "land-first-certificate")
    notice = "land-first-certificate:post-notice"
    await officers_until(env, handle, lambda s: notice in open_keys(s))
    await handle.execute_update(DossierWorkflow.withdraw, WithdrawInput(reason="bán đất"))
    result = await result_of(handle)
    assert result.status == DossierStatus.WITHDRAWN
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
