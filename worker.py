"""Run Temporal workers: the dossier orchestration and every agency's own task queue.

In production each agency runs its own workers (``--agency land-registration --agency tax``);
the demo and a small office run them all in one process. SIGINT/SIGTERM stop polling at once and
let activities already running finish (up to ``--grace`` seconds) before the process exits.

Examples:
    python worker.py                                 # everything
    python worker.py --agency tax                    # only the tax authority's queue
    python worker.py --orchestration --agency one-stop
    python worker.py --outside portal                # only the national portal's relay queue
    python worker.py --outside einvoice              # only the tax authority's e-receipt queue
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from domain.catalog import Catalog, default_catalog
from engine.logs import configure_logging, get_logger
from engine.names import (
    ORCHESTRATION_TASK_QUEUE,
    OUTSIDE_SYSTEMS,
    agency_task_queue,
    outside_task_queue,
)
from engine.settings import SettingsError, get_settings
from engine.temporal import connect, exit_process
from store.db import StoreUnavailable, async_engine, check_connection, session_factory
from workflows import WORKFLOWS

log = get_logger("worker")

# Modules the workflow sandbox takes from the process instead of importing them again for every
# workflow run: the dossier shell itself and the pure domain package it drives. Re-importing the
# shell (its @workflow.defn introspection) was a quarter of a replay's CPU (bench/sandbox.py).
# What the sandbox would have caught in them is caught instead by
# tests/workflows/test_determinism.py (no clock, randomness, environment or I/O in workflows/ and
# domain/) and by the replay tests, which keep the full sandbox.
PASSTHROUGH_MODULES = ("workflows", "domain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the worker."""
    agencies = [agency.code for agency in default_catalog().agencies]
    parser = argparse.ArgumentParser(
        description="Run the dossier workflows and the agencies' activities.",
        epilog="With none of --agency, --outside, --orchestration, everything runs here.",
    )
    parser.add_argument(
        "--agency",
        action="append",
        choices=agencies,
        metavar="CODE",
        help="serve this agency's task queue (repeatable); one of: " + ", ".join(agencies),
    )
    parser.add_argument(
        "--orchestration",
        action="store_true",
        help=f"serve the dossier workflows (task queue {ORCHESTRATION_TASK_QUEUE!r})",
    )
    parser.add_argument(
        "--outside",
        action="append",
        choices=OUTSIDE_SYSTEMS,
        metavar="SYSTEM",
        help="serve an outside system's queue (repeatable): " + ", ".join(OUTSIDE_SYSTEMS),
    )
    parser.add_argument("--address", help="Temporal frontend host:port (default: TEMPORAL_ADDRESS)")
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds in-flight activities get to finish after SIGINT/SIGTERM (default 30)",
    )
    args = parser.parse_args(argv)
    if not args.agency and not args.orchestration and not args.outside:
        args.agency = agencies
        args.outside = list(OUTSIDE_SYSTEMS)
        args.orchestration = True
    return args


def passthrough_runner() -> SandboxedWorkflowRunner:
    """The sandbox with `PASSTHROUGH_MODULES` taken from the process."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_workers(
    client: Client,
    agencies: list[str],
    orchestration: bool,
    grace: timedelta,
    activities: Sequence[Callable[..., Any]],
    orchestration_queue: str = ORCHESTRATION_TASK_QUEUE,
    max_cached_workflows: int = 1000,
    outside: Sequence[str] = (),
) -> list[Worker]:
    """One worker per task queue: agency activities on theirs, an outside system's on its own
    (``outside``: names of `OUTSIDE_SYSTEMS`), workflows on orchestration's.

    ``max_cached_workflows``: open workflows kept in memory (the SDK's default, 1000); one
    evicted must replay its whole history on its next task.
    """
    workers = [
        Worker(
            client,
            task_queue=agency_task_queue(code),
            activities=activities,
            graceful_shutdown_timeout=grace,
        )
        for code in agencies
    ] + [
        Worker(
            client,
            task_queue=outside_task_queue(name),
            activities=activities,
            graceful_shutdown_timeout=grace,
        )
        for name in outside
    ]
    if orchestration:
        # Workflows only: the legal clock is computed in the workflow from its pinned calendar.
        workers.append(
            Worker(
                client,
                task_queue=orchestration_queue,
                workflows=WORKFLOWS,
                workflow_runner=passthrough_runner(),
                graceful_shutdown_timeout=grace,
                max_cached_workflows=max_cached_workflows,
            )
        )
    return workers


def in_process_workers(
    client: Client,
    activities: Sequence[Callable[..., Any]],
    *,
    catalog: Catalog,
    orchestration_queue: str,
    max_cached_workflows: int = 1000,
) -> list[Worker]:
    """Every agency's worker (of ``catalog``), the outside systems' and the orchestration
    worker, all in this process with the same ``activities`` (`activities.build_activities`
    over one registry), stopping within a second: the layout of the tests and the simulation."""
    return build_workers(
        client,
        [agency.code for agency in catalog.agencies],
        True,
        timedelta(seconds=1),
        activities,
        orchestration_queue=orchestration_queue,
        max_cached_workflows=max_cached_workflows,
        outside=OUTSIDE_SYSTEMS,
    )


async def run(args: argparse.Namespace) -> None:
    """Connect, serve until a stop signal, then shut down gracefully."""
    settings = get_settings()
    check_connection(settings.database_url)
    client = await connect(args.address)
    engine = async_engine(settings.database_url)
    activities = build_activities(session_factory(engine))
    workers = build_workers(
        client,
        args.agency or [],
        args.orchestration,
        timedelta(seconds=args.grace),
        activities,
        outside=args.outside or [],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    log.info(
        "worker_started",
        task_queues=[worker.task_queue for worker in workers],
        address=client.service_client.config.target_host,
    )
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if stopped not in done:
        # A worker died on its own (lost server, bad registration): surface its error.
        for task in done:
            task.result()
    log.info("worker_stopping", grace_seconds=args.grace)
    await asyncio.gather(*(worker.shutdown() for worker in workers))
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()
    log.info("worker_stopped")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except StoreUnavailable as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        if "connect" not in str(exc).lower():
            raise
        print(f"worker: cannot reach Temporal: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_process(main())
