"""Demo officers, applicants and the payment side: they act on dossiers after short pauses.

Demo only: production officers decide through the agencies' own screens (the API). These bots
(`clients.officer` with the `ApproveAll` policy) approve every open officer step of their
agency, pay the financial obligation, and print each hand-over as the dossier moves, so a new
user can watch it in the Temporal Web UI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client

from clients.officer import ApproveAll, Officer
from workflows.dossier import TERMINAL, PaymentInput, TrackingState

DEMO_OFFICERS = ApproveAll(
    officer=lambda agency: f"demo-{agency}",
    reference=lambda code: f"DEMO-PAY-{code}",
    reason="đạt yêu cầu",
)


async def follow_dossier(
    client: Client,
    code: str,
    say: Callable[[str], None],
    think_seconds: float = 1.5,
    stop_when_waiting_on_calendar: bool = True,
) -> TrackingState:
    """Act as every officer of the dossier until it ends (or only the calendar can move it)."""
    officer = Officer(
        client.get_workflow_handle(code),
        DEMO_OFFICERS,
        think=think_seconds,
        tolerate_refusals=True,  # the step moved on meanwhile; look again
    )
    printed = 0
    last_status: str | None = None
    while True:
        state = await officer.look()
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
        for act in officer.plan(state, datetime.now(UTC)).acts:
            [(_, taken)] = await officer.carry_out([act])
            if isinstance(act, PaymentInput):
                say(f"{code}  applicant paid {act.amount_vnd:,} VND")
            acted |= taken
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
