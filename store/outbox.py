"""What every outside system's outbox shares: rows waiting in order, marked when delivered.

An outbox table (`store.models.OutboxRow`: ``portal_outbox``, ``sms_outbox``,
``einvoice_outbox``) is written in the registry's transactions, so nothing the registry holds
can be missing from it; its relay (`workflows.relay`) reads `pending` rows in ``id`` order and
marks each one. The per-system
modules (`store.portal`, `store.sms`, `store.receipts`) decide what goes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import EInvoiceOutboxRecord, OutboxRow, PortalOutboxRecord, SmsOutboxRecord

RowT = TypeVar("RowT", bound=OutboxRow)

# Each outside system's outbox (`engine.names.OUTSIDE_SYSTEMS`).
OUTBOXES: dict[str, type[OutboxRow]] = {
    "portal": PortalOutboxRecord,
    "sms": SmsOutboxRecord,
    "einvoice": EInvoiceOutboxRecord,
}


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored moment with its zone (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def pending(session: AsyncSession, model: type[RowT], limit: int) -> list[RowT]:
    """The oldest rows not yet delivered, in the order they were queued."""
    result = await session.execute(
        select(model).where(model.pushed_at.is_(None)).order_by(model.id).limit(limit)
    )
    return list(result.scalars())


async def mark_pushed(
    session: AsyncSession, model: type[OutboxRow], row_id: int, at: datetime, **values: Any
) -> None:
    """The system took the row (``values``: what it answered, for the row's own columns)."""
    await session.execute(
        update(model)
        .where(model.id == row_id)
        .values(
            pushed_at=at.astimezone(UTC), attempts=model.attempts + 1, last_error=None, **values
        )
    )


async def mark_failed(
    session: AsyncSession, model: type[OutboxRow], row_id: int, error: str
) -> None:
    """The system did not take the row this time; it stays queued."""
    await session.execute(
        update(model)
        .where(model.id == row_id)
        .values(attempts=model.attempts + 1, last_error=error[:2000])
    )


@dataclass(frozen=True)
class Backlog:
    """How far a system is behind: what the on-call operator looks at first."""

    waiting: int
    oldest_since: datetime | None  # when the oldest waiting event happened
    last_error: str | None

    def oldest_age(self, now: datetime) -> timedelta | None:
        """How long the oldest waiting row has waited."""
        return None if self.oldest_since is None else now - self.oldest_since


async def backlog(session: AsyncSession, model: type[OutboxRow]) -> Backlog:
    """The rows still owed to the system."""
    waiting, oldest = (
        await session.execute(
            select(func.count(), func.min(model.changed_at)).where(model.pushed_at.is_(None))
        )
    ).one()
    last_error = await session.scalar(
        select(model.last_error)
        .where(model.pushed_at.is_(None), model.last_error.is_not(None))
        .order_by(model.id)
        .limit(1)
    )
    return Backlog(waiting=waiting, oldest_since=as_utc(oldest), last_error=last_error)
