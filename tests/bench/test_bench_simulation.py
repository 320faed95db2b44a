"""bench/simulation.py runs end to end at a tiny size and says what is wrong with bad runs.
Nothing here is timed: the benchmark's figures go to docs/benchmarks.md, not to assertions."""

from __future__ import annotations

import json
import re

import pytest

from bench.simulation import main, parse_runs


def test_a_tiny_run_reports_its_dossiers_the_baseline_and_a_projection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                "--runs", "0.0005:1", "--core", "0.001:1", "--workers", "1,2",
                "--baseline-workflows", "10", "--json",
            ]
        )
        == 0
    )  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    (run,) = figures["runs"]
    assert (run["engine"], run["scale"], run["months"], run["dossiers"]) == (
        "temporal",
        0.0005,
        1,
        5,
    )
    core, shared = figures["core_runs"]  # one process, then two (too few to share: one)
    assert (core["engine"], core["scale"], core["dossiers"], core["workers"]) == (
        "core",
        0.001,
        9,
        1,
    )
    assert (shared["dossiers"], shared["workers"]) == (9, 2)
    assert core["unfinished"] == 0 and figures["core_to_temporal"][0] > 0
    assert figures["full_profile_core_seconds"] is None  # only a 1:10 core run measures it
    assert core["cpu_seconds"] > 0
    assert figures["projected_core_full_profile_seconds"] > 0
    assert figures["projected_core_full_profile_cpu_seconds"] > 0
    assert run["unfinished"] == run["wedged"] == 0
    assert run["dossiers_per_second"] > 0 and figures["ratios_to_bare"][0] > 0
    assert [base["workflows"] for base in figures["baseline"]] == [10, 10]
    assert figures["projected_full_profile_seconds"] > 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0.01:x", "give SCALE or SCALE:MONTHS"), ("1.5", "the scale must be in (0, 1]")],
)
def test_bad_runs_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_runs(text)
    assert parse_runs("0.01:10,0.1") == [(0.01, 10), (0.1, 10)]
