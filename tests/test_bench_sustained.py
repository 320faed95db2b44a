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

import pytest

from bench.sustained import LOAD_WEIGHTS, arrival_times, build_load, percentiles, ratio
from engine.settings import REPO_ROOT
from tests.conftest import ADMIN_URL


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
    latency = period["latency_ms"]
    assert latency["approvals"] > 0
    if latency["approvals"] > latency["last_steps"]:
        started = latency["to_next_activity_started"]
        assert started["count"] > 0 and started["p50"] <= started["p99"] <= started["max"]
        assert period["latency_over_floor"]["p50"]["dossier"] is not None
    assert set(period["cpu_share_of_one_core"]) >= {"temporal", "load generator", "whole machine"}
