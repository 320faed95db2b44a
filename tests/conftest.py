"""What every test folder shares: the session's data keys, and the services that live for the
whole session (one per run, whichever folders ask for them).

- ``data_key_ring`` (automatic, whole session): one data key ring for payloads and registry
  columns, installed in-process with ``use_key_ring`` and exported as ``LIENTHONG_DATA_KEYS``
  for subprocesses, so no test falls back to the demo key file in the repository's ``.data/``.
  Subprocesses started with a filtered environment pass ``os.environ["LIENTHONG_DATA_KEYS"]``.
- ``dev_env``: the real dev server with our search attributes registered (visibility queries).
- ``pg_url``: a fresh PostgreSQL database for this test session, migrated with Alembic; dropped
  at the end.

The last two are here, not in the folders that use them, so that the whole suite starts one dev
server and migrates one database; they import `tests.services` when first asked, so the pure
tests (``pytest tests/domain``) load neither Temporal nor SQLAlchemy. Per-test fixtures
(``env``, ``task_queue``, ``db_session``) come from `tests.services` through each folder's
``conftest.py``; the browser's from `tests.browser` through ``tests/api/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment


@pytest.fixture(scope="session", autouse=True)
def data_key_ring() -> Iterator[KeyRing]:
    """The session's data keys: in-process ring and ``LIENTHONG_DATA_KEYS`` for children."""
    spec = new_key_spec("test-session")
    with pytest.MonkeyPatch.context() as patch, use_key_ring(KeyRing.from_spec(spec)) as ring:
        patch.setenv("LIENTHONG_DATA_KEYS", spec)
        patch.delenv("LIENTHONG_DATA_KEY_ID", raising=False)
        yield ring


@pytest.fixture(scope="session")
async def dev_env(data_key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server, in memory, with the project's search attributes registered."""
    from tests.services import dev_server

    async with dev_server(data_key_ring) as environment:
        yield environment


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new PostgreSQL database for this session, migrated to head, dropped afterwards."""
    from tests.services import migrated_database

    with migrated_database() as url:
        yield url
