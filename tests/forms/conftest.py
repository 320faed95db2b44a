"""The forms and receipts, rendered from the registry's rows on PostgreSQL."""

from tests.services import db_session  # noqa: F401  (fixtures this folder uses)
