"""Deployment files checked against the code; the compose stack's scripts on the test server."""

from tests.services import env  # noqa: F401  (fixtures this folder uses)
