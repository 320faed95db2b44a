"""The dossiers the dev-server benchmarks (chaos, sustained) file, and the driver that plays
their people.

A `Scenario` is one dossier's story: its procedure, its fate (what its applicant and officers
do: approve, refuse, request or hand in a supplement, send back, withdraw; ``late``: received on
paper weeks ago, keyed in now) and when it arrives. `Driver` submits it and plays it to the end
as the scripted officer of `clients.officer` with the `FatePolicy`, through a server that may
be restarting (transport errors are retried, an act whose answer was lost is told apart) and
records what happened in an `Outcome`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from bench.cluster import DESK
from clients.dossiers import allocate_code, start_dossier
from clients.officer import Act, Officer, Plan, perform, undecided
from domain.catalog import Catalog
from domain.dossier import DossierFacts, DossierStatus, SubmittedDocument
from workflows.dossier import (
    TERMINAL,
    DecisionAction,
    DecisionInput,
    SupplementInput,
    TrackingState,
    WithdrawInput,
)

_T = TypeVar("_T")

# What a dossier's applicant and officers do. "late": received on paper weeks ago, keyed in now.
FATES = ("approve", "late", "refuse", "supplement", "incomplete", "withdraw", "send_back")
# procedure -> fate -> the step the fate acts on (None: no particular step).
MIX: dict[str, dict[str, str | None]] = {
    "certified-copy": {
        "approve": None,
        "late": None,
        "refuse": "certify",
        "incomplete": None,  # no supplement allowed: the desk's check refuses it
        "withdraw": "certify",
    },
    "signature-certification": {
        "approve": None,
        "refuse": "certify",
        "incomplete": None,  # no identity paper, no population-database login: refused
        "withdraw": "certify",
    },
    "marital-status-confirmation": {
        "approve": None,
        "late": None,
        "refuse": "sign",
        "supplement": "sign",
        "incomplete": None,  # the desk asks for the missing form; the applicant brings it
    },
    "birth-residence-insurance": {"approve": None, "late": None, "incomplete": None},
    "house-building-permit": {
        "approve": None,
        "late": None,
        "refuse": "appraise",
        "supplement": "appraise",
        "withdraw": "decision",
        "send_back": "decision",
    },
}
RETRIABLE = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, asyncio.TimeoutError)


@dataclass
class Scenario:
    """One dossier's story: its procedure, what its people do, and when it was received."""

    index: int
    procedure: str
    fate: str
    at_step: str | None  # procedure:step the fate acts on
    received_at: datetime
    documents: list[str]
    subject_ref: str | None
    submit_after: float  # seconds into the run
    think: float  # seconds an officer or applicant takes before acting


def build_scenario(
    catalog: Catalog,
    index: int,
    procedure: str,
    fate: str,
    *,
    received_at: datetime,
    documents_on: datetime,
    subject_ref: str,
    submit_after: float,
    think: float,
) -> Scenario:
    """The scenario of dossier ``index``: the required documents on ``documents_on``'s day (one
    short for an ``incomplete`` fate; a signature certification then has no subject either:
    nothing proves who signs, and the desk refuses it) and the step the fate acts on."""
    version = catalog.version_on(procedure, documents_on.date())
    documents = [d.name_vi for d in version.required_documents if not d.optional]
    subject: str | None = subject_ref
    if fate == "incomplete":
        documents = documents[1:]
        if procedure == "signature-certification":
            subject = None  # no VNeID login either: nothing proves who signs
    step = MIX[procedure][fate]
    return Scenario(
        index=index,
        procedure=procedure,
        fate=fate,
        at_step=f"{procedure}:{step}" if step else None,
        received_at=received_at,
        documents=documents,
        subject_ref=subject,
        submit_after=submit_after,
        think=think,
    )


@dataclass
class Outcome:
    """What happened to a dossier as its driver saw it."""

    code: str = ""
    acts: list[tuple[str | None, str]] = field(default_factory=list)  # accepted (step, action)
    refused_by_officer: bool = False
    withdrawn: bool = False
    supplements: int = 0
    refused_fates: set[str] = field(default_factory=set)  # special acts the dossier refused
    ambiguous: int = 0  # acts whose answer was lost and whose retry found them done
    finished: bool = False
    error: str | None = None


async def retry(call: Callable[[], Awaitable[_T]], until: float, pause: float = 0.5) -> _T:
    """Run ``call`` until it does not fail with a transport error (the server may be away)."""
    while True:
        try:
            return await call()
        except RETRIABLE:
            if time.monotonic() > until:
                raise
            await asyncio.sleep(pause)


@dataclass
class FatePolicy:
    """The scenario's people, one act at a time (`clients.officer.Policy`): the applicant
    hands in what a supplement request asks for; the officer of the first undecided step
    approves it, unless it is the step the fate acts on, where the fate's act comes first (once;
    a fate the dossier refused is dropped and the officers carry on)."""

    scenario: Scenario
    outcome: Outcome

    def plan(self, state: TrackingState, now: datetime) -> Plan:
        """The next act the dossier waits for (none: nothing to do yet)."""
        sc, out = self.scenario, self.outcome
        if state.status is DossierStatus.SUPPLEMENT_REQUESTED:
            waiting = [s for s in state.supplements if s.answered_at is None]
            if not waiting:
                return Plan()
            documents = [SubmittedDocument(name_vi=n) for n in waiting[-1].missing_documents]
            return Plan([SupplementInput(documents=documents)])
        for step in undecided(state):
            acted_here = [a for s, a in out.acts if s == step.key]
            special = step.key == sc.at_step and sc.fate not in out.refused_fates
            if special and sc.fate == "withdraw":
                return Plan([WithdrawInput(reason="người nộp rút hồ sơ")])
            action, extra = DecisionAction.APPROVE, dict[str, Any]()
            if not special:
                pass
            elif sc.fate == "refuse":
                action = DecisionAction.REFUSE
                extra = {"reason": "hồ sơ không đáp ứng điều kiện theo quy định"}
            elif sc.fate == "supplement" and not out.supplements:
                if DecisionAction.REQUEST_SUPPLEMENT not in acted_here:
                    action = DecisionAction.REQUEST_SUPPLEMENT
                    extra = {
                        "reason": "cần bổ sung bản sao giấy tờ",
                        "missing_documents": ["Bản sao giấy tờ chứng minh nhân thân"],
                    }
            elif sc.fate == "send_back" and DecisionAction.SEND_BACK not in acted_here:
                target = f"{sc.procedure}:appraise"
                action = DecisionAction.SEND_BACK
                extra = {"reason": "thẩm định lại hiện trạng", "send_back_to": target}
            decision = DecisionInput(
                step=step.key,
                agency=step.agency,
                officer_id=f"chaos-{step.agency}",
                action=action,
                **extra,
            )
            return Plan([decision])
        return Plan()

    def think(self, act: Act) -> float:
        """Seconds the act takes to prepare: the applicant goes home for the papers."""
        return self.scenario.think * (2 if isinstance(act, SupplementInput) else 1)

    def settled(self, act: Act, taken: bool) -> None:
        """Record whether the dossier took ``act``."""
        sc, out = self.scenario, self.outcome
        if isinstance(act, SupplementInput):
            if taken:
                out.acts.append((None, "provide_supplement"))
                out.supplements += 1
        elif isinstance(act, WithdrawInput):
            if taken:
                out.acts.append((None, "withdraw"))
                out.withdrawn = True
            else:
                out.refused_fates.add(sc.fate)  # the officers carry on instead
        elif isinstance(act, DecisionInput):
            if taken:
                out.acts.append((act.step, act.action))
                out.refused_by_officer |= act.action is DecisionAction.REFUSE
            elif act.action is not DecisionAction.APPROVE:
                out.refused_fates.add(sc.fate)  # the dossier would not take it: approve next


class Driver:
    """Plays a dossier's applicant and officers until it closes (or the run's bound)."""

    def __init__(self, client: Client, database_url: str, scenario: Scenario, until: float):
        self.client = client
        self.database_url = database_url
        self.scenario = scenario
        self.until = until
        self.outcome = Outcome()
        self.policy = FatePolicy(scenario, self.outcome)

    async def run(self, started: float) -> Outcome:
        """Submit, then act until the dossier is closed."""
        sc = self.scenario
        try:
            await asyncio.sleep(max(0.0, started + sc.submit_after - time.monotonic()))
            code = await allocate_code(self.database_url, DESK, sc.received_at)
            self.outcome.code = code
            await retry(self._start, self.until)
            officer = Officer(self.client.get_workflow_handle(code), self.policy)
            while time.monotonic() < self.until:
                state = await retry(officer.look, self.until)
                if state.status in TERMINAL:
                    await self._wait_closed(officer.handle)
                    break
                if await self._act_on(officer, state):
                    continue
                await asyncio.sleep(0.3)
        except Exception as exc:  # reported as a discrepancy, never hidden
            self.outcome.error = f"{type(exc).__name__}: {exc}"
        return self.outcome

    async def _wait_closed(self, handle: WorkflowHandle[Any, Any]) -> None:
        """A terminal status is not the end: the last registry sync and letters still run."""
        while time.monotonic() < self.until:
            description = await retry(handle.describe, self.until)
            if description.status is not WorkflowExecutionStatus.RUNNING:
                self.outcome.finished = True
                return
            await asyncio.sleep(0.5)

    async def _start(self) -> None:
        sc = self.scenario
        # The first attempt may have reached the server before the connection broke.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start_dossier(
                self.client,
                code=self.outcome.code,
                desk_code=DESK,
                procedure_code=sc.procedure,
                received_at=sc.received_at,
                facts=DossierFacts(
                    documents=[SubmittedDocument(name_vi=name) for name in sc.documents],
                    subject_ref=sc.subject_ref,
                ),
            )

    async def _act_on(self, officer: Officer, state: TrackingState) -> bool:
        """Do the next thing the dossier waits for; True if something was done."""
        plan = officer.plan(state, datetime.now().astimezone())
        if not plan.acts:
            return False
        [act] = plan.acts
        await asyncio.sleep(self.policy.think(act))
        self.policy.settled(act, await self._act(officer.handle, act))
        return True

    async def _act(self, handle: WorkflowHandle[Any, Any], act: Act) -> bool:
        """Send the act through `clients.officer.perform`; True if the dossier took it.

        When the answer is lost (server restarting), the same act is sent again: if that is
        refused, the first one was taken (this driver is the dossier's only actor).
        """
        lost = False
        while time.monotonic() < self.until:
            try:
                await perform(handle, act)
            except WorkflowUpdateFailedError as err:
                if lost:
                    self.outcome.ambiguous += 1
                    return True
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type == "NotReady":
                    await asyncio.sleep(0.3)
                    continue
                return False  # the dossier moved on meanwhile; look again
            except RETRIABLE:
                lost = True
                await asyncio.sleep(1.0)
                continue
            return True
        return False
