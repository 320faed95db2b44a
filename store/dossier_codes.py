"""Queries and writes of the registry, one function per business operation.

Writes are upserts keyed by business ids so that a retried activity never duplicates a row.
Callers own the transaction (commit at the unit-of-work boundary).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.dossier_code import format_dossier_code
from store.db import counter_step
from store.models import DossierCodeCounter, DossierRecord


async def allocate_dossier_code(session: AsyncSession, desk_code: str, day: date) -> str:
    """Hand out the next dossier code of a desk for a day, atomically (`store.db.counter_step`:
    no two callers get the same number)."""
    key = {"desk_code": desk_code, "day": day}
    stmt = counter_step(session, DossierCodeCounter, key, "last_sequence")
    sequence = (await session.execute(stmt)).scalar_one()
    return format_dossier_code(desk_code, day, sequence)


async def get_dossier(session: AsyncSession, code: str) -> DossierRecord | None:
    """The registry row of a dossier, or None."""
    return (
        await session.execute(select(DossierRecord).where(DossierRecord.code == code))
    ).scalar_one_or_none()
