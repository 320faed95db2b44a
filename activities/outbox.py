"""One round of an outbox relay, the same for every outside system.

``{system}.push-pending`` (`activities.portal`, `activities.sms`) hands each waiting row, oldest
first, to the system and marks it. A system that stops answering (`SystemUnavailable`) ends the
round at that row, so the order is kept and the relay backs off; a row the system refuses for
its content (`MessageRefused`) holds back the later rows of its dossier, whose order matters,
but not other dossiers'. Each row is marked in its own transaction, so a crash mid-round
repeats at most one row, which the system recognises by its idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.outbox import PushRequest, PushResult
from store import outbox
from store.models import OutboxRow

RowT = TypeVar("RowT", bound=OutboxRow)


class SystemUnavailable(Exception):
    """The system did not answer, or cannot take messages now: try later."""


class MessageRefused(Exception):
    """The system refused this message for what it says (a wrong code, a missing field)."""


async def push_round(
    sessions: async_sessionmaker[AsyncSession],
    model: type[RowT],
    request: PushRequest,
    deliver: Callable[[RowT], Awaitable[dict[str, Any]]],
) -> PushResult:
    """Deliver the waiting rows in order; ``deliver`` returns what to record on the row."""
    result = PushResult()
    held: set[str] = set()
    async with sessions() as session:
        rows = await outbox.pending(session, model, request.limit)
    for row in rows:
        activity.heartbeat(row.id)
        if row.dossier_code in held:
            continue
        try:
            answer = await deliver(row)
        except SystemUnavailable as exc:
            await _failed(sessions, model, row.id, f"unavailable: {exc}")
            result.unavailable, result.error = True, str(exc)
            break
        except MessageRefused as exc:
            await _failed(sessions, model, row.id, f"rejected: {exc}")
            held.add(row.dossier_code)
            result.rejected += 1
            result.error = str(exc)
            activity.logger.warning(
                "outbox_row_refused",
                extra={"table": model.__tablename__, "dossier": row.dossier_code},
            )
            continue
        async with sessions() as session:
            await outbox.mark_pushed(session, model, row.id, request.now, **answer)
            await session.commit()
        result.pushed += 1
    async with sessions() as session:
        backlog = await outbox.backlog(session, model)
    result.waiting = backlog.waiting
    result.oldest_waiting_since = backlog.oldest_since
    return result


async def _failed(
    sessions: async_sessionmaker[AsyncSession], model: type[OutboxRow], row_id: int, error: str
) -> None:
    async with sessions() as session:
        await outbox.mark_failed(session, model, row_id, error)
        await session.commit()
