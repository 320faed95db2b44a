"""The sandbox benchmark (bench/sandbox.py), one round: its report has its structure.

Nothing is asserted about times: the figures are read as ratios by people.
"""

from __future__ import annotations

from bench.sandbox import measure


async def test_one_round_replays_every_history_under_each_runner() -> None:
    report = await measure(rounds=1)
    assert report["histories"] >= 12 and report["events"] > report["histories"]
    assert set(report["cpu_ms_per_history"]) == {"sandboxed", "passthrough", "unsandboxed"}
    assert all(value > 0 for value in report["cpu_ms_per_history"].values())
    assert report["over_unsandboxed"]["unsandboxed"] == 1.0
    assert report["over_sandboxed"]["sandboxed"] == 1.0
