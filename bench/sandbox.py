"""Sandbox cost: the dossier workflow's committed histories replayed under three runners.

Usage::

    .venv/bin/python -m bench.sandbox [--rounds 5] [--json]

A replay runs the workflow code exactly as a worker does for a workflow task (a fresh instance,
its module imported into the sandbox, every activation of the history), with no server and no
I/O, so the CPU time per history is the workflow worker's own cost of a dossier. Three runners
take turns, round after round, on the same histories in this one process (a shared machine's
noise hits them alike):

- ``sandboxed``: the SDK's default runner and restrictions (the workers' runner before this
  lever, and the replay tests' still); the workflow module passes through only what it imports
  inside ``imports_passed_through`` (activities, domain models);
- ``passthrough``: the same sandbox with `worker.PASSTHROUGH_MODULES` passed through too
  (the dossier shell ``workflows`` and the pure ``domain`` package): imported once per process
  instead of once per workflow run, as the workers now run;
- ``unsandboxed``: `UnsandboxedWorkflowRunner`, the floor: what the sandbox costs at most.

Printed: CPU milliseconds per history replay (median over rounds) for each runner, and each
runner's ratio to the unsandboxed floor and to the default runner. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.temporal import data_converter, exit_process
from workflows import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"


def runners() -> dict[str, WorkflowRunner]:
    """The three runners compared, by name."""
    from worker import passthrough_runner

    return {
        "sandboxed": SandboxedWorkflowRunner(),
        "passthrough": passthrough_runner(),
        "unsandboxed": UnsandboxedWorkflowRunner(),
    }


async def replay_all(runner: WorkflowRunner, histories: Sequence[WorkflowHistory],
                     ring: KeyRing) -> float:  # fmt: skip
    """CPU seconds this process spent replaying every history once under ``runner``."""
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=runner,
                        data_converter=data_converter(ring))  # fmt: skip
    started = time.process_time()
    for history in histories:
        await replayer.replay_workflow(history)
    return time.process_time() - started


async def measure(rounds: int) -> dict[str, Any]:
    """Rounds of every runner in turn; the median CPU per history of each."""
    ring = KeyRing.from_spec(new_key_spec("sandbox-bench"))
    paths = sorted(HISTORIES.glob("dossier-*.json"))
    histories = [WorkflowHistory.from_json(p.stem, p.read_text()) for p in paths]
    events = sum(len(h.events) for h in histories)
    chosen = runners()
    per: dict[str, list[float]] = {name: [] for name in chosen}
    with use_key_ring(ring):
        for runner in chosen.values():  # warm-up: first imports, caches
            await replay_all(runner, histories[:1], ring)
        for index in range(rounds):
            order = list(chosen) if index % 2 == 0 else list(reversed(chosen))
            for name in order:
                per[name].append(await replay_all(chosen[name], histories, ring))
    ms = {name: statistics.median(v) / len(histories) * 1000 for name, v in per.items()}
    return {
        "histories": len(histories),
        "events": events,
        "rounds": rounds,
        "cpu_ms_per_history": {name: round(value, 2) for name, value in ms.items()},
        "over_unsandboxed": {n: round(v / ms["unsandboxed"], 2) for n, v in ms.items()},
        "over_sandboxed": {n: round(v / ms["sandboxed"], 2) for n, v in ms.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    summary = __doc__.split("\n\n")[0] if __doc__ else None
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox", description=summary)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each runner (5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    report = asyncio.run(measure(args.rounds))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['histories']} committed dossier histories ({report['events']} events), "
          f"{report['rounds']} rounds; CPU ms per history replay (median):")  # fmt: skip
    for name, value in report["cpu_ms_per_history"].items():
        floor, default = report["over_unsandboxed"][name], report["over_sandboxed"][name]
        print(f"  {name:<12} {value:>8.2f} ms   x{floor:.2f} the unsandboxed floor, "
              f"x{default:.2f} the default runner")  # fmt: skip
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    exit_process(main())
