"""Record the workflows' histories for the replay tests.

    python -m tests.record_history            # every path (the 1.0 baseline and later ones)
    python -m tests.record_history refused    # one of them
    python -m tests.record_history portal-relay   # the portal relay through an outage

Each path runs a real dossier to its end with scripted people, on the time-skipping server
(continue-as-new on a dev server with a tiny history threshold) and a throwaway SQLite registry,
and writes ``tests/histories/dossier-{version}-{path}.json``. Record a path again only when the
baseline itself changes (never, once dossiers run in production): after 1.0, a change to the
workflow's commands goes behind ``workflow.patched`` and *adds* a history (docs/versioning.md).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.portal import SimulatedPortal
from activities.post import SimulatedPostOffice
from domain.calendar import CalendarOverride, default_calendar
from domain.clock import VN_TZ
from domain.dossier import (
    CalendarAmendmentInput,
    DecisionAction,
    DecisionInput,
    DossierFacts,
    DossierStatus,
    PaymentInput,
    SubmittedDocument,
    SupplementInput,
    TrackingState,
    WithdrawInput,
)
from domain.outbox import RelayConfig, RelayInput
from engine.crypto import KeyRing
from engine.keys import use_key_ring
from engine.names import SEARCH_ATTRIBUTES
from engine.temporal import dev_server_path, register_search_attributes, test_server_path
from store.db import async_engine, session_factory
from store.letters import save_contact
from store.migrate import upgrade
from store.models import DeliveryOutcome
from store.seed import DEMO_PARCEL
from tests.harness import all_documents, officers_at_pace, officers_until, running_engine, submit
from workflows.dossier import DossierWorkflow
from workflows.relay import OutboxRelayWorkflow

HISTORIES = Path(__file__).parent / "histories"
VERSION = "1.0"
CODE = "DONGDA-260302-0001"
Handle = WorkflowHandle[DossierWorkflow, object]


@dataclass(frozen=True)
class Path_:
    """One path through the dossier workflow and how to drive it."""

    procedure: str
    drive: Callable[[WorkflowEnvironment, Handle], Awaitable[None]]
    home_delivery: bool = False
    documents: bool = True  # hand in every required document
    post: tuple[DeliveryOutcome, ...] = ()
    continue_as_new: bool = False
    version: str = VERSION  # the workflow version whose new path it records


async def _decide(handle: Handle, state: TrackingState, key: str, **decision: object) -> None:
    step = next(s for s in state.open_steps if s.key == key)
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=step.agency, officer_id="officer-rec", **decision),
    )


async def _until_open(env: WorkflowEnvironment, handle: Handle, key: str) -> TrackingState:
    return await officers_until(
        env, handle, lambda s: any(o.key == key and o.due for o in s.open_steps), within=120
    )


async def to_the_end(env: WorkflowEnvironment, handle: Handle) -> None:
    await officers_until(env, handle, lambda s: False, within=180)


async def refused(env: WorkflowEnvironment, handle: Handle) -> None:
    state = await _until_open(env, handle, "house-building-permit:appraise")
    await _decide(handle, state, "house-building-permit:appraise",
                  action=DecisionAction.REFUSE, reason="Không phù hợp quy hoạch")  # fmt: skip


async def sent_back(env: WorkflowEnvironment, handle: Handle) -> None:
    state = await _until_open(env, handle, "house-building-permit:consult")
    await _decide(handle, state, "house-building-permit:consult",
                  action=DecisionAction.SEND_BACK, reason="Thiếu ý kiến thẩm định",
                  send_back_to="house-building-permit:appraise")  # fmt: skip
    await to_the_end(env, handle)


async def supplement_answered(env: WorkflowEnvironment, handle: Handle) -> None:
    key = "house-building-permit:appraise"
    state = await officers_until(
        env, handle, lambda s: any(o.key == key and o.due for o in s.open_steps), approve=False
    )
    await _decide(handle, state, key, action=DecisionAction.REQUEST_SUPPLEMENT,
                  reason="Thiếu bản vẽ", missing_documents=["Bản vẽ thiết kế"])  # fmt: skip
    await env.sleep(timedelta(days=2))
    await handle.execute_update(
        DossierWorkflow.provide_supplement,
        SupplementInput(documents=[SubmittedDocument(name_vi="Bản vẽ thiết kế")]),
    )
    await to_the_end(env, handle)


async def supplement_lapsed(env: WorkflowEnvironment, handle: Handle) -> None:
    await officers_until(
        env, handle, lambda s: s.status == DossierStatus.SUPPLEMENT_REQUESTED, within=60
    )
    await handle.result()  # seven working days pass on the test server; processing stops


async def paid_in_two(env: WorkflowEnvironment, handle: Handle) -> None:
    state = await officers_until(
        env, handle, lambda s: s.status == DossierStatus.FINANCIAL_OBLIGATION, within=180
    )
    # The first payment falls short (the rest of the bank transfer was declined).
    await handle.signal(
        DossierWorkflow.payment_received,
        PaymentInput(reference="PAY-PART-1", amount_vnd=state.amount_due_vnd // 2),
    )
    await to_the_end(env, handle)


async def withdrawn(env: WorkflowEnvironment, handle: Handle) -> None:
    await officers_until(env, handle, lambda s: len(s.ledger) >= 2, within=120)
    await handle.execute_update(DossierWorkflow.withdraw, WithdrawInput(reason="bán đất"))


async def apologised(env: WorkflowEnvironment, handle: Handle) -> None:
    from domain.clock import LegalClock  # the officers' pace needs the clock they count with

    await officers_at_pace(
        env, handle, lambda s: False, LegalClock(default_calendar()),
        late={"certified-copy:certify": timedelta(hours=8)},  # past the same-day closing
    )  # fmt: skip


async def calendar_amended(env: WorkflowEnvironment, handle: Handle) -> None:
    state = await _until_open(env, handle, "house-building-permit:appraise")
    assert state.appointment is not None
    # The government makes the last working day before the appointment a day off.
    day = state.appointment.astimezone(VN_TZ).date() - timedelta(days=1)
    while not default_calendar().is_working_day(day):
        day -= timedelta(days=1)
    await handle.signal(
        DossierWorkflow.calendar_amended,
        CalendarAmendmentInput(
            announced_by="Thông báo (bản ghi thử)",
            overrides=[CalendarOverride(day=day, kind="day_off", reason="nghỉ", source="thử")],
        ),
    )
    await to_the_end(env, handle)


async def supplement_reminded_stopped(env: WorkflowEnvironment, handle: Handle) -> None:
    # 1.1: form 02 by e-mail, the reminder a working day before the seven days end, form 05.
    await supplement_lapsed(env, handle)


async def apology_when_known(env: WorkflowEnvironment, handle: Handle) -> None:
    # 1.1: a supplement request and a refusal are e-mailed (forms 02, 03); a send-back after
    # a week of consultation no longer fits the appointment: the apology goes at once.
    key = "house-building-permit:appraise"
    state = await _until_open(env, handle, key)
    await _decide(handle, state, key, action=DecisionAction.REQUEST_SUPPLEMENT,
                  reason="Thiếu bản vẽ", missing_documents=["Bản vẽ thiết kế"])  # fmt: skip
    await handle.execute_update(
        DossierWorkflow.provide_supplement,
        SupplementInput(documents=[SubmittedDocument(name_vi="Bản vẽ thiết kế")]),
    )
    state = await _until_open(env, handle, "house-building-permit:consult")
    await env.sleep(timedelta(days=7))
    await _decide(handle, state, "house-building-permit:consult",
                  action=DecisionAction.SEND_BACK, reason="Thiếu ý kiến thẩm định",
                  send_back_to=key)  # fmt: skip
    state = await _until_open(env, handle, key)
    assert state.apologies, "the send-back should have been apologised for at once"
    await _decide(handle, state, key, action=DecisionAction.REFUSE,
                  reason="Không phù hợp quy hoạch")  # fmt: skip


PATHS: dict[str, Path_] = {
    "approved-delivered": Path_(
        "land-and-permit", to_the_end, home_delivery=True, post=(DeliveryOutcome.RECIPIENT_ABSENT,)
    ),
    "delivery-returned": Path_(
        "land-and-permit",
        to_the_end,
        home_delivery=True,
        post=(DeliveryOutcome.RECIPIENT_ABSENT,) * 6,
    ),
    "refused": Path_("house-building-permit", refused),
    "sent-back": Path_("house-building-permit", sent_back),
    "supplement-answered": Path_("house-building-permit", supplement_answered),
    "supplement-lapsed": Path_("birth-residence-insurance", supplement_lapsed, documents=False),
    "paid-in-two": Path_("land-first-certificate", paid_in_two),
    "withdrawn": Path_("land-first-certificate", withdrawn),
    "apology": Path_("certified-copy", apologised),
    "calendar-amended": Path_("house-building-permit", calendar_amended),
    "continue-as-new": Path_("house-building-permit", to_the_end, continue_as_new=True),
    "supplement-reminded-stopped": Path_(
        "birth-residence-insurance", supplement_reminded_stopped, documents=False, version="1.1"
    ),
    "apology-when-known": Path_("house-building-permit", apology_when_known, version="1.1"),
}


@asynccontextmanager
async def _server(continue_as_new: bool) -> AsyncIterator[WorkflowEnvironment]:
    # Without the payload codec: a committed history must replay in any test session, whatever
    # its keys (the codec passes clear payloads through); it holds no personal data.
    if continue_as_new:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=dev_server_path(),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_extra_args=[
                "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40",
            ],
        )  # fmt: skip
    else:
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, test_server_existing_path=test_server_path()
        )
        await register_search_attributes(env.client)
    async with env:
        yield env


async def _runs(client: Client, handle: Handle) -> list[WorkflowHistory]:
    """The history of every run of the dossier, first to last."""
    histories = []
    async for execution in client.list_workflows(f"WorkflowId = '{handle.id}'"):
        run = client.get_workflow_handle(handle.id, run_id=execution.run_id)
        histories.append(await run.fetch_history())
    return sorted(histories, key=lambda h: h.events[0].event_time.ToDatetime())


async def record(name: str) -> list[Path]:
    """Run path ``name`` to its end and write its history (one file per run)."""
    path = PATHS[name]
    with tempfile.TemporaryDirectory() as scratch, use_key_ring(KeyRing.generate("record")):
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        engine = async_engine(url)
        async with session_factory(engine)() as session:
            await save_contact(session, CODE, full_name="Nguyễn Văn Mẫu", address="Số 1 Mẫu")
            await session.commit()
        await engine.dispose()
        async with _server(path.continue_as_new) as env:
            post = SimulatedPostOffice(script=list(path.post))
            async with running_engine(env.client, "record", url, post=post):
                now = await env.get_current_time()
                handle = await submit(
                    env, "record", path.procedure, code=CODE,
                    facts=DossierFacts(
                        parcel=DEMO_PARCEL,
                        documents=all_documents(path.procedure, now) if path.documents else [],
                        home_delivery=path.home_delivery,
                    ),
                )  # fmt: skip
                await path.drive(env, handle)
                await handle.result()
                if path.continue_as_new:
                    histories = await _runs(env.client, handle)
                else:
                    histories = [await handle.fetch_history()]
    written = []
    for number, history in enumerate(histories, start=1):
        suffix = f"-run{number}" if len(histories) > 1 else ""
        file = HISTORIES / f"dossier-{path.version}-{name}{suffix}.json"
        file.write_text(history.to_json())
        written.append(file)
    return written


async def record_portal_relay() -> Path:
    """The portal relay's first run: the portal down for its first minutes while a dossier is
    reported (back-off rounds), then up (pushes, idle rounds), then continue-as-new."""
    with tempfile.TemporaryDirectory() as scratch, use_key_ring(KeyRing.generate("record")):
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        async with _server(False) as env:
            start = await env.get_current_time()
            down = [(start, start + timedelta(minutes=2))]
            async with running_engine(
                env.client, "record", url,
                portal=lambda sessions: SimulatedPortal(sessions, down=down),
            ):  # fmt: skip
                config = RelayConfig(
                    idle_poll=timedelta(minutes=1), min_backoff=timedelta(seconds=30),
                    rounds_per_run=8,
                )  # fmt: skip
                relay = await env.client.start_workflow(
                    OutboxRelayWorkflow.run, RelayInput(system="portal", config=config),
                    id="portal-relay", task_queue="record",
                )  # fmt: skip
                handle = await submit(env, "record", "certified-copy", code=CODE)
                await to_the_end(env, handle)
                await handle.result()
                first_run = relay.result_run_id
                await env.sleep(timedelta(minutes=15))  # the rounds, then continue-as-new
                history = await env.client.get_workflow_handle(
                    "portal-relay", run_id=first_run
                ).fetch_history()
                await relay.terminate("recorded")
    file = HISTORIES / f"relay-{VERSION}-portal-outage.json"
    file.write_text(history.to_json())
    return file


async def main(names: list[str]) -> None:
    for name in names or [*PATHS, "portal-relay"]:
        if name == "portal-relay":
            print(await record_portal_relay())
            continue
        for file in await record(name):
            print(file)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
