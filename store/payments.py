"""Payments through the provider in the registry: the rows both kinds of payment share.

A dossier's financial obligation (`api.citizen_payments`) and a fee at receipt (`api.fees`,
`api.fee_intake`) are both `PaymentRecord` rows: created pending, then settled once by the
provider's callback, which locks the row so a repeated callback finds it settled.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import locked_row, rows_where
from store.models import PaymentRecord, PaymentStatus


async def locked_payment(session: AsyncSession, payment_id: str) -> PaymentRecord | None:
    """A payment by id, read afresh under its row lock (``FOR UPDATE`` on PostgreSQL) until the
    transaction ends, so two deliveries of one callback are recorded one after the other."""
    row: PaymentRecord | None = await locked_row(
        session, PaymentRecord, PaymentRecord.payment_id == payment_id
    )
    return row


async def decline(session: AsyncSession, payment_id: str, reason: str) -> None:
    """Mark a payment declined (the provider never took it, or refused it). The caller commits."""
    await session.execute(
        update(PaymentRecord)
        .where(PaymentRecord.payment_id == payment_id)
        .values(status=PaymentStatus.DECLINED.value, decline_reason=reason)
    )


async def payments_of(session: AsyncSession, dossier_code: str) -> list[PaymentRecord]:
    """A dossier's payments through the provider, oldest first."""
    return await rows_where(
        session, PaymentRecord, PaymentRecord.dossier_code == dossier_code, PaymentRecord.created_at
    )


async def pending_payment(
    session: AsyncSession, dossier_code: str, prefix: str | None = None
) -> PaymentRecord | None:
    """The dossier's payment still waiting for the provider's callback, or None; with
    ``prefix``, only a payment whose id starts so (a fee at receipt: ``FEE-``)."""
    conditions = [
        PaymentRecord.dossier_code == dossier_code,
        PaymentRecord.status == PaymentStatus.PENDING.value,
    ]
    if prefix is not None:
        conditions.append(PaymentRecord.payment_id.startswith(prefix))
    return (await session.execute(select(PaymentRecord).where(*conditions))).scalar_one_or_none()


async def get_payment(session: AsyncSession, payment_id: str) -> PaymentRecord | None:
    """A payment by id, or None."""
    return await session.get(PaymentRecord, payment_id)


def add_payment(session: AsyncSession, dossier_code: str, amount_vnd: int) -> PaymentRecord:
    """A new pending payment of the dossier's obligation (its id made here)."""
    row = PaymentRecord(
        payment_id=f"PAY-{uuid.uuid4().hex}",
        dossier_code=dossier_code,
        amount_vnd=amount_vnd,
        status=PaymentStatus.PENDING.value,
    )
    session.add(row)
    return row
