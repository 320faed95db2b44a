"""The abuse limiter's counters (`api.limits`): one row per counted party (a dossier's second
factor, a client's attempts, a client's writes), shared by every API process, and the audit
entries of its locks.

Callers own the transaction (commit at the unit-of-work boundary).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_new, locked_row
from store.models import AbuseCounter, AuditRecord


async def get_counter(session: AsyncSession, key: str) -> AbuseCounter | None:
    """A counter as it stands, without a lock (a refusal costs this read and no write)."""
    return await session.get(AbuseCounter, key)


async def lock_counter(session: AsyncSession, key: str, now: datetime) -> AbuseCounter:
    """The counter's row, created if new and locked until the transaction ends."""
    await insert_new(
        session,
        AbuseCounter,
        AbuseCounter.key,
        key=key,
        count=0,
        window_start=now,
        last_at=now,
        locked_until=None,
    )
    row: AbuseCounter = await locked_row(session, AbuseCounter, AbuseCounter.key == key)
    return row


async def drop_counter(session: AsyncSession, key: str) -> None:
    """Forget a counter: its party starts again from nothing."""
    await session.execute(delete(AbuseCounter).where(AbuseCounter.key == key))


def record_lock(
    session: AsyncSession, dossier_code: str, at: datetime, action: str, row: AbuseCounter
) -> None:
    """Add a lock set or lifted to the audit log (``actor_kind`` ``limiter``)."""
    session.add(
        AuditRecord(
            dossier_code=dossier_code,
            update_id=f"limit-{uuid.uuid4().hex}",
            at=at,
            actor_kind="limiter",
            actor_id=None,
            agency=None,
            action=action,
            step=None,
            reason="",
            # The counter's key names the party (a digest for a client), and the count.
            detail=f"{row.key} after {row.count} failed attempts",
        )
    )
