"""What the citizens' routes read and write (`api.submission`, `api.uploads`, `api.tracking`,
`api.supplements`, `api.citizen_payments`, `api.rating`, `api.citizens`): online submissions,
uploads, payments of a financial obligation, ratings, one-time codes and the applicant's acts
on the audit log. The routes hold no query of their own.

Callers own the transaction (commit at the unit-of-work boundary).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.dossier import DossierFacts
from store.db import insert_new
from store.models import (
    AuditRecord,
    DeliveryRecord,
    OneTimeCode,
    OnlineSubmission,
    RatingRecord,
    UploadRecord,
)

# -- uploads -----------------------------------------------------------------------------------


def add_upload(session: AsyncSession, **values: Any) -> UploadRecord:
    """A new upload's row (the file itself is stored by content, outside the database)."""
    row = UploadRecord(**values)
    session.add(row)
    return row


async def uploads_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, UploadRecord]:
    """The stored uploads among ``ids``, by id (an unknown id is absent)."""
    result = await session.execute(select(UploadRecord).where(UploadRecord.id.in_(ids)))
    return {row.id: row for row in result.scalars()}


# -- online submissions ------------------------------------------------------------------------


async def submission_of_key(session: AsyncSession, key: str) -> OnlineSubmission | None:
    """The submission an Idempotency-Key created, or None."""
    return await session.get(OnlineSubmission, key)


async def insert_submission(session: AsyncSession, **values: Any) -> bool:
    """Record a submission unless its Idempotency-Key is taken: whether this call did."""
    return await insert_new(session, OnlineSubmission, OnlineSubmission.idempotency_key, **values)


async def submission_of(session: AsyncSession, dossier_code: str) -> OnlineSubmission | None:
    """The online submission of a dossier, or None for one received another way."""
    return (
        await session.execute(
            select(OnlineSubmission).where(OnlineSubmission.dossier_code == dossier_code)
        )
    ).scalar_one_or_none()


async def submitted_facts(session: AsyncSession, dossier_code: str) -> DossierFacts | None:
    """The facts of a dossier submitted online, or None for one received another way."""
    facts = (
        await session.execute(
            select(OnlineSubmission.facts).where(OnlineSubmission.dossier_code == dossier_code)
        )
    ).scalar_one_or_none()
    return None if facts is None else DossierFacts.model_validate_json(facts)


# -- home delivery -----------------------------------------------------------------------------


async def is_posted(session: AsyncSession, dossier_code: str) -> bool:
    """Whether a result of the dossier is already with the post office."""
    posted = (
        await session.execute(
            select(DeliveryRecord.step).where(DeliveryRecord.dossier_code == dossier_code)
        )
    ).first()
    return posted is not None


# -- the applicant's acts ----------------------------------------------------------------------


def record_address_change(session: AsyncSession, dossier_code: str, at: datetime) -> None:
    """Add the applicant's change of the delivery address to the audit log (never the address
    itself: the audit log is not encrypted)."""
    session.add(
        AuditRecord(
            dossier_code=dossier_code,
            update_id=f"address-{uuid.uuid4().hex}",
            at=at,
            actor_kind="applicant",
            actor_id=None,
            agency=None,
            action="address_changed",
            step=None,
            reason="",
            detail="",
        )
    )


async def insert_rating(
    session: AsyncSession, dossier_code: str, score: int, comment: str, at: datetime
) -> bool:
    """Record the dossier's rating unless it has one: whether this call did."""
    return await insert_new(
        session,
        RatingRecord,
        RatingRecord.dossier_code,
        dossier_code=dossier_code,
        score=score,
        comment=comment,
        created_at=at,
    )


# -- one-time codes ----------------------------------------------------------------------------


async def one_time_code_of(session: AsyncSession, dossier_code: str) -> OneTimeCode | None:
    """The dossier's one-time code (its digest and expiry), or None."""
    return await session.get(OneTimeCode, dossier_code)


async def drop_one_time_code(session: AsyncSession, dossier_code: str) -> None:
    """Forget the dossier's one-time code (it was used, or a new one replaces it)."""
    await session.execute(delete(OneTimeCode).where(OneTimeCode.dossier_code == dossier_code))


async def replace_one_time_code(
    session: AsyncSession, dossier_code: str, digest: str, expires_at: datetime
) -> None:
    """Store a new one-time code's digest in place of any earlier one."""
    await drop_one_time_code(session, dossier_code)
    session.add(OneTimeCode(dossier_code=dossier_code, digest=digest, expires_at=expires_at))
