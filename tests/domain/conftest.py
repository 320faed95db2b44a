"""The pure domain's tests: no Temporal, no database, no subprocess; ``pytest tests/domain`` runs
them alone. A test here that asks for a service fails with the reason instead of starting it
(tests/test_architecture.py also keeps their imports inside ``domain``)."""

from __future__ import annotations

import pytest


def _not_here(service: str) -> None:
    pytest.fail(f"tests/domain is pure: a test needing {service} belongs to another folder")


@pytest.fixture(scope="session")
def dev_env() -> None:
    _not_here("the Temporal dev server")


@pytest.fixture(scope="session")
def pg_url() -> None:
    _not_here("PostgreSQL")
