"""Text messages to applicants: one SMS each, no personal data, queued with the registry, sent
once.

Pure: every message at its longest fits one GSM-7 SMS; a public address too long for that is
refused at start with the message it breaks. On real PostgreSQL and Temporal's test server: the
documents a snapshot carries queue their messages once; the relay sends each once, to the
number on file, masked in the gateway's record; an applicant who chose no texts, or has no
phone, gets none; a gateway failure leaves the message queued, and the retry is recognised.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.registry import IssuedSnapshot, RegistryActivities
from activities.sms import (
    SimulatedSmsGateway,
    SmsActivities,
    check_templates,
    fits_one_sms,
    render_sms,
    sms_length,
    without_diacritics,
)
from domain.catalog import StepKind
from domain.dossier import TrackingState
from domain.outbox import PushRequest, PushResult, RelayConfig, RelayInput
from engine.settings import Settings
from store.db import async_engine, session_factory
from store.letters import save_contact
from store.models import SimulatedSmsRecord, SmsKind, SmsOutboxRecord
from tests.activities.test_registry import snapshot
from tests.harness import ended, officers_until, running_engine, submit
from workflows.relay import OutboxRelayWorkflow

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SETTINGS = Settings(data_dir=Path("/nonexistent"))


@pytest.mark.parametrize("kind", list(SmsKind))
def test_every_message_at_its_longest_is_one_gsm7_sms(kind: SmsKind) -> None:
    code = f"{SETTINGS.desk_code}-261231-9999"
    params = {
        "appointment": "2026-12-31T09:00:00+07:00",
        "new_appointment": "2027-01-04T16:30:00+07:00",
        "tracking_number": "EB123456789VN",
    }
    text = render_sms(SETTINGS, kind, code, params)
    assert sms_length(text)[0] == "GSM-7" and fits_one_sms(text), (len(text), text)
    assert code in text and SETTINGS.tracking_url(code) in text


def test_dates_are_vietnamese_days_and_no_diacritic_is_left() -> None:
    text = render_sms(
        SETTINGS, SmsKind.APOLOGY, "DONGDA-260302-0001", {"new_appointment": "2026-03-05T20:00Z"}
    )
    assert "Hen tra moi 06/03/2026" in text  # 03:00 the next day in Vietnam
    assert without_diacritics("Đống Đa, Phương Liên") == "Dong Da, Phuong Lien"
    assert sms_length("Hồ sơ") == ("UCS-2", 5)
    assert not fits_one_sms("Hồ sơ " * 12)  # 72 UCS-2 characters


def test_a_public_address_too_long_for_one_sms_is_refused_at_start() -> None:
    settings = Settings(
        data_dir=Path("/nonexistent"),
        public_base_url="https://dichvucong.quan-dong-da.thanh-pho-ha-noi.gov.vn/cong-dan/tra-cuu",
    )
    with pytest.raises(ValueError, match=r"the \w+ text message is 1\d\d GSM-7 characters"):
        check_templates(settings)


@pytest.fixture
async def sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The registry's sessions, the SMS outbox left by other tests cleared (one database)."""
    engine = async_engine(pg_url)
    factory = session_factory(engine)
    async with factory() as session:
        await session.execute(
            update(SmsOutboxRecord)
            .where(SmsOutboxRecord.pushed_at.is_(None))
            .values(pushed_at=datetime.now(UTC))
        )
        await session.commit()
    yield factory
    await engine.dispose()


def sender(
    sessions: async_sessionmaker[AsyncSession], gateway: SimulatedSmsGateway
) -> Callable[[PushRequest], Awaitable[PushResult]]:
    activities = SmsActivities(sessions, gateway, SETTINGS)

    async def push(request: PushRequest) -> PushResult:
        result: PushResult = await ActivityEnvironment().run(activities.push_pending, request)
        return result

    return push


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any, code: str) -> list[Any]:
    column = model.key
    async with sessions() as session:
        found = await session.execute(
            select(model).where(column.like(f"{code}:%")).order_by(column)
        )
        return list(found.scalars())


def new_code() -> str:
    return f"SMS{uuid.uuid4().hex[:6].upper()}-260302-0001"


def with_documents(code: str, revision: int, status: str) -> Any:
    base = snapshot(code, revision, status=status)
    return base.model_copy(
        update={
            "synced_at": T0,
            "issued": [
                IssuedSnapshot(
                    kind="form-01",
                    sequence=1,
                    procedure="certified-copy",
                    detail={"appointment": "2026-03-02T15:00:00+07:00"},
                    issued_at=T0,
                ),
                IssuedSnapshot(
                    kind="form-04",
                    sequence=1,
                    procedure="certified-copy",
                    detail={"new_appointment": "2026-03-04T10:00:00+07:00", "sent": False},
                    issued_at=T0 + timedelta(hours=6),
                ),
                IssuedSnapshot(kind="notice", sequence=1, procedure="certified-copy", issued_at=T0),
            ],
        }
    )


@pytest.mark.postgres
async def test_documents_and_the_decision_queue_their_messages_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    code = new_code()
    sync = RegistryActivities(sessions).sync
    await sync(with_documents(code, 1, "in_progress"))
    await sync(with_documents(code, 1, "in_progress"))  # a retried sync
    await sync(with_documents(code, 2, "decided"))  # the letter marked sent: same documents
    waiting = with_documents(code, 3, "decided")
    waiting.steps.append(
        waiting.steps[0].model_copy(
            update={"key": "certified-copy:return", "kind": "return_result", "status": "open"}
        )
    )
    await sync(waiting)
    await sync(waiting.model_copy(update={"revision": 4}))
    await sync(with_documents(code, 5, "stopped"))
    await sync(with_documents(code, 6, "stopped"))

    queued = await rows(sessions, SmsOutboxRecord, code)
    assert sorted(r.key for r in queued) == [
        f"{code}:apology:1",
        f"{code}:receipt:1",
        f"{code}:result_ready:certified-copy:return",
        f"{code}:stopped:1",
    ]
    receipt = next(r for r in queued if r.kind == "receipt")
    assert json.loads(receipt.params) == {"appointment": "2026-03-02T15:00:00+07:00"}
    assert all("0912" not in r.params for r in queued)  # no phone number in the outbox


@pytest.mark.postgres
async def test_each_message_goes_once_to_the_number_on_file_and_only_if_chosen(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    texted, declined, unknown = new_code(), new_code(), new_code()
    async with sessions() as session:
        await save_contact(session, texted, full_name="Trần Thị Bình", phone="+84912345678")
        await save_contact(
            session, declined, full_name="Lê Văn Cường", phone="+84987654321", sms_opt_in=False
        )
        await session.commit()
    sync = RegistryActivities(sessions).sync
    for code in (texted, declined, unknown):
        await sync(with_documents(code, 1, "in_progress"))
    gateway = SimulatedSmsGateway(sessions, failure_rate=1.0)
    push = sender(sessions, gateway)

    down = await push(PushRequest(now=T0))
    assert down.unavailable and down.pushed == 0 and down.waiting == 6  # the order is kept
    gateway._failure_rate = 0.0  # the gateway is back
    assert (await push(PushRequest(now=T0 + timedelta(minutes=1)))).waiting == 0

    sent = await rows(sessions, SimulatedSmsRecord, texted)
    assert [r.key for r in sent] == [f"{texted}:apology:1", f"{texted}:receipt:1"]
    assert all(r.to_masked == "+84*******78" and r.encoding == "GSM-7" for r in sent)
    assert all("Binh" not in r.text and "Bình" not in r.text for r in sent)
    receipt = next(r for r in sent if r.key.endswith("receipt:1"))
    assert "Hen tra ket qua 02/03/2026" in receipt.text
    assert await rows(sessions, SimulatedSmsRecord, declined) == []
    assert await rows(sessions, SimulatedSmsRecord, unknown) == []
    skipped = {r.dossier_code: r.skipped for r in await rows(sessions, SmsOutboxRecord, declined)}
    assert skipped == {declined: "the applicant chose no text messages"}
    assert {r.skipped for r in await rows(sessions, SmsOutboxRecord, unknown)} == {
        "no phone number on file"
    }
    outbox = await rows(sessions, SmsOutboxRecord, texted)
    assert all(r.gateway_id and r.gateway_id.startswith("SIM") for r in outbox)

    # A message sent again (its acknowledgement lost) is recognised by its key.
    again = await gateway.send("+84912345678", sent[0].text, sent[0].key)
    assert again == sent[0].gateway_id
    [record] = [r for r in await rows(sessions, SimulatedSmsRecord, texted) if r.key == sent[0].key]
    assert record.deliveries == 2


@pytest.mark.postgres
async def test_a_dossier_texts_its_receipt_and_its_result_through_the_relay(
    env: WorkflowEnvironment,
    task_queue: str,
    pg_url: str,
    sessions: async_sessionmaker[AsyncSession],  # other tests' waiting messages cleared
) -> None:
    factory = sessions
    code = f"SMSE{uuid.uuid4().hex[:5].upper()}-{(await env.get_current_time()):%y%m%d}-0001"
    async with factory() as session:
        await save_contact(session, code, full_name="Phạm Văn Dũng", phone="+84901234567")
        await session.commit()
    async with running_engine(env.client, task_queue, pg_url):
        relay = await env.client.start_workflow(
            OutboxRelayWorkflow.run,
            RelayInput(system="sms", config=RelayConfig(idle_poll=timedelta(minutes=1))),
            id=f"sms-relay-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        handle = await submit(env, task_queue, "certified-copy", code=code)

        # The officers work up to the result waiting at the desk, and nobody collects it
        # until its text is out: a result handed over before any sync saw it waiting is never
        # texted (store.sms.record_from_snapshot), and that race is not this test's subject.
        def result_waiting(state: TrackingState) -> bool:
            return any(step.kind == StepKind.RETURN_RESULT for step in state.open_steps)

        await officers_until(env, handle, result_waiting, within=120)
        # Bounded in wall time, not in rounds: on a loaded machine the relay's push may still
        # be running when the test server has skipped the next poll's minute.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sent = await rows(factory, SimulatedSmsRecord, code)
            if {r.key.split(":")[1] for r in sent} >= {"receipt", "result_ready"}:
                break
            await env.sleep(timedelta(minutes=1))
            await asyncio.sleep(0.1)
        await officers_until(env, handle, lambda s: False, within=120)
        await ended(env, handle)
        await relay.terminate("test over")
    kinds = [r.key.split(":")[1] for r in sorted(sent, key=lambda r: r.sent_at)]
    assert kinds[0] == "receipt" and "result_ready" in kinds, kinds
    assert all(fits_one_sms(r.text) and code in r.text for r in sent)
