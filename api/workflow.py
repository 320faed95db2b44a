"""Calls into dossier workflows, with their refusals turned into HTTP errors."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import ApiContext
from clients.dossiers import update_dossier
from domain.dossier import RefusalKind
from workflows.dossier import DossierWorkflow, TrackingState

# Every "not found" about a dossier reads the same, whether the code or the factor is wrong.
NOT_FOUND = "no dossier with this code and second factor"
# The HTTP status each of the dossier core's refusals means (`RefusalKind`, the ApplicationError
# type the workflow raises); every kind has one, so a new kind cannot slip through as a 500.
STATUS: dict[RefusalKind, int] = {
    RefusalKind.NOT_READY: 409,
    RefusalKind.DOSSIER_CLOSED: 409,
    RefusalKind.CONTINUING_AS_NEW: 409,  # update_dossier retries it; 409 only if it persists
    RefusalKind.STEP_NOT_OPEN: 409,
    RefusalKind.CLOCK_PAUSED: 409,
    RefusalKind.NO_SUPPLEMENT_REQUESTED: 409,
    RefusalKind.WRONG_AGENCY: 403,
    RefusalKind.UNKNOWN_STEP: 404,
    RefusalKind.INVALID_DECISION: 422,
    RefusalKind.SUPPLEMENT_NOT_ALLOWED: 422,
    RefusalKind.NOT_AN_OFFICER_STEP: 422,
    RefusalKind.INVALID_SUPPLEMENT: 422,
    RefusalKind.INVALID_AMENDMENT: 422,
}


def handle_of(ctx: ApiContext, code: str) -> WorkflowHandle[DossierWorkflow, Any]:
    """The handle of the dossier's workflow (the workflow id is the dossier code)."""
    return ctx.temporal.get_workflow_handle_for(DossierWorkflow.run, code)


def refusal(err: WorkflowUpdateFailedError) -> HTTPException:
    """The HTTP error for an update the workflow refused, with the workflow's message."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        kind = cause.type or "Refused"
        known = kind in RefusalKind.__members__.values()
        status = STATUS[RefusalKind(kind)] if known else 409
        return HTTPException(status, {"type": kind, "message": cause.message})
    return HTTPException(409, {"type": "Refused", "message": str(cause or err)})


def rpc_error(err: RPCError) -> HTTPException:
    """The HTTP error for a Temporal RPC failure on a dossier."""
    if err.status == RPCStatusCode.NOT_FOUND:
        if "completed" in err.message:
            return HTTPException(409, {"type": "DossierClosed", "message": "the dossier is closed"})
        return HTTPException(404, NOT_FOUND)
    return HTTPException(503, "the engine is unavailable; try again shortly")


async def tracking(ctx: ApiContext, code: str) -> TrackingState:
    """The dossier's tracking query.

    Raises:
        HTTPException: 404 for an unknown dossier, 503 when Temporal cannot answer.
    """
    try:
        return await handle_of(ctx, code).query(DossierWorkflow.tracking)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, NOT_FOUND) from None
        raise rpc_error(err) from None


async def update(ctx: ApiContext, code: str, method: Any, arg: Any) -> Any:
    """Run an update through `clients.dossiers.update_dossier` (retries across continue-as-new).

    Raises:
        HTTPException: the workflow's refusal or the RPC failure, mapped to a status.
    """
    try:
        return await update_dossier(handle_of(ctx, code), method, arg)
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None
    except RPCError as err:
        raise rpc_error(err) from None
