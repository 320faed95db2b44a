"""The workflow shell on fake agencies: activities registered under the real names, recording
what the shell asked, on Temporal's time-skipping server. No database, no letters, no post: the
real-stack tests (test_dossier_workflow.py and others) prove the wiring; these prove the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.letters import ApologyInput, ApologyResult, ApplicantNoticeInput, NoticeSent
from activities.notify import AgencyNoticeInput, AgencyNoticeResult
from activities.reception import ReceptionActivities
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import LegalClock
from domain.dossier import (
    ApplicantNoticeKind,
    AutomatedCheckInput,
    AutomatedCheckResult,
    DecisionAction,
    DecisionInput,
    DossierInput,
    DossierStatus,
    TrackingState,
)
from domain.registry import RegistrySnapshot, SyncResult
from engine.names import agency_task_queue
from tests.harness import all_documents
from workflows.dossier import DossierWorkflow


class FakeDesk:
    """What the agencies and the one-stop desk were asked, in order."""

    def __init__(self) -> None:
        self.checks: list[str] = []
        self.syncs: list[RegistrySnapshot] = []
        self.notices: list[AgencyNoticeInput] = []
        self.apologies: list[ApologyInput] = []
        self.applicant: list[tuple[datetime, ApplicantNoticeInput]] = []
        self.missing: dict[str, list[str]] = {}  # check name -> documents it finds missing

    def activities(self) -> list[object]:
        def check(name: str) -> object:
            @activity.defn(name=name)
            async def run(request: AutomatedCheckInput) -> AutomatedCheckResult:
                self.checks.append(name)
                if name in self.missing:
                    return AutomatedCheckResult(
                        passed=False, summary_vi="thiếu", missing_documents=self.missing[name]
                    )
                return AutomatedCheckResult(passed=True, summary_vi="đạt")

            return run

        @activity.defn(name="registry.sync")
        async def sync(snapshot: RegistrySnapshot) -> SyncResult:
            self.syncs.append(snapshot)
            return SyncResult(applied=True)

        @activity.defn(name="notify.agency")
        async def notify(notice: AgencyNoticeInput) -> AgencyNoticeResult:
            self.notices.append(notice)
            return AgencyNoticeResult(notice_id="n", sent=True, channel="outbox")

        @activity.defn(name="letters.issue-apology")
        async def apologise(letter: ApologyInput) -> ApologyResult:
            self.apologies.append(letter)
            return ApologyResult(
                letter_id=f"{letter.dossier_code}-apology-{letter.sequence}",
                html_path="",
                pdf_path="",
                sent=True,
                channel="outbox",
                recipient="",
            )

        @activity.defn(name="letters.applicant-notice")
        async def tell_applicant(notice: ApplicantNoticeInput) -> NoticeSent:
            self.applicant.append((activity.info().scheduled_time, notice))
            return NoticeSent(reference="r", channel="outbox", recipient="")

        reception = ReceptionActivities(default_catalog(), LegalClock(default_calendar()))
        names = [
            "one-stop.check-completeness",
            "justice.register-birth",
            "police.register-residence",
            "social-security.issue-health-card",
        ]
        return [
            *(check(n) for n in names),
            sync,
            notify,
            apologise,
            tell_applicant,
            reception.plan_dossier,
        ]


@contextlib.asynccontextmanager
async def fake_agencies(client: Client, desk: FakeDesk) -> AsyncIterator[str]:
    queue = f"shell-{uuid.uuid4()}"
    agencies = ["one-stop", "justice", "police", "social-security", "commune-committee"]
    workers = [
        Worker(client, task_queue=agency_task_queue(code), activities=desk.activities())  # type: ignore[arg-type]
        for code in agencies
    ]
    workers.append(Worker(client, task_queue=queue, workflows=[DossierWorkflow]))
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield queue


async def start(env: WorkflowEnvironment, queue: str, procedure: str) -> WorkflowHandle:  # type: ignore[type-arg]
    now = await env.get_current_time()
    code = f"SHELL-{uuid.uuid4().hex[:6].upper()}"
    from domain.dossier import DossierFacts

    return await env.client.start_workflow(
        DossierWorkflow.run,
        DossierInput(
            dossier_code=code,
            desk_code="SHELL",
            procedure_code=procedure,
            received_at=now,
            facts=DossierFacts(documents=all_documents(procedure, now)),
        ),
        id=code,
        task_queue=queue,
    )


async def open_step(handle: WorkflowHandle, key: str) -> TrackingState:  # type: ignore[type-arg]
    while True:
        state: TrackingState = await handle.query(DossierWorkflow.tracking)
        if any(step.key == key for step in state.open_steps):
            return state
        await asyncio.sleep(0.05)


async def approve(handle: WorkflowHandle, key: str, agency: str) -> None:  # type: ignore[type-arg]
    await asyncio.wait_for(open_step(handle, key), 30)
    await handle.execute_update(
        DossierWorkflow.decide,
        DecisionInput(step=key, agency=agency, officer_id="cb", action=DecisionAction.APPROVE),
    )


async def test_a_chain_of_checks_is_written_to_the_registry_once_and_the_clock_never_asked(
    env: WorkflowEnvironment,
) -> None:
    desk = FakeDesk()
    async with fake_agencies(env.client, desk) as queue:
        handle = await start(env, queue, "birth-residence-insurance")
        await approve(handle, "birth-residence-insurance:return", "one-stop")
        await handle.result()
        history = await handle.fetch_history()
    assert len(desk.checks) == 4
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert not [name for name in scheduled if name.startswith("clock.")]
    # Receipt, the end of the chain of four checks, the end: three writes, not one per check.
    assert len(desk.syncs) <= 3
    final = desk.syncs[-1]
    assert final.status == DossierStatus.RETURNED and final.verdict in ("early", "on_time")
    assert [s.revision for s in desk.syncs] == list(range(1, len(desk.syncs) + 1))
    # Every row reached the registry: the writes together hold each step's last state.
    steps = {s.key: s for sync in desk.syncs for s in sync.steps}
    assert {s.status for s in steps.values()} == {"done"}
    timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    assert len(timers) == 1  # armed once at receipt; later moments did not re-arm it


async def test_an_unsigned_copy_is_escalated_and_apologised_for_once(
    env: WorkflowEnvironment,
) -> None:
    desk = FakeDesk()
    async with fake_agencies(env.client, desk) as queue:
        handle = await start(env, queue, "certified-copy")
        opened = await asyncio.wait_for(open_step(handle, "certified-copy:certify"), 30)
        appointment = opened.appointment
        assert appointment is not None
        # Nobody signs: the step passes its due moment, then the appointment.
        await env.sleep(appointment - await env.get_current_time() + timedelta(minutes=1))
        state: TrackingState = await handle.query(DossierWorkflow.tracking)
        assert [s.overdue for s in state.open_steps] == [True]
        assert [a.sequence for a in desk.apologies] == [1]
        assert desk.apologies[0].agency == "commune-committee"
        assert "escalation" in [n.kind for n in desk.notices]
        await approve(handle, "certified-copy:certify", "commune-committee")
        await approve(handle, "certified-copy:return", "one-stop")
        await handle.result()
    assert [a.sequence for a in desk.apologies] == [1]
    assert desk.syncs[-1].apologies == 1


async def test_the_applicant_is_sent_form_02_a_reminder_and_form_05_when_their_time_ends(
    env: WorkflowEnvironment,
) -> None:
    desk = FakeDesk()
    desk.missing["one-stop.check-completeness"] = ["Giấy chứng sinh"]
    async with fake_agencies(env.client, desk) as queue:
        handle = await start(env, queue, "birth-residence-insurance")
        result = await handle.result()  # seven working days pass on the test server
        state: TrackingState = await handle.query(DossierWorkflow.tracking)
    assert result.status is DossierStatus.STOPPED
    [request] = state.supplements
    assert request.answer_by is not None and request.remind_at is not None
    kinds = [(notice.kind, notice.sequence) for _, notice in desk.applicant]
    assert kinds == [
        (ApplicantNoticeKind.SUPPLEMENT_REQUESTED, 1),
        (ApplicantNoticeKind.SUPPLEMENT_REMINDER, 1),
        (ApplicantNoticeKind.PROCESSING_STOPPED, 1),
    ]
    requested, reminded, stopped = desk.applicant
    assert requested[1].missing_documents == ["Giấy chứng sinh"]
    assert requested[1].agency == "one-stop" and requested[1].answer_by == request.answer_by
    # The working day before the time ends, then at its end (to the timer's precision).
    assert abs(reminded[0] - request.remind_at) < timedelta(seconds=1)
    assert abs(stopped[0] - request.answer_by) < timedelta(seconds=1)
