"""History cost: what one dossier of each procedure writes into Temporal's history, now against a
baseline commit measured in the same run.

Usage::

    .venv/bin/python -m bench.history [--base REV | --no-base] [--procedure CODE ...]
        [--repeat N] [--bound S] [--server test|dev] [--json]

For every procedure and combined bundle in force on the receipt day (or only the ``--procedure``
ones) it runs ONE dossier on the approval path: every required document handed in, the demo
parcel, a person the registers do not know (the marital-status check needs one to look up), the
result collected at the desk (no home delivery), scripted officers approving every step and paying
what is due (`tests.harness.officers_until`) until the workflow closes. Each dossier has a
Temporal time-skipping test server of its own, the real workers (`tests.harness.running_engine`),
a throwaway SQLite registry and a generated data key, in a process of its own. From the closed
workflow's history (and its children's, if it ever has any) it counts the events, the
activities by type, the timers started, fired and cancelled, the workflow tasks, the updates
accepted, signals, search-attribute upserts and markers (local activities).

The baseline is ``--base REV``, by default `BASELINE` (``cc3f158``): the last commit before the
rewrite of the dossier core (`workflows/dossier.py`), whose land-and-permit dossier asks the legal
clock through dozens of activities. The base tree is checked out with ``git worktree add
--detach`` in a temporary directory, removed at the end whatever happens; a copy of this file
measures there with the same Python, so the base's own workflow, workers, harness and catalog
run. That copy uses only names both trees have: `tests.harness` (running_engine, submit,
officers_until, all_documents), `engine.temporal` (register_search_attributes,
test_server_path), `store.migrate.upgrade`, `store.seed.DEMO_PARCEL`, `engine.crypto` (KeyRing,
use_key_ring), `domain.dossier.DossierFacts` and temporalio; the parent lists the procedures
with `domain.catalog.default_catalog` of the current tree. "Now" is the working tree this file
lives in, uncommitted changes included. Each tree runs ``--repeat`` dossiers per procedure
(1), and the row shows the median: a history's size moves by up to ~10% from run to run (the
officers' updates and the activities' completions batch differently into workflow tasks, and
registry syncs coalesce differently), so compare small differences with ``--repeat 5``.

The receipt moment is fixed so that runs compare: Monday 09:00 Vietnam time, 2 March 2026
(`FIRST_RECEIPT`), moved on by whole 52-week years until it lies ahead of today, because the
test server starts at the real time and only moves forward (a receipt in its past would make
every step late and add apology letters). The server skips to that moment, then the dossier is
received; the same moment serves both trees in one run.

``--server dev`` measures on the real dev server (in memory) instead, as a production cluster
would record the same dossier: the time-skipping server records workflow tasks the dev server
does not (for one, an empty workflow task right after the first activity is scheduled), a
handful of events per dossier. The dev server cannot skip time, so the dossier is received at
once, and the procedures that wait out a public notice are left out.

Each dossier must close within ``--bound`` seconds of wall time (180), else its row says
``timeout`` and the run goes on. It prints a table (ratio = now / base), the activities by type,
and the targets of the rewrite with "met" / "NOT met". Progress goes to stderr; ``--json``
prints one JSON document instead of the table. It always exits 0 once it has measured: a missed
target is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.client import Client

# The last commit before the dossier core rewrite: the figures it is measured against.
BASELINE = "cc3f158"
# Monday 2 March 2026, 09:00 in Vietnam (UTC+7); a later run uses the same Monday 52·k weeks on.
FIRST_RECEIPT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
YEAR_OF_WEEKS = timedelta(weeks=52)
DESK = "DONGDA"
BOUND = 180.0
# What the child process may take beyond the dossier's bound: interpreter, server, workers.
SETUP_GRACE = 90.0
TREE_ROOT = Path(__file__).resolve().parent.parent
# The copy of this file the base tree runs: a top-level module name no tree uses.
PROBE = "bench_history_probe"
TARGETS = {"land-and-permit": 300, "birth-residence-insurance": 80, "certified-copy": 50}
CLOCK_PREFIX = "clock."


def say(message: str) -> None:
    """A progress line (stderr, so ``--json`` keeps stdout clean)."""
    print(f"[history] {message}", file=sys.stderr, flush=True)


# ---- counting a history -------------------------------------------------------------------


@dataclass
class Counts:
    """What one dossier's history holds, or why it could not be measured.

    ``outcome`` is ``ok``, ``timeout`` or ``error`` (then ``error`` says what happened).
    """

    procedure: str
    outcome: str = "ok"
    error: str = ""
    status: str = ""
    seconds: float = 0.0
    events: int = 0
    activities: int = 0
    activities_by_type: dict[str, int] = field(default_factory=dict)
    timers_started: int = 0
    timers_fired: int = 0
    timers_cancelled: int = 0
    workflow_tasks: int = 0
    updates_accepted: int = 0
    signals: int = 0
    search_attribute_upserts: int = 0
    markers: int = 0
    child_workflows: int = 0
    tree: str = ""

    @property
    def ok(self) -> bool:
        """Whether the dossier was measured."""
        return self.outcome == "ok"

    def add(self, other: Counts) -> None:
        """Add another history's counts (a child workflow's) to these."""
        for name in (
            "events", "activities", "timers_started", "timers_fired", "timers_cancelled",
            "workflow_tasks", "updates_accepted", "signals", "search_attribute_upserts",
            "markers", "child_workflows",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        merged = Counter(self.activities_by_type)
        merged.update(other.activities_by_type)
        self.activities_by_type = dict(sorted(merged.items()))


# The history event attributes counted one by one: Counts field per attributes field.
_COUNTED = {
    "timer_started_event_attributes": "timers_started",
    "timer_fired_event_attributes": "timers_fired",
    "timer_canceled_event_attributes": "timers_cancelled",
    "workflow_task_completed_event_attributes": "workflow_tasks",
    "workflow_execution_update_accepted_event_attributes": "updates_accepted",
    "workflow_execution_signaled_event_attributes": "signals",
    "upsert_workflow_search_attributes_event_attributes": "search_attribute_upserts",
    "marker_recorded_event_attributes": "markers",
    "start_child_workflow_execution_initiated_event_attributes": "child_workflows",
}


def count_events(procedure: str, events: Sequence[HistoryEvent]) -> tuple[Counts, list[str]]:
    """Count one history's events; also return the ids of the child workflows it started."""
    counts = Counts(procedure=procedure, events=len(events))
    by_type: Counter[str] = Counter()
    children: list[str] = []
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "activity_task_scheduled_event_attributes":
            by_type[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif kind in _COUNTED:
            setattr(counts, _COUNTED[kind], getattr(counts, _COUNTED[kind]) + 1)
        if kind == "start_child_workflow_execution_initiated_event_attributes":
            children.append(
                event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            )
    counts.activities = sum(by_type.values())
    counts.activities_by_type = dict(sorted(by_type.items()))
    return counts, children


async def count_workflow(client: Client, procedure: str, workflow_id: str) -> Counts:
    """The counts of a closed workflow's history plus those of every child it started."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    counts, children = count_events(procedure, list(history.events))
    for child in children:
        counts.add(await count_workflow(client, procedure, child))
    return counts


# ---- measuring one dossier (runs in either tree) ------------------------------------------


def receipt_moment(now: datetime) -> datetime:
    """`FIRST_RECEIPT`, moved on by whole 52-week years until it is at least a day after ``now``
    (still a Monday at 09:00 in Vietnam, in the same week of the year)."""
    moment = FIRST_RECEIPT
    while moment < now + timedelta(days=1):
        moment += YEAR_OF_WEEKS
    return moment


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """The SDK's expected complaints (the test server lacks some capabilities) kept off the
    output: a child's stderr is shown only when it failed."""
    logger = logging.getLogger("temporalio")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


async def measure_dossier(
    procedure: str, received: datetime, bound: float = BOUND, server: str = "test"
) -> Counts:
    """Run one ``procedure`` dossier received at ``received`` on the approval path; count its
    history.

    Uses only what the baseline tree has too (see the module docstring). The dossier, from
    submission to its closed history, must take under ``bound`` seconds of wall time.

    Args:
        procedure: A procedure or combined bundle code of the tree's catalog.
        received: The receipt moment; the test server skips to it first (it must be ahead).
        bound: Wall-time limit of the dossier, in seconds.
        server: ``test``, the time-skipping test server (it skips to ``received``); or ``dev``,
            the real dev server in memory, received now (no time skipping: procedures with a
            public notice cannot finish there).

    Returns:
        The counts, or a `Counts` whose outcome is ``timeout`` or ``error``.
    """
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
    from temporalio.testing import WorkflowEnvironment

    from domain.dossier import DossierFacts
    from engine.crypto import KeyRing
    from engine.keys import use_key_ring
    from engine.temporal import register_search_attributes, test_server_path
    from store.migrate import upgrade
    from store.seed import DEMO_PARCEL
    from tests.harness import all_documents, officers_until, running_engine, submit

    errors_only = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=errors_only)))
    code = f"{DESK}-{received:%y%m%d}-0001"
    facts = DossierFacts(
        parcel=DEMO_PARCEL,
        documents=all_documents(procedure, received),
        home_delivery=False,
        # Someone the registers do not know, as sim/driver.py does: the marital-status check
        # needs a person to look up (and finds them single); the other procedures pass anyway.
        subject_ref=f"BENCH-{code}",
    )
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lienthong-history-") as scratch,
        use_key_ring(KeyRing.generate("bench-history")),
        _quiet_sdk(),
    ):
        url = f"sqlite:///{scratch}/registry.db"
        upgrade(url)
        # Clear payloads, as tests/record_history.py: the codec changes no event count.
        if server == "dev":
            from engine.names import SEARCH_ATTRIBUTES
            from engine.temporal import dev_server_path

            started_env = await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                dev_server_existing_path=dev_server_path(),
                search_attributes=SEARCH_ATTRIBUTES,
                runtime=runtime,
            )
        else:
            started_env = await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=test_server_path(),
                runtime=runtime,
            )
        async with started_env as env:
            if server != "dev":
                await register_search_attributes(env.client)
            async with running_engine(env.client, "bench-history", url):
                now = await env.get_current_time()
                if server == "dev":
                    received = now
                elif received <= now:
                    raise ValueError(f"the test server is at {now:%Y-%m-%d %H:%M}, past {received}")
                else:
                    await env.sleep(received - now)

                async def dossier() -> str:
                    handle = await submit(
                        env, "bench-history", procedure, received=received, code=code, facts=facts
                    )
                    final = await officers_until(env, handle, lambda state: False, within=bound)
                    await handle.result()
                    return str(final.status)

                try:
                    status = await asyncio.wait_for(dossier(), bound)
                except TimeoutError:
                    return Counts(
                        procedure, "timeout", seconds=round(time.monotonic() - started, 1)
                    )
                counts = await count_workflow(env.client, procedure, code)
    counts.status = status
    counts.seconds = round(time.monotonic() - started, 1)
    return counts


def _measure_main(procedure: str, received: datetime, bound: float, server: str) -> int:
    """The child process: measure one dossier, print its counts as the last line of stdout."""
    try:
        counts = asyncio.run(measure_dossier(procedure, received, bound, server))
    except Exception as exc:  # the row says what broke; the run goes on
        counts = Counts(procedure, "error", error=f"{type(exc).__name__}: {exc}"[:500])
    from tests import harness

    # Which tree's harness (and so workflow) ran, checked by the parent.
    counts.tree = str(Path(harness.__file__).resolve().parents[1])
    print(json.dumps(asdict(counts)), flush=True)
    return 0


# ---- the run: both trees, one child process per dossier ------------------------------------


@dataclass
class Tree:
    """A source tree measured: where it is, what it is and how to run the probe there."""

    name: str
    root: Path
    module: str
    describe: str


def _git(*args: str, cwd: Path = TREE_ROOT) -> str:
    run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {run.stderr.strip() or run.returncode}")
    return run.stdout.strip()


def current_tree() -> Tree:
    """The working tree this file is in, uncommitted changes included."""
    head = _git("rev-parse", "--short", "HEAD")
    dirty = (
        " + uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    )
    return Tree("now", TREE_ROOT, "bench.history", f"{TREE_ROOT} at {head}{dirty}")


@contextlib.contextmanager
def base_tree(rev: str) -> Iterator[Tree]:
    """A detached worktree of ``rev`` in a temporary directory, with a copy of this file as
    `PROBE`; the worktree is removed afterwards, whatever happened."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="lienthong-history-base-"))
    root = parent / "tree"
    try:
        _git("worktree", "add", "--detach", str(root), commit)
        shutil.copyfile(Path(__file__), root / f"{PROBE}.py")
        subject = _git("log", "-1", "--format=%h %s", commit)
        yield Tree("base", root, PROBE, f"{rev} = {subject}")
    finally:
        try:
            _git("worktree", "remove", "--force", str(root))
        except RuntimeError:
            # Half made or already gone: drop the files, then git's record of them.
            shutil.rmtree(root, ignore_errors=True)
            with contextlib.suppress(RuntimeError):
                _git("worktree", "prune")
        shutil.rmtree(parent, ignore_errors=True)


def _child_env(tree: Path) -> dict[str, str]:
    """This environment without the user's LIENTHONG_/TEMPORAL_/DATABASE_URL settings, the
    tree first on the import path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LIENTHONG_", "TEMPORAL_"))
        and key not in ("DATABASE_URL", "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(tree)
    return env


def measure_in(
    tree: Tree, procedure: str, received: datetime, bound: float, server: str = "test"
) -> Counts:
    """One dossier measured by a child process in ``tree`` (cwd and sys.path[0] are the tree);
    killed if it runs past the bound plus `SETUP_GRACE`."""
    command = [
        sys.executable, "-m", tree.module, "--measure-json", procedure,
        "--received", received.isoformat(), "--bound", str(bound), "--server", server,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        run = subprocess.run(
            command, cwd=tree.root, env=_child_env(tree.root), capture_output=True, text=True,
            timeout=bound + SETUP_GRACE, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Counts(procedure, "timeout", seconds=round(time.monotonic() - started, 1))
    lines = run.stdout.strip().splitlines()
    try:
        counts = Counts(**json.loads(lines[-1]))
    except (IndexError, ValueError, TypeError):
        tail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return Counts(procedure, "error", error=tail[:500])
    if counts.ok and counts.tree != str(tree.root.resolve()):
        return Counts(procedure, "error", error=f"measured {counts.tree}, not {tree.root}")
    return counts


def needs_time_skipping(code: str, day: date) -> bool:
    """Whether a dossier of ``code`` waits out a public notice (days of real time)."""
    from domain.catalog import StepKind, default_catalog

    catalog = default_catalog()
    versions = (
        catalog.components_on(code, day)
        if catalog.is_combined(code)
        else (catalog.version_on(code, day),)
    )
    return any(step.kind is StepKind.PUBLIC_NOTICE for v in versions for step in v.steps)


def procedures_in_force(day: date) -> list[str]:
    """Every procedure and combined bundle code a dossier can be filed under on ``day``."""
    from domain.catalog import default_catalog

    return [entry.code for entry in default_catalog().list_in_force(day)]


@dataclass
class Row:
    """One procedure's figures in both trees: the median run of each (by events) and the
    event counts of every run."""

    procedure: str
    now: Counts
    base: Counts | None = None
    now_runs: list[int] = field(default_factory=list)
    base_runs: list[int] = field(default_factory=list)


def median_run(runs: Sequence[Counts]) -> Counts:
    """The measured run with the median event count (the lower one of an even count), or the
    first run if none was measured."""
    measured = sorted((counts for counts in runs if counts.ok), key=lambda c: c.events)
    return measured[(len(measured) - 1) // 2] if measured else runs[0]


@dataclass
class Report:
    """Everything the run prints."""

    received: str
    now: str
    base: str | None
    bound: float
    repeat: int = 1
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)


def run(
    procedures: Sequence[str],
    base_rev: str | None,
    bound: float,
    repeat: int = 1,
    server: str = "test",
) -> Report:
    """Measure every procedure ``repeat`` times in the current tree and, unless ``base_rev`` is
    None, as often in that revision; on the dev server, only those without a public notice."""
    started = time.monotonic()
    received = receipt_moment(datetime.now(UTC))
    codes = list(procedures) or procedures_in_force(received.date())
    if server == "dev":
        waiting = [code for code in codes if needs_time_skipping(code, received.date())]
        if waiting:
            say(f"skipped on the dev server (a real public notice): {', '.join(waiting)}")
        codes = [code for code in codes if code not in waiting]
    now = current_tree()
    say(f"receipt {received.isoformat()}; {len(codes)} procedures: {', '.join(codes)}")
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(base_tree(base_rev)) if base_rev else None
        described = base.describe if base else None
        report = Report(received.isoformat(), now.describe, described, bound, repeat)
        for code in codes:
            runs = [_measured(now, code, received, bound, server) for _ in range(repeat)]
            row = Row(code, median_run(runs), now_runs=[c.events for c in runs if c.ok])
            if base is not None:
                runs = [_measured(base, code, received, bound, server) for _ in range(repeat)]
                row.base, row.base_runs = median_run(runs), [c.events for c in runs if c.ok]
            report.rows.append(row)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _measured(tree: Tree, code: str, received: datetime, bound: float, server: str) -> Counts:
    say(f"{tree.name:4} {code} ...")
    counts = measure_in(tree, code, received, bound, server)
    if counts.ok:
        what = f"{counts.events} events, {counts.activities} activities"
    else:
        what = f"{counts.outcome} {counts.error}".strip()
    say(f"{tree.name:4} {code}: {what} ({counts.seconds:.1f} s)")
    return counts


# ---- the report ---------------------------------------------------------------------------


def _figure(counts: Counts | None, name: str) -> str:
    if counts is None:
        return "-"
    if not counts.ok:
        return counts.outcome
    return str(getattr(counts, name))


def _ratio(now: Counts, base: Counts | None, name: str) -> str:
    if base is None or not (now.ok and base.ok) or not getattr(base, name):
        return "-"
    return f"{getattr(now, name) / getattr(base, name):.2f}"


def _timers(counts: Counts | None) -> str:
    if counts is None:
        return "-"
    if not counts.ok:
        return counts.outcome
    return f"{counts.timers_started}/{counts.timers_fired}/{counts.timers_cancelled}"


def targets(report: Report) -> list[dict[str, Any]]:
    """The rewrite's targets, judged on the current tree's figures."""
    rows = {row.procedure: row.now for row in report.rows}
    judged: list[dict[str, Any]] = []
    for code, limit in TARGETS.items():
        counts = rows.get(code)
        if counts is None:
            continue
        judged.append(
            {
                "target": f"{code} ≤ {limit} events",
                "figure": counts.events if counts.ok else counts.outcome,
                "met": counts.ok and counts.events <= limit,
            }
        )
    measured = [counts for counts in rows.values() if counts.ok]
    clock = {
        f"{counts.procedure}:{name}": number
        for counts in measured
        for name, number in counts.activities_by_type.items()
        if name.startswith(CLOCK_PREFIX)
    }
    judged.append(
        {
            "target": f"no activity whose type starts with {CLOCK_PREFIX!r}",
            "figure": sum(clock.values()),
            "met": not clock and len(measured) == len(rows),
        }
    )
    return judged


def _status(row: Row) -> str:
    now = row.now.status or "-"
    if row.base is None or row.base.status in ("", row.now.status):
        return now
    return f"{now}/{row.base.status}"


def _messages(counts: Counts) -> str:
    if not counts.ok:
        return "-"
    return (
        f"{counts.updates_accepted}/{counts.signals}/{counts.search_attribute_upserts}/"
        f"{counts.markers}"
    )


def table_lines(report: Report) -> list[str]:
    """One row per procedure: now against base."""
    lines = [
        f"{'procedure':28} {'events':>6} {'base':>5} {'ratio':>5}  {'activities':>10} {'base':>4}"
        f"  {'timers s/f/c':>12} {'base':>9}  {'wf tasks':>8} {'base':>4}  "
        f"{'upd/sig/SA/mk':>13}  status",
    ]
    for row in report.rows:
        now, base = row.now, row.base
        lines.append(
            f"{row.procedure:28} {_figure(now, 'events'):>6} {_figure(base, 'events'):>5} "
            f"{_ratio(now, base, 'events'):>5}  {_figure(now, 'activities'):>10} "
            f"{_figure(base, 'activities'):>4}  {_timers(now):>12} {_timers(base):>9}  "
            f"{_figure(now, 'workflow_tasks'):>8} {_figure(base, 'workflow_tasks'):>4}  "
            f"{_messages(now):>13}  {_status(row)}"
        )
    lines.append(
        "ratio = now/base; timers started/fired/cancelled; upd/sig/SA/mk (now) = updates "
        "accepted, signals, search-attribute upserts, markers (local activities)"
    )
    if report.repeat > 1:
        lines.append(f"median of {report.repeat} runs each; the events of every run:")
        lines += [
            f"  {row.procedure:28} now {row.now_runs}"
            + (f", base {row.base_runs}" if row.base is not None else "")
            for row in report.rows
        ]
    return lines


def activity_lines(row: Row) -> list[str]:
    """A procedure's activities by type, now against base."""
    now, base = row.now, row.base
    lines = [f"activities by type, {row.procedure}:", f"  {'':40} {'now':>5} {'base':>5}"]
    names = sorted({*now.activities_by_type, *(base.activities_by_type if base else {})})
    for name in [*names, "total"]:
        figures = [
            "-"
            if counts is None or not counts.ok
            else str(
                counts.activities if name == "total" else counts.activities_by_type.get(name, 0)
            )
            for counts in (now, base)
        ]
        lines.append(f"  {name:40} {figures[0]:>5} {figures[1]:>5}")
    for side, counts in (("now", now), ("base", base)):
        if counts is not None and not counts.ok:
            lines.append(f"  {side}: {counts.outcome} {counts.error}".rstrip())
    return lines


def report_lines(report: Report) -> list[str]:
    """The table, the activities by type and the targets, for people."""
    lines = [
        f"receipt: {report.received} (Monday 09:00 Vietnam time); bound {report.bound:.0f} s "
        "per dossier",
        f"now:  {report.now}",
        f"base: {report.base or '(not measured: --no-base)'}",
        "",
        *table_lines(report),
    ]
    for row in report.rows:
        lines += ["", *activity_lines(row)]
    lines += ["", "targets (now):"]
    for target in targets(report):
        verdict = "met" if target["met"] else "NOT met"
        lines.append(f"  {target['target']:44} {target['figure']!s:>7}  {verdict}")
    lines.append(f"wall time: {report.seconds:.0f} s")
    return lines


def report_json(report: Report) -> dict[str, Any]:
    """The whole report as one JSON-ready object."""
    data = asdict(report)
    data["targets"] = targets(report)
    return data


# ---- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; bad values exit 2 with one line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.history", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--base", default=BASELINE, help=f"baseline git revision ({BASELINE})")
    parser.add_argument("--no-base", action="store_true", help="measure the current tree only")
    parser.add_argument(
        "--procedure", action="append", default=[], metavar="CODE",
        help="a procedure or combined bundle code (repeatable; default: all in force)",
    )  # fmt: skip
    parser.add_argument(
        "--bound", type=float, default=BOUND, help=f"seconds one dossier may take ({BOUND:.0f})"
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="dossiers per procedure and tree; the median one is shown (1)",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=["test", "dev"], default="test",
        help="test: the time-skipping test server (default; every procedure); dev: the real "
        "dev server, as in production (procedures without a public notice only)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    # The child process measuring one dossier in a tree (started by the run itself).
    parser.add_argument("--measure-json", metavar="CODE", help=argparse.SUPPRESS)
    parser.add_argument("--received", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bound <= 0 or args.repeat < 1:
        parser.error("--bound must be positive and --repeat at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 once measured (whatever the figures), 1 if the run could not be set up."""
    args = parse_args(argv)
    if args.measure_json:
        return _measure_main(args.measure_json, args.received, args.bound, args.server)
    try:
        base = None if args.no_base else args.base
        report = run(args.procedure, base, args.bound, args.repeat, args.server)
    except (RuntimeError, OSError) as exc:
        say(str(exc))
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 1
    if args.json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2), flush=True)
    else:
        print("\n".join(report_lines(report)), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    # As engine.temporal.exit_process: leave without interpreter finalisation, which the SDK's
    # core threads can abort (written here so the probe needs nothing more from the base tree).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
