"""The sustained-load benchmark (bench/sustained.py), short: the report has its structure.

Nothing here asserts a time: the machine is shared, and the benchmark's figures are read as
ratios by people. The short run checks only that windows, backlog, rates and latency percentiles
come out, and that the percentiles exist when officers approved something.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.sustained import (
    LOAD_WEIGHTS,
    arrival_times,
    build_load,
    curve_lines,
    overload_verdict,
    percentiles,
    plot_curve,
    ratio,
)
from engine.settings import REPO_ROOT
from tests.services import ADMIN_URL


def test_fixed_arrivals_come_every_one_over_rate_seconds() -> None:
    times = arrival_times(2.0, 10.0, random.Random(1), poisson=False)
    assert len(times) == 19 and times[0] == pytest.approx(0.5)
    poisson = arrival_times(2.0, 10.0, random.Random(1), poisson=True)
    assert poisson == arrival_times(2.0, 10.0, random.Random(1), poisson=True)
    assert all(0 < at < 10.0 for at in poisson)


def test_the_load_is_the_ward_mix_with_prompt_officers_and_no_land_dossier() -> None:
    scenarios = build_load([float(i) for i in range(200)], random.Random(3))
    assert {s.fate for s in scenarios} <= set(LOAD_WEIGHTS)
    assert sum(s.fate == "approve" for s in scenarios) > 150
    assert not any(s.procedure.startswith("land") for s in scenarios)
    assert all(s.submit_after == s.index for s in scenarios)


def test_percentiles_by_nearest_rank() -> None:
    figures = percentiles([float(v) for v in range(1, 101)])
    assert figures == {"count": 100, "p50": 50.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) is None
    assert ratio(30.0, 10.0) == 3.0 and ratio(None, 10.0) is None and ratio(3.0, 0.0) is None


def test_bad_arguments_are_refused_with_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.sustained", "--rate", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("python -m bench.sustained: error:")


@pytest.mark.devserver
@pytest.mark.postgres
def test_a_short_run_reports_windows_backlog_and_latency_percentiles() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "TEMPORAL_"))}
    run = subprocess.run(
        [sys.executable, "-m", "bench.sustained", "--rate", "1", "--minutes", "0.25",
         "--arrivals", "fixed", "--window-seconds", "5", "--drain-seconds", "20",
         "--floor-count", "3", "--seed", "2", "--json", "--database-url", ADMIN_URL],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    report = json.loads(run.stdout)
    floor = report["floor_ms"]["before"]["update_sent_to_activity_started"]
    assert floor["count"] == 3 and floor["p50"] <= floor["p99"] <= floor["max"]
    assert report["floor_ms"]["after"]["update_sent_to_activity_started"]["count"] == 3
    [period] = report["periods"]
    assert period["arrivals"] == 14 and period["rate_offered"] == 1.0
    load = [w for w in period["windows"] if w["load"]]
    assert [(w["start_s"], w["end_s"]) for w in load] == [(0, 5), (5, 10), (10, 15)]
    assert sum(w["submitted"] for w in period["windows"]) == period["arrivals"]
    assert all(w["open_at_end"] >= 0 for w in period["windows"])
    assert isinstance(period["backlog_growth_per_min"], float)
    assert isinstance(period["held"], bool)
    assert period["driver_errors"] == 0
    assert period["refused"] == 0 and period["admission"] is None  # no gate without --admission
    assert period["history_events"] > period["workflow_tasks"] > 0
    latency = period["latency_ms"]
    assert latency["approvals"] > 0
    if latency["approvals"] > latency["last_steps"]:
        started = latency["to_next_activity_started"]
        assert started["count"] > 0 and started["p50"] <= started["p99"] <= started["max"]
        assert period["latency_over_floor"]["p50"]["dossier"] is not None
    assert set(period["cpu_share_of_one_core"]) >= {"temporal", "load generator", "whole machine"}


def _period(rate: float, held: bool, closed: float, p99: float, refused: int = 0) -> dict[str, Any]:
    """A period's figures as `period_figures` gives them, for the curve's own arithmetic."""
    return {
        "rate_offered": rate, "arrival_rate": rate, "arrivals": int(rate * 30),
        "load_seconds": 30.0, "refused": refused, "steady_closed_per_s": closed, "held": held,
        "latency_ms": {"to_next_activity_started": {"count": 10, "p50": p99 / 4, "p99": p99,
                                                    "max": p99}},
        "cpu_share_of_one_core": {"temporal": 0.5, "orchestration-a": 0.2, "one-stop-a": 0.1,
                                  "load generator": 0.05, "postgresql (registry backends)": 0.02,
                                  "other work on the machine": 0.3},
    }  # fmt: skip


def test_the_overload_point_is_judged_against_the_highest_rate_held() -> None:
    periods = [
        _period(1.0, True, 1.0, 50.0),
        _period(1.5, True, 1.5, 80.0),
        _period(2.25, False, 1.6, 900.0),
        _period(3.0, False, 1.4, 150.0, refused=40),
    ]
    verdict = overload_verdict(periods)
    assert verdict is not None
    assert (verdict["held_rate"], verdict["overload_rate"], verdict["refused"]) == (1.5, 3.0, 40)
    assert verdict["closed_over_held"] == pytest.approx(0.93)
    assert verdict["p99_over_held"] == pytest.approx(1.88)
    assert verdict["closed_ok"] and verdict["p99_ok"]
    collapsed = overload_verdict([*periods[:3], _period(3.0, False, 0.9, 2000.0, refused=3)])
    assert collapsed is not None and not collapsed["closed_ok"] and not collapsed["p99_ok"]
    assert overload_verdict(periods[:2]) is None  # the last point was held: no overload
    assert overload_verdict([_period(1.0, False, 0.2, 900.0)]) is None  # nothing held


def test_the_curve_is_printed_and_drawn_as_a_png(tmp_path: Path) -> None:
    periods = [_period(1.0, True, 1.0, 50.0), _period(2.0, False, 1.8, 90.0, refused=12)]
    report = {
        "periods": periods,
        "floor_ms": {"before": {"update_sent_to_activity_started": {"p50": 10.0, "p99": 30.0}}},
        "overload": overload_verdict(periods),
        "machine": {"cores": 2, "cpu": "test", "load_average_at_start": [1.0, 1.0, 1.0]},
        "code": {"commit": "abc1234"},
    }
    lines = curve_lines(report)
    assert lines[2].split()[:4] == ["1", "1", "0", "1"]
    assert lines[-1].startswith("overload at 2/s (2x the 1/s held): 12 arrivals refused with 429")
    path = tmp_path / "curve.png"
    plot_curve(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
