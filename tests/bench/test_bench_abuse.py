"""The abuse bench (bench/abuse.py), tiny: it runs each phase for a few seconds and the output has
its shape. Nothing here asserts a time; what it checks is what the limits must make true under
attack: the brute force opened nothing and was refused, the flood was cut at the burst quota."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.settings import REPO_ROOT


@pytest.mark.devserver
def test_the_abuse_bench_runs_every_attack_and_reports_refusals_and_ratios() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.abuse", "--seconds", "3", "--citizens", "1",
         "--connections", "10", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    phases = json.loads(run.stdout)["phases"]
    assert list(phases) == ["baseline", "brute-force", "flood", "slowloris"]
    assert phases["baseline"]["next_step"]["count"] >= 1
    brute = phases["brute-force"]["attack"]
    assert brute["dossiers_opened"] == 0 and brute["refused_429"] > 0
    flood = phases["flood"]["attack"]
    assert flood["accepted"] <= 3 and flood["refused_429"] + flood["accepted"] == flood["requests"]
    assert phases["slowloris"]["attack"]["opened"] == 10
    for name in ("brute-force", "flood", "slowloris"):
        assert set(phases[name]["ratio_to_baseline"]) == {
            "submission_median", "submission_p90", "next_step_median", "next_step_p90",
        }  # fmt: skip
