"""Demo officers, applicants and the payment side: they act on dossiers after short pauses.

Demo only: production officers decide through the agencies' own screens (the API). These bots
approve every open officer step of their agency, pay the financial obligation, and print each
hand-over as the dossier moves, so a new user can watch it in the Temporal Web UI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client, WorkflowUpdateFailedError

from clients.dossiers import update_dossier
from domain.dossier import DossierStatus
from workflows.dossier import (
    OFFICER_KINDS,
    TERMINAL,
    DecisionAction,
    DecisionInput,
    DossierWorkflow,
    PaymentInput,
    TrackingState,
)


async def follow_dossier(
    client: Client,
    code: str,
    say: Callable[[str], None],
    think_seconds: float = 1.5,
    stop_when_waiting_on_calendar: bool = True,
) -> TrackingState:
    """Act as every officer of the dossier until it ends (or only the calendar can move it)."""
    handle = client.get_workflow_handle(code)
    printed = 0
    last_status: str | None = None
    while True:
        state = await handle.query(DossierWorkflow.tracking)
        for row in state.ledger[printed:]:
            verdict = f" [{row.verdict}]" if row.verdict else ""
            say(
                f"{code}  {row.from_agency} -> {', '.join(row.to_agencies)}: "
                f"{row.procedure}:{row.step} {row.result.split(':')[0]}{verdict}"
            )
        printed = len(state.ledger)
        if state.status != last_status:
            say(f"{code}  status {state.status}")
            last_status = state.status
        if state.status in TERMINAL:
            return state
        acted = False
        if state.status == DossierStatus.FINANCIAL_OBLIGATION and (
            state.amount_paid_vnd < state.amount_due_vnd
        ):
            await asyncio.sleep(think_seconds)
            amount = state.amount_due_vnd - state.amount_paid_vnd
            await handle.signal(
                DossierWorkflow.payment_received,
                PaymentInput(reference=f"DEMO-PAY-{code}", amount_vnd=amount),
            )
            say(f"{code}  applicant paid {amount:,} VND")
            acted = True
        for step in state.open_steps:
            if step.kind not in OFFICER_KINDS or step.decided:
                continue
            await asyncio.sleep(think_seconds)
            try:
                await update_dossier(
                    handle,
                    DossierWorkflow.decide,
                    DecisionInput(
                        step=step.key,
                        agency=step.agency,
                        officer_id=f"demo-{step.agency}",
                        action=DecisionAction.APPROVE,
                        reason="đạt yêu cầu",
                    ),
                )
                acted = True
            except WorkflowUpdateFailedError:
                pass  # the step moved on meanwhile; look again
        waiting_on_calendar = [s for s in state.open_steps if s.kind == "public_notice"]
        if not acted and waiting_on_calendar and stop_when_waiting_on_calendar:
            notice = waiting_on_calendar[0]
            say(
                f"{code}  waiting for the public notice at {notice.agency} "
                f"({notice.name_vi}); only the calendar can move it now"
            )
            return state
        if not acted:
            await asyncio.sleep(0.5)
