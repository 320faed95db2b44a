"""Process plumbing: the codec and its server, settings, logs (time-skipping and dev servers)."""

from tests.services import env, task_queue  # noqa: F401  (fixtures this folder uses)
