"""Process-level plumbing shared by the worker, the starter, the demo and the tests.

Settings, logging, the Temporal connection and the names (task queues, search attributes) that
worker and client must agree on. Nothing here is imported by workflow logic except `names`.
"""
