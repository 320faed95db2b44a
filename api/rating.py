"""Rating the service: once per dossier, 1 to 5, after the dossier has ended."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException

from api import schemas as s
from api.citizens import Authorised, Client
from api.context import Ctx
from api.limits import take_write
from api.workflow import tracking
from store.applicants import insert_rating
from workflows.dossier import TERMINAL

router = APIRouter(prefix="/api/v1", tags=["citizens"])


@router.post(
    "/dossiers/{code}/rating",
    status_code=201,
    summary="Rate the service (1-5), once, after the dossier has ended",
)
async def rate(
    code: str,
    body: s.RatingBody,
    _: Authorised,
    client: Client,
    ctx: Ctx,
) -> s.RatingView:
    """Record the rating; a second one is refused. The phone's digits are enough (a rating
    changes nothing of the dossier), and it counts against the write quotas."""
    await take_write(ctx, client, code)
    state = await tracking(ctx, code)
    if state.status not in TERMINAL:
        raise HTTPException(409, f"the dossier is {state.status}; rate it once it has ended")
    async with ctx.sessions() as session:
        inserted = await insert_rating(session, code, body.score, body.comment, datetime.now(UTC))
        await session.commit()
    if not inserted:
        raise HTTPException(409, "this dossier has already been rated")
    return s.RatingView(dossier_code=code, score=body.score, comment=body.comment)
