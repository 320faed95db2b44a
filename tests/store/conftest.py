"""The store against PostgreSQL (and SQLite where the demo uses it)."""

from tests.services import db_session  # noqa: F401  (fixtures this folder uses)
