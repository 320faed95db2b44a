"""A core-engine run shared between processes (`sim.parallel`) gives the one-process result."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import LegalClock
from sim import parallel
from sim.core import Play
from sim.profile import (
    Profile,
    as_scenario,
    capacities,
    draw_dossiers,
    load_profile,
    profile_path,
    run_profile,
)
from sim.whatif import WhatIf, parse_loss, run_what_if

REPO = Path(__file__).resolve().parents[2]
SCALE, MONTHS = 0.01, 4


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Shards of a few dozen dossiers are worth a process here; the sizes of each run's shards."""
    monkeypatch.setattr(parallel, "MIN_SHARD", 20)
    sizes: list[int] = []
    run_shards = parallel.run_shards

    async def recorded(play: Any, parts: list[Any], *args: Any) -> Any:
        sizes.extend(len(part) for part in parts)
        return await run_shards(play, parts, *args)

    monkeypatch.setattr(parallel, "run_shards", recorded)
    return sizes


def _profile() -> Profile:
    return load_profile(profile_path("dong-da-2023"))


async def _report(tmp_path: Path, workers: int, database_url: str | None = None) -> str:
    return await run_profile(
        _profile(), scale=SCALE, months=MONTHS, chart=tmp_path / "weekly.png", as_json=True,
        workers=workers, database_url=database_url,
    )  # fmt: skip


async def test_two_processes_report_what_one_reports_byte_for_byte(
    tmp_path: Path, small_shards: list[int]
) -> None:
    one = await _report(tmp_path, workers=1)
    assert small_shards == [], "one process: no shards"
    two = await _report(tmp_path, workers=2)
    assert len(small_shards) == 2 and min(small_shards) > 20, small_shards
    assert two == one
    document = json.loads(two)
    assert document["dossiers"] == sum(small_shards)
    assert document["by_level"][-1]["decided"] > 0 and document["by_agency"]["rows"]


# The agencies' register numbers (`activities._support`, `activities.health_insurance`): each
# process numbers its own, as the cross-check's one documented exception.
_REGISTER_NUMBER = re.compile(r"\b(?:[A-Z]{2,3}-\d{4}-\d{6}|TE1\d{2}\d{2}\d{8})\b")


def _masked(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_REGISTER_NUMBER.sub("<n>", v) if isinstance(v, str) else v for v in row)


def _dossier_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every merged table's rows, without what the database numbers or dates by its own clock."""
    rows = {}
    with sqlite3.connect(path) as connection:
        for table in parallel.merged_tables():
            listed = ", ".join(
                f'"{c.name}"'
                for c in table.columns
                if c.server_default is None
                and not (c.primary_key and c.autoincrement is True)
                and c.name != "letter_id"
            )
            found = connection.execute(f'SELECT {listed} FROM "{table.name}"')
            rows[table.name] = sorted((_masked(row) for row in found), key=repr)
    return rows


async def test_the_merged_registry_holds_every_dossier_row_of_a_one_process_run(
    tmp_path: Path, small_shards: list[int]
) -> None:
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    await _report(tmp_path, workers=1, database_url=f"sqlite:///{one}")
    await _report(tmp_path, workers=2, database_url=f"sqlite:///{two}")
    assert len(small_shards) == 2
    first, second = _dossier_rows(one), _dossier_rows(two)
    assert first["dossiers"] and first["dossier_steps"] and first["apology_letters"]
    for table, rows in first.items():
        if table == "apology_letters":  # sealed addressee: another nonce each time
            assert len(second[table]) == len(rows)
            continue
        assert second[table] == rows, table


async def test_a_what_if_in_two_processes_compares_as_in_one(
    tmp_path: Path, small_shards: list[int]
) -> None:
    what_if = WhatIf(losses=[parse_loss("land-registration:6:2027-02")])
    texts = [
        await run_what_if(
            _profile(),
            what_if,
            scale=SCALE,
            months=MONTHS,
            chart=tmp_path / "w.png",
            as_json=True,
            workers=workers,
        )
        for workers in (1, 2)
    ]
    assert len(small_shards) == 4  # the baseline and the changed run, two shards each
    assert texts[0] == texts[1]


def _shards(profile: Profile, workers: int) -> list[list[Any]]:
    clock = LegalClock(default_calendar())
    catalog = default_catalog()
    dossiers = draw_dossiers(profile, SCALE, MONTHS, clock)
    play = Play(
        as_scenario(profile, MONTHS, SCALE), catalog, clock, capacities(profile, SCALE), None,
        False,
    )  # fmt: skip
    return parallel.shards(dossiers, play.oracle(), catalog, workers)


def test_desks_that_share_no_officers_are_shared_out_and_one_office_for_all_keeps_them_together(
    small_shards: list[int],
) -> None:
    profile = _profile()
    parts = _shards(profile, 2)
    assert len(parts) == 2
    desks = [{d.desk for d in part} for part in parts]
    assert not desks[0] & desks[1], "a desk's dossiers stay in one shard"
    assert "DONGDA" in desks[0] | desks[1]
    for part in parts:
        assert [d.index for d in part] == sorted(d.index for d in part)
    # One office of one-stop officers for the district: every desk meets every other.
    one_stop = profile.agencies["one-stop"]
    assert one_stop.staff is not None
    one_office = profile.model_copy(
        update={
            "agencies": {
                **profile.agencies,
                "one-stop": one_stop.model_copy(
                    update={"staff": one_stop.staff.model_copy(update={"office": 50, "desks": {}})}
                ),
            }
        }
    )
    assert len(_shards(one_office, 2)) == 1
    assert len(_shards(profile, 1)) == 1


@pytest.mark.parametrize("workers", ["0", "two"])
def test_workers_must_be_a_number_of_processes(workers: str) -> None:
    done = subprocess.run(
        [sys.executable, "starter.py", "simulate", "--profile", "dong-da-2023",
         "--workers", workers],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert f"--workers: {workers!r} is not a number of processes (1 or more)" in done.stderr
