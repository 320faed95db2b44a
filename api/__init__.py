"""The HTTP API for citizens and agencies (FastAPI): see docs/api.md and `api.app.create_app`."""
