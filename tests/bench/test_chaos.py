"""The chaos run (bench/chaos.py), short: faults really happen and nothing is lost or doubled.

The run starts its own dev server on a file database, its own PostgreSQL database and five worker
processes; it kills workers, restarts the server and terminates database connections while twelve
dossiers move, then checks the registry against every workflow's result. Its exit status is the
verdict; the JSON it prints proves the faults were injected.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys

import pytest

from bench.chaos import backend_owners, build_scenarios, expected_status
from bench.dossiers import FATES
from bench.dossiers import Outcome as DriverOutcome
from domain.dossier import DossierStatus
from engine.settings import REPO_ROOT
from tests.services import ADMIN_URL


def test_the_first_twelve_dossiers_cover_every_fate() -> None:
    scenarios = build_scenarios(12, random.Random(5), window=45.0)
    assert {s.fate for s in scenarios} == set(FATES)
    assert all(0 <= s.submit_after <= 45.0 * 0.85 for s in scenarios)
    late = [s for s in scenarios if s.fate == "late"]
    assert late and all(s.received_at.weekday() < 5 for s in late)


def test_an_incomplete_certified_copy_is_refused_but_an_incomplete_birth_dossier_returns() -> None:
    scenarios = {s.procedure: s for s in build_scenarios(12, random.Random(5), 45.0)
                 if s.fate == "incomplete"}  # fmt: skip
    copy = scenarios["certified-copy"]
    birth = scenarios["birth-residence-insurance"]
    assert expected_status(copy, DriverOutcome()) is DossierStatus.REFUSED
    assert expected_status(birth, DriverOutcome()) is DossierStatus.RETURNED
    assert expected_status(birth, DriverOutcome(withdrawn=True)) is DossierStatus.WITHDRAWN


def test_the_owner_of_a_database_socket_is_found_by_its_local_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            port = client.getsockname()[1]
            assert backend_owners({port}, {os.getpid(): "this test"}) == {port: "this test"}
            assert backend_owners({port}, {}) == {}


def test_bad_bounds_are_refused_with_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--dossiers", "0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("python -m bench.chaos: error:")


@pytest.mark.devserver
@pytest.mark.postgres
def test_short_chaos_run_loses_and_doubles_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "TEMPORAL_"))}
    # Kills at random moments: one that cuts an activity off costs that activity's
    # start-to-close timeout (up to 2 min), which the full run (aimed kills) pays instead.
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--dossiers", "12", "--minutes", "0.75",
         "--kills", "3", "--db-faults", "3", "--server-restarts", "1", "--kill-aim", "random",
         "--settle-minutes", "4", "--seed", "5", "--json", "--database-url", ADMIN_URL],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    counts = json.loads(run.stdout)
    assert counts["discrepancies"] == []
    assert counts["duplicates"] == 0 and counts["still_running"] == 0
    assert counts["dossiers"] == 12 and sum(counts["statuses"].values()) == 12
    assert counts["kills"] == 3 and counts["worker_restarts"] == 3
    assert counts["server_restarts"] == 1
    assert counts["db_faults"] > 0 and counts["backends_terminated"] > 0
    # Every dossier was checked against the registry, and the registry was written.
    assert counts["checks"]["handovers == ledger ok"] == 12
    assert counts["checks"]["audit == acts ok"] == 12
    assert counts["rows"]["handovers"] > 12 and counts["rows"]["apology_letters"] >= 1
    assert not any(name.endswith("FAILED") for name in counts["checks"])
