"""The overhead benchmark (bench/overhead.py), tiny: it runs end to end and reports both sides.

Two dossiers of each side in one round, on its own dev server, database and worker processes.
Only the structure of the output is checked (both rates positive, the bare workflow's counted
shape equal to the dossier's, every dossier returned); never a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from bench.bare import Shape, plan_stages
from bench.overhead import NOTICE, bench_catalog
from domain.catalog import load_catalog
from engine.settings import REPO_ROOT
from tests.services import ADMIN_URL


def test_the_bench_catalog_drops_only_the_public_notice(tmp_path: Path) -> None:
    catalog = load_catalog(bench_catalog(tmp_path))
    procedure, step = NOTICE
    for version in catalog.versions(procedure):
        ids = [s.id for s in version.steps]
        assert step not in ids
        parcel = version.step("check-parcel")
        assert parcel.depends_on == ("confirm-origin",)
    original = yaml.safe_load((REPO_ROOT / "catalog/procedures" / f"{procedure}.yaml").read_text())
    assert [len(v["steps"]) - 1 for v in original["versions"]] == [
        len(v.steps) for v in catalog.versions(procedure)
    ]


def test_the_stages_hold_the_whole_shape() -> None:
    shape = Shape(
        activities={"agency-one-stop": 7, "agency-tax": 1},
        local_activities=5,
        timers_fired=2,
        updates=3,
        signals=1,
    )
    stages = plan_stages(shape)
    assert len(stages) == 5
    assert sum(len(s.activities) for s in stages) == 8
    assert sum(s.local_activities for s in stages) == 5
    assert sum(s.timers for s in stages) == 2
    assert [s.act for s in stages] == ["update", "signal", "update", "update", None]


def test_a_tiny_run_reports_both_rates_and_equal_shapes() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.overhead", "--dossiers", "2", "--rounds", "1",
         "--json", "--database-url", ADMIN_URL],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert {r["side"] for r in report["rounds"]} == {"engine", "bare"}
    assert all(r["rate"] > 0 and r["dossiers"] == 2 for r in report["rounds"])
    assert report["median_rate"]["engine"] > 0 and report["median_rate"]["bare"] > 0
    assert report["ratio"] > 0
    assert report["engine_shape"] == report["bare_shape"]
    assert report["engine_shape"]["updates"] > 0 and report["engine_shape"]["activities"] > 0
    assert report["statuses"] == {"returned": 2}
    assert report["machine"]["cores"] >= 1
