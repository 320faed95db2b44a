"""Every committed history of every workflow type still replays on the current code, and a
changed workflow is caught.

A failure of the first test means a change to workflow logic would break running dossiers: put
the change behind ``workflow.patched(...)`` (docs/versioning.md) instead of editing a history.
The second proves the first can fail: a workflow that issues one command the history does not
have is refused with a non-determinism error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.crypto import KeyRing
from engine.temporal import data_converter
from tests.changed_workflow import DossierWorkflowThatSleepsFirst
from tests.record_history import PATHS, VERSION
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))
TEXTS = {path: path.read_text() for path in HISTORIES}


def test_there_is_a_history_for_every_workflow_type_and_every_path() -> None:
    recorded = {path.stem.split("-")[0] for path in HISTORIES}
    expected = {"dossier", "relay"}  # one entry per workflow type; add yours with its histories
    assert expected <= recorded
    assert len(WORKFLOWS) == len(expected)
    stems = {path.stem for path in HISTORIES}
    for name, path in PATHS.items():
        assert any(stem.startswith(f"dossier-{path.version}-{name}") for stem in stems), name


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_committed_history_replays(path: Path, data_key_ring: KeyRing) -> None:
    # The converter every worker has, codec included: the histories hold clear payloads, which
    # it passes through.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(data_key_ring))
    history = WorkflowHistory.from_json(path.stem, TEXTS[path])
    await replayer.replay_workflow(history)


async def test_a_workflow_changed_without_a_patch_fails_to_replay(data_key_ring: KeyRing) -> None:
    path = next(p for p in HISTORIES if p.stem == f"dossier-{VERSION}-refused")
    replayer = Replayer(
        workflows=[DossierWorkflowThatSleepsFirst], data_converter=data_converter(data_key_ring)
    )
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, TEXTS[path]))
