"""A dossier workflow changed without a patch, for the replay test that must fail.

In a module of its own: the workflow sandbox re-imports the module that defines a workflow, and
a test module (pytest, fixtures) cannot be imported there.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.dossier import DossierInput, DossierResult, DossierWorkflow


@workflow.defn(name="DossierWorkflow")
class DossierWorkflowThatSleepsFirst(DossierWorkflow):
    """The 1.0 shell with one unpatched change: a timer before the dossier is planned."""

    @workflow.run
    async def run(self, request: DossierInput) -> DossierResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(request)
