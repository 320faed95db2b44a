"""The processes a user runs, as subprocesses: worker, starter and the demo.

These use the real dev server (``dev_env``) or start their own, and a SQLite registry in a
temporary directory, exactly as ``make demo`` does.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.settings import REPO_ROOT
from store.migrate import upgrade


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def project_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "TEMPORAL_"))}
    env.pop("DATABASE_URL", None)
    # The session's data keys (tests/conftest.py): payloads on the shared dev server are
    # encrypted with them, so a child without them could not read its workflow's input.
    env.update(
        LIENTHONG_DATA_DIR=str(tmp_path),
        LIENTHONG_LOG_FORMAT="json",
        LIENTHONG_DATA_KEYS=os.environ["LIENTHONG_DATA_KEYS"],
        **extra,
    )
    return env


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


@pytest.fixture
def worker_process(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    upgrade(f"sqlite:///{tmp_path / 'lienthong.db'}")
    address = dev_env.client.service_client.config.target_host
    process = subprocess.Popen(
        python("worker.py", "--address", address),
        cwd=REPO_ROOT, env=project_env(tmp_path), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        if json.loads(line).get("event") == "worker_started":
            break
    else:
        process.kill()
        pytest.fail("the worker did not start within 30 s")
    yield process, address
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.devserver
def test_submit_runs_through_a_separate_worker_and_sigterm_stops_it_cleanly(
    worker_process: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, address = worker_process
    submitted = subprocess.run(
        python("starter.py", "submit", "--procedure", "certified-copy", "--all-documents",
               "--address", address),
        cwd=REPO_ROOT, env=project_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith("dossier ") and "; appointment 20" in submitted.stdout
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    assert process.stderr is not None
    events = [json.loads(line)["event"] for line in process.stderr.read().splitlines()]
    ours = [event for event in events if event.startswith("worker_")]
    assert ours[-2:] == ["worker_stopping", "worker_stopped"]


@pytest.mark.devserver
def test_demo_once_runs_the_sample_dossiers_and_stops_everything(tmp_path: Path) -> None:
    port, ui_port, codec_port, api_port = free_port(), free_port(), free_port(), free_port()
    process = subprocess.Popen(
        python("-m", "demo", "--once", "--port", str(port), "--ui-port", str(ui_port),
               "--codec-port", str(codec_port), "--api-port", str(api_port)),
        cwd=REPO_ROOT, env=project_env(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        # Ctrl-C, as a user would: the demo then stops the server and worker it started.
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the demo did not finish within 180 s:\n{stdout}{stderr}")
    demo = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"Web UI: http://127.0.0.1:{ui_port}" in demo.stdout
    assert f"codec server: http://127.0.0.1:{codec_port}" in demo.stdout
    assert f"sign in once at http://127.0.0.1:{codec_port}/login" in demo.stdout
    token = (tmp_path / "keys" / "codec-token").read_text().strip()
    assert len(token) >= 32 and token not in demo.stdout + demo.stderr
    assert demo.stdout.count("[demo] received ") == 3
    assert "certified-copy" in demo.stdout
    assert demo.stdout.count(" ended the demo run as returned") == 2  # the ward dossiers
    assert "waiting for the public notice" in demo.stdout  # the land dossier, as in life
    assert f"HTTP API: http://127.0.0.1:{api_port}/docs" in demo.stdout
    # One dossier filed online pays its fee (which holds its clock) and shows its e-receipt.
    assert "held until its fee is paid" in demo.stdout
    assert "Electronic receipt 01BLP0-001 BL/" in demo.stdout
    assert f"http://127.0.0.1:{api_port}/api/v1/dossiers/" in demo.stdout.split("receipt", 1)[1]
    # Every status change reached the (simulated) national portal before the demo ended.
    assert re.search(r"national portal: [1-9]\d* status reports delivered, 0 waiting", demo.stdout)
    # Each receipt's QR code opens the pages the demo's API serves, with its tracking secret.
    assert demo.stdout.count(f"its receipt's QR code: http://127.0.0.1:{api_port}/track/") == 3
    assert f"pages: http://127.0.0.1:{api_port}/ " in demo.stdout
    # The registry the workflows wrote answers the on-time report: the two ward dossiers
    # decided today, the land dossier received and still running.
    report = demo.stdout.split("today's on-time report", 1)[1]
    assert "TOTAL" in report and "certified-copy" in report
    assert demo.stdout.rstrip().endswith("[demo] stopped")
    # Everything it started is gone: the ports are free again.
    for used in (port, ui_port, codec_port, api_port):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", used))


def test_demo_refuses_a_busy_port_with_advice(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = subprocess.run(
            python("-m", "demo", "--once", "--port", str(port), "--ui-port", str(free_port()),
                   "--codec-port", str(free_port()), "--api-port", str(free_port())),
            cwd=REPO_ROOT, env=project_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert demo.returncode == 1
    assert f"port {port} (Temporal frontend) is already in use" in demo.stderr
    assert "--port 7300 --ui-port 8300" in demo.stderr


def test_a_second_demo_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "demo.lock"
    with lock.open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 4242")
        held.flush()
        demo = subprocess.run(
            python("-m", "demo", "--once", "--port", str(free_port()),
                   "--ui-port", str(free_port()),
                   "--codec-port", str(free_port()), "--api-port", str(free_port())),
            cwd=REPO_ROOT, env=project_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert demo.returncode == 1
    assert "another demo is already running (pid 4242)" in demo.stderr
    assert lock.read_text() == "pid 4242"
    assert not (tmp_path / "lienthong.db").exists()


def test_an_unreachable_postgres_stops_the_demo_with_one_line(tmp_path: Path) -> None:
    env = project_env(tmp_path, DATABASE_URL="postgresql://app:secret@127.0.0.1:1/registry")
    demo = subprocess.run(
        python("-m", "demo", "--once", "--port", str(free_port()), "--ui-port", str(free_port()),
                   "--codec-port", str(free_port()), "--api-port", str(free_port())),
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert demo.returncode == 1
    assert "cannot reach the database at postgresql+psycopg://app:***@127.0.0.1:1/registry" in (
        demo.stderr
    )
    assert "secret" not in demo.stderr + demo.stdout


def test_demo_data_of_a_build_before_1_0_is_refused_in_one_line(tmp_path: Path) -> None:
    from demo.__main__ import DemoError, check_data_version

    (tmp_path / "temporal.db").write_bytes(b"old histories")
    with pytest.raises(DemoError) as refused:
        check_data_version(tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "make clean-data" in message and "before 1.0" in message
    assert (tmp_path / "temporal.db").read_bytes() == b"old histories"  # nothing deleted


def test_demo_data_is_marked_and_a_later_1_x_build_accepts_it(tmp_path: Path) -> None:
    from demo.__main__ import DATA_VERSION, DemoError, check_data_version

    check_data_version(tmp_path / "fresh")
    assert (tmp_path / "fresh" / "VERSION").read_text().strip() == DATA_VERSION
    check_data_version(tmp_path / "fresh")  # the next start: accepted
    (tmp_path / "fresh" / "VERSION").write_text("1.3\n")
    check_data_version(tmp_path / "fresh")  # patches keep 1.x histories replaying
    (tmp_path / "fresh" / "VERSION").write_text("2.0\n")
    with pytest.raises(DemoError, match=r"version 2\.0"):
        check_data_version(tmp_path / "fresh")
