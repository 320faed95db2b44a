"""``python starter.py simulate``: a scenario file, or a district profile.

Exit status: 0 when the run finished, 2 for a bad scenario/profile (one line on stderr), 1 when
the test server or the registry failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from domain.clock import VN_TZ

ENGINES = ("core", "temporal")


class ProgressBar:
    """A progress bar on stderr: redrawn in place on a terminal; otherwise a line per 10% of the
    dossiers and per simulated month."""

    def __init__(self, label: str, width: int = 30) -> None:
        self._label = label
        self._width = width
        self._tty = sys.stderr.isatty()
        self._shown = -1
        self._month = ""
        self._began = time.monotonic()

    def __call__(self, done: int, total: int, now: datetime) -> None:
        """Show ``done`` of ``total`` and the simulated date."""
        share = done / total if total else 1.0
        step = int(share * 10)
        month = f"{now.astimezone(VN_TZ):%Y-%m}"
        if not self._tty and step == self._shown and month == self._month and done != total:
            return
        self._shown, self._month = step, month
        filled = int(share * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        text = (
            f"{self._label} [{bar}] {done}/{total} dossiers, "
            f"simulated {now.astimezone(VN_TZ):%Y-%m-%d}, {time.monotonic() - self._began:.0f} s"
        )
        if self._tty:
            sys.stderr.write("\r" + text + ("\n" if done == total else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _positive(text: str) -> int:
    """A number of processes: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenario", type=Path, metavar="FILE", help="a scenario (YAML/JSON)")
    source.add_argument(
        "--profile", metavar="NAME", help="a district profile: sim/profiles/NAME.yaml, or a path"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--scale", type=float, default=None, help="profile: share of its dossiers (default 0.1)"
    )
    parser.add_argument(
        "--months", type=int, default=None, help="profile: months simulated (default: all)"
    )
    parser.add_argument(
        "--chart", type=Path, metavar="PNG", help="profile: where to write the weekly chart"
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="registry to write (default: a throwaway SQLite)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--workers", type=_positive, default=None, metavar="N",
        help="profile, core engine: processes sharing the dossiers (default: every processor; "
        "1 with --database-url, so that it holds the agencies' registers too)",
    )  # fmt: skip
    whatif = parser.add_argument_group(
        "what-if (profile, core engine): each prints a comparison against the baseline run"
    )
    whatif.add_argument(
        "--lose", action="append", default=[], metavar="AGENCY:N:YYYY-MM",
        help="the agency has N officers fewer from that month on",
    )  # fmt: skip
    whatif.add_argument(
        "--holiday", action="append", default=[], metavar="YYYY-MM-DD",
        help="the government adds a day off (known before the year starts)",
    )  # fmt: skip
    whatif.add_argument(
        "--surge", action="append", default=[], metavar="DESK:PROCEDURE:COUNT:YYYY-MM",
        help="COUNT more dossiers (scale 1) of a procedure at a desk in that month",
    )  # fmt: skip
    whatif.add_argument(
        "--tet-backlog", action="store_true",
        help="every agency at half capacity five working days either side of Tết",
    )  # fmt: skip
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="core",
        help="core: the dossier core in a discrete-event run (default, fast); temporal: the "
        "real workflows on the time-skipping server (the cross-check)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; ScenarioError (a ValueError) propagates for the caller's exit 2."""
    from sim.profile import load_profile, profile_path, run_profile
    from sim.scenario import load_scenario

    logging.getLogger("temporalio").setLevel(logging.ERROR)
    from sim.whatif import WhatIf, parse_day, parse_loss, parse_surge, run_what_if

    what_if = WhatIf(
        losses=[parse_loss(text) for text in args.lose],
        holidays=[parse_day(text) for text in args.holiday],
        surges=[parse_surge(text) for text in args.surge],
        tet_backlog=args.tet_backlog,
    )
    if what_if and (args.scenario is not None or args.engine != "core"):
        raise ValueError(
            "--lose, --holiday, --surge and --tet-backlog are for --profile on the core engine"
        )
    if args.scenario is not None:
        if args.scale is not None or args.months is not None or args.chart is not None:
            raise ValueError("--scale, --months and --chart are for --profile")
        scenario = load_scenario(args.scenario)
        return asyncio.run(_scenario(scenario, args))
    profile = load_profile(profile_path(args.profile))
    scale = 0.1 if args.scale is None else args.scale
    if not 0 < scale <= 1:
        raise ValueError(f"--scale {scale:g} must be more than 0 and at most 1")
    months = args.months or profile.months
    if not 1 <= months <= profile.months:
        raise ValueError(f"--months must be 1..{profile.months}")
    progress = None if args.quiet else ProgressBar(f"{profile.name} x{scale:g}")
    workers = args.workers or (1 if args.database_url else None)
    if what_if:
        text = asyncio.run(
            run_what_if(
                profile, what_if, scale=scale, months=months, chart=args.chart,
                as_json=args.json, progress=progress, workers=workers,
            )
        )  # fmt: skip
        sys.stdout.write(text)
        return 0
    text = asyncio.run(
        run_profile(
            profile,
            scale=scale,
            months=months,
            chart=args.chart,
            as_json=args.json,
            database_url=args.database_url,
            progress=progress,
            engine=args.engine,
            workers=workers,
        )
    )
    sys.stdout.write(text)
    return 0


async def _scenario(scenario: object, args: argparse.Namespace) -> int:
    from sim.output import as_json, as_text
    from sim.profile import scenario_runner
    from sim.runner import RunOptions
    from sim.scenario import Scenario

    assert isinstance(scenario, Scenario)
    progress = None if args.quiet else ProgressBar(scenario.name or "scenario")
    run_scenario = scenario_runner(args.engine)
    result = await run_scenario(
        scenario, RunOptions(database_url=args.database_url, progress=progress)
    )
    sys.stdout.write(as_json(result) if args.json else as_text(result))
    return 0
