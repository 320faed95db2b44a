"""One scripted officer: it looks at a dossier, does what its policy says, and says when to
look again.

The demo's bots, the tests' officers, the benchmarks' drivers and the simulation's actors all
play the dossier's officers, applicant and payer the same way: read the ``tracking`` query, pick
the acts that are due, carry them out through `clients.dossiers.update_dossier` (updates) or a
signal (the payment). What differs is the policy (approve everything, approve at the last
minute, follow a scenario's fate) and how each caller lets time pass (a real sleep, a skip on
the test server, a durable timer). This module holds the shared part; the callers keep only
their policy and their clock.

An act is the input model of the message that carries it: `DecisionInput` (``decide``),
`SupplementInput` (``provide_supplement``), `WithdrawInput` (``withdraw``), `PaymentInput`
(the ``payment_received`` signal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from clients.dossiers import update_dossier
from domain.clock import LegalClock
from domain.dossier import DossierStatus, OpenStep
from workflows.dossier import (
    OFFICER_KINDS,
    DecisionAction,
    DecisionInput,
    DossierWorkflow,
    PaymentInput,
    SupplementInput,
    TrackingState,
    WithdrawInput,
)

Act = DecisionInput | SupplementInput | WithdrawInput | PaymentInput


async def perform(handle: WorkflowHandle[Any, Any], act: Act) -> None:
    """Send one act to the dossier: an update (retried across continue-as-new) or the signal.

    Raises:
        WorkflowUpdateFailedError: the dossier refused the update (its validator said no).
        TypeError: ``act`` is none of the four input models.
    """
    if isinstance(act, DecisionInput):
        await update_dossier(handle, DossierWorkflow.decide, act)
    elif isinstance(act, SupplementInput):
        await update_dossier(handle, DossierWorkflow.provide_supplement, act)
    elif isinstance(act, WithdrawInput):
        await update_dossier(handle, DossierWorkflow.withdraw, act)
    elif isinstance(act, PaymentInput):
        await handle.signal(DossierWorkflow.payment_received, act)
    else:
        raise TypeError(f"not an act on a dossier: {type(act).__name__}")


def payment_due(state: TrackingState, reference: str) -> PaymentInput | None:
    """The payment of what is still owed, when the dossier waits for its financial obligation."""
    owed = state.amount_due_vnd - state.amount_paid_vnd
    if state.status != DossierStatus.FINANCIAL_OBLIGATION or owed <= 0:
        return None
    return PaymentInput(reference=reference, amount_vnd=owed)


def undecided(state: TrackingState) -> list[OpenStep]:
    """The open officer steps nobody has decided yet, in the tracking's order."""
    return [s for s in state.open_steps if s.kind in OFFICER_KINDS and not s.decided]


@dataclass
class Plan:
    """What a policy wants done now, and when it next wants to look."""

    acts: list[Act] = field(default_factory=list)
    # The next moment the policy has something to do (None: it does not know).
    wake_at: datetime | None = None
    # The dossier is moving by itself (a check running, a step opening): look again shortly
    # and do not let time jump.
    settling: bool = False


class Policy(Protocol):
    """Decides the acts that are due on a dossier in the state read at ``now``."""

    def plan(self, state: TrackingState, now: datetime) -> Plan:
        """The acts due now (in order) and when to look again."""
        ...


@dataclass
class ApproveAll:
    """Pay what is due and approve every open officer step at once.

    ``officer``: the officer id of a step's agency (``officer-<agency>`` by default);
    ``reference``: the payment's reference for the dossier's code.
    """

    officer: Callable[[str], str] = lambda agency: f"officer-{agency}"
    reference: Callable[[str], str] = lambda code: f"PAY-{code}"
    reason: str = ""
    approve: bool = True

    def plan(self, state: TrackingState, now: datetime) -> Plan:
        """The payment (if due), then an approval per undecided officer step."""
        acts: list[Act] = []
        payment = payment_due(state, self.reference(state.dossier_code))
        if payment is not None:
            acts.append(payment)
        for step in undecided(state) if self.approve else []:
            acts.append(
                DecisionInput(
                    step=step.key,
                    agency=step.agency,
                    officer_id=self.officer(step.agency),
                    action=DecisionAction.APPROVE,
                    reason=self.reason,
                )
            )
        return Plan(acts)


@dataclass
class AtPace:
    """Officers who use their whole budget: each approves a minute before the step is due, or
    ``late[key]`` of working time after it; steps ``act_on`` rejects are left alone. The payer
    pays at once."""

    clock: LegalClock
    late: dict[str, timedelta] = field(default_factory=dict)
    act_on: Callable[[str], bool] = lambda key: True
    reference: Callable[[str], str] = lambda code: f"PAY-{code}"

    def target(self, step: OpenStep, due: datetime) -> datetime:
        """When the officer of ``step``, due at ``due``, approves it."""
        if step.key in self.late:
            return self.clock.add(due, self.late[step.key])
        return due - timedelta(minutes=1)

    def plan(self, state: TrackingState, now: datetime) -> Plan:
        """The payment; else, once every step has its due moment, the first approval whose
        moment has come; else the earliest such moment to wake at."""
        payment = payment_due(state, self.reference(state.dossier_code))
        if payment is not None:
            return Plan([payment])
        # Not before the dossier is still: an automated check's successors are about to open,
        # and an officer step without a due moment is still being opened.
        if any(step.kind == "automated_check" for step in state.open_steps) or (
            state.status == DossierStatus.IN_PROGRESS
            and any(step.kind in OFFICER_KINDS and step.due is None for step in state.open_steps)
        ):
            return Plan(settling=True)
        targets = []
        for step in undecided(state):
            if not self.act_on(step.key) or step.due is None:
                continue
            target = self.target(step, step.due)
            if now >= target:
                decision = DecisionInput(
                    step=step.key,
                    agency=step.agency,
                    officer_id=f"officer-{step.agency}",
                    action=DecisionAction.APPROVE,
                )
                return Plan([decision])
            targets.append(target)
        return Plan(wake_at=min(targets) if targets else None)


@dataclass
class Officer:
    """Plays one dossier's officers, applicant and payer through a policy.

    ``think``: seconds (real time) taken before each act; ``tolerate_refusals``: a refused
    update (the step moved on meanwhile) is reported, not raised.
    """

    handle: WorkflowHandle[Any, Any]
    policy: Policy
    think: float = 0.0
    tolerate_refusals: bool = False

    async def look(self) -> TrackingState:
        """The dossier's tracking state now."""
        state: TrackingState = await self.handle.query(DossierWorkflow.tracking)
        return state

    def plan(self, state: TrackingState, now: datetime) -> Plan:
        """What the policy wants done in ``state``."""
        return self.policy.plan(state, now)

    async def carry_out(self, acts: Sequence[Act]) -> list[tuple[Act, bool]]:
        """Each act in turn, after the think time; with whether the dossier took it."""
        done: list[tuple[Act, bool]] = []
        for act in acts:
            if self.think:
                await asyncio.sleep(self.think)
            try:
                await perform(self.handle, act)
            except WorkflowUpdateFailedError:
                if not self.tolerate_refusals:
                    raise
                done.append((act, False))  # the dossier moved on meanwhile; look again
                continue
            done.append((act, True))
        return done
