"""The workflows on Temporal's test server and the dev server, and their recorded histories."""

from tests.services import env, task_queue  # noqa: F401  (fixtures this folder uses)
