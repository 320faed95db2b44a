"""Engine overhead: combined dossiers per second against bare Temporal of the same shape.

Usage::

    .venv/bin/python -m bench.overhead [--dossiers N] [--rounds R] [--poll S]
        [--round-bound S] [--database-url URL] [--json]

Everything it uses is its own and goes away at the end: a Temporal dev server in memory (with
the project's search attributes and ``history.transferProcessorMaxPollRPS`` and
``history.timerProcessorMaxPollRPS`` raised to 1000), a PostgreSQL database
``lienthong_overhead_<random>`` created on the server ``--database-url`` names (default: the
local trust-auth server), migrated to head and seeded with the reference registers, a temporary
copy of the catalog, and two worker processes, one per side and laid out alike: a worker per
agency's task queue and one for the workflows with their local activities, in one process, as
``worker.py`` with no arguments runs them (the drivers run in this process, apart from both).

The engine side files combined ``land-and-permit`` dossiers (land-use right certificate +
building permit for the demo parcel, every required document, the result collected at the
desk) and plays their officers and payer: a driver per dossier polls ``DossierWorkflow.tracking``
every ``--poll`` seconds, approves every open officer step through
``clients.dossiers.update_dossier`` and signals the tax payment as soon as it is due. The catalog
copy has no public-notice step: the catalog allows no notice shorter than one calendar day, a
real durable timer that cannot pass in a benchmark; every other step, the payment, the
cross-procedure dependency, the registry, the agency notices, the payload codec and the deadline
timers run as in production.

The bare side (`bench.bare`) is a workflow that asks Temporal for what one such dossier asked
for, counted from a history of this very run: as many no-op activities per task queue, local
activities, fired and cancelled timers, child workflows, updates and signals, the last two sent
by the same kind of driver. A warm-up dossier of each side runs first: the engine's gives the
first shape, and the bare one's history is counted the same way to show the shapes match.
After each measured engine round the bare side takes the shape of that round's median dossier
(under load the engine coalesces registry syncs and re-arms its deadline timer less often).

Each of ``--rounds`` rounds runs both sides one after the other (engine first in odd rounds,
bare first in even ones), each starting ``--dossiers`` workflows at once and timing from the
first start to the last close; it also reads the CPU seconds each part used (worker process,
dev server, this process, the registry's PostgreSQL backends). It prints the rates of every
round, their medians, the ratio engine/bare (target: 0.9 or more) and the CPU per workflow.
A query that fails or an update whose answer is lost is tried again at the next poll and
counted in the output; a workflow that fails or is still open after ``--round-bound`` seconds
stops the run (exit 1), keeping its history, the data key and the logs. Nothing here asserts a
time. Linux only (CPU times come from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy as copying
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import temporalio
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from bench.bare import ORCHESTRATION_QUEUE as BARE_ORCHESTRATION_QUEUE
from bench.bare import BareTracking, BareWorkflow, Shape, build_bare_workers, count_shape
from bench.cluster import (
    DESK,
    Child,
    machine,
    narrator,
    pairs,
    process_cpu,
    scratch_stack,
    serve_until_stopped,
    wait_for_server,
    workspace,
)
from clients.dossiers import start_dossier
from clients.officer import Act as OfficerAct
from clients.officer import ApproveAll, Officer, perform
from domain.catalog import Catalog, load_catalog
from domain.clock import VN_TZ
from domain.dossier import DossierFacts, SubmittedDocument
from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.names import agency_task_queue
from engine.settings import REPO_ROOT, mask_url
from engine.temporal import connect_config, data_converter, exit_process, quiet_runtime
from store.db import async_engine, session_factory
from store.dossier_codes import allocate_dossier_code
from store.seed import DEMO_PARCEL, seed_reference_data
from workflows.dossier import (
    TERMINAL,
    DossierResult,
)

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PROCEDURE = "land-and-permit"
# The notice the bench catalog leaves out: (procedure file, step id).
NOTICE = ("land-first-certificate", "post-notice")
READY = "overhead-workers-polling"
BENCH_OFFICERS = ApproveAll(officer=lambda agency: f"bench-{agency}")
Act = Callable[[], Awaitable[object]]
# What a driver tries again at its next poll: a query that failed (the worker could not replay
# the workflow), an update whose answer did not come in time, a transport error.
RETRIED = (WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError)


class BenchError(RuntimeError):
    """The benchmark could not set itself up or a dossier went wrong; printed as one line."""


class WorkflowBroke(BenchError):
    """A workflow of a round failed, or its driver could not talk to it."""

    def __init__(self, workflow_id: str, cause: BaseException) -> None:
        super().__init__(f"{workflow_id}: {type(cause).__name__}: {cause}")
        self.workflow_id = workflow_id


say = narrator("overhead")


# ---- the catalog copy -----------------------------------------------------------------------


def _drop_step(steps: list[dict[str, Any]], step_id: str) -> None:
    """Remove a step from a version's raw steps; its successors inherit its dependencies."""
    [dropped] = [step for step in steps if step["id"] == step_id]
    steps.remove(dropped)
    for step in steps:
        depends_on = step.get("depends_on", [])
        if step_id in depends_on:
            kept = [d for d in depends_on if d != step_id]
            step["depends_on"] = kept + list(dropped.get("depends_on", []))


def bench_catalog(root: Path) -> Path:
    """A copy of the catalog under ``root`` without the public notice; validated on load.

    The step after the notice depends on what the notice depended on, so the graph keeps its
    order; the notice's time was never counted toward the limit, so every budget stays valid.
    """
    copy = root / "catalog"
    shutil.copytree(REPO_ROOT / "catalog", copy)
    path = copy / "procedures" / f"{NOTICE[0]}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for version in data["versions"]:
        # Versions may share their steps through a YAML anchor: each gets its own list.
        version["steps"] = copying.deepcopy(version["steps"])
        _drop_step(version["steps"], NOTICE[1])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_catalog(copy)  # CatalogError if the copy broke a rule
    return copy


def required_documents(catalog: Catalog, procedure: str, day: datetime) -> list[SubmittedDocument]:
    """Every non-optional document of the bundle's components on that day."""
    return [
        SubmittedDocument(name_vi=document.name_vi)
        for version in catalog.components_on(procedure, day.date())
        for document in version.required_documents
        if not document.optional
    ]


# ---- the worker processes -------------------------------------------------------------------


async def serve(kind: str, address: str, catalog_dir: Path) -> None:
    """A worker process of one side, with the same layout on both sides: a worker per agency's
    task queue and one for the workflows and their local activities."""
    catalog = load_catalog(catalog_dir)
    agencies = [agency.code for agency in catalog.agencies]
    if kind == "bare":
        await _serve_bare(address, agencies)
    else:
        await _serve_engine(address, catalog, agencies)


async def _serve_bare(address: str, agencies: Sequence[str]) -> None:
    """`bench.bare.build_bare_workers` on the agencies' (prefixed) queues; plain pydantic
    payloads."""
    client = await Client.connect(**connect_config(address), data_converter=pydantic_data_converter)
    queues = [agency_task_queue(code) for code in agencies]
    await serve_until_stopped(build_bare_workers(client, queues), READY)


async def _serve_engine(address: str, catalog: Catalog, agencies: Sequence[str]) -> None:
    """`worker.build_workers` over `activities.build_activities` with the bench catalog and the
    registry at ``DATABASE_URL``: what ``worker.py`` with no arguments runs."""
    from activities import build_activities
    from engine.logs import configure_logging
    from engine.settings import get_settings
    from worker import build_workers

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    client = await Client.connect(**connect_config(address), data_converter=data_converter())
    engine = async_engine(settings.database_url)
    try:
        activities = build_activities(session_factory(engine), catalog=catalog, settings=settings)
        workers = build_workers(client, list(agencies), True, timedelta(seconds=5), activities)
        await serve_until_stopped(workers, READY)
    finally:
        await engine.dispose()


# ---- the setup ------------------------------------------------------------------------------


class Setup:
    """The dev server, the registry database and the two worker processes of one run."""

    def __init__(self, root: Path, admin_url: str, key_spec: str) -> None:
        self.root = root
        self.admin_url = admin_url
        stack = scratch_stack(root, admin_url, "overhead", key_spec)
        self.db, self.address, self.server = stack.db, stack.address, stack.server
        self.db_name, self.database_url = self.db.name, self.db.url
        self.catalog_dir = bench_catalog(root)
        self.catalog = load_catalog(self.catalog_dir)
        env = stack.env
        self.workers = [
            Child(
                f"{kind} workers",
                [
                    sys.executable,
                    "-m",
                    "bench.overhead",
                    "--serve",
                    kind,
                    "--address",
                    self.address,
                    "--catalog",
                    str(self.catalog_dir),
                ],
                root / f"worker-{kind}.log",
                env,
                ready_marker=READY,
            )
            for kind in ("engine", "bare")
        ]

    def create_database(self) -> None:
        """Create the registry database and migrate it to head."""
        self.db.create(BenchError)

    async def seed(self) -> None:
        """The reference registers (the cadastral book, the land price table) the checks read."""
        engine = async_engine(self.database_url)
        try:
            await seed_reference_data(session_factory(engine))
        finally:
            await engine.dispose()

    def drop_database(self) -> None:
        """Drop the registry database (whoever is still connected)."""
        self.db.drop()

    async def start_server(self) -> None:
        """Start the dev server and wait until it answers."""
        self.server.start()
        await wait_for_server(self.server, self.address, BenchError)

    async def start_workers(self) -> None:
        """Start both worker processes and wait until they poll."""
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            if not await worker.wait_ready(0, within=120):
                raise BenchError(f"the {worker.name} did not start; see {worker.log}")

    def stop_all(self) -> None:
        """Stop the workers, then the server."""
        for worker in self.workers:
            worker.stop(grace=15)
        self.server.stop(grace=20)


@contextlib.asynccontextmanager
async def running(admin_url: str, ring_spec: str) -> AsyncIterator[Setup]:
    """Everything the run needs, up; all of it gone afterwards, but for the temporary directory
    (logs, the history of a workflow that broke) when the run failed."""
    with workspace("overhead", False, say) as space:
        root = space.root
        # The throwaway data key, kept with the logs so that a kept history can be replayed.
        descriptor = os.open(root / "data-keys", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(ring_spec + "\n")
        setup = Setup(root, admin_url, ring_spec)
        failed = True
        try:
            say(f"database {setup.db_name} on {mask_url(admin_url)}")
            setup.create_database()
            await setup.seed()
            await setup.start_server()
            await setup.start_workers()
            say(f"Temporal at {setup.address}; engine and bare workers polling")
            yield setup
            failed = False
        finally:
            setup.stop_all()
            setup.drop_database()
            space.keep(failed)


async def save_history(client: Client, workflow_id: str, folder: Path) -> Path:
    """Write a workflow's history as JSON under ``folder`` (evidence of a broken run)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    path = folder / f"{workflow_id}.json"
    await asyncio.to_thread(path.write_text, history.to_json(), encoding="utf-8")
    return path


# ---- CPU time ------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used by each part of the run: the worker processes, the dev server, this
    process (the drivers and clients) and the PostgreSQL backends of the registry database
    (when the server runs on this machine).

    Process readings are cumulative; `used` subtracts two. Backends come and go with the
    connection pools, so `watch` looks at them every ``BACKEND_LOOK`` seconds during a round and
    keeps each one's last reading: a backend's time after the last look is lost.
    """

    BACKEND_LOOK = 0.25

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.admin = create_engine(setup.admin_url, poolclass=NullPool)

    def backends(self) -> dict[int, float]:
        """CPU seconds of each backend connected to the registry database now."""
        try:
            with self.admin.connect() as connection:
                pids = connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": self.setup.db_name},
                ).scalars()
                return {pid: process_cpu(pid) for pid in pids}
        except Exception:  # a remote server, or a backend gone meanwhile: not measured
            return {}

    async def watch(self, stop: asyncio.Event) -> float:
        """CPU seconds the registry's backends used from now until ``stop`` is set."""
        start = await asyncio.to_thread(self.backends)
        last = dict(start)
        while True:
            last.update(await asyncio.to_thread(self.backends))
            if stop.is_set():
                return sum(cpu - start.get(pid, 0.0) for pid, cpu in last.items())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.BACKEND_LOOK)

    def sample(self) -> dict[str, float]:
        """The cumulative readings of the processes now."""
        engine_worker, bare_worker = self.setup.workers
        own = os.times()
        return {
            "engine worker process": process_cpu(engine_worker.pid),
            "bare worker process": process_cpu(bare_worker.pid),
            "Temporal dev server": process_cpu(self.setup.server.pid),
            "drivers and clients (this process)": own.user + own.system,
        }

    @staticmethod
    def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds per process between two samples."""
        return {key: after[key] - before[key] for key in after}

    def close(self) -> None:
        """Release the admin engine."""
        self.admin.dispose()


# ---- the two sides and their driver ---------------------------------------------------------


class Side(Protocol):
    """One side of the comparison: how to start a workflow and what its driver does next."""

    name: str
    client: Client
    trouble: Counter[str]  # what went wrong on the way, by kind (all of it retried)

    async def prepare(self, count: int) -> None:
        """Anything a round needs before its clock starts."""

    async def start(self, index: int) -> WorkflowHandle[Any, Any]:
        """Start the ``index``-th workflow of the round."""

    async def acts(self, handle: WorkflowHandle[Any, Any]) -> list[Act]:
        """The acts the workflow waits for now (none: nothing to do yet)."""


@dataclass
class EngineSide:
    """Combined dossiers on the engine, with officers who approve and a payer who pays."""

    client: Client
    catalog: Catalog
    database_url: str
    name: str = "engine"
    codes: list[str] = field(default_factory=list)
    trouble: Counter[str] = field(default_factory=Counter)

    async def prepare(self, count: int) -> None:
        """Allocate the round's dossier codes in the registry (before the clock starts)."""
        today = datetime.now(VN_TZ).date()
        engine = async_engine(self.database_url)
        try:
            async with session_factory(engine)() as session:
                self.codes = [
                    await allocate_dossier_code(session, DESK, today) for _ in range(count)
                ]
                await session.commit()
        finally:
            await engine.dispose()

    async def start(self, index: int) -> WorkflowHandle[Any, Any]:
        """File the dossier, received now."""
        received = datetime.now(VN_TZ)
        return await start_dossier(
            self.client,
            code=self.codes[index],
            desk_code=DESK,
            procedure_code=PROCEDURE,
            received_at=received,
            facts=DossierFacts(
                parcel=DEMO_PARCEL,
                documents=required_documents(self.catalog, PROCEDURE, received),
            ),
        )

    async def acts(self, handle: WorkflowHandle[Any, Any]) -> list[Act]:
        """Pay what is due; approve every open officer step not yet decided
        (`clients.officer.ApproveAll`)."""
        officer = Officer(handle, BENCH_OFFICERS)
        state = await officer.look()
        if state.status in TERMINAL:
            return []
        plan = officer.plan(state, datetime.now(VN_TZ))
        return [functools.partial(self._perform, handle, act) for act in plan.acts]

    async def _perform(self, handle: WorkflowHandle[Any, Any], act: OfficerAct) -> None:
        try:
            await perform(handle, act)
        except WorkflowUpdateFailedError:
            self.trouble["act refused"] += 1  # e.g. still being received: polled again


@dataclass
class BareSide:
    """`bench.bare.BareWorkflow` of the engine dossier's shape, with the same driver."""

    client: Client
    shape: Shape
    model: str  # the engine dossier whose shape this is
    name: str = "bare"
    run_id: str = ""
    trouble: Counter[str] = field(default_factory=Counter)

    async def prepare(self, count: int) -> None:
        """A fresh prefix for the round's workflow ids."""
        self.run_id = uuid.uuid4().hex[:8]

    async def start(self, index: int) -> WorkflowHandle[Any, Any]:
        """Start a bare workflow of the shape."""
        return await self.client.start_workflow(
            BareWorkflow.run,
            self.shape,
            id=f"bare-{self.run_id}-{index:04d}",
            task_queue=BARE_ORCHESTRATION_QUEUE,
        )

    async def acts(self, handle: WorkflowHandle[Any, Any]) -> list[Act]:
        """The act the workflow (or one of its children) waits for."""
        tracking: BareTracking = await handle.query(BareWorkflow.tracking)
        acts = self._acts_of(handle, tracking)
        for child_id in tracking.children:
            child = self.client.get_workflow_handle(child_id)
            acts += self._acts_of(child, await child.query(BareWorkflow.tracking))
        return acts

    def _acts_of(self, handle: WorkflowHandle[Any, Any], tracking: BareTracking) -> list[Act]:
        acts: list[Act] = []
        for act in tracking.open:
            if act.kind == "signal":
                acts.append(functools.partial(handle.signal, BareWorkflow.pay, act.key))
            else:
                acts.append(functools.partial(self._update, handle, act.key))
        return acts

    async def _update(self, handle: WorkflowHandle[Any, Any], key: str) -> None:
        try:
            await handle.execute_update(BareWorkflow.act, key)
        except WorkflowUpdateFailedError:
            self.trouble["act refused"] += 1


def trouble_kind(exc: BaseException) -> str:
    """A short name for what a driver retried, grouping alike failures."""
    if isinstance(exc, WorkflowQueryFailedError):
        message = str(exc)
        if "Nondeterminism" in message:
            return "query failed: the worker's replay of the history was nondeterministic"
        if "Encoded failure" in message:
            return "query failed: the worker's replay failed (message encrypted by the codec)"
        return f"query failed: {message.splitlines()[0][:80] if message else '?'}"
    return type(exc).__name__


async def drive(side: Side, handle: WorkflowHandle[Any, Any], poll: float, until: float) -> None:
    """Do whatever the workflow waits for until it closes; raise if it failed or is still open
    at ``until`` (monotonic). A failed query or an update whose answer did not come is counted
    in ``side.trouble`` and tried again at the next poll."""
    closed = asyncio.ensure_future(handle.result())
    last: BaseException | None = None
    try:
        while not closed.done():
            if time.monotonic() > until:
                raise TimeoutError(f"still open at the round's bound; last trouble: {last!r}")
            try:
                acts = await side.acts(handle)
                for act in acts:
                    await act()
            except RETRIED as exc:
                side.trouble[trouble_kind(exc)] += 1
                last, acts = exc, []
            if not acts:
                await asyncio.wait({closed}, timeout=poll)
        closed.result()
    except Exception as exc:
        closed.cancel()
        raise WorkflowBroke(handle.id, exc) from exc


@dataclass(frozen=True)
class RoundResult:
    """One side's round: how many closed, in how long."""

    side: str
    dossiers: int
    seconds: float

    @property
    def rate(self) -> float:
        """Workflows closed per second, first start to last close."""
        return self.dossiers / self.seconds

    def as_dict(self) -> dict[str, Any]:
        """The round as the report shows it."""
        return {
            "side": self.side,
            "dossiers": self.dossiers,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 3),
        }


async def run_round(
    side: Side, count: int, poll: float, bound: float
) -> tuple[RoundResult, list[str]]:
    """Start ``count`` workflows at once, drive them all to their close (within ``bound``
    seconds, or `WorkflowBroke`); time it.

    Returns:
        The round's result and the workflow ids.
    """
    await side.prepare(count)
    started = time.monotonic()
    handles = await asyncio.gather(*(side.start(index) for index in range(count)))
    until = started + bound
    await asyncio.gather(*(drive(side, handle, poll, until) for handle in handles))
    seconds = time.monotonic() - started
    return RoundResult(side.name, count, seconds), [handle.id for handle in handles]


# ---- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The run's sizes."""

    dossiers: int
    rounds: int
    poll: float
    bound: float
    admin_url: str
    json: bool = False


@dataclass
class Report:
    """What the run measured."""

    command: str
    machine: dict[str, Any]
    engine_dossier: str
    workers: str
    engine_shape: dict[str, int] = field(default_factory=dict)
    bare_shape: dict[str, int] = field(default_factory=dict)
    engine_sizes: dict[str, int] = field(default_factory=dict)
    bare_sizes: dict[str, int] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    trouble: dict[str, dict[str, int]] = field(default_factory=dict)
    ranges: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # last round

    def medians(self) -> dict[str, float]:
        """The median rate of each side."""
        return {
            side: statistics.median(r["rate"] for r in self.rounds if r["side"] == side)
            for side in ("engine", "bare")
        }

    def cpu_medians(self) -> dict[str, dict[str, float]]:
        """Per side, the median over rounds of each part's CPU seconds per workflow, and their
        total."""
        medians: dict[str, dict[str, float]] = {}
        for side in ("engine", "bare"):
            rows = [r["cpu_per_workflow"] for r in self.rounds if r["side"] == side]
            parts = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            parts["total"] = statistics.median(sum(row.values()) for row in rows)
            medians[side] = {key: round(value, 4) for key, value in parts.items()}
        return medians


def machine_and_sdk() -> dict[str, Any]:
    """Cores, CPU model, Python and SDK versions of this machine."""
    return {
        **machine(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "temporalio": temporalio.__version__,
        "platform": platform.platform(),
    }


async def warm_up(
    engine: EngineSide, bare_client: Client, options: Options, report: Report
) -> BareSide:
    """One dossier of each side, unmeasured: workers warm, and the shape to mirror counted."""
    _, [code] = await run_round(engine, 1, options.poll, options.bound)
    shape, sizes = await count_shape(engine.client, code)
    report.engine_shape, report.engine_sizes = shape.totals(), dict(sizes)
    bare = BareSide(bare_client, shape, model=code)
    _, [bare_id] = await run_round(bare, 1, options.poll, options.bound)
    bare_shape, bare_sizes = await count_shape(bare_client, bare_id)
    report.bare_shape, report.bare_sizes = bare_shape.totals(), dict(bare_sizes)
    return bare


async def statuses(client: Client, codes: Sequence[str]) -> Counter[str]:
    """How the dossiers ended."""
    ended: Counter[str] = Counter()
    for code in codes:
        result = await client.get_workflow_handle(code, result_type=DossierResult).result()
        ended[str(result.status)] += 1
    return ended


@dataclass(frozen=True)
class Counted:
    """One closed workflow's shape and sizes."""

    workflow_id: str
    shape: Shape
    sizes: dict[str, int]

    def row(self) -> dict[str, int]:
        """Every count of the workflow, flat."""
        return {**self.shape.totals(), **self.sizes}


async def count_all(client: Client, ids: Sequence[str]) -> list[Counted]:
    """The shapes of a round's workflows."""
    counted = []
    for workflow_id in ids:
        shape, sizes = await count_shape(client, workflow_id)
        counted.append(Counted(workflow_id, shape, dict(sizes)))
    return counted


def median_dossier(counted: Sequence[Counted]) -> Counted:
    """The workflow of median size (events, then activities): the shape the next bare round
    mirrors. Under load the engine coalesces registry syncs and re-arms its deadline timer
    less often, so a dossier of the round just measured is a truer model than the warm-up's."""
    ordered = sorted(counted, key=lambda c: (c.sizes["events"], c.row()["activities"]))
    return ordered[len(ordered) // 2]


def ranges(counted: Sequence[Counted]) -> dict[str, tuple[int, int]]:
    """Each count's lowest and highest value over a round's workflows."""
    rows = [c.row() for c in counted]
    keys = sorted({key for row in rows for key in row})
    return {
        key: (min(r.get(key, 0) for r in rows), max(r.get(key, 0) for r in rows)) for key in keys
    }


async def measure(options: Options, report: Report) -> None:
    """Set up, warm up, run the rounds; fills ``report``."""
    spec = new_key_spec("overhead")
    ring = KeyRing.from_spec(spec)
    with use_key_ring(ring):
        async with running(options.admin_url, spec) as setup:
            connect = connect_config(setup.address)
            engine_client = await Client.connect(
                **connect, data_converter=data_converter(ring), runtime=quiet_runtime()
            )
            bare_client = await Client.connect(
                **connect, data_converter=pydantic_data_converter, runtime=quiet_runtime()
            )
            engine = EngineSide(engine_client, setup.catalog, setup.database_url)
            meter = CpuMeter(setup)
            try:
                await _measure(options, report, engine, bare_client, meter)
            except WorkflowBroke as exc:
                client = engine_client if exc.workflow_id.startswith(DESK) else bare_client
                saved = await save_history(client, exc.workflow_id, setup.root)
                raise BenchError(f"{exc} (history: {saved})") from exc
            finally:
                meter.close()


async def measured_round(
    side: Side, options: Options, meter: CpuMeter
) -> tuple[RoundResult, list[str], dict[str, float]]:
    """`run_round` with the CPU seconds each part used, per workflow (the side's own worker
    process only)."""
    stop = asyncio.Event()
    backends = asyncio.create_task(meter.watch(stop))
    before = await asyncio.to_thread(meter.sample)
    try:
        result, ids = await run_round(side, options.dossiers, options.poll, options.bound)
    finally:
        stop.set()
        database = await backends
    spent = CpuMeter.used(before, await asyncio.to_thread(meter.sample))
    other = "bare" if side.name == "engine" else "engine"
    spent.pop(f"{other} worker process")
    spent["worker process"] = spent.pop(f"{side.name} worker process")
    spent["PostgreSQL backends (registry)"] = database
    return result, ids, {key: round(value / result.dossiers, 4) for key, value in spent.items()}


async def _measure(
    options: Options, report: Report, engine: EngineSide, bare_client: Client, meter: CpuMeter
) -> None:
    bare = await warm_up(engine, bare_client, options, report)
    say(f"shape counted; {options.rounds} rounds of {options.dossiers} each")
    ended: Counter[str] = Counter()
    for number in range(1, options.rounds + 1):
        order: list[Side] = [engine, bare] if number % 2 else [bare, engine]
        for side in order:
            mirrored = bare.model
            result, ids, cpu = await measured_round(side, options, meter)
            row: dict[str, Any] = {"round": number, **result.as_dict(), "cpu_per_workflow": cpu}
            counted = await count_all(side.client, ids)
            report.ranges[side.name] = ranges(counted)
            if side is engine:
                ended += await statuses(engine.client, ids)
                model = median_dossier(counted)
                bare.shape, bare.model = model.shape, model.workflow_id
            else:
                row["mirrors"] = mirrored
            report.rounds.append(row)
            say(f"round {number} {side.name}: {result.rate:.2f}/s")
            await asyncio.sleep(1.0)  # let the server's queues drain between sides
    report.statuses = dict(ended)
    report.trouble = {"engine": dict(engine.trouble), "bare": dict(bare.trouble)}


def _span(ranges: dict[str, tuple[int, int]], key: str) -> str:
    low, high = ranges.get(key, (0, 0))
    return str(low) if low == high else f"{low}-{high}"


def shape_lines(report: Report) -> list[str]:
    """The shape table: warm-up counts of each side, and their spread in the last round."""
    engine_ranges, bare_ranges = report.ranges.get("engine", {}), report.ranges.get("bare", {})
    keys = list(dict.fromkeys([*report.engine_shape, *report.bare_shape]))
    header = f"  {'per workflow':34} {'engine':>7} {'bare':>7} {'engine*':>9} {'bare*':>9}"
    rows = [
        f"  {key:34} {report.engine_shape.get(key, 0):>7} {report.bare_shape.get(key, 0):>7} "
        f"{_span(engine_ranges, key):>9} {_span(bare_ranges, key):>9}"
        for key in keys
    ]
    rows += [
        f"  {key + ' (not mirrored)':34} {report.engine_sizes.get(key, 0):>7} "
        f"{report.bare_sizes.get(key, 0):>7} {_span(engine_ranges, key):>9} "
        f"{_span(bare_ranges, key):>9}"
        for key in ("events", "workflow tasks")
    ]
    return [
        "shape, counted from histories of this run (warm-up workflow; * range in the last round):",
        header,
        *rows,
    ]


def cpu_lines(cpu: dict[str, dict[str, float]]) -> list[str]:
    """The CPU table: seconds per workflow of each part, median over rounds."""
    engine, bare = cpu["engine"], cpu["bare"]
    lines = [
        "CPU seconds per workflow (median over rounds; other work on the machine not counted):"
    ]
    lines += [
        f"  {key:36} {engine.get(key, 0.0):>8.3f} {bare.get(key, 0.0):>8.3f}"
        for key in dict.fromkeys([*engine, *bare])
    ]
    if engine["total"] > 0:
        lines.append(f"  bare/engine CPU per workflow: {bare['total'] / engine['total']:.2f}")
    return lines


def print_report(report: Report, as_json: bool) -> None:
    """Print the figures: a summary for people, or one JSON object."""
    medians = report.medians()
    ratio = medians["engine"] / medians["bare"]
    cpu = report.cpu_medians()
    data = {
        **report.__dict__,
        "median_rate": medians,
        "ratio": round(ratio, 3),
        "target": 0.9,
        "cpu_per_workflow": cpu,
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    m = report.machine
    lines = [
        f"command: {report.command}",
        f"machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}; "
        f"Python {m['python']}, temporalio {m['temporalio']}; {m['platform']}",
        f"engine dossier: {report.engine_dossier}",
        f"workers: {report.workers}",
        *shape_lines(report),
        "rounds (first start to last close):",
        *(
            f"  round {r['round']} {r['side']:6} {r['dossiers']} in {r['seconds']:.1f} s: "
            f"{r['rate']:.2f}/s" + (f" (shape of {r['mirrors']})" if "mirrors" in r else "")
            for r in report.rounds
        ),
        f"engine dossiers ended: {pairs(report.statuses, 'nothing')}",
        *(
            f"retried by the {side} drivers: {pairs(trouble, 'nothing')}"
            for side, trouble in report.trouble.items()
        ),
        *cpu_lines(cpu),
        f"median: engine {medians['engine']:.2f}/s, bare {medians['bare']:.2f}/s; "
        f"ratio engine/bare {ratio:.2f} (target ≥ 0.9)",
    ]
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; bad values exit 2 with one line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--dossiers", type=int, default=60, help="workflows per round (60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each side (3)")
    parser.add_argument(
        "--poll", type=float, default=0.2,
        help="seconds a driver waits before asking a workflow again (0.2)",
    )  # fmt: skip
    parser.add_argument(
        "--round-bound", type=float, default=900.0,
        help="seconds a round may take before the run gives up on it (900)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", default=ADMIN_URL,
        help="PostgreSQL server to create the registry database on (its maintenance database)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # A worker process of the run (started by the run itself).
    parser.add_argument("--serve", choices=("engine", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dossiers < 1 or args.rounds < 1 or args.poll <= 0 or args.round_bound <= 0:
        parser.error(
            "--dossiers and --rounds must be at least 1, --poll and --round-bound positive"
        )
    if not make_url(args.database_url).get_backend_name().startswith("postgresql"):
        parser.error("--database-url must name a PostgreSQL server")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when every round completed, 1 otherwise."""
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.address, args.catalog))
        return 0
    options = Options(
        args.dossiers, args.rounds, args.poll, args.round_bound, args.database_url, args.json
    )
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    report = Report(
        command=f".venv/bin/python -m bench.overhead {shown}".strip(),
        machine=machine_and_sdk(),
        engine_dossier=(
            f"{PROCEDURE} (land-first-certificate + house-building-permit) on a catalog copy "
            f"without the {NOTICE[0]}:{NOTICE[1]} step (the catalog allows no notice shorter "
            "than 1 calendar day); demo parcel, tax paid by signal, result collected at the desk"
        ),
        workers=(
            "one subprocess per side: a worker per agency task queue + one for the workflows and "
            "local activities (engine: worker.build_workers; bare: bench.bare.build_bare_workers); "
            "the drivers in the benchmark's own process"
        ),
    )
    try:
        asyncio.run(measure(options, report))
    except BenchError as exc:
        say(str(exc))
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 1
    print_report(report, options.json)
    return 0


if __name__ == "__main__":
    exit_process(main())
