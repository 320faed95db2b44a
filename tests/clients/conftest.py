"""The command lines and processes a user runs, and the dossier client, on the dev server."""

from tests.services import task_queue  # noqa: F401  (fixtures this folder uses)
