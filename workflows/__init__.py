"""Deterministic orchestration only: every side effect is an activity in `activities`."""

from __future__ import annotations

from workflows.reception import ReceptionWorkflow

WORKFLOWS: list[type] = [ReceptionWorkflow]
