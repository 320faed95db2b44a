"""The API, the pages and the browser: the stack served over HTTP, and Chromium."""

from tests.browser import browser, live_stack  # noqa: F401  (the browser tests' fixtures)
from tests.services import env, task_queue  # noqa: F401  (fixtures this folder uses)
