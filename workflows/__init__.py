"""Deterministic orchestration only: every side effect is an activity in `activities`."""

from __future__ import annotations

from workflows.dossier import DossierWorkflow

WORKFLOWS: list[type] = [DossierWorkflow]
