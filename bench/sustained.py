"""Sustained load: a steady arrival rate of the realistic ward mix, officers acting at once.

Usage::

    .venv/bin/python -m bench.sustained [--rate 6.5] [--minutes 3] [--seed S] [--json]
        [--database-url URL] [--arrivals poisson|fixed] [--window-seconds 30]
        [--drain-seconds 60] [--floor-count 30] [--server-db memory|file] [--find-max] [--keep]

Everything it uses is its own and goes away at the end: a Temporal dev server with its SQLite
store in memory (``--server-db file``: a file in a temporary directory, as bench.chaos and the
demo run it; on this shared VM its writes, not the engine, then set the pace), with the project's
search attributes and chaos's dynamic config (transfer and timer processors polling at 1000 RPS);
a PostgreSQL registry database ``lienthong_sustained_<random>`` created on the server
``--database-url`` names, migrated to head and dropped at the end; the engine's real workers in
the toolkit's layout (`bench.cluster.WORKERS`, as bench.chaos runs them), each a ``worker.py``
process (two orchestration, two one-stop desk, one for justice, police and social security);
and one more process serving the baseline's bare workflow (`bench.bare.FloorWorkflow`). This
process only submits dossiers and plays their people: it shares no interpreter with any worker.

The load: for ``--minutes``, dossiers arrive open-loop at ``--rate`` per second (seeded Poisson
arrivals, or a fixed interval), each a ward or permit dossier that finishes in real time
(certified copy, signature certification, marital status, birth-residence-insurance, building
permit; no land dossier, whose public notice is a real 15-day timer). `bench.dossiers.Driver`
plays each dossier's officers and applicant (it polls the tracking query every 0.3 s while it
waits, and an officer acts 0.3-1.5 s after seeing a step): most approve; a few refuse or ask for
a supplement, which the applicant brings; a few dossiers arrive incomplete. Then submissions stop
and the drivers go on acting for up to ``--drain-seconds`` so that the backlog can clear; those
still acting then are cancelled (counted), and the figures are read.

Figures (nothing here asserts a time; this machine is shared and noisy, so the latency is also
given as a ratio to a floor measured in the same run):

- offered rate (``--rate``, and the arrivals actually drawn) and achieved submission rate
  (workflows started within the load period), with the lag of each start behind its arrival;
- per ``--window-seconds`` window: dossiers started, dossiers closed per second, and the backlog
  (started, not yet closed) at the window's end; close times come from visibility;
- backlog growth per minute: least-squares slope of the backlog at the ends of the load windows
  (the first window is the ramp-up to the steady population of open dossiers; its end is the
  baseline). The rate counts as held when at least 95% of the arrivals were started within the
  load period and, over the load windows after the first, at least 90 dossiers closed for every
  100 started;
- latency from an officer's approval to the next step's first activity starting, read from each
  dossier's workflow history after the run: the ``decide`` update's UpdateCompleted event time
  (the update returned) to the ActivityTaskStarted event time (the moment a worker took the
  task, recorded exactly even though the event is written at completion) of the first activity
  scheduled after the update's acceptance for a step the approved step opens. Every step after
  an officer's step in this mix is itself an officer's step, whose first activity is the
  ``registry.sync`` that carries it no longer pending: the write that puts it in the next
  agency's inbox (``api/agencies.py`` lists open steps from the registry; when the syncs lag, an
  officer who tracks the dossier may have decided it before). The sync's completion (the inbox
  row committed) is given too. Approvals of a last step close the dossier and are only counted;
- the floor, measured in the same run: a bare workflow that waits for one update and then
  starts a no-op activity (its own worker process, unsandboxed, eager activity execution off,
  the same data converter), ``--floor-count`` times one after another on the idle server before
  the load. Its round trip, from the client sending the update to the no-op's
  ActivityTaskStarted (the client's clock and the server's are this machine's), is the unit of
  the ratios; UpdateCompleted to ActivityTaskStarted (the activity dispatch alone) is given too.
  It is measured again after the load, which is idle only if the backlog cleared.
  The same probe runs every 2 s during the load: the server's own queueing under that load;
- CPU seconds per process (server, each worker, this process, the PostgreSQL backends of the
  registry database alive at the end) and of the whole machine over the load period, as shares
  of one core: the bottleneck, and how much of the machine other work took; and this
  process's calls to the server per second by kind (starts, updates, and the drivers' tracking
  queries and describes, which are part of the load the server and the workers carry).

The report also names the machine (cores, load average before and after) and the code the
workers ran: the commit, and any engine files changed since (other work may be editing them).

``--find-max`` runs load periods of ``--minutes`` each, starting at ``--rate`` and multiplying it
by 1.5 after each period the rate was held, until one is not held (at most 8); it reports the
highest rate held. Linux only (/proc). Exit status 1 when the run could not set itself up.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import DataConverter

from api.admission import Admission, Bound, Load, judge
from bench.bare import FLOOR_READY, FloorWorkflow
from bench.cluster import (
    Child,
    machine,
    narrator,
    pairs,
    process_cpu,
    province_workers,
    scratch_stack,
    wait_for_server,
    workspace,
)
from bench.dossiers import MIX, Driver, Scenario, build_scenario
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from domain.dossier import AutomatedCheckInput
from domain.plan import plan_dossier
from domain.registry import RegistrySnapshot
from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.names import DOSSIER_STATUS, ORCHESTRATION_TASK_QUEUE, agency_task_queue
from engine.settings import REPO_ROOT, Settings, mask_url
from engine.temporal import (
    data_converter,
    exit_process,
    register_search_attributes,
)
from workflows.dossier import DecisionAction, DecisionInput

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
APPLICATION_NAME = "lienthong-sustained"
# fate -> weight. Officers approve promptly; a few refuse or ask for a supplement, and a few
# dossiers arrive incomplete (the desk refuses them or asks for the missing paper).
LOAD_WEIGHTS = {"approve": 88, "refuse": 4, "supplement": 4, "incomplete": 4}
BARE_QUEUE = "sustained-bare"
BARE_COMMAND = f"from bench.bare import serve_floor; serve_floor({BARE_QUEUE!r})"
PROBE_EVERY = 2.0  # seconds between the bare probes during the load
HELD_SUBMITTED = 0.95  # share of the arrivals started within the load period
HELD_CLOSED = 0.90  # dossiers closed per dossier started, over the load windows after the first
FIND_MAX_FACTOR = 1.5
FIND_MAX_STEPS = 8
OVERLOAD_FACTOR = 2.0  # the curve's last point: this many times the highest rate held
OVERLOAD_CLOSED = 0.90  # closing throughput at overload, over the highest held rate's
OVERLOAD_P99 = 2.0  # approval -> next step p99 at overload, at most this many times the held one
HISTORY_READERS = 6  # histories fetched at once after the run


class LoadError(RuntimeError):
    """The run could not set itself up; printed as one line."""


say = narrator("sustained")


# ---- the load -------------------------------------------------------------------------------


def arrival_times(rate: float, seconds: float, rng: random.Random, poisson: bool) -> list[float]:
    """Seconds into the load period at which dossiers arrive: Poisson, or every 1/rate s."""
    times: list[float] = []
    at = 0.0
    while True:
        at += rng.expovariate(rate) if poisson else 1.0 / rate
        if at >= seconds:
            return times
        times.append(at)


def build_load(times: Sequence[float], rng: random.Random) -> list[Scenario]:
    """One seeded scenario (procedure, fate, documents) per arrival, from the benchmarks' MIX."""
    catalog = default_catalog()
    now = datetime.now(VN_TZ)
    scenarios = []
    for index, at in enumerate(times):
        fate = rng.choices(list(LOAD_WEIGHTS), weights=list(LOAD_WEIGHTS.values()))[0]
        procedure = rng.choice([code for code, fates in MIX.items() if fate in fates])
        scenarios.append(
            build_scenario(
                catalog, index, procedure, fate,
                received_at=now + timedelta(seconds=at),  # never later than the submission
                documents_on=now,
                subject_ref=f"load-subject-{index:05d}",
                submit_after=at,
                think=rng.uniform(0.3, 1.5),
            )
        )  # fmt: skip
    return scenarios


class TimedDriver(Driver):
    """`bench.dossiers.Driver`, noting when its dossier's workflow was started (wall clock)."""

    submitted_at: float | None = None

    async def _start(self) -> None:
        await super()._start()
        self.submitted_at = time.time()


class GatedDriver(TimedDriver):
    """A `TimedDriver` whose dossier first passes intake's admission (`api.admission`), as an
    online submission does: refused (the API's 429) when the engine is at its bound. A refused
    arrival is counted and not retried: the load is open-loop."""

    gate: Admission | None = None
    refused: bool = False

    async def run(self, started: float) -> Any:
        """At the arrival moment, ask the gate; then submit and act as a `TimedDriver`."""
        await asyncio.sleep(max(0.0, started + self.scenario.submit_after - time.monotonic()))
        if self.gate is not None and not (await self.gate.verdict()).admitted:
            self.refused = True
            return self.outcome
        return await super().run(started)


class CallCounter(Interceptor):
    """Counts this process's calls to the server by kind: the load as the server sees it (the
    drivers' tracking queries are part of it)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Wrap the client's calls."""
        return _Counting(next, self.calls)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: Counter[str]) -> None:
        super().__init__(next)
        self.calls = calls

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self.calls["start"] += 1
        return await super().start_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self.calls["query"] += 1
        return await super().query_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        self.calls["describe"] += 1
        return await super().describe_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        self.calls["update"] += 1
        return await super().start_workflow_update(input)


# ---- processes ------------------------------------------------------------------------------


class Rig:
    """The dev server, the workers and the registry database of one run."""

    def __init__(self, root: Path, admin_url: str, key_spec: str, server_file: bool) -> None:
        self.admin_url = admin_url
        stack = scratch_stack(
            root,
            admin_url,
            "sustained",
            key_spec,
            application_name=APPLICATION_NAME,
            server_file=server_file,
        )
        self.db, self.address, self.server, env = stack.db, stack.address, stack.server, stack.env
        self.db_name, self.database_url, self.own_url = self.db.name, self.db.url, self.db.own_url
        self.workers = province_workers(root, env)
        self.bare = Child("bare", [sys.executable, "-c", BARE_COMMAND],
                          root / "worker-bare.log", env, ready_marker=FLOOR_READY)  # fmt: skip
        self.counter = CallCounter()

    def create_database(self) -> None:
        """Create and migrate the registry database."""
        self.db.create(LoadError)

    def drop_database(self) -> None:
        """Drop the registry database (whoever is still connected)."""
        self.db.drop()

    def backend_pids(self) -> list[int]:
        """Process ids of the PostgreSQL backends connected to the registry database now."""
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                rows = connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                    {"db": self.db_name},
                ).all()
        finally:
            admin.dispose()
        return [int(row[0]) for row in rows]

    async def start(self) -> Client:
        """Database, server, workers; returns a client of the server."""
        self.create_database()
        self.server.start()
        client = await self._wait_for_server()
        await register_search_attributes(client)
        children = [*self.workers, self.bare]
        for child in children:
            child.start()
        ready = await asyncio.gather(*(child.wait_ready(0, within=120) for child in children))
        for child, up in zip(children, ready, strict=True):
            if not up:
                raise LoadError(f"worker {child.name} did not start; see {child.log}")
        return client

    async def _wait_for_server(self) -> Client:
        return await wait_for_server(
            self.server,
            self.address,
            LoadError,
            data_converter=data_converter(),
            interceptors=[self.counter],
        )

    def pids(self) -> dict[int, str]:
        """pid -> name of our running processes (this one is ``load generator``)."""
        named = {child.pid: child.name for child in [self.server, *self.workers, self.bare]}
        found = {pid: name for pid, name in named.items() if pid is not None}
        found[os.getpid()] = "load generator"
        return found

    def stop(self) -> None:
        """Stop the workers, then the server."""
        for child in [*self.workers, self.bare]:
            child.signal(signal.SIGTERM)
        for child in [*self.workers, self.bare]:
            child.stop(grace=15)
        self.server.stop(grace=20)


# ---- CPU ------------------------------------------------------------------------------------


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSample:
    """CPU seconds of our processes, the registry's backends and the machine at one moment."""

    at: float
    processes: dict[str, float]
    backends: dict[int, float]
    machine: float


def cpu_sample(rig: Rig) -> CpuSample:
    """Read every counter now."""
    processes = {name: process_cpu(pid) for pid, name in rig.pids().items()}
    backends = {pid: process_cpu(pid) for pid in rig.backend_pids()}
    return CpuSample(time.monotonic(), processes, backends, machine_busy())


def cpu_shares(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Share of one core each process used between the samples (backends: those alive at the
    end, counted from the first sample or from their start)."""
    wall = max(after.at - before.at, 1e-9)
    shares = {
        name: (used - before.processes.get(name, 0.0)) / wall
        for name, used in after.processes.items()
    }
    shares["postgresql (registry backends)"] = (
        sum(used - before.backends.get(pid, 0.0) for pid, used in after.backends.items()) / wall
    )
    ours = sum(shares.values())
    shares["whole machine"] = (after.machine - before.machine) / wall
    shares["other work on the machine"] = max(0.0, shares["whole machine"] - ours)
    return {name: round(share, 3) for name, share in shares.items()}


# ---- the floor ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poke:
    """One bare round trip: the workflow, and when its update was sent (wall clock)."""

    workflow_id: str
    sent: float


async def poke_bare(client: Client, workflow_id: str) -> Poke:
    """Start a bare workflow and send it its update."""
    handle = await client.start_workflow(FloorWorkflow.run, id=workflow_id, task_queue=BARE_QUEUE)
    sent = time.time()
    await handle.execute_update(FloorWorkflow.poke)
    return Poke(workflow_id, sent)


async def measure_floor(client: Client, prefix: str, count: int) -> list[Poke]:
    """``count`` bare round trips one after another, each to the end of its workflow."""
    pokes = []
    for index in range(count):
        poke = await poke_bare(client, f"{prefix}-{index}")
        await client.get_workflow_handle(poke.workflow_id).result()
        pokes.append(poke)
    return pokes


async def probe_during(client: Client, prefix: str, until: float, pokes: list[Poke]) -> None:
    """A bare round trip every `PROBE_EVERY` seconds until ``until`` (monotonic), into
    ``pokes`` (kept if the probe is cancelled)."""
    while time.monotonic() < until:
        pokes.append(await poke_bare(client, f"{prefix}-{len(pokes)}"))
        await asyncio.sleep(PROBE_EVERY)


def _at(event: HistoryEvent) -> float:
    return float(event.event_time.ToNanoseconds()) / 1e9


async def bare_figures(client: Client, pokes: Sequence[Poke]) -> dict[str, Any]:
    """Update sent (client clock) and UpdateCompleted, each to the no-op's ActivityTaskStarted
    (ms), from the bare workflows' histories."""
    sent_ms, returned_ms = [], []
    deadline = time.monotonic() + 60  # an overloaded server may not have run them all yet
    for poke in pokes:
        handle = client.get_workflow_handle(poke.workflow_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.result(), timeout=max(0.1, deadline - time.monotonic()))
        times: dict[int, float] = {}
        for event in (await handle.fetch_history()).events:
            times.setdefault(event.event_type, _at(event))
        done = times.get(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
        started = times.get(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
        if done is not None and started is not None:
            sent_ms.append((started - poke.sent) * 1000)
            returned_ms.append((started - done) * 1000)
    return {
        "update_sent_to_activity_started": percentiles(sent_ms),
        "update_returned_to_activity_started": percentiles(returned_ms),
    }


# ---- reading the dossiers' histories --------------------------------------------------------


def step_graph() -> tuple[dict[str, set[str]], set[str]]:
    """step key -> the keys of the steps it opens; and the automated checks' activity names."""
    catalog, clock = default_catalog(), LegalClock(default_calendar())
    now = datetime.now(VN_TZ)
    opens: dict[str, set[str]] = {}
    checks: set[str] = set()
    for procedure in MIX:
        plan = plan_dossier(catalog, clock, procedure, now)
        for step in plan.steps:
            opens[step.key] = {s.key for s in plan.steps if step.key in s.depends_on}
            if step.kind == "automated_check" and step.activity:
                checks.add(step.activity)
    return opens, checks


@dataclass
class Hops:
    """Officers' approvals and how soon the steps they opened started, from the histories."""

    started_ms: list[float] = field(default_factory=list)  # -> next step's activity started
    committed_ms: list[float] = field(default_factory=list)  # -> that activity completed
    approvals: int = 0
    last_steps: int = 0  # approvals that closed the dossier: no next step
    unmatched: int = 0  # the next step's activity had not run when the histories were read
    events: int = 0  # history events of every dossier read
    workflow_tasks: int = 0  # workflow tasks completed in them


@dataclass
class _Approval:
    accepted_id: int
    returned: float
    step: str


class HistoryReader:
    """Walks one dossier's history: approvals, and the activities that carry open steps."""

    def __init__(self, converter: DataConverter, checks: set[str]) -> None:
        self.converter = converter
        self.checks = checks
        self.decisions: dict[str, tuple[int, DecisionInput]] = {}  # update id -> (event, input)
        self.approvals: list[_Approval] = []
        self.carriers: list[tuple[int, set[str]]] = []  # (scheduled event id, steps opened)
        self.started: dict[int, float] = {}
        self.completed: dict[int, float] = {}

    async def read(self, events: Sequence[HistoryEvent]) -> None:
        """Take every event of the history, in order."""
        for event in events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                await self._accepted(event)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                self._update_completed(event)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                await self._scheduled(event)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = event.activity_task_started_event_attributes
                self.started[attrs.scheduled_event_id] = _at(event)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                self.completed[done.scheduled_event_id] = _at(event)

    async def _accepted(self, event: HistoryEvent) -> None:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name != "decide":
            return
        payloads = list(request.input.args.payloads)
        [decision] = await self.converter.decode(payloads, [DecisionInput])
        self.decisions[request.meta.update_id] = (event.event_id, decision)

    def _update_completed(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_completed_event_attributes
        accepted = self.decisions.get(attrs.meta.update_id)
        if accepted is None or not attrs.outcome.HasField("success"):
            return
        event_id, decision = accepted
        if decision.action is DecisionAction.APPROVE:
            self.approvals.append(_Approval(event_id, _at(event), decision.step))

    async def _scheduled(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        payloads = list(attrs.input.payloads)
        if name == "registry.sync":
            [snapshot] = await self.converter.decode(payloads, [RegistrySnapshot])
            # Opened (or, when the syncs lag behind a quick officer, already decided).
            keys = {step.key for step in snapshot.steps if step.status != "pending"}
        elif name in self.checks:
            [check] = await self.converter.decode(payloads, [AutomatedCheckInput])
            keys = {f"{check.procedure}:{check.step}"}
        else:
            return
        if keys:
            self.carriers.append((event.event_id, keys))

    def tally(self, opens: dict[str, set[str]], hops: Hops) -> None:
        """Add this history's approvals to ``hops``."""
        for approval in self.approvals:
            hops.approvals += 1
            following = opens.get(approval.step, set())
            if not following:
                hops.last_steps += 1
                continue
            carrier = next(
                (eid for eid, keys in self.carriers
                 if eid > approval.accepted_id and keys & following),
                None,
            )  # fmt: skip
            if carrier is None or carrier not in self.started:
                hops.unmatched += 1
                continue
            hops.started_ms.append((self.started[carrier] - approval.returned) * 1000)
            if carrier in self.completed:
                hops.committed_ms.append((self.completed[carrier] - approval.returned) * 1000)


async def read_hops(client: Client, codes: Sequence[str]) -> Hops:
    """Every approval of these dossiers and the start of the step it opened."""
    opens, checks = step_graph()
    hops = Hops()
    gate = asyncio.Semaphore(HISTORY_READERS)

    async def one(code: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(code).fetch_history()
            reader = HistoryReader(client.data_converter, checks)
            await reader.read(history.events)
            hops.events += len(history.events)
            hops.workflow_tasks += sum(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
            )
            reader.tally(opens, hops)

    await asyncio.gather(*(one(code) for code in codes))
    return hops


async def closures(client: Client, codes: set[str]) -> dict[str, tuple[float, str]]:
    """code -> (close time, dossier status) of the closed dossier workflows among ``codes``."""
    found: dict[str, tuple[float, str]] = {}
    query = "WorkflowType = 'DossierWorkflow' AND ExecutionStatus != 'Running'"
    async for execution in client.list_workflows(query):
        if execution.id in codes and execution.close_time is not None:
            status = execution.typed_search_attributes.get(DOSSIER_STATUS)
            fallback = execution.status.name if execution.status else "?"
            found[execution.id] = (execution.close_time.timestamp(), status or fallback)
    return found


# ---- one load period ------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The run's settings."""

    rate: float
    minutes: float
    seed: int
    admin_url: str
    poisson: bool = True
    window_seconds: float = 30.0
    drain_seconds: float = 60.0
    floor_count: int = 30
    server_db: str = "memory"
    find_max: bool = False
    keep: bool = False
    json: bool = False
    curve: bool = False
    admission: Bound | None = None  # None: every arrival is submitted
    plot: Path | None = None


@dataclass
class Period:
    """What one load period did, as this process saw it."""

    rate: float
    seconds: float
    t0: float  # wall clock when the period started
    end: float
    drivers: list[GatedDriver]
    probes: list[Poke]
    cpu: dict[str, float]
    calls: dict[str, float]  # per second during the load
    cut_off: int  # drivers still acting at the end of the drain, cancelled
    server_cpu_seconds: float = 0.0  # the dev server's, over the load and the drain
    readings: list[Load] = field(default_factory=list)  # intake's, once a second


async def run_period(
    client: Client, rig: Rig, options: Options, rate: float, rng: random.Random, tag: str
) -> Period:
    """Submit at ``rate`` for ``--minutes``, then let the drivers drain; nothing is read yet."""
    seconds = options.minutes * 60
    scenarios = build_load(arrival_times(rate, seconds, rng, options.poisson), rng)
    say(f"{len(scenarios)} arrivals at {rate:g}/s over {seconds:g} s")
    started, t0 = time.monotonic(), time.time()
    until = started + seconds + options.drain_seconds
    drivers = [GatedDriver(client, rig.own_url, sc, until) for sc in scenarios]
    gate = None
    if options.admission is not None:
        gate = Admission(client, ORCHESTRATION_TASK_QUEUE, options.admission,
                         activity_queues=[agency_task_queue("one-stop")])  # fmt: skip
        for driver in drivers:
            driver.gate = gate
    before, calls = await asyncio.to_thread(cpu_sample, rig), Counter(rig.counter.calls)
    probes: list[Poke] = []
    probing = asyncio.create_task(
        probe_during(client, f"bare-load-{tag}", started + seconds, probes)
    )
    driving = [asyncio.create_task(driver.run(started)) for driver in drivers]
    readings: list[Load] = []
    watching = asyncio.create_task(watch_load(gate, started + seconds, readings))
    await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
    await finish_by([watching], started + seconds)
    cpu = cpu_shares(before, await asyncio.to_thread(cpu_sample, rig))
    made = {kind: round(n / seconds, 1) for kind, n in (rig.counter.calls - calls).items()}
    say("submissions stopped; the officers finish what is open")
    cut_off = await finish_by(driving, until)
    await finish_by([probing], until)
    end = await asyncio.to_thread(cpu_sample, rig)
    # Server CPU-seconds over the load and the drain: all the work of this period's dossiers.
    spent = end.processes.get(rig.server.name, 0.0) - before.processes.get(rig.server.name, 0.0)
    return Period(rate, seconds, t0, time.time(), drivers, probes, cpu, made, cut_off, spent,
                  readings)  # fmt: skip


async def watch_load(gate: Admission | None, until: float, readings: list[Load]) -> None:
    """The gate's reading once a second during the load (what intake judged by)."""
    while gate is not None and time.monotonic() < until:
        load = await gate.load()
        if load is not None:
            readings.append(load)
        await asyncio.sleep(1.0)


def reading_figures(readings: Sequence[Load], bound: Bound | None) -> dict[str, Any] | None:
    """The load intake saw during a period: the backlog's largest count and age, and the
    share of readings that refused."""
    if bound is None or not readings:
        return None
    return {
        "readings": len(readings),
        "max_backlog": max(r.backlog for r in readings),
        "max_backlog_age_s": round(max(r.backlog_age_seconds for r in readings), 2),
        "refusing_share": round(
            sum(not judge(r, bound).admitted for r in readings) / len(readings), 2
        ),
    }


async def finish_by(tasks: Sequence[asyncio.Task[Any]], until: float) -> int:
    """Wait for the tasks until ``until`` (monotonic, plus a few seconds for calls in flight),
    then cancel the rest; how many were cancelled."""
    if not tasks:
        return 0
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, until - time.monotonic()) + 5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


# ---- figures --------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """count, p50, p99 (nearest rank) and max; None without values."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    return {"count": len(ordered), "p50": rank(0.5), "p99": rank(0.99),
            "max": round(ordered[-1], 1)}  # fmt: skip


def ratio(value: float | None, floor: float | None) -> float | None:
    """value / floor, rounded; None when either is missing or the floor is 0."""
    if value is None or not floor:
        return None
    return round(value / floor, 1)


@dataclass
class Window:
    """One window of a period: started, closed, and open at its end."""

    start_s: float
    end_s: float
    load: bool
    submitted: int
    closed: int
    closed_per_s: float
    open_at_end: int


def windows(starts: Sequence[float], closes: Sequence[float], period: Period,
            width: float) -> list[Window]:  # fmt: skip
    """The load period's windows, then the drain's; times in seconds from the period's start."""
    load, total = period.seconds, period.end - period.t0
    edges = [min(k * width, load) for k in range(math.ceil(load / width) + 1)]
    edges += [load + k * width for k in range(1, math.ceil((total - load) / width) + 1)]
    starts, closes = sorted(starts), sorted(closes)
    result = []
    for lo, hi in itertools.pairwise(edges):
        closed = bisect.bisect_left(closes, hi) - bisect.bisect_left(closes, lo)
        result.append(Window(
            start_s=round(lo, 1), end_s=round(hi, 1), load=hi <= load + 1e-6,
            submitted=bisect.bisect_left(starts, hi) - bisect.bisect_left(starts, lo),
            closed=closed, closed_per_s=round(closed / max(hi - lo, 1e-9), 2),
            open_at_end=bisect.bisect_left(starts, hi) - bisect.bisect_left(closes, hi),
        ))  # fmt: skip
    return result


def backlog_growth(load_windows: Sequence[Window]) -> float:
    """Backlog growth per minute: least-squares slope of the backlog at the load windows' ends.

    The first window is the ramp-up to the steady population of open dossiers, so its end is the
    baseline; with a single window, the backlog at its end over its length.
    """
    points = [(w.end_s, w.open_at_end) for w in load_windows]
    if len(points) == 1:
        x, y = points[0]
        return round(y / max(x, 1e-9) * 60, 1)
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / max(spread, 1e-9)
    return round(slope * 60, 1)


def steady_throughput(load_windows: Sequence[Window]) -> tuple[float, float]:
    """Dossiers closed, and started, per second over the load windows after the first (all of
    them if there is only one)."""
    chosen = list(load_windows[1:]) or list(load_windows)
    seconds = max(sum(w.end_s - w.start_s for w in chosen), 1e-9)
    closed, started = sum(w.closed for w in chosen), sum(w.submitted for w in chosen)
    return round(closed / seconds, 2), round(started / seconds, 2)


@dataclass
class Submissions:
    """When the drivers started their dossiers, relative to the period's start."""

    starts: list[float]  # seconds
    lags_ms: list[float]  # behind the arrival
    in_time: int  # started before the load period ended


def submissions(period: Period) -> Submissions:
    """Start times and lags of the dossiers that were started."""
    started = [d for d in period.drivers if d.submitted_at is not None]
    starts = [d.submitted_at - period.t0 for d in started if d.submitted_at is not None]
    lags = [(at - d.scenario.submit_after) * 1000 for at, d in zip(starts, started, strict=True)]
    return Submissions(starts, lags, sum(1 for at in starts if at < period.seconds))


def lifetimes(period: Period, closed: dict[str, tuple[float, str]]) -> list[float]:
    """Seconds from each closed dossier's start to its close."""
    return [
        closed[d.outcome.code][0] - d.submitted_at
        for d in period.drivers
        if d.submitted_at is not None and d.outcome.code in closed
    ]


async def period_figures(client: Client, period: Period, options: Options) -> dict[str, Any]:
    """Every figure of one period (reads visibility and the histories)."""
    codes = {d.outcome.code for d in period.drivers if d.submitted_at is not None}
    closed = await closures(client, codes)
    say(f"reading {len(codes)} dossier histories")
    hops = await read_hops(client, sorted(codes))
    sub = submissions(period)
    closes = [at - period.t0 for at, _ in closed.values()]
    all_windows = windows(sub.starts, closes, period, options.window_seconds)
    load_windows = [w for w in all_windows if w.load]
    closed_rate, started_rate = steady_throughput(load_windows)
    achieved = sub.in_time / period.seconds
    held = (
        sub.in_time >= HELD_SUBMITTED * len(period.drivers)
        and closed_rate >= HELD_CLOSED * started_rate
    )
    errors = [d.outcome.error for d in period.drivers if d.outcome.error]
    return {
        "rate_offered": period.rate,
        "load_seconds": period.seconds,
        "arrivals": len(period.drivers),
        "arrival_rate": round(len(period.drivers) / period.seconds, 2),
        "submitted_in_load": sub.in_time,
        "refused": sum(d.refused for d in period.drivers),
        "admission": reading_figures(period.readings, options.admission),
        "submission_rate": round(achieved, 2),
        "submission_ratio": round(achieved / period.rate, 3),
        "submission_lag_ms": percentiles(sub.lags_ms),
        "windows": [asdict(w) for w in all_windows],
        "steady_closed_per_s": closed_rate,
        "steady_started_per_s": started_rate,
        "backlog_growth_per_min": backlog_growth(load_windows),
        "held": held,
        "open_at_end_of_drain": len(codes) - len(closed),
        "dossier_lifetime_s": percentiles(lifetimes(period, closed)),
        "statuses": dict(Counter(status for _, status in closed.values())),
        "driver_errors": len(errors),
        "drivers_cut_off": period.cut_off,
        "first_driver_error": errors[0] if errors else None,
        "latency_ms": _hop_figures(hops),
        "history_events": hops.events,
        "workflow_tasks": hops.workflow_tasks,
        "server_cpu_s_per_1000_events": round(
            period.server_cpu_seconds / max(hops.events, 1) * 1000, 2
        ),
        "bare_during_load_ms": await bare_figures(client, period.probes),
        "cpu_share_of_one_core": period.cpu,
        "client_calls_per_s": period.calls,
    }


def _hop_figures(hops: Hops) -> dict[str, Any]:
    return {
        "approvals": hops.approvals,
        "last_steps": hops.last_steps,
        "unmatched": hops.unmatched,
        "to_next_activity_started": percentiles(hops.started_ms),
        "to_next_activity_completed": percentiles(hops.committed_ms),
    }


# ---- the run --------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """The commit the workers run, and the engine's files changed since (they run too)."""

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10, check=True)  # fmt: skip
            return done.stdout.rstrip()  # porcelain lines start with a space: keep it
        return ""

    changed = git("status", "--porcelain", "--", "workflows", "activities", "domain", "engine",
                  "store", "catalog", "worker.py")  # fmt: skip
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "uncommitted": [line[3:] for line in changed.splitlines()]}  # fmt: skip


async def run(options: Options, root: Path) -> dict[str, Any]:
    """Set up, measure the floor, load, measure the floor again; every figure."""
    load = [round(x, 2) for x in os.getloadavg()]
    report: dict[str, Any] = {"machine": {**machine(), "load_average_at_start": load},
                              "code": code_version(), "seed": options.seed,
                              "arrivals": "poisson" if options.poisson else "fixed"}  # fmt: skip
    key_spec = new_key_spec("sustained")
    rig = Rig(root, options.admin_url, key_spec, options.server_db == "file")
    with use_key_ring(KeyRing.from_spec(key_spec)):
        try:
            say(f"database {rig.db_name} on {mask_url(options.admin_url)}")
            client = await rig.start()
            say(f"Temporal at {rig.address}; {len(rig.workers)} workers and the bare worker up")
            report.update(await _measure(client, rig, options))
        finally:
            rig.stop()
            rig.drop_database()
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


async def _measure(client: Client, rig: Rig, options: Options) -> dict[str, Any]:
    rng = random.Random(options.seed)
    before = await measure_floor(client, "bare-idle-before", options.floor_count)
    periods: list[dict[str, Any]] = []
    rate = options.rate
    for index in range(FIND_MAX_STEPS if options.find_max or options.curve else 1):
        period = await run_period(client, rig, options, rate, rng, str(index))
        periods.append(await period_figures(client, period, options))
        if not periods[-1]["held"]:
            break
        rate = round(rate * FIND_MAX_FACTOR, 2)
    held = [p["rate_offered"] for p in periods if p["held"]]
    if options.curve and held:
        overload = round(max(held) * OVERLOAD_FACTOR, 2)
        period = await run_period(client, rig, options, overload, rng, "overload")
        periods.append(await period_figures(client, period, options))
    after = await measure_floor(client, "bare-after", options.floor_count)
    floor = await bare_figures(client, before)
    for figures in periods:
        figures["latency_over_floor"] = _over_floor(figures, floor)
    result = {
        "layout": _layout(rig),
        "admission": asdict(options.admission) if options.admission else None,
        "floor_ms": {"before": floor, "after": await bare_figures(client, after)},
        "periods": periods,
        "highest_rate_held": max(held) if held else None,
    }
    if options.curve:
        result["overload"] = overload_verdict(periods)
    return result


def overload_verdict(periods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The curve's last point against its highest held one: refused arrivals, closing
    throughput (at least `OVERLOAD_CLOSED` of the held rate's) and p99 of the dossiers inside
    (at most `OVERLOAD_P99` times the held p99). None without a held point and an overload."""
    held = [p for p in periods if p["held"]]
    if not held or len(periods) < 2 or periods[-1]["held"]:
        return None
    best, last = max(held, key=lambda p: p["rate_offered"]), periods[-1]
    held_p99 = (best["latency_ms"]["to_next_activity_started"] or {}).get("p99")
    last_p99 = (last["latency_ms"]["to_next_activity_started"] or {}).get("p99")
    base = best["steady_closed_per_s"]
    closed = round(last["steady_closed_per_s"] / base, 2) if base else None
    p99 = round(last_p99 / held_p99, 2) if last_p99 is not None and held_p99 else None
    return {
        "held_rate": best["rate_offered"],
        "overload_rate": last["rate_offered"],
        "refused": last["refused"],
        "refused_share": round(last["refused"] / max(last["arrivals"], 1), 3),
        "closed_over_held": closed,
        "p99_over_held": p99,
        "closed_ok": closed is not None and closed >= OVERLOAD_CLOSED,
        "p99_ok": p99 is not None and p99 <= OVERLOAD_P99,
    }


def _over_floor(figures: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """The dossiers' latency and the bare probe under load, each over the idle floor (the bare
    update's round trip: sent to its activity started)."""
    latency = figures["latency_ms"]["to_next_activity_started"] or {}
    probe = figures["bare_during_load_ms"]["update_sent_to_activity_started"] or {}
    unit = floor["update_sent_to_activity_started"] or {}
    return {
        key: {
            "dossier": ratio(latency.get(key), unit.get(key)),
            "bare_during_load": ratio(probe.get(key), unit.get(key)),
        }
        for key in ("p50", "p99")
    }


def _layout(rig: Rig) -> dict[str, Any]:
    return {
        "server": "temporal server start-dev, chaos's dynamic config, SQLite "
        + ("file" if "--db-filename" in rig.server.command else "in memory"),
        "workers": {w.name: " ".join(w.command[2:]) for w in rig.workers},
        "bare_worker": "its own process, unsandboxed",
        "load_generator": "this process: submissions, a Driver per dossier, bare probes",
    }


# ---- output ---------------------------------------------------------------------------------


def _ms(figures: dict[str, float] | None) -> str:
    if not figures:
        return "none"
    return (f"n={figures['count']:g}, p50 {figures['p50']:g} ms, p99 {figures['p99']:g} ms, "
            f"max {figures['max']:g} ms")  # fmt: skip


def _period_lines(p: dict[str, Any]) -> list[str]:
    lines = [
        f"offered {p['rate_offered']:g}/s for {p['load_seconds']:g} s "
        f"({p['arrivals']} arrivals = {p['arrival_rate']:g}/s); started within the period "
        f"{p['submitted_in_load']} = {p['submission_rate']:g}/s "
        f"({p['submission_ratio']:.2f} of offered); refused at intake (429) {p['refused']}; "
        f"start lag {_ms(p['submission_lag_ms'])}",
        "  window s      started  closed/s  open at end",
    ]
    for w in p["windows"]:
        span = f"{w['start_s']:>5.0f}-{w['end_s']:<5.0f}" + ("" if w["load"] else " drain")
        lines.append(f"  {span:<13} {w['submitted']:>7} {w['closed_per_s']:>9.2f} "
                     f"{w['open_at_end']:>12}")  # fmt: skip
    latency, over = p["latency_ms"], p["latency_over_floor"]
    lines += [
        f"after the first window: {p['steady_closed_per_s']:g} closed/s for "
        f"{p['steady_started_per_s']:g} started/s "
        f"({p['steady_closed_per_s'] / p['rate_offered']:.2f} of offered); backlog growth "
        f"{p['backlog_growth_per_min']:+g}/min -> {'held' if p['held'] else 'NOT held'}",
        f"dossiers: {pairs(p['statuses'])}; open after the drain {p['open_at_end_of_drain']}; "
        f"driver errors {p['driver_errors']} (first: {p['first_driver_error']}); drivers cut "
        f"off at the end of the drain {p['drivers_cut_off']}; "
        f"lifetime {_s(p['dossier_lifetime_s'])}",
        "approval -> next step's first activity started: "
        + _ms(latency["to_next_activity_started"]),
        "   ... completed (in the next inbox): " + _ms(latency["to_next_activity_completed"]),
        f"   ({latency['approvals']} approvals: {latency['last_steps']} closed their dossier, "
        f"{latency['unmatched']} unmatched)",
        "bare round trip during the load: "
        + _ms(p["bare_during_load_ms"]["update_sent_to_activity_started"]),
        f"over the idle floor: dossier p50 {over['p50']['dossier']}x, "
        f"p99 {over['p99']['dossier']}x; bare during load p50 {over['p50']['bare_during_load']}x, "
        f"p99 {over['p99']['bare_during_load']}x",
        "CPU during the load (share of one core): " + pairs(p["cpu_share_of_one_core"]),
        "admission's readings during the load: " + pairs(p.get("admission") or {}),
        f"history events read {p['history_events']}, workflow tasks {p['workflow_tasks']}; "
        f"server CPU per 1,000 events {p['server_cpu_s_per_1000_events']} s",
        "this process's calls per second during the load: " + pairs(p["client_calls_per_s"]),
    ]
    return lines


def _s(figures: dict[str, float] | None) -> str:
    if not figures:
        return "none"
    return f"p50 {figures['p50']:g} s, p99 {figures['p99']:g} s"


def print_report(report: dict[str, Any], as_json: bool) -> None:
    """One JSON object, or lines for people."""
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2), flush=True)
        return
    m = report["machine"]
    lines = [
        f"machine: {m['cores']} cores ({m['cpu']}), load average {m['load_average_at_start']} "
        f"at start, {m.get('load_average_at_end')} at end; seed {report['seed']}, "
        f"{report['arrivals']} arrivals",
        f"code: {report['code']['commit']}, uncommitted engine changes: "
        + (", ".join(report["code"]["uncommitted"]) or "none"),
        "floor, idle before the load (bare update sent -> its no-op activity started): "
        + _ms(report["floor_ms"]["before"]["update_sent_to_activity_started"]),
        "   (update returned -> activity started: "
        + _ms(report["floor_ms"]["before"]["update_returned_to_activity_started"])
        + ")",
        "   the same after the load (idle only if the backlog cleared): "
        + _ms(report["floor_ms"]["after"]["update_sent_to_activity_started"]),
    ]
    for period in report["periods"]:
        lines += ["", *_period_lines(period)]
    lines += ["", f"highest rate held: {report['highest_rate_held']}"]
    if "overload" in report:
        lines += ["", *curve_lines(report)]
    print("\n".join(lines), flush=True)


def curve_point(p: dict[str, Any]) -> dict[str, Any]:
    """One point of the curve: offered -> closed, latency, CPU by kind of process."""
    latency = p["latency_ms"]["to_next_activity_started"] or {}
    cpu = p["cpu_share_of_one_core"]
    return {
        "offered": p["rate_offered"],
        "arrived": p["arrival_rate"],
        "refused": p["refused"],
        "closed": p["steady_closed_per_s"],
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "held": p["held"],
        "cpu_server": cpu.get("temporal", 0.0),
        "cpu_workers": round(sum(v for k, v in cpu.items() if k.startswith(("orch", "one-",
                                                                             "agenc"))), 3),
        "cpu_postgresql": cpu.get("postgresql (registry backends)", 0.0),
        "cpu_load_generator": cpu.get("load generator", 0.0),
        "cpu_other": cpu.get("other work on the machine", 0.0),
    }  # fmt: skip


def curve_lines(report: dict[str, Any]) -> list[str]:
    """The curve as a table, the floor and the overload verdict."""
    floor = report["floor_ms"]["before"]["update_sent_to_activity_started"] or {}
    lines = [
        "curve (CPU in shares of one core; latency: approval -> next step's first activity; "
        f"floor: bare round trip p50 {floor.get('p50')} ms, p99 {floor.get('p99')} ms)",
        "  offered  arrived  refused  closed/s  p50 ms  p99 ms  p99/floor  held  "
        "server  workers  pg  loadgen  other",
    ]
    for p in report["periods"]:
        c = curve_point(p)
        over = ratio(c["p99_ms"], floor.get("p99"))
        lines.append(
            f"  {c['offered']:>7g}  {c['arrived']:>7g}  {c['refused']:>7}  {c['closed']:>8g}  "
            f"{c['p50_ms'] or '-':>6}  {c['p99_ms'] or '-':>6}  {over or '-':>9}  "
            f"{'yes' if c['held'] else 'no':>4}  {c['cpu_server']:>6.2f}  "
            f"{c['cpu_workers']:>7.2f}  {c['cpu_postgresql']:>3.2f}  "
            f"{c['cpu_load_generator']:>7.2f}  {c['cpu_other']:>5.2f}"
        )
    verdict = report["overload"]
    if verdict is None:
        lines.append("overload: not measured (no rate held, or the last point was held)")
    else:
        lines.append(
            f"overload at {verdict['overload_rate']:g}/s ({OVERLOAD_FACTOR:g}x the "
            f"{verdict['held_rate']:g}/s held): {verdict['refused']} arrivals refused with 429 "
            f"({verdict['refused_share']:.0%}); "
            f"closed/s {verdict['closed_over_held']} of the held rate's "
            f"({'ok' if verdict['closed_ok'] else 'NOT ok'}, >= {OVERLOAD_CLOSED}); p99 "
            f"{verdict['p99_over_held']}x the held p99 "
            f"({'ok' if verdict['p99_ok'] else 'NOT ok'}, <= {OVERLOAD_P99:g})"
        )
    return lines


def plot_curve(report: dict[str, Any], path: Path) -> None:
    """Save the curve as a PNG: offered -> closed and refused; latency p50/p99 over the floor;
    CPU by process. Needs matplotlib (the dev extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [curve_point(p) for p in report["periods"]]
    offered = [c["offered"] for c in points]
    floor = report["floor_ms"]["before"]["update_sent_to_activity_started"] or {}
    figure, (rates, latency, cpu) = plt.subplots(1, 3, figsize=(15, 4.6))
    rates.plot(offered, offered, ":", color="grey", label="offered")
    rates.plot(offered, [c["closed"] for c in points], "o-", label="closed/s")
    rates.bar(offered, [c["refused"] / (p["load_seconds"]) for c, p in
                        zip(points, report["periods"], strict=True)],
              width=0.15, color="tab:red", alpha=0.6, label="refused/s (429)")  # fmt: skip
    rates.set(xlabel="offered dossiers/s", ylabel="dossiers/s", title="Throughput")
    rates.legend()
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-")):
        latency.plot(offered, [c[key] or float("nan") for c in points], style, label=key[:3])
    if floor.get("p99"):
        latency.axhline(floor["p99"], color="grey", ls=":", label="bare probe p99 (floor)")
    latency.axhline(1000, color="tab:red", ls="--", lw=0.8, label="goal p99 1 s")
    latency.set(xlabel="offered dossiers/s", ylabel="ms (log)", yscale="log",
                title="Approval -> next step's first activity")  # fmt: skip
    latency.legend()
    bottom = [0.0] * len(points)
    for key in ("cpu_server", "cpu_workers", "cpu_postgresql", "cpu_load_generator", "cpu_other"):
        values = [c[key] for c in points]
        cpu.bar(offered, values, bottom=bottom, width=0.3, label=key[4:].replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    cpu.set(xlabel="offered dossiers/s", ylabel="share of one core (2 cores)",
            title="CPU by process")  # fmt: skip
    cpu.legend(fontsize="small")
    machine, code = report["machine"], report["code"]
    figure.suptitle(
        f"bench.sustained --curve: {machine['cores']} cores ({machine['cpu']}), load average "
        f"{machine['load_average_at_start']} at start; commit {code['commit']}",
        fontsize="small",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ---- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    """Command-line options; bad values exit 2 with one line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.sustained", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add = parser.add_argument
    add("--rate", type=float, default=6.5, help="dossiers per second offered (6.5)")
    add("--minutes", type=float, default=3.0, help="length of the load period (3)")
    add("--seed", type=int, default=1, help="random seed (1)")
    add("--arrivals", choices=("poisson", "fixed"), default="poisson", help="arrival process")
    add("--window-seconds", type=float, default=30.0, help="window of the figures (30)")
    add("--drain-seconds", type=float, default=60.0,
        help="bound on the drain after the load period (60)")  # fmt: skip
    add("--floor-count", type=int, default=30, help="bare round trips before and after (30)")
    add("--server-db", choices=("memory", "file"), default="memory",
        help="the dev server's SQLite store: in memory (default), or a file in the temporary "
        "directory as bench.chaos and the demo run it")  # fmt: skip
    add("--find-max", action="store_true",
        help="step the rate up by 1.5x per period until it is not held")  # fmt: skip
    add("--database-url", default=ADMIN_URL,
        help="PostgreSQL server to create the registry database on (its maintenance "
        "database URL)")  # fmt: skip
    add("--curve", action="store_true",
        help="from --rate (use 1) up by 1.5x per period until one is not held, then a period "
        "at 2x the highest held rate: the throughput/latency/CPU curve, admission on")  # fmt: skip
    add(
        "--admission",
        action="store_true",
        help="pass every arrival through intake's admission (api.admission; on with --curve)",
    )
    defaults = Settings()
    add("--admission-backlog", type=int, default=defaults.admission_max_backlog,
        help="admission: workflow tasks waiting (LIENTHONG_ADMISSION_MAX_BACKLOG)")  # fmt: skip
    add("--admission-age", type=float, default=defaults.admission_max_backlog_age_seconds,
        help="admission: age of the oldest, seconds (..._MAX_BACKLOG_AGE_SECONDS)")  # fmt: skip
    add("--admission-cache", type=float, default=defaults.admission_cache_seconds,
        help="admission: seconds one reading serves (..._CACHE_SECONDS)")  # fmt: skip
    add("--plot", type=Path, help="with --curve: save the curve as this PNG (needs matplotlib)")
    add("--json", action="store_true", help="print the figures as JSON")
    add("--keep", action="store_true", help="keep the temporary directory and logs")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes <= 0 or args.window_seconds <= 0:
        parser.error("--rate, --minutes and --window-seconds must be positive")
    if args.drain_seconds < 0 or args.floor_count < 1:
        parser.error("--drain-seconds must not be negative and --floor-count at least 1")
    if not make_url(args.database_url).get_backend_name().startswith("postgresql"):
        parser.error("--database-url must name a PostgreSQL server")
    return Options(
        rate=args.rate, minutes=args.minutes, seed=args.seed, admin_url=args.database_url,
        poisson=args.arrivals == "poisson", window_seconds=args.window_seconds,
        drain_seconds=args.drain_seconds, floor_count=args.floor_count,
        server_db=args.server_db, find_max=args.find_max, keep=args.keep, json=args.json,
        curve=args.curve, plot=args.plot,
        admission=Bound(max_backlog=args.admission_backlog,
                        max_backlog_age_seconds=args.admission_age,
                        cache_seconds=args.admission_cache)
        if args.curve or args.admission else None,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 with the figures printed; 1 when the run could not set itself up."""
    options = parse_args(argv)
    with workspace("sustained", options.keep, say) as space:
        try:
            report = asyncio.run(run(options, space.root))
        except LoadError as exc:
            say(f"error: {exc}")
            space.keep()
            return 1
        except KeyboardInterrupt:
            say("interrupted")
            space.keep()
            return 1
        print_report(report, options.json)
        if options.plot is not None and "overload" in report:
            plot_curve(report, options.plot)
            say(f"curve saved to {options.plot}")
    return 0


if __name__ == "__main__":
    exit_process(main())
