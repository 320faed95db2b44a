"""Record a workflow history for the replay tests: ``python -m tests.record_history NAME``.

Run it after changing a workflow *only* to add a history of the new version beside the old
ones; never regenerate an old file (that would stop proving old executions still replay).
It runs a combined land-and-permit dossier to its end with scripted officers, on the
time-skipping server and a throwaway SQLite registry; the result is sent home by post, and
the simulated carrier finds nobody home on the first attempt. With ``--withdrawn`` it records a
land dossier the applicant withdraws mid-way instead (the agencies holding it are told).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.post import SimulatedPostOffice
from domain.dossier import DossierFacts
from engine.crypto import KeyRing, use_key_ring
from engine.temporal import register_search_attributes, test_server_path
from store.db import async_engine, session_factory
from store.letters import save_contact
from store.migrate import upgrade
from store.models import DeliveryOutcome
from store.seed import DEMO_PARCEL
from tests.harness import all_documents, officers_until, running_engine, submit
from workflows.dossier import DossierWorkflow, WithdrawInput

HISTORIES = Path(__file__).parent / "histories"


async def record_dossier(name: str, withdrawn: bool = False) -> Path:
    """Run one land-and-permit dossier to its end, delivered home; write its history."""
    code = "DONGDA-260302-0001"
    received = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as scratch, use_key_ring(KeyRing.generate("record")):
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        engine = async_engine(url)
        async with session_factory(engine)() as session:
            await save_contact(session, code, full_name="Nguyễn Văn Mẫu", address="Số 1 Mẫu")
            await session.commit()
        await engine.dispose()
        # Without the payload codec: a committed history must replay in any test session,
        # whatever its keys (the codec passes clear payloads through), and it holds no
        # personal data, only the scripted sample dossier.
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, test_server_existing_path=test_server_path()
        ) as env:
            await register_search_attributes(env.client)
            post = SimulatedPostOffice(script=[DeliveryOutcome.RECIPIENT_ABSENT])
            async with running_engine(env.client, "record", url, post=post):
                if withdrawn:
                    handle = await submit(env, "record", "land-first-certificate", code=code)
                    await officers_until(env, handle, lambda s: len(s.ledger) >= 2, within=120)
                    await handle.execute_update(
                        DossierWorkflow.withdraw, WithdrawInput(reason="bán đất")
                    )
                    await handle.result()
                    history = await handle.fetch_history()
                    return _write(name, history)
                handle = await submit(
                    env,
                    "record",
                    "land-and-permit",
                    code=code,
                    facts=DossierFacts(
                        parcel=DEMO_PARCEL,
                        documents=all_documents("land-and-permit", received),
                        home_delivery=True,
                    ),
                )
                await officers_until(env, handle, lambda s: False, within=120)
                await handle.result()
                history = await handle.fetch_history()
    return _write(name, history)


def _write(name: str, history: WorkflowHistory) -> Path:
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json())
    return path


if __name__ == "__main__":
    arguments = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    print(
        asyncio.run(
            record_dossier(arguments[0] if arguments else "dossier-v1", "--withdrawn" in sys.argv)
        )
    )
