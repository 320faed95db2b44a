"""Simulation speed: the district profile on the core engine against the Temporal mode.

Usage::

    .venv/bin/python -m bench.simulation [--core 1:10] [--runs 0.002:10]
        [--baseline-workflows 300] [--json]

``--core SCALE:MONTHS,...``: ``starter.py simulate --profile dong-da-2023 --engine core`` in
process (the dossier core in a SimPy run, `sim.core`); the default is the full profile
(90,374 dossiers, ten months): its wall time is the figure the target (< 60 s) is about.
``--workers N,...``: each core run once per number of processes (`sim.parallel`; default: one,
and every usable processor), so that the gain of sharing the run is measured in the same run.

``--runs SCALE:MONTHS,...``: the same profile with ``--engine temporal`` (the real workflows
and activities on the time-skipping test server, a throwaway SQLite registry), measured in the
same run: the rate the core engine is compared with (``core_to_temporal``: core dossiers per
second over the densest Temporal run's). A Temporal run of the full profile would take hours,
so its rate comes from a small run (the default 0.2%, ~180 dossiers, over the same months).

The bare baseline, also in the same run on a time-skipping server of its own: bare workflows of
the shape temporal-notes uses as this machine's reference (6 sequential no-op activities, then a
15-day durable timer), all started at once, completed per wall second; ``ratios_to_bare`` is
each Temporal run's dossiers per second over it (how many bare workflows' worth of work one
simulated dossier costs, whatever the machine's load).

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.cluster import cpu_model
from domain.calendar import default_calendar
from domain.clock import LegalClock
from engine.temporal import quiet_runtime, test_server_path
from sim.parallel import usable_cpus
from sim.profile import draw_dossiers, load_profile, profile_path, run_profile

FULL_PROFILE = 90_374  # 11,125 district + 79,249 ward dossiers (the source article)
BARE_ACTIVITIES = 6
BARE_TIMER = timedelta(days=15)


@activity.defn(name="bench.noop")
async def noop(step: int) -> int:
    """Does nothing: the baseline measures Temporal's cost, not the work."""
    return step


@workflow.defn(name="BenchBareTimer", sandboxed=False)
class BareTimerWorkflow:
    """Six activities one after another, then a 15-day durable timer."""

    @workflow.run
    async def run(self) -> None:
        """The reference shape."""
        for step in range(BARE_ACTIVITIES):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.sleep(BARE_TIMER)


@dataclass
class ScaleRun:
    """One profile run."""

    engine: str
    scale: float
    months: int
    dossiers: int
    unfinished: int
    wedged: int
    wall_seconds: float
    dossiers_per_second: float
    # CPU seconds of this process and its shard processes over the run (a Temporal run's test
    # server is not counted): on a shared machine, what the run would take on idle cores.
    cpu_seconds: float = 0.0
    workers: int = 1  # the core engine's processes


@dataclass
class Baseline:
    """The bare workflows' run."""

    workflows: int
    wall_seconds: float
    workflows_per_second: float


async def bare_baseline(count: int) -> Baseline:
    """``count`` bare workflows on a fresh time-skipping server, completed per wall second."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), runtime=quiet_runtime()
    ) as env:
        queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=queue, workflows=[BareTimerWorkflow], activities=[noop]
        ):
            began = time.monotonic()
            handles = await asyncio.gather(
                *(
                    env.client.start_workflow(
                        BareTimerWorkflow.run, id=f"bare-{queue}-{n}", task_queue=queue
                    )
                    for n in range(count)
                )
            )
            for handle in handles:
                await handle.result()
            wall = time.monotonic() - began
    return Baseline(count, round(wall, 2), round(count / wall, 2))


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


async def profile_run(
    scale: float, months: int, engine: str = "temporal", workers: int = 1
) -> ScaleRun:
    """The district profile at ``scale`` on ``engine`` (the core engine in ``workers``
    processes), timed from start to report."""
    profile = load_profile(profile_path("dong-da-2023"))
    dossiers = len(draw_dossiers(profile, scale, months, LegalClock(default_calendar())))
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-sim-") as scratch:
        began, cpu = time.monotonic(), _cpu()
        text = await run_profile(
            profile,
            scale=scale,
            months=months,
            chart=Path(scratch) / "weekly.png",
            as_json=True,
            engine=engine,
            workers=workers,
        )
        wall, cpu = time.monotonic() - began, _cpu() - cpu
    document = json.loads(text)
    return ScaleRun(
        engine=engine,
        scale=scale,
        months=months,
        dossiers=dossiers,
        unfinished=int(document["unfinished"]),
        wedged=int(document["wedged"]),
        wall_seconds=round(wall, 1),
        dossiers_per_second=round(dossiers / wall, 2),
        cpu_seconds=round(cpu, 1),
        workers=workers,
    )


def machine() -> str:
    """Cores and CPU model, as docs/benchmarks.md records them."""
    return f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"


def parse_runs(text: str) -> list[tuple[float, int]]:
    """``0.01:10,0.1:1`` -> [(0.01, 10), (0.1, 1)]; a run without ``:MONTHS`` is 10 months.

    Raises:
        ValueError: the message says which run is wrong and why.
    """
    runs = []
    for item in text.split(","):
        scale_text, _, months_text = item.strip().partition(":")
        try:
            scale, months = float(scale_text), int(months_text or 10)
        except ValueError:
            raise ValueError(f"{item!r}: give SCALE or SCALE:MONTHS, e.g. 0.01:10") from None
        if not 0 < scale <= 1 or not 1 <= months <= 10:
            raise ValueError(f"{item!r}: the scale must be in (0, 1] and months in 1..10")
        runs.append((scale, months))
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; bad values exit 2 with one line."""
    parser = argparse.ArgumentParser(prog="python -m bench.simulation", description=__doc__)
    parser.add_argument(
        "--core", default="1:10", help="core-engine runs SCALE:MONTHS,... (default 1:10)"
    )
    parser.add_argument(
        "--runs", default="0.002:10", help="Temporal-mode runs SCALE:MONTHS,... (default 0.002:10)"
    )
    parser.add_argument(
        "--baseline-workflows", type=int, default=300, help="bare workflows (default 300)"
    )
    parser.add_argument(
        "--workers", default=f"1,{usable_cpus()}",
        help="the core runs' processes N,... (default: 1 and every usable processor)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    try:
        args.workers = sorted({int(n) for n in args.workers.split(",")})
    except ValueError:
        parser.error(f"--workers {args.workers!r}: processes as N,N,... (whole numbers)")
    if args.workers[0] < 1:
        parser.error("--workers: 1 process or more")
    try:
        args.runs = parse_runs(args.runs)
    except ValueError as err:
        parser.error(f"--runs {err}")
    try:
        args.core = parse_runs(args.core)
    except ValueError as err:
        parser.error(f"--core {err}")
    if args.baseline_workflows < 1:
        parser.error("--baseline-workflows must be at least 1")
    return args


@dataclass
class Figures:
    """Everything one benchmark run measured."""

    command: str
    machine: str
    baseline: list[Baseline]
    runs: list[ScaleRun]
    ratios_to_bare: list[float]
    projected_full_profile_seconds: int  # Temporal mode, at its densest run's rate
    core_runs: list[ScaleRun]
    core_to_temporal: list[float]  # each core run's dossiers/s over the densest Temporal run's
    full_profile_core_seconds: float | None  # measured, when a core run is the full profile
    # The full profile on the core engine at the densest core run's rate (in the most
    # processes): per wall second, and per CPU second of its processes (on idle cores).
    projected_core_full_profile_seconds: int = 0
    projected_core_full_profile_cpu_seconds: int = 0
    target_seconds: int = 60


async def measure(args: argparse.Namespace) -> Figures:
    """The baseline, then each scale, then the baseline again (the machine's load drifts)."""
    before = await bare_baseline(args.baseline_workflows)
    runs = [await profile_run(scale, months) for scale, months in args.runs]
    core = [
        await profile_run(scale, months, "core", workers)
        for scale, months in args.core
        for workers in args.workers
    ]
    after = await bare_baseline(args.baseline_workflows)
    bare_rate = (before.workflows_per_second + after.workflows_per_second) / 2
    # The densest run (the highest scale) is the closest to the full profile's load.
    largest = max(runs, key=lambda run: (run.scale, run.dossiers))
    # ... and of the core runs, the one in the most processes (the projection's wall time).
    densest_core = max(core, key=lambda run: (run.scale, run.dossiers, run.workers))
    return Figures(
        command="python -m bench.simulation " + " ".join(sys.argv[1:]),
        machine=machine(),
        baseline=[before, after],
        runs=runs,
        ratios_to_bare=[round(run.dossiers_per_second / bare_rate, 3) for run in runs],
        projected_full_profile_seconds=round(FULL_PROFILE / largest.dossiers_per_second),
        core_runs=core,
        core_to_temporal=[
            round(run.dossiers_per_second / largest.dossiers_per_second, 1) for run in core
        ],
        full_profile_core_seconds=next(
            (
                run.wall_seconds
                for run in reversed(core)  # the most processes
                if (run.scale, run.months) == (1.0, 10)
            ),
            None,
        ),
        projected_core_full_profile_seconds=round(
            FULL_PROFILE * densest_core.wall_seconds / max(densest_core.dossiers, 1)
        ),
        projected_core_full_profile_cpu_seconds=round(
            FULL_PROFILE * densest_core.cpu_seconds / max(densest_core.dossiers, 1)
        ),
    )


def report(figures: Figures) -> str:
    """The figures as text."""
    lines = [f"machine: {figures.machine}", f"command: {figures.command}", ""]
    for base in figures.baseline:
        lines.append(
            f"bare baseline: {base.workflows} workflows (6 activities + 15-day timer) in "
            f"{base.wall_seconds} s = {base.workflows_per_second} workflows/s"
        )
    lines += ["", "scale  months  dossiers  unfinished (wedged)  wall s  dossiers/s  ratio to bare"]
    for run, ratio in zip(figures.runs, figures.ratios_to_bare, strict=True):
        lines.append(
            f"{run.scale:<6} {run.months:>6} {run.dossiers:>9} {run.unfinished:>11} "
            f"{f'({run.wedged})':>9}"
            f"{run.wall_seconds:>7} {run.dossiers_per_second:>11} {ratio:>14}"
        )
    minutes = figures.projected_full_profile_seconds / 60
    lines += [
        "",
        f"projection (not measured): the full profile, {FULL_PROFILE:,} dossiers, in Temporal "
        f"mode at the densest run's rate: {minutes:.0f} min",
        "",
        "core engine:",
        "scale  months  procs  dossiers  unfinished  wall s   CPU s  dossiers/s  x Temporal mode",
    ]
    for run, ratio in zip(figures.core_runs, figures.core_to_temporal, strict=True):
        lines.append(
            f"{run.scale:<6} {run.months:>6} {run.workers:>6} {run.dossiers:>9}"
            f"{run.unfinished:>12}"
            f"{run.wall_seconds:>8}{run.cpu_seconds:>8} {run.dossiers_per_second:>11} {ratio:>16}"
        )
    densest = max(figures.core_runs, key=lambda run: (run.scale, run.dossiers, run.workers))
    lines.append(
        f"projection: the full profile on the core engine at the densest core run's rate "
        f"({densest.workers} processes): "
        f"{figures.projected_core_full_profile_seconds} s wall, "
        f"{figures.projected_core_full_profile_cpu_seconds} s of CPU"
    )
    if figures.full_profile_core_seconds is not None:
        lines.append(
            f"full profile on the core engine: {figures.full_profile_core_seconds} s "
            f"(target {figures.target_seconds} s)"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print; exit 0 (nothing is asserted)."""
    args = parse_args(argv)
    figures = asyncio.run(measure(args))
    print(json.dumps(asdict(figures), indent=2) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
