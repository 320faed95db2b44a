"""What the dev-server benchmarks (chaos, overhead, sustained) set up alike: the environment of
their child processes, the dev server's command line, and a throwaway registry database."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from temporalio.client import Client
from temporalio.service import RPCError

from engine.names import search_attribute_flags
from engine.settings import mask_url
from engine.temporal import connect_config, dev_server_path, quiet_runtime

DESK = "DONGDA"
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


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, whoever is still connected."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


class Process(Protocol):
    """A child process as `bench.chaos.Child` runs one."""

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
