"""Agencies' routes: the inbox of open steps and decisions on them.

Every route under ``/api/v1/agencies/`` needs a bearer token (`api.auth`); the middleware of
`api.app` answers 401 before anything else runs when it is missing or invalid. The token's
agency must be the path's, and the step's: an officer of agency A acting on agency B's path or
on B's step gets 403 and nothing reaches the dossier.

Roles (`api.auth.AgencyClaims.role`): the head of an agency also sees its escalations (overdue
steps) and may assign an open step to one officer; a step so assigned is decided by that
officer or the head, and every decision records the officer who took it (the workflow's
ledger, the registry's ``dossier_steps.officer_id`` and ``audit_log``). An officer signs out
by revoking the token the request carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import schemas as s
from api.auth import AgencyClaims, revoke
from api.context import ApiContext, Ctx, DossierCode
from api.workflow import update as run_update
from domain.calendar import default_calendar
from domain.clock import LegalClock
from store.inbox import assign_step, assignment_of, get_step, open_steps_page
from workflows.dossier import OFFICER_KINDS, DecisionInput, DecisionResult, DossierWorkflow

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])
bearer = HTTPBearer(auto_error=False, description="a token from `python -m api issue-token`")


def officer(
    request: Request,
    agency: DossierCode,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AgencyClaims:
    """The token's claims (checked by the middleware), if its agency is the path's; else 403."""
    claims = getattr(request.state, "claims", None)
    if not isinstance(claims, AgencyClaims):
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    if claims.agency != agency:
        raise HTTPException(403, f"an officer of {claims.agency} cannot act for {agency}")
    return claims


Officer = Annotated[AgencyClaims, Depends(officer)]
StepKey = Annotated[str, Path(max_length=160, description="procedure:step")]


def head(claims: Officer) -> AgencyClaims:
    """The claims of the agency's head; 403 for an officer."""
    if not claims.is_head:
        raise HTTPException(403, f"only the head of {claims.agency} may do this")
    return claims


Head = Annotated[AgencyClaims, Depends(head)]


@dataclass(frozen=True)
class Paging:
    """Which page of a listing, and how many rows a page holds."""

    page: int
    size: int


def paging(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Paging:
    """The ``page`` and ``page_size`` query parameters of the inbox and the escalations."""
    return Paging(page, page_size)


Pages = Annotated[Paging, Depends(paging)]


async def open_steps(
    ctx: ApiContext,
    agency: str,
    *,
    page: int = 1,
    page_size: int = 20,
    overdue_only: bool = False,
) -> s.InboxPage:
    """The agency's open steps sorted by due moment (paused clocks last), with flags in working
    hours: overdue once the due moment has passed, due soon within
    ``inbox_due_soon_hours`` working hours of it (the desk's clock, `domain.clock.LegalClock`),
    and the officer the head assigned each to. The API's inbox and the officer's desk
    (`web.desk`) both list these; ``overdue_only``: the head's escalations."""
    now = ctx.now()
    async with ctx.sessions() as session:
        total, rows = await open_steps_page(
            session, agency, now=now, overdue_only=overdue_only, page=page, page_size=page_size
        )
    items = []
    for row, assigned_to in rows:
        due = row.due_at and s.stored_utc(row.due_at)
        left = working_hours_left(now, due)
        overdue = row.overdue or (due is not None and due <= now)
        due_soon = not overdue and left is not None and left <= ctx.settings.inbox_due_soon_hours
        items.append(
            s.view_of(
                s.InboxItem,
                row,
                due_at=due,
                overdue=overdue,
                due_soon=due_soon,
                working_hours_left=left,
                officer_action=row.kind in OFFICER_KINDS,
                assigned_to=assigned_to,
            )
        )
    return s.InboxPage(agency=agency, page=page, page_size=page_size, total=total, items=items)


def working_hours_left(now: datetime, due: datetime | None) -> float | None:
    """Working hours from ``now`` to ``due`` on the desk's calendar (negative once past it);
    None without a due moment, or beyond the calendar's years."""
    if due is None:
        return None
    try:
        span = LegalClock(default_calendar()).working_time_between(now, due)
    except ValueError:
        return None
    return round(span / timedelta(hours=1), 2)


@router.get("/{agency}/inbox", summary="The open steps of my agency, the most urgent first")
async def inbox(agency: str, claims: Officer, ctx: Ctx, pages: Pages) -> s.InboxPage:
    """Open steps sorted by due moment (steps whose clock is paused last), with flags."""
    return await open_steps(ctx, agency, page=pages.page, page_size=pages.size)


@router.get(
    "/{agency}/escalations",
    summary="The head's view: open steps of my agency that are overdue, the most overdue first",
)
async def escalations(agency: str, claims: Head, ctx: Ctx, pages: Pages) -> s.InboxPage:
    """What the workflow escalated to the head: steps past their due moment."""
    return await open_steps(ctx, agency, page=pages.page, page_size=pages.size, overdue_only=True)


@router.put(
    "/{agency}/steps/{code}/{step_key}/assignment",
    summary="The head assigns an open step to one officer of the agency",
)
async def assign(
    agency: str,
    code: DossierCode,
    step_key: StepKey,
    body: s.AssignmentBody,
    claims: Head,
    ctx: Ctx,
) -> s.AssignmentView:
    """Only that officer (or the head) decides the step from now on; recorded in the audit log."""
    now = datetime.now(UTC)
    async with ctx.sessions() as session:
        step = await get_step(session, code, step_key)
        if step is None or step.agency != agency:
            raise HTTPException(404, f"{agency} holds no step {step_key} of {code}")
        if step.status != "open":
            raise HTTPException(409, f"step {step_key} is {step.status}, not open")
        await assign_step(
            session,
            step,
            officer=body.officer,
            assigned_by=claims.officer,
            at=now,
            reason=body.reason,
        )
        await session.commit()
    return s.AssignmentView(
        dossier_code=code,
        step_key=step_key,
        officer=body.officer,
        assigned_by=claims.officer,
        assigned_at=now,
    )


@router.post(
    "/{agency}/sign-out",
    summary="Sign out: revoke the token this request carries",
)
async def sign_out(agency: str, claims: Officer, ctx: Ctx) -> s.SignedOut:
    """The token is refused (401) from now on, by every API process."""
    async with ctx.sessions() as session:
        revoked = await revoke(session, claims, "signed out")
        await session.commit()
    return s.SignedOut(revoked=revoked)


async def decide_step(
    ctx: ApiContext, claims: AgencyClaims, code: str, step_key: str, body: s.DecisionBody
) -> s.DecisionView:
    """Send an officer's decision to the dossier; the workflow's validator has the last word.

    The API's decision route and the officer's desk (`web.desk`) both decide through here.

    Raises:
        HTTPException: 403 when the registry says another agency holds the step, or the head
            assigned it to another officer (nothing is sent), or the workflow's refusal mapped
            by `api.workflow.update`.
    """
    async with ctx.sessions() as session:
        step = await get_step(session, code, step_key)
        assigned = await assignment_of(session, code, step_key)
    if step is not None and step.agency != claims.agency:
        # Refused here, before the workflow is asked: nothing is written anywhere.
        raise HTTPException(403, f"step {step_key} is held by {step.agency}, not {claims.agency}")
    if assigned is not None and assigned.officer_id != claims.officer and not claims.is_head:
        raise HTTPException(403, f"step {step_key} is assigned to {assigned.officer_id}")
    result: DecisionResult = await run_update(
        ctx,
        code,
        DossierWorkflow.decide,
        # The body's action, reason, missing documents and step to send back to, from the officer.
        s.view_of(
            DecisionInput, body, step=step_key, agency=claims.agency, officer_id=claims.officer
        ),
    )
    return s.view_of(s.DecisionView, result, dossier_code=code)


@router.post(
    "/{agency}/steps/{code}/{step_key}/decision",
    summary="Decide on an open step: approve, request a supplement, refuse or send back",
)
async def decide(
    agency: str,
    code: DossierCode,
    step_key: StepKey,
    body: s.DecisionBody,
    claims: Officer,
    ctx: Ctx,
) -> s.DecisionView:
    """Send the decision to the dossier; the workflow's validator has the last word."""
    return await decide_step(ctx, claims, code, step_key, body)
