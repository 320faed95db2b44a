"""The benchmarks' toolkit: what the dev-server benchmarks (chaos, overhead, sustained) and the
others set up and report alike.

Their child processes (`Child`: a worker, the dev server) and the environment they get, a free
port, the dev server's command line, a throwaway registry database (and `scratch_stack`, the
three together as a run of the real stack begins), a temporary workspace kept
on failure, CPU seconds of a process, the machine's description, the worker layout of the
province-like runs, and the narration. Each benchmark file keeps only its own measurement."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from engine.names import search_attribute_flags
from engine.settings import REPO_ROOT, mask_url
from engine.temporal import connect_config, dev_server_path, quiet_runtime
from store.migrate import upgrade

DESK = "DONGDA"
# name -> worker.py arguments. Two of each of the busiest, as a province would run them.
WORKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("orchestration-a", ("--orchestration",)),
    ("orchestration-b", ("--orchestration",)),
    ("one-stop-a", ("--agency", "one-stop")),
    ("one-stop-b", ("--agency", "one-stop")),
    ("agencies", ("--agency", "justice", "--agency", "police", "--agency", "social-security")),
)
# Queue workers poll the dev server often enough to keep a benchmark's pace (its defaults add
# ~250 ms to every step; temporal-notes.md).
FAST_POLLING = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
)  # fmt: skip


def child_env(root: Path, database_url: str, address: str, key_spec: str) -> dict[str, str]:
    """This process's environment without any LIENTHONG_/TEMPORAL_ setting of the user's, plus
    the run's registry, server, data directory and data key, JSON logs and the demo desk."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIENTHONG_", "TEMPORAL_")) and k != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=address,
        LIENTHONG_DATA_DIR=str(root / "data"),
        LIENTHONG_DATA_KEYS=key_spec,
        LIENTHONG_DESK_CODE=DESK,
        LIENTHONG_LOG_FORMAT="json",
    )
    return env


def dev_server_command(address: str, *store: str) -> list[str]:
    """``temporal server start-dev`` on ``address`` with the project's search attributes and
    fast polling; ``store`` is e.g. ``("--db-filename", path)`` (in memory without it)."""
    return [
        dev_server_path(), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
        *store, "--log-level", "warn", *FAST_POLLING, *search_attribute_flags(),
    ]  # fmt: skip


def create_database(admin_url: str, name: str, error: type[Exception] = RuntimeError) -> None:
    """Create the empty database ``name`` on the server ``admin_url`` names.

    Raises:
        error: the server refused (the message names the server, never its password).
    """
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise error(f"cannot create a database at {mask_url(admin_url)}: {reason}") from None
    finally:
        admin.dispose()


class ScratchDatabase:
    """A throwaway registry ``lienthong_<kind>_<random>`` on the server ``admin_url`` names:
    ``url`` for the workers, ``own_url`` for the benchmark's own connections (tagged with
    ``application_name`` when one is given, so that a fault injector can leave them alone)."""

    def __init__(self, admin_url: str, kind: str, application_name: str = "") -> None:
        self.admin_url = admin_url
        self.name = f"lienthong_{kind}_{uuid.uuid4().hex[:10]}"
        url = make_url(admin_url).set(database=self.name)
        self.url = url.render_as_string(hide_password=False)
        if application_name:
            url = url.update_query_dict({"application_name": application_name})
        self.own_url = url.render_as_string(hide_password=False)
        self.created = False

    def create(self, error: type[Exception] = RuntimeError) -> None:
        """Create the database and migrate it to head (``error``: see `create_database`)."""
        create_database(self.admin_url, self.name, error)
        self.created = True
        upgrade(self.url)

    def drop(self) -> None:
        """Drop it, whoever is still connected (nothing if it was never created)."""
        if self.created:
            drop_database(self.admin_url, self.name)


@dataclass
class ScratchStack:
    """What a run of the real stack begins with: a throwaway registry, a free address, the
    environment its processes get, and the dev server's process (not started yet)."""

    db: ScratchDatabase
    address: str
    env: dict[str, str]
    server: Child


def scratch_stack(
    root: Path,
    admin_url: str,
    kind: str,
    key_spec: str,
    *,
    application_name: str = "",
    server_file: bool = False,
) -> ScratchStack:
    """A `ScratchDatabase` of ``kind``, a dev server on a free port logging to
    ``root/temporal.log`` (kept in ``root/temporal.db`` when ``server_file``), and the
    environment `child_env` gives them."""
    db = ScratchDatabase(admin_url, kind, application_name)
    address = f"127.0.0.1:{free_port()}"
    env = child_env(root, db.url, address, key_spec)
    store = ["--db-filename", str(root / "temporal.db")] if server_file else []
    server = Child("temporal", dev_server_command(address, *store), root / "temporal.log", env)
    return ScratchStack(db, address, env, server)


def province_workers(root: Path, env: dict[str, str]) -> list[Child]:
    """The `WORKERS` layout as ``worker.py`` processes, logging to ``root/worker-<name>.log``."""
    return [
        Child(
            name,
            [sys.executable, "worker.py", *args, "--grace", "5"],
            root / f"worker-{name}.log",
            env,
            ready_marker="worker_started",
        )
        for name, args in WORKERS
    ]


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, whoever is still connected."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def narrator(name: str) -> Callable[[str], None]:
    """The ``say`` of benchmark ``name``: a line of its narration on stderr (so that ``--json``
    keeps stdout clean)."""

    def say(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return say


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pairs(mapping: Mapping[str, Any], empty: str = "none") -> str:
    """``key value, key value`` in key order; ``empty`` for an empty mapping."""
    return ", ".join(f"{key} {value}" for key, value in sorted(mapping.items())) or empty


@dataclass
class Child:
    """A child process a run starts, kills and restarts; its output goes to ``log``."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str]
    ready_marker: str = ""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The running process's id."""
        return self.process.pid if self.alive() and self.process is not None else None

    def start(self) -> None:
        """Start it in its own session (signals to the run do not reach it).

        A previous process that never became ready is killed first: never two of one worker.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        self.starts += 1

    def markers(self) -> int:
        """How often the ready marker appears in the log."""
        if not self.ready_marker or not self.log.exists():
            return 0
        return self.log.read_bytes().count(self.ready_marker.encode())

    async def wait_ready(self, seen: int, within: float = 60.0) -> bool:
        """Wait for a new ready marker; False if the process exited first or time ran out."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.markers() > seen:
                return True
            if not self.alive():
                return False
            await asyncio.sleep(0.1)
        return False

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Process(Protocol):
    """A child process as `Child` runs one (or any with a log and a liveness check)."""

    log: Path

    def alive(self) -> bool:
        """Whether it is still running."""
        ...


async def wait_for_server(
    server: Process, address: str, error: type[Exception], **options: Any
) -> Client:
    """A client of the dev server at ``address`` once it answers (90 s at most).

    ``options`` go to `Client.connect` (data converter, interceptors).

    Raises:
        error: the server exited or did not answer; the message names its log.
    """
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not server.alive():
            raise error(f"the Temporal dev server exited; see {server.log}")
        try:
            client = await Client.connect(
                **connect_config(address), runtime=quiet_runtime(), **options
            )
            await client.count_workflows()
            return client
        except (RuntimeError, RPCError):
            await asyncio.sleep(0.5)
    raise error(f"the Temporal dev server did not answer; see {server.log}")


async def serve_until_stopped(workers: Sequence[Worker], ready: str) -> None:
    """Run the workers until SIGINT/SIGTERM; print ``ready`` on stdout once they poll (the
    parent's `Child.wait_ready` marker)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        print(ready, flush=True)
        await stop.wait()


class Workspace:
    """A run's temporary directory (the server's file, the logs); see `workspace`."""

    def __init__(self, root: Path, keep: bool) -> None:
        self.root = root
        self.kept = keep

    def keep(self, flag: bool = True) -> None:
        """Keep the directory after the run (once asked, it stays kept)."""
        self.kept = self.kept or flag


@contextlib.contextmanager
def workspace(name: str, keep: bool, say: Callable[[str], None]) -> Iterator[Workspace]:
    """A temporary directory ``lienthong-<name>-*``, removed afterwards unless ``keep`` or the
    run asked to keep it (`Workspace.keep`: a failure, a discrepancy); then its place is said."""
    space = Workspace(Path(tempfile.mkdtemp(prefix=f"lienthong-{name}-")), keep)
    try:
        yield space
    finally:
        if space.kept:
            say(f"logs kept in {space.root}")
        else:
            shutil.rmtree(space.root, ignore_errors=True)


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds (all threads) a process has used (Linux /proc); 0 when it is
    unknown or gone."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows, else ``unknown``."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """This machine, as far as the figures depend on it: cores, CPU model, Python."""
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()}
