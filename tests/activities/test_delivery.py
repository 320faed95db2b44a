"""Home delivery by post: attempts on working days, back to the desk, proof closes the dossier.

The post office is `activities.post.SimulatedPostOffice` (the engine's stand-in for the national
post's API), scripted per scenario; the workflow, the activities, the registry and PostgreSQL are
the real ones.
"""

from __future__ import annotations

import email
import email.policy
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.notify import OutboxChannel
from activities.post import (
    AttemptInput,
    DispatchInput,
    PostActivities,
    SimulatedPostOffice,
)
from domain.calendar import default_calendar
from domain.clock import VN_TZ
from domain.dossier import DossierFacts
from engine.settings import Settings
from store import read_model
from store.db import async_engine, session_factory
from store.letters import save_contact
from store.models import DeliveryOutcome, DossierRecord
from store.seed import DEMO_PARCEL
from tests.harness import all_documents, ended, officers_until, running_engine, submit
from workflows.dossier import DossierResult, DossierStatus, DossierWorkflow, TrackingState

pytestmark = pytest.mark.postgres
ABSENT = DeliveryOutcome.RECIPIENT_ABSENT
NOT_FOUND = DeliveryOutcome.ADDRESS_NOT_FOUND
CALENDAR = default_calendar()
ADDRESS = "Số 12 ngõ 34 phố Phương Liên, phường Phương Liên, quận Đống Đa, Hà Nội"


async def send_home(
    env: WorkflowEnvironment, task_queue: str, pg_url: str, email: str | None
) -> str:
    """Submit a land-and-permit dossier for home delivery, with the applicant's contact."""
    received = await env.get_current_time()
    code = f"POST{task_queue[-4:].upper()}-{received.astimezone(VN_TZ):%y%m%d}-0001"
    engine = async_engine(pg_url)
    async with session_factory(engine)() as session:
        await save_contact(session, code, full_name="Nguyễn Thị Hoa", email=email, address=ADDRESS)
        await session.commit()
    await engine.dispose()
    await submit(
        env,
        task_queue,
        "land-and-permit",
        code=code,
        facts=DossierFacts(
            parcel=DEMO_PARCEL,
            documents=all_documents("land-and-permit", received),
            home_delivery=True,
        ),
    )
    return code


def handed_to_post(state: TrackingState) -> bool:
    """Every result is with the post: the return steps are decided and nothing else is open."""
    return bool(state.open_steps) and all(
        step.kind == "return_result" and step.decided for step in state.open_steps
    )


@pytest.fixture
async def scratch_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


async def test_a_result_not_delivered_twice_arrives_on_the_third_working_day_and_closes_it(
    env: WorkflowEnvironment, task_queue: str, pg_url: str
) -> None:
    post = SimulatedPostOffice(script=[ABSENT, NOT_FOUND])
    async with running_engine(env.client, task_queue, pg_url, post=post):
        code = await send_home(env, task_queue, pg_url, email=None)
        handle: WorkflowHandle[DossierWorkflow, DossierResult]
        handle = env.client.get_workflow_handle_for(DossierWorkflow.run, code)
        state = await officers_until(env, handle, handed_to_post, within=120)
        assert state.status == DossierStatus.DECIDED  # decided, not returned until delivered
        final = await officers_until(env, handle, lambda s: False, within=120)
        result = await ended(env, handle)
    assert final.status == DossierStatus.RETURNED
    assert result.status == DossierStatus.RETURNED
    delivered = [row for row in result.ledger if row.result.startswith("delivered by post: EB")]
    assert len(delivered) == 2  # the certificate and the permit, each in its own shipment

    engine = async_engine(pg_url)
    async with session_factory(engine)() as session:
        shipments = await read_model.deliveries_of(session, code)
        assert [(s.status, s.attempts) for s in shipments] == [("delivered", 3)] * 2
        assert shipments[0].address == ADDRESS  # read back through the encrypted column
        attempts = await read_model.attempts_of(session, shipments[0].tracking_number)
        assert [a.outcome for a in attempts] == [ABSENT, NOT_FOUND, "delivered"]
        days = [a.at.astimezone(VN_TZ).date() for a in attempts]
        # One attempt per working day: each the working day after the one before.
        for before, after in itertools.pairwise(days):
            assert after == CALENDAR.next_working_day(before)
        row = await session.get(DossierRecord, code)
        assert row is not None and row.status == "returned"
    await engine.dispose()


async def test_after_the_last_attempt_the_result_goes_back_to_the_desk_and_the_applicant_is_told(
    env: WorkflowEnvironment, task_queue: str, pg_url: str, scratch_settings: Settings
) -> None:
    post = SimulatedPostOffice(script=[ABSENT, ABSENT, ABSENT])
    async with running_engine(env.client, task_queue, pg_url, post=post, settings=scratch_settings):
        code = await send_home(env, task_queue, pg_url, email="hoa.nguyen@example.vn")
        handle: WorkflowHandle[DossierWorkflow, DossierResult]
        handle = env.client.get_workflow_handle_for(DossierWorkflow.run, code)
        await officers_until(env, handle, handed_to_post, within=120)
        # Time passes over the three attempts; the results come back and wait at the desk,
        # where an officer records that the applicant collected them.
        final = await officers_until(env, handle, lambda s: False, within=120)
        result = await ended(env, handle)
    assert final.status == result.status == DossierStatus.RETURNED
    assert sum(row.result.startswith("back to the desk") for row in result.ledger) == 2
    assert sum(row.result.startswith("collected at the desk") for row in result.ledger) == 2
    subjects = [
        str(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"])
        for path in scratch_settings.outbox_path.glob("*.eml")
    ]
    told = [s for s in subjects if "kết quả chuyển về Bộ phận Một cửa" in s]
    assert len(told) == 2  # once per shipment


async def test_dispatch_and_attempts_are_recorded_once_however_often_they_run(
    pg_url: str, tmp_path: Path
) -> None:
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    code = "POSTONCE-260302-0001"
    async with sessions() as session:
        await save_contact(session, code, full_name="Trần Văn Bình", address=ADDRESS)
        await session.commit()
    settings = Settings(data_dir=tmp_path)
    post = PostActivities(
        sessions, SimulatedPostOffice(script=[ABSENT]), settings, OutboxChannel(tmp_path)
    )
    at = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    request = DispatchInput(dossier_code=code, step="p:return", procedure_name_vi="Thủ tục", at=at)
    first = await post.dispatch(request)
    again = await post.dispatch(request)
    assert first == again
    attempt = AttemptInput(
        dossier_code=code,
        step="p:return",
        tracking_number=first.tracking_number,
        attempt=1,
        at=at + timedelta(days=1),
    )
    assert (await post.attempt_delivery(attempt)).outcome == ABSENT
    assert (await post.attempt_delivery(attempt)).outcome == ABSENT
    async with sessions() as session:
        assert len(await read_model.attempts_of(session, first.tracking_number)) == 1
        (shipment,) = await read_model.deliveries_of(session, code)
        assert shipment.attempts == 1 and shipment.status == "dispatched"
    await engine.dispose()


async def test_the_simulated_post_office_is_reproducible_and_fails_at_its_rates() -> None:
    post = SimulatedPostOffice(absent_rate=0.3, not_found_rate=0.1, seed=7)
    outcomes = [(await post.attempt(f"EB{n:09d}VN", 1, ADDRESS)).outcome for n in range(2000)]
    again = [(await post.attempt(f"EB{n:09d}VN", 1, ADDRESS)).outcome for n in range(2000)]
    assert outcomes == again
    assert 0.25 < outcomes.count(ABSENT) / 2000 < 0.35
    assert 0.07 < outcomes.count(NOT_FOUND) / 2000 < 0.13
