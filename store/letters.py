"""Queries and writes of the letters and notifications tables (revision 0003).

Each row is written once per business key (a letter per dossier and sequence, a notice per
dossier, kind, step and sequence): `record_apology` and `record_notice` insert with
``ON CONFLICT DO NOTHING`` and read back whichever row stands, so a retried activity finds the
row its earlier attempt wrote. The ``lock_*`` reads take the row lock (``SELECT ... FOR
UPDATE`` on PostgreSQL) that makes "send only if not sent yet" safe when two attempts of one
activity overlap: the second waits until the first commits, then sees ``sent_at``. A worker
killed while holding it loses its connection, and PostgreSQL releases the lock.

Callers own the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import ApologyLetterRecord, ApplicantContact, NotificationRecord


def _insert(session: AsyncSession, table: Any) -> Any:
    # ON CONFLICT is spelled the same on both, but SQLAlchemy builds it per dialect.
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def save_contact(
    session: AsyncSession,
    dossier_code: str,
    *,
    full_name: str,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    """Record how to reach a dossier's applicant, replacing what was on file (idempotent)."""
    values = {"full_name": full_name, "email": email, "phone": phone}
    stmt = _insert(session, ApplicantContact).values(dossier_code=dossier_code, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[ApplicantContact.dossier_code], set_=values)
    await session.execute(stmt)


async def get_contact(session: AsyncSession, dossier_code: str) -> ApplicantContact | None:
    """The applicant's contact for a dossier, or None when the registry has none."""
    return await session.get(ApplicantContact, dossier_code)


async def record_apology(
    session: AsyncSession, *, dossier_code: str, sequence: int, **fields: Any
) -> tuple[ApologyLetterRecord, bool]:
    """Record a letter's fields, or return the letter already recorded for this key.

    The first recording wins: a retry never changes a letter's printed fields, so a document
    rendered again is the same document.

    Returns:
        The row, and whether this call created it.
    """
    stmt = (
        _insert(session, ApologyLetterRecord)
        .values(dossier_code=dossier_code, sequence=sequence, **fields)
        .on_conflict_do_nothing(
            index_elements=[ApologyLetterRecord.dossier_code, ApologyLetterRecord.sequence]
        )
        .returning(ApologyLetterRecord.id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none()
    row = await get_apology(session, dossier_code, sequence)
    assert row is not None
    return row, inserted is not None


async def get_apology(
    session: AsyncSession, dossier_code: str, sequence: int
) -> ApologyLetterRecord | None:
    """The letter of a dossier with this sequence number, or None."""
    return (
        await session.execute(
            select(ApologyLetterRecord)
            .where(
                ApologyLetterRecord.dossier_code == dossier_code,
                ApologyLetterRecord.sequence == sequence,
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def lock_apology(
    session: AsyncSession, dossier_code: str, sequence: int
) -> ApologyLetterRecord:
    """The letter's row, locked until the transaction ends (it must exist)."""
    return (
        await session.execute(
            select(ApologyLetterRecord)
            .where(
                ApologyLetterRecord.dossier_code == dossier_code,
                ApologyLetterRecord.sequence == sequence,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


def _notice_key(dossier_code: str, kind: str, step: str, sequence: int) -> Any:
    return (
        NotificationRecord.dossier_code == dossier_code,
        NotificationRecord.kind == kind,
        NotificationRecord.step == step,
        NotificationRecord.sequence == sequence,
    )


async def record_notice(
    session: AsyncSession, *, dossier_code: str, kind: str, step: str, sequence: int, **fields: Any
) -> tuple[NotificationRecord, bool]:
    """Record a notice to an agency, or return the one already recorded for this key.

    Returns:
        The row, and whether this call created it.
    """
    key = {"dossier_code": dossier_code, "kind": kind, "step": step, "sequence": sequence}
    stmt = (
        _insert(session, NotificationRecord)
        .values(**key, **fields)
        .on_conflict_do_nothing(
            index_elements=[
                NotificationRecord.dossier_code,
                NotificationRecord.kind,
                NotificationRecord.step,
                NotificationRecord.sequence,
            ]
        )
        .returning(NotificationRecord.id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none()
    row = (
        await session.execute(
            select(NotificationRecord)
            .where(*_notice_key(dossier_code, kind, step, sequence))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row, inserted is not None


async def lock_notice(
    session: AsyncSession, dossier_code: str, kind: str, step: str, sequence: int
) -> NotificationRecord:
    """The notice's row, locked until the transaction ends (it must exist)."""
    return (
        await session.execute(
            select(NotificationRecord)
            .where(*_notice_key(dossier_code, kind, step, sequence))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
