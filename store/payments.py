"""Payments through the provider in the registry: the rows both kinds of payment share.

A dossier's financial obligation (`api.citizens`) and a fee at receipt (`api.fees`,
`api.fee_intake`) are both `PaymentRecord` rows: created pending, then settled once by the
provider's callback, which locks the row so a repeated callback finds it settled.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import PaymentRecord, PaymentStatus


async def locked_payment(session: AsyncSession, payment_id: str) -> PaymentRecord | None:
    """The payment's row, read afresh and locked until the transaction ends."""
    return (
        await session.execute(
            select(PaymentRecord)
            .where(PaymentRecord.payment_id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def decline(session: AsyncSession, payment_id: str, reason: str) -> None:
    """Mark a payment declined (the provider never took it, or refused it). The caller commits."""
    await session.execute(
        update(PaymentRecord)
        .where(PaymentRecord.payment_id == payment_id)
        .values(status=PaymentStatus.DECLINED.value, decline_reason=reason)
    )
