"""Deterministic orchestration only: every side effect is an activity in `activities`."""

from __future__ import annotations

from workflows.dossier import DossierWorkflow
from workflows.relay import OutboxRelayWorkflow

WORKFLOWS: list[type] = [DossierWorkflow, OutboxRelayWorkflow]
