"""Record a workflow history for the replay tests: ``python -m tests.record_history NAME``.

Run it after changing a workflow *only* to add a history of the new version beside the old
ones; never regenerate an old file (that would stop proving old executions still replay).
It runs a combined land-and-permit dossier to its end with scripted officers, on the
time-skipping server and a throwaway SQLite registry.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine.temporal import register_search_attributes, test_server_path
from store.migrate import upgrade
from tests.harness import officers_until, running_engine, submit

HISTORIES = Path(__file__).parent / "histories"


async def record_dossier(name: str) -> Path:
    """Run one land-and-permit dossier with a supplement round to its end; write its history."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter, test_server_existing_path=test_server_path()
        ) as env:
            await register_search_attributes(env.client)
            async with running_engine(env.client, "record", url):
                handle = await submit(env, "record", "land-and-permit", code="DONGDA-260302-0001")
                await officers_until(env, handle, lambda s: False, within=120)
                await handle.result()
                history = await handle.fetch_history()
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json())
    return path


if __name__ == "__main__":
    print(asyncio.run(record_dossier(sys.argv[1] if len(sys.argv) > 1 else "dossier-v1")))
