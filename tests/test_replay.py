"""Every committed history of every workflow type still replays on the current code.

A failure here means a change to workflow logic would break running dossiers: put the change
behind ``workflow.patched(...)`` (see docs/versioning.md) instead of editing the history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.crypto import KeyRing
from engine.temporal import data_converter
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
TEXTS = {path: path.read_text() for path in HISTORIES}


def test_there_is_a_history_for_every_workflow_type() -> None:
    recorded = {path.stem.split("-v")[0] for path in HISTORIES}
    expected = {"dossier"}  # one entry per workflow type; add yours with its history
    assert expected <= recorded
    assert len(WORKFLOWS) == len(expected)


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_committed_history_replays(path: Path, data_key_ring: KeyRing) -> None:
    # The converter every worker has, codec included: histories recorded before the codec hold
    # clear payloads, which it passes through.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(data_key_ring))
    history = WorkflowHistory.from_json(path.stem, TEXTS[path])
    await replayer.replay_workflow(history)
