"""Activities against PostgreSQL, and the workflows that drive them on Temporal's test server."""

from tests.services import db_session, env, task_queue  # noqa: F401  (fixtures this folder uses)
