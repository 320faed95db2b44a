"""Chaos run: dossiers keep their promises while workers, the server and the database break.

Usage::

    .venv/bin/python -m bench.chaos [--dossiers N] [--minutes M] [--kills K] [--db-faults F]
        [--seed S] [--database-url URL] [--json]

Everything it uses is its own and goes away at the end: a Temporal dev server on a file database
in a temporary directory (with the project's search attributes), a PostgreSQL database
``lienthong_chaos_<random>`` created on the server ``--database-url`` names (default: the local
trust-auth server) and migrated to head, and five ``worker.py`` processes (two orchestration, two
one-stop desk, one for justice, police and social security), all with a fresh data key and the
outbox instead of SMTP.

For ``--minutes`` it submits a seeded mix of ward dossiers that finish in real time (certified
copy, signature certification, marital status, birth-residence-insurance, building permit; no
land dossier, whose public notice is a real 15-day timer) and plays their officers and
applicants: most approve, some refuse, request or hand in a supplement, send back or withdraw;
some dossiers were received on paper weeks ago and are keyed in late (apology letters and
escalations). Meanwhile it SIGKILLs random workers at random moments (preferring one that holds a
database transaction open) and restarts them, restarts the dev server once on its file database,
and terminates the database connections of activities in the middle of their transactions.

Then, with every worker up and no more faults, it waits for the dossiers to close (bounded by
``--settle-minutes``) and checks: each dossier ended as the officers' acts imply; the registry
matches each workflow's result row for row (dossier, form 05 ledger, steps, audit log, documents,
apology letters, notifications, deliveries, agency registers); no business key appears twice; no
workflow is still running. It prints the counts and exits 1 on any discrepancy (the temporary
directory with every log is kept then), 0 otherwise. Nothing is timed. Linux only (it reads
/proc to find which worker holds a database connection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Replayer

from activities.letters import ApologyInput
from activities.notify import AgencyNoticeInput, OutboxChannel
from bench.cluster import (
    Child,
    narrator,
    pairs,
    province_workers,
    scratch_stack,
    wait_for_server,
    workspace,
)
from bench.dossiers import MIX, Driver, Outcome, Scenario, build_scenario, retry
from domain.calendar import default_calendar
from domain.catalog import Catalog, default_catalog
from domain.clock import VN_TZ, LegalClock
from domain.dossier import DossierStatus
from domain.plan import plan_dossier
from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.settings import mask_url
from engine.temporal import (
    connect_config,
    data_converter,
    exit_process,
    quiet_runtime,
    register_search_attributes,
)
from store.models import (
    ApologyLetterRecord,
    AuditRecord,
    CivilRegistration,
    DeliveryAttemptRecord,
    DeliveryRecord,
    DocumentRecord,
    DossierRecord,
    HandoverRecord,
    HealthInsuranceCard,
    NotificationRecord,
    ResidenceRegistration,
    StepRecord,
)
from workflows import WORKFLOWS
from workflows.dossier import DossierResult, DossierWorkflow

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# The chaos process's own connections say so, and the fault injector leaves them alone.
APPLICATION_NAME = "lienthong-chaos"
WEIGHTS = {
    "approve": 50,
    "late": 12,
    "refuse": 10,
    "supplement": 9,
    "incomplete": 9,
    "withdraw": 7,
    "send_back": 3,
}
# The first dossiers cover every fate once before the weighted draw takes over.
COVERAGE: tuple[tuple[str, str], ...] = (
    ("certified-copy", "approve"),
    ("house-building-permit", "send_back"),
    ("marital-status-confirmation", "supplement"),
    ("certified-copy", "late"),
    ("signature-certification", "withdraw"),
    ("birth-residence-insurance", "incomplete"),
    ("house-building-permit", "refuse"),
    ("birth-residence-insurance", "approve"),
    ("certified-copy", "incomplete"),
    ("marital-status-confirmation", "late"),
    ("house-building-permit", "approve"),
    ("signature-certification", "approve"),
)
say = narrator("chaos")


class ChaosError(RuntimeError):
    """The chaos run could not set itself up or keep going; printed as one line."""


def backend_owners(ports: set[int], pids: dict[int, str]) -> dict[int, str]:
    """Which of our processes own the TCP sockets with these local ports (Linux /proc).

    Returns:
        local port -> the name of the owning process, for the ports found.
    """
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if port in ports:
                    inodes[f"socket:[{fields[9]}]"] = port
    owners: dict[int, str] = {}
    for pid, name in pids.items():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target in inodes:
                        owners[inodes[target]] = name
    return owners


# ---- the dossiers ---------------------------------------------------------------------------


def build_scenarios(count: int, rng: random.Random, window: float) -> list[Scenario]:
    """The seeded mix of dossiers and their submission moments over the first 85% of the run."""
    catalog = default_catalog()
    now = datetime.now(VN_TZ)
    picks: list[tuple[str, str]] = list(COVERAGE[:count])
    rng.shuffle(picks)
    while len(picks) < count:
        fate = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        procedures = [code for code, fates in MIX.items() if fate in fates]
        picks.append((rng.choice(procedures), fate))
    scenarios = []
    for index, (procedure, fate) in enumerate(picks):
        received = now
        if fate == "late":
            # A paper dossier from a month ago, on a working morning, keyed in only now.
            day = (now - timedelta(days=30)).date()
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            received = datetime(day.year, day.month, day.day, 9, 0, tzinfo=VN_TZ)
        scenarios.append(
            build_scenario(
                catalog, index, procedure, fate,
                received_at=received, documents_on=received,
                subject_ref=f"chaos-subject-{index:04d}",
                submit_after=rng.uniform(0, window * 0.85),
                think=rng.uniform(0.3, 1.5),
            )
        )  # fmt: skip
    return scenarios


def expected_status(scenario: Scenario, outcome: Outcome) -> DossierStatus:
    """The status the dossier must end in, from what its people did (and the catalog)."""
    if outcome.withdrawn:
        return DossierStatus.WITHDRAWN
    if outcome.refused_by_officer:
        return DossierStatus.REFUSED
    if scenario.fate == "incomplete" and scenario.procedure in (
        "certified-copy",
        "signature-certification",
    ):
        return DossierStatus.REFUSED  # these procedures allow no supplement request
    return DossierStatus.RETURNED


# ---- faults ---------------------------------------------------------------------------------


@dataclass
class Counts:
    """What the run did and found."""

    dossiers: int = 0
    kills: int = 0
    kills_in_transaction: int = 0
    worker_restarts: int = 0
    unexpected_worker_exits: int = 0
    server_restarts: int = 0
    server_stop_signal: str = ""
    db_faults: int = 0
    backends_terminated: int = 0
    terminated_by_table: Counter[str] = field(default_factory=Counter)
    activity_retries: Counter[str] = field(default_factory=Counter)
    workflow_task_timeouts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    fates: Counter[str] = field(default_factory=Counter)
    ambiguous_acts: int = 0
    checks: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    still_running: int = 0
    discrepancies: list[str] = field(default_factory=list)


_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\"?([a-z_]+)", re.IGNORECASE)


class Cluster:
    """The dev server, the workers and the chaos database of one run."""

    def __init__(self, root: Path, admin_url: str, key_spec: str) -> None:
        self.root = root
        self.admin_url = admin_url
        stack = scratch_stack(
            root, admin_url, "chaos", key_spec, application_name=APPLICATION_NAME, server_file=True
        )
        self.db, self.address, self.server = stack.db, stack.address, stack.server
        self.db_name, self.database_url, self.own_url = self.db.name, self.db.url, self.db.own_url
        self.workers = province_workers(root, stack.env)
        self.engine: Engine | None = None
        self.holding: set[str] = set()  # workers the injector stopped on purpose

    # -- database --

    def create_database(self) -> None:
        """Create and migrate the chaos database."""
        self.db.create(ChaosError)
        self.engine = create_engine(self.own_url, isolation_level="AUTOCOMMIT")

    def drop_database(self) -> None:
        """Drop the chaos database (whoever is still connected)."""
        if self.engine is not None:
            self.engine.dispose()
        self.db.drop()

    def busy_backends(self) -> list[tuple[int, int, str]]:
        """(pid, client port, table) of the other sessions inside a statement or transaction."""
        assert self.engine is not None
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT pid, client_port, query FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() "
                    "AND application_name <> :own "
                    "AND state IN ('active', 'idle in transaction')"
                ),
                {"db": self.db_name, "own": APPLICATION_NAME},
            ).all()
        return [(row[0], row[1] or 0, _table_of(row[2] or "")) for row in rows]

    def terminate(self, pids: Sequence[int]) -> int:
        """``pg_terminate_backend`` each; how many were terminated."""
        assert self.engine is not None
        done = 0
        with self.engine.connect() as connection:
            for pid in pids:
                hit = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                done += bool(hit.scalar())
        return done

    # -- processes --

    async def start_server(self) -> None:
        """Start the dev server and wait until it answers."""
        self.server.start()
        await wait_for_server(self.server, self.address, ChaosError)

    async def start_worker(self, worker: Child) -> bool:
        """Start a worker and wait until it polls."""
        seen = worker.markers()
        worker.start()
        return await worker.wait_ready(seen)

    def worker_pids(self) -> dict[int, str]:
        """pid -> name of the workers running now."""
        return {w.pid: w.name for w in self.workers if w.pid is not None}

    def stop_all(self) -> None:
        """Stop the workers, then the server."""
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        for worker in self.workers:
            worker.stop(grace=15)
        self.server.stop(grace=20)


def _table_of(query: str) -> str:
    """``insert dossier_steps``, ``select 1``: what a backend was doing, without its values."""
    words = query.split()
    verb = words[0].lower() if words else "idle"
    match = _TABLE.search(query)
    return f"{verb} {match.group(1).lower()}" if match else " ".join(words[:2]).lower()[:30]


class Chaos:
    """Schedules and injects the faults, and keeps the workers running between them."""

    def __init__(self, cluster: Cluster, rng: random.Random, counts: Counts, aim: bool) -> None:
        self.cluster = cluster
        self.aim = aim  # wait (up to 3 s) for the worker to hold a transaction before a kill
        self.rng = rng
        self.counts = counts
        self.faulting = True
        self.server_down = False

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restart any worker that is down and not being killed on purpose."""
        while not stop.is_set():
            for worker in self.cluster.workers:
                if worker.alive() or worker.name in self.cluster.holding or self.server_down:
                    continue
                self.counts.unexpected_worker_exits += 1
                say(f"worker {worker.name} exited by itself; restarting it")
                await self.cluster.start_worker(worker)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def kill_worker(self) -> None:
        """SIGKILL a random worker, preferably while it holds a database transaction open."""
        worker = self.rng.choice(self.cluster.workers)
        if not worker.alive():
            return
        self.cluster.holding.add(worker.name)
        try:
            in_transaction = False
            deadline = time.monotonic() + 3.0
            aim = self.aim and not worker.name.startswith("orchestration")  # no database
            while aim and time.monotonic() < deadline:
                busy = await asyncio.to_thread(self.cluster.busy_backends)
                ports = {port for _, port, _ in busy}
                owners = backend_owners(ports, self.cluster.worker_pids())
                if worker.name in owners.values():
                    in_transaction = True
                    break
                await asyncio.sleep(0.005)
            worker.signal(signal.SIGKILL)
            if worker.process is not None:
                await asyncio.to_thread(worker.process.wait)
            self.counts.kills += 1
            self.counts.kills_in_transaction += in_transaction
            moment = "inside a database transaction" if in_transaction else "at a random moment"
            say(f"SIGKILL worker {worker.name} {moment}")
            await asyncio.sleep(self.rng.uniform(1.0, 4.0))
            while not await self.cluster.start_worker(worker):
                if time.monotonic() > deadline + 120:
                    raise ChaosError(f"worker {worker.name} does not start; see {worker.log}")
                await asyncio.sleep(1.0)
            self.counts.worker_restarts += 1
        finally:
            self.cluster.holding.discard(worker.name)

    async def restart_server(self) -> None:
        """Stop the dev server (SIGTERM or SIGKILL) and start it again on the same file."""
        sig = self.rng.choice([signal.SIGTERM, signal.SIGKILL])
        self.server_down = True
        try:
            say(f"stopping the Temporal dev server with {sig.name}")
            server = self.cluster.server
            server.signal(sig)
            if server.process is not None:
                try:
                    await asyncio.to_thread(server.process.wait, 30)
                except subprocess.TimeoutExpired:
                    server.signal(signal.SIGKILL)
                    await asyncio.to_thread(server.process.wait)
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
            await self.cluster.start_server()
            self.counts.server_restarts += 1
            self.counts.server_stop_signal = sig.name
            say("the Temporal dev server is back on its file database")
        finally:
            self.server_down = False

    async def db_fault(self) -> None:
        """Terminate the backends of activities inside a statement or transaction."""
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            busy = await asyncio.to_thread(self.cluster.busy_backends)
            if busy:
                done = await asyncio.to_thread(self.cluster.terminate, [pid for pid, _, _ in busy])
                if done:
                    self.counts.db_faults += 1
                    self.counts.backends_terminated += done
                    for _, _, table in busy:
                        self.counts.terminated_by_table[table] += 1
                    tables = ", ".join(sorted({table for _, _, table in busy}))
                    say(f"terminated {done} database connection(s) mid-transaction ({tables})")
                    return
            await asyncio.sleep(0.003)
        say("no activity was inside a transaction for 30 s; fault skipped")

    async def run(self, window: float, kills: int, restarts: int, db_faults: int) -> None:
        """Inject the faults at seeded moments over ``window`` seconds."""
        events: list[tuple[float, str]] = [
            (self.rng.uniform(0.1, 0.9) * window, "kill") for _ in range(kills)
        ]
        events += [(self.rng.uniform(0.3, 0.7) * window, "server") for _ in range(restarts)]
        events += [(self.rng.uniform(0.05, 0.95) * window, "db") for _ in range(db_faults)]
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        for at, kind in sorted(events):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if kind == "server":
                # Nothing else breaks while the server restarts: one fault at a time there.
                await asyncio.gather(*pending)
                await self.restart_server()
            elif kind == "kill":
                task = asyncio.create_task(self.kill_worker())
                pending.add(task)
                task.add_done_callback(pending.discard)
            else:
                await self.db_fault()
        await asyncio.gather(*pending)
        self.faulting = False


# ---- checks ---------------------------------------------------------------------------------


async def history_facts(client: Client, code: str, counts: Counts) -> dict[str, Any]:
    """What the workflow asked for (every run): notices, letters; and the retries it saw."""
    notices: set[tuple[str, str, int]] = set()
    letters: set[int] = set()
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(code, run_id=run_id)
        history = await handle.fetch_history()
        names: dict[int, str] = {}
        previous = ""
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                attrs = event.workflow_execution_started_event_attributes
                previous = attrs.continued_execution_run_id
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled = event.activity_task_scheduled_event_attributes
                name = scheduled.activity_type.name
                names[event.event_id] = name
                payloads = list(scheduled.input.payloads)
                if name == "notify.agency":
                    [notice] = await client.data_converter.decode(payloads, [AgencyNoticeInput])
                    notices.add((notice.kind, notice.step, notice.sequence))
                elif name == "letters.issue-apology":
                    [letter] = await client.data_converter.decode(payloads, [ApologyInput])
                    letters.add(letter.sequence)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    failure = started.last_failure
                    why = "timed out" if failure.HasField("timeout_failure_info") else "failed"
                    counts.activity_retries[f"{names.get(started.scheduled_event_id)} {why}"] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                counts.workflow_task_timeouts += 1
        if not previous:
            return {"notices": notices, "letters": letters}
        run_id = previous


def _save(path: Path, content: str) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(content, encoding="utf-8")


def _rows(connection: Connection, columns: Sequence[Any], *where: Any) -> list[Any]:
    return list(connection.execute(select(*columns).where(*where)).all())


def duplicate_count(connection: Connection, table: Any, keys: Sequence[str]) -> int:
    """Rows minus distinct business keys of a table."""
    total = connection.execute(select(func.count()).select_from(table)).scalar_one()
    columns = [getattr(table, key) for key in keys]
    distinct = connection.execute(
        select(func.count()).select_from(select(*columns).distinct().subquery())
    ).scalar_one()
    return int(total) - int(distinct)


@dataclass
class Checker:
    """Compares each closed dossier's workflow result with the registry, row for row."""

    client: Client
    engine: Engine
    outbox: OutboxChannel
    counts: Counts
    catalog: Catalog = field(init=False, default_factory=default_catalog)
    clock: LegalClock = field(init=False, default_factory=lambda: LegalClock(default_calendar()))

    def fail(self, check: str, code: str, detail: str) -> None:
        """Record a discrepancy."""
        self.counts.discrepancies.append(f"{code}: {check}: {detail}")

    def ok(self, check: str, passed: bool) -> None:
        """Count a check's result."""
        self.counts.checks[f"{check} {'ok' if passed else 'FAILED'}"] += 1

    async def dossier(self, scenario: Scenario, outcome: Outcome) -> None:
        """Every check of one dossier."""
        code = outcome.code
        if outcome.error:
            self.fail("driver", code or f"#{scenario.index}", outcome.error)
        if not code:
            return
        handle = self.client.get_workflow_handle(code, result_type=DossierResult)
        description = await handle.describe()
        if description.status is not WorkflowExecutionStatus.COMPLETED:
            status = description.status.name if description.status else "?"
            self.fail("closed", code, f"{status}; see the stuck list below")
            self.ok("closed", False)
            return
        self.ok("closed", True)
        result: DossierResult = await handle.result()
        facts = await history_facts(self.client, code, self.counts)
        self.counts.statuses[result.status] += 1
        expected = expected_status(scenario, outcome)
        self._check("status as the acts imply", code, result.status == expected,
                    f"{result.status}, expected {expected} ({scenario.fate})")  # fmt: skip
        if scenario.fate == "late":  # one missed appointment: exactly one letter
            self._check("one apology per missed appointment", code, len(result.apologies) == 1,
                        f"{len(result.apologies)} letters for one missed appointment")  # fmt: skip
        else:
            self.counts.rows["apologies for dossiers received today"] += len(result.apologies)
        with self.engine.connect() as connection:
            self._registry(connection, scenario, outcome, result, facts)

    def _check(self, check: str, code: str, passed: bool, detail: str) -> None:
        self.ok(check, passed)
        if not passed:
            self.fail(check, code, detail)

    def _registry(
        self,
        connection: Connection,
        scenario: Scenario,
        outcome: Outcome,
        result: DossierResult,
        facts: dict[str, Any],
    ) -> None:
        code = outcome.code
        check = self._check
        rows = _rows(
            connection,
            [DossierRecord.status, DossierRecord.apologies, DossierRecord.verdict,
             DossierRecord.finished_at],
            DossierRecord.code == code,
        )  # fmt: skip
        row = rows[0] if rows else None
        check("dossier row == result", code,
              row is not None and row.status == result.status
              and row.apologies == len(result.apologies)
              and row.verdict == result.verdict and row.finished_at is not None,
              f"row {tuple(row) if row else None} vs status {result.status}, "
              f"{len(result.apologies)} apologies, verdict {result.verdict}")  # fmt: skip

        handovers = _rows(
            connection,
            [HandoverRecord.sequence, HandoverRecord.procedure_code, HandoverRecord.step,
             HandoverRecord.from_agency, HandoverRecord.result],
            HandoverRecord.dossier_code == code,
        )  # fmt: skip
        ledger = [(r.sequence, r.procedure, r.step, r.from_agency, r.result) for r in result.ledger]
        self.counts.rows["handovers"] += len(handovers)
        check("handovers == ledger", code, sorted(tuple(h) for h in handovers) == ledger,
              f"{len(handovers)} rows vs {len(ledger)} ledger rows")  # fmt: skip

        plan = plan_dossier(self.catalog, self.clock, scenario.procedure, scenario.received_at)
        steps = _rows(
            connection, [StepRecord.step_key, StepRecord.status], StepRecord.dossier_code == code
        )
        self.counts.rows["dossier_steps"] += len(steps)
        check("steps == plan", code,
              sorted(s.step_key for s in steps) == sorted(p.key for p in plan.steps)
              and all(s.status in ("done", "cancelled") for s in steps),
              f"{sorted((s.step_key, s.status) for s in steps)} vs "
              f"{sorted(p.key for p in plan.steps)}")  # fmt: skip

        audit = _rows(connection, [AuditRecord.step, AuditRecord.action],
                      AuditRecord.dossier_code == code)  # fmt: skip
        self.counts.rows["audit_log"] += len(audit)
        made = Counter((step, str(action)) for step, action in outcome.acts)
        found = Counter((a.step, a.action) for a in audit)
        self.counts.duplicates += sum((found - made).values())
        check("audit == acts", code, found == made,
              f"extra {dict(found - made)}, missing {dict(made - found)}")  # fmt: skip

        documents = Counter(
            kind for (kind,) in _rows(connection, [DocumentRecord.kind],
                                      DocumentRecord.dossier_code == code)
        )  # fmt: skip
        refusals = sum(1 for r in result.ledger if r.result.startswith("refused: "))
        returned = 1 if result.status is DossierStatus.RETURNED else 0
        registrations = {d.reference for d in result.documents if d.kind == "registration"}
        wanted = {
            "form-01": 1,
            "form-02": outcome.supplements,
            "form-03": refusals,
            "form-04": len(result.apologies),
            "result": returned,
            "registration": len(registrations),
        }
        got = {kind: documents.get(kind, 0) for kind in wanted}
        check("documents == workflow", code, got == wanted, f"{got} vs {wanted}")

        letters = _rows(
            connection,
            [ApologyLetterRecord.sequence, ApologyLetterRecord.letter_id,
             ApologyLetterRecord.sent_at, ApologyLetterRecord.channel,
             ApologyLetterRecord.message_id],
            ApologyLetterRecord.dossier_code == code,
        )  # fmt: skip
        self.counts.rows["apology_letters"] += len(letters)
        reported = {(a.sequence, a.letter_id) for a in result.apologies}
        self.counts.duplicates += max(0, len(letters) - len(reported))
        check("apology letters == workflow", code,
              {(x.sequence, x.letter_id) for x in letters} == reported
              and len(letters) == len(reported) == len(facts["letters"])
              and all(x.sent_at is not None for x in letters)
              and all(a.sent for a in result.apologies),
              f"{len(letters)} rows, {len(reported)} reported, "
              f"{len(facts['letters'])} asked for")  # fmt: skip

        notices = _rows(
            connection,
            [NotificationRecord.kind, NotificationRecord.step, NotificationRecord.sequence,
             NotificationRecord.sent_at, NotificationRecord.channel,
             NotificationRecord.message_id],
            NotificationRecord.dossier_code == code,
        )  # fmt: skip
        self.counts.rows["notifications"] += len(notices)
        self.counts.duplicates += max(0, len(notices) - len(facts["notices"]))
        check("notifications == workflow", code,
              sorted((n.kind, n.step, n.sequence) for n in notices) == sorted(facts["notices"])
              and all(n.sent_at is not None for n in notices),
              f"{len(notices)} rows, {len(facts['notices'])} asked for")  # fmt: skip

        mail = [(m.channel, m.message_id) for m in [*letters, *notices] if m.sent_at is not None]
        missing = [m for c, m in mail if c == "outbox" and not self.outbox.path_of(m).exists()]
        check("sent mail in the outbox", code, not missing, f"{len(missing)} messages missing")

        posted = sum(1 for r in result.ledger if r.result.startswith("handed to the post: "))
        deliveries = _rows(connection, [DeliveryRecord.step], DeliveryRecord.dossier_code == code)
        self.counts.rows["deliveries"] += len(deliveries)
        self.counts.duplicates += max(0, len(deliveries) - posted)
        check("deliveries == workflow", code, len(deliveries) == posted,
              f"{len(deliveries)} rows, {posted} hand-overs to the post")  # fmt: skip

        registers = {
            r
            for model, column in (
                (CivilRegistration, CivilRegistration.number),
                (ResidenceRegistration, ResidenceRegistration.number),
                (HealthInsuranceCard, HealthInsuranceCard.card_number),
            )
            for (r,) in _rows(connection, [column], model.dossier_code == code)
        }
        self.counts.rows["register entries"] += len(registers)
        check("agency registers == workflow", code, registers == registrations,
              f"{len(registers)} register rows, {len(registrations)} reported")  # fmt: skip

    def totals(self, codes: set[str]) -> None:
        """Table-wide checks: no stray dossier, no business key twice."""
        with self.engine.connect() as connection:
            stored = {code for (code,) in connection.execute(select(DossierRecord.code)).all()}
            self._check("registry dossiers == submitted", "registry", stored == codes,
                        f"{len(stored - codes)} stray, {len(codes - stored)} missing")  # fmt: skip
            for table, keys in (
                (ApologyLetterRecord, ("dossier_code", "sequence")),
                (NotificationRecord, ("dossier_code", "kind", "step", "sequence")),
                (DeliveryRecord, ("dossier_code", "step")),
                (DeliveryAttemptRecord, ("tracking_number", "attempt")),
                (AuditRecord, ("dossier_code", "update_id")),
                (HandoverRecord, ("dossier_code", "sequence")),
                (CivilRegistration, ("kind", "dossier_code")),
                (ResidenceRegistration, ("dossier_code",)),
                (HealthInsuranceCard, ("dossier_code",)),
            ):
                extra = duplicate_count(connection, table, keys)
                self.counts.duplicates += extra
                self._check(f"unique {table.__tablename__}", "registry", extra == 0,
                            f"{extra} duplicate rows")  # fmt: skip
            self.counts.rows["delivery_attempts"] = connection.execute(
                select(func.count()).select_from(DeliveryAttemptRecord)
            ).scalar_one()

    async def stuck(self, evidence: Path) -> None:
        """List every dossier workflow still running, with its open steps and why.

        Each one's history is saved under ``evidence`` and replayed here with the workflow code:
        a replay failure (non-determinism) is named in the report.
        """
        async for execution in self.client.list_workflows(
            "WorkflowType = 'DossierWorkflow' AND ExecutionStatus = 'Running'"
        ):
            self.counts.still_running += 1
            handle = self.client.get_workflow_handle(execution.id)
            try:
                state = await handle.query(
                    DossierWorkflow.tracking, rpc_timeout=timedelta(seconds=5)
                )
                steps = ", ".join(f"{s.key}@{s.agency}" for s in state.open_steps) or "none"
                detail = f"still running in status {state.status}; open steps: {steps}"
            except Exception as exc:  # a workflow whose tasks fail cannot answer a query
                detail = f"still running; tracking query failed ({type(exc).__name__})"
            history = await handle.fetch_history()
            saved = evidence / f"{execution.id}.json"
            await asyncio.to_thread(_save, saved, history.to_json())
            replay = await Replayer(
                workflows=WORKFLOWS, data_converter=self.client.data_converter
            ).replay_workflow(history, raise_on_replay_failure=False)
            if replay.replay_failure is not None:
                first_line = str(replay.replay_failure).splitlines()[0][:300]
                detail += f"; replaying its history fails: {first_line}"
            self.fail("stuck", execution.id, f"{detail} (history: {saved})")


# ---- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The run's bounds."""

    dossiers: int
    minutes: float
    kills: int
    db_faults: int
    server_restarts: int
    settle_minutes: float
    seed: int
    admin_url: str
    keep: bool
    kill_aim: str = "transaction"
    json: bool = False


async def run(options: Options, counts: Counts, root: Path) -> None:
    """Set up, break things for a while, settle, check; fills ``counts``."""
    rng = random.Random(options.seed)
    key_spec = new_key_spec("chaos")
    ring = KeyRing.from_spec(key_spec)
    cluster = Cluster(root, options.admin_url, key_spec)
    # A throwaway key for synthetic data; kept with the histories so a kept run can be replayed.
    descriptor = os.open(root / "data-keys", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key_spec + "\n")
    with use_key_ring(ring):
        try:
            say(f"database {cluster.db_name} on {mask_url(options.admin_url)}")
            cluster.create_database()
            await cluster.start_server()
            client = await Client.connect(
                **connect_config(cluster.address),
                data_converter=data_converter(ring),
                runtime=quiet_runtime(),
            )
            await register_search_attributes(client)
            for worker in cluster.workers:
                if not await cluster.start_worker(worker):
                    raise ChaosError(f"worker {worker.name} did not start; see {worker.log}")
            say(f"Temporal at {cluster.address}; {len(cluster.workers)} workers up")
            await _break_and_check(options, counts, cluster, client, rng, root)
        finally:
            cluster.stop_all()
            cluster.drop_database()


async def _break_and_check(
    options: Options,
    counts: Counts,
    cluster: Cluster,
    client: Client,
    rng: random.Random,
    root: Path,
) -> None:
    window = options.minutes * 60
    scenarios = build_scenarios(options.dossiers, rng, window)
    counts.dossiers = len(scenarios)
    counts.fates.update(s.fate for s in scenarios)
    started = time.monotonic()
    until = started + window + options.settle_minutes * 60
    drivers = [Driver(client, cluster.own_url, s, until) for s in scenarios]
    chaos = Chaos(cluster, random.Random(rng.random()), counts, options.kill_aim == "transaction")
    stop = asyncio.Event()
    supervisor = asyncio.create_task(chaos.supervise(stop))
    driving = asyncio.gather(*(driver.run(started) for driver in drivers))
    try:
        await chaos.run(window, options.kills, options.server_restarts, options.db_faults)
        say("faults over; every worker up; waiting for the dossiers to close")
        outcomes = await driving
    finally:
        stop.set()
        await supervisor
    down = [w.name for w in cluster.workers if not w.alive()]
    if down:
        counts.discrepancies.append(f"workers down at the end: {', '.join(down)}")
    counts.ambiguous_acts = sum(o.ambiguous for o in outcomes)
    assert cluster.engine is not None
    outbox = OutboxChannel(root / "data" / "outbox")
    checker = Checker(client, cluster.engine, outbox, counts)
    for scenario, outcome in zip(scenarios, outcomes, strict=True):
        await retry(functools.partial(checker.dossier, scenario, outcome), until + 60)
    checker.totals({o.code for o in outcomes if o.code})
    await checker.stuck(root / "histories")


def report(counts: Counts, options: Options, as_json: bool) -> None:
    """Print the counts: a summary for people, or one JSON object."""
    data = {
        "seed": options.seed,
        "dossiers": counts.dossiers,
        "fates": dict(counts.fates),
        "statuses": dict(counts.statuses),
        "kills": counts.kills,
        "kills_in_transaction": counts.kills_in_transaction,
        "worker_restarts": counts.worker_restarts,
        "unexpected_worker_exits": counts.unexpected_worker_exits,
        "server_restarts": counts.server_restarts,
        "server_stop_signal": counts.server_stop_signal,
        "db_faults": counts.db_faults,
        "backends_terminated": counts.backends_terminated,
        "terminated_by_table": dict(counts.terminated_by_table),
        "activity_retries": dict(counts.activity_retries),
        "workflow_task_timeouts": counts.workflow_task_timeouts,
        "ambiguous_acts": counts.ambiguous_acts,
        "rows": dict(counts.rows),
        "checks": dict(sorted(counts.checks.items())),
        "duplicates": counts.duplicates,
        "still_running": counts.still_running,
        "discrepancies": counts.discrepancies,
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    lines = [
        f"seed {options.seed}: {counts.dossiers} dossiers "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.fates.items()))})",
        f"worker kills: {counts.kills} ({counts.kills_in_transaction} inside a database "
        f"transaction); worker restarts: {counts.worker_restarts}; "
        f"unexpected worker exits: {counts.unexpected_worker_exits}",
        f"server restarts: {counts.server_restarts} ({counts.server_stop_signal or '-'})",
        f"database faults: {counts.db_faults} ({counts.backends_terminated} connections "
        f"terminated: {pairs(counts.terminated_by_table)})",
        "activity attempts retried after a fault: "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.activity_retries.items())) or "none"),
        f"workflow tasks timed out (worker killed): {counts.workflow_task_timeouts}; "
        f"acts whose answer was lost: {counts.ambiguous_acts}",
        "statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.statuses.items())),
        "rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.rows.items())),
        "checks:",
        *(f"  {name}: {n}" for name, n in sorted(counts.checks.items())),
        f"duplicates found: {counts.duplicates}",
        f"still running: {counts.still_running}",
        f"discrepancies: {len(counts.discrepancies)}",
        *(f"  {d}" for d in counts.discrepancies),
    ]
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None) -> Options:
    """Command-line options; bad values exit 2 with one line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--dossiers", type=int, default=40, help="dossiers to submit (40)")
    parser.add_argument("--minutes", type=float, default=3.0, help="fault phase length (3)")
    parser.add_argument("--kills", type=int, default=8, help="worker SIGKILLs (8)")
    parser.add_argument("--db-faults", type=int, default=8, help="database faults (8)")
    parser.add_argument(
        "--server-restarts", type=int, choices=(0, 1), default=1, help="dev server restarts (1)"
    )
    parser.add_argument(
        "--settle-minutes", type=float, default=5.0,
        help="bound on the quiet period for the dossiers to close (5)",
    )  # fmt: skip
    parser.add_argument(
        "--kill-aim", choices=("transaction", "random"), default="transaction",
        help="kill a worker while it holds a database transaction (default; each kill that cuts "
        "an activity off costs that activity's start-to-close timeout, up to 2 min) or at a "
        "random moment",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--database-url", default=ADMIN_URL,
        help="PostgreSQL server to create the chaos database on (its maintenance database URL)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.dossiers < 1 or args.kills < 0 or args.db_faults < 0:
        parser.error("--dossiers must be at least 1; --kills and --db-faults not negative")
    if args.minutes <= 0 or args.settle_minutes <= 0:
        parser.error("--minutes and --settle-minutes must be positive")
    if not make_url(args.database_url).get_backend_name().startswith("postgresql"):
        parser.error("--database-url must name a PostgreSQL server")
    return Options(
        dossiers=args.dossiers,
        minutes=args.minutes,
        kills=args.kills,
        db_faults=args.db_faults,
        server_restarts=args.server_restarts,
        settle_minutes=args.settle_minutes,
        seed=args.seed,
        admin_url=args.database_url,
        keep=args.keep,
        kill_aim=args.kill_aim,
        json=args.json,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when nothing was lost, doubled or stuck; 1 otherwise."""
    options = parse_args(argv)
    as_json = options.json
    counts = Counts()
    with workspace("chaos", options.keep, say) as space:
        try:
            asyncio.run(run(options, counts, space.root))
        except ChaosError as exc:
            counts.discrepancies.append(f"run: {exc}")
            space.keep()
        except Exception as exc:  # keep the logs of a run that broke itself, and say why
            counts.discrepancies.append(f"run failed: {type(exc).__name__}: {exc}")
            space.keep()
        except KeyboardInterrupt:
            say("interrupted")
            space.keep()
            return 1
        failed = bool(counts.discrepancies) or counts.duplicates > 0 or counts.still_running > 0
        space.keep(failed)
        report(counts, options, as_json)
    return 1 if failed else 0


if __name__ == "__main__":
    exit_process(main())
