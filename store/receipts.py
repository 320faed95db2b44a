"""Electronic receipts in the registry: one number series per desk, gap-free and never repeated.

`issue` takes the next number of the desk's series (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` on `ReceiptSeriesCounter`: PostgreSQL's row lock serialises concurrent issuers) and
writes the receipt in the same transaction; a transaction that rolls back gives its number back,
so the numbers that exist are 1, 2, 3, ... with no hole. A payment's idempotency key names its
receipt: a retried callback or a refund asked twice gets the receipt it already has.

In the same transaction the receipt is queued for the tax authority's e-invoice system
(``einvoice_outbox``, the transactional outbox of `store.outbox`): a receipt that exists is
always transmitted, once per key, by the ``einvoice`` relay (`activities.einvoice`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import Catalog
from domain.clock import VN_TZ
from domain.fees import EInvoiceTransmission, FeeDue, fee_due_on, transmission_key
from forms.receipt import ReceiptDocument, render_receipt_html
from store.db import counter_step, dialect_insert, locked_row, rows_where
from store.models import (
    DossierFee,
    EInvoiceOutboxRecord,
    ElectronicReceipt,
    FeeStatus,
    OnlineSubmission,
    ReceiptSeriesCounter,
)

# [unverified] The shape of Circular 303/2016/TT-BTC's fee receipts (mẫu 01BLP0-001), kept by
# many agencies after Decree 123/2020; "E" at the end of the symbol marks an e-receipt.
TEMPLATE_NO = "01BLP0-001"


def series_symbol(issued_at: datetime) -> str:
    """``BL/26E``: the series restarts each calendar year [unverified]."""
    return f"BL/{issued_at:%y}E"


async def next_number(session: AsyncSession, desk_code: str, template_no: str, symbol: str) -> int:
    """The next number of a desk's series, locked until the caller's transaction ends."""
    key = {"desk_code": desk_code, "template_no": template_no, "symbol": symbol}
    stmt = counter_step(session, ReceiptSeriesCounter, key, "last_number")
    number: int = (await session.execute(stmt)).scalar_one()
    return number


async def find(session: AsyncSession, idempotency_key: str) -> ElectronicReceipt | None:
    """The receipt a payment or refund already has."""
    return await session.scalar(
        select(ElectronicReceipt).where(ElectronicReceipt.idempotency_key == idempotency_key)
    )


async def issue(
    session: AsyncSession, idempotency_key: str, desk_code: str, document: ReceiptDocument
) -> ElectronicReceipt:
    """Number, render and store a receipt (``document.number`` is ignored), once per key.

    The caller commits; until then the desk's series is locked for other issuers.
    """
    existing = await find(session, idempotency_key)
    if existing is not None:
        return existing
    symbol = series_symbol(document.issued_at)
    number = await next_number(session, desk_code, TEMPLATE_NO, symbol)
    numbered = replace(document, template_no=TEMPLATE_NO, symbol=symbol, number=number)
    row = ElectronicReceipt(
        idempotency_key=idempotency_key,
        kind=numbered.kind,
        dossier_code=numbered.dossier_code,
        desk_code=desk_code,
        template_no=TEMPLATE_NO,
        symbol=symbol,
        number=number,
        fee_name_vi=numbered.fee_name_vi,
        amount_vnd=numbered.amount_vnd,
        method=numbered.method,
        issued_at=numbered.issued_at,
        html=render_receipt_html(numbered),
    )
    session.add(row)
    await session.flush()
    transmission = transmission_of(numbered, desk_code)
    session.add(
        EInvoiceOutboxRecord(
            dossier_code=numbered.dossier_code,
            changed_at=numbered.issued_at,
            key=transmission.key,
            receipt_id=row.id,
            payload=transmission.model_dump_json(),
            attempts=0,
        )
    )
    await session.flush()
    return row


# The receipt's own fields the tax authority gets, under the same names (never the payer's).
_TRANSMITTED = (
    "template_no",
    "symbol",
    "number",
    "dossier_code",
    "fee_name_vi",
    "amount_vnd",
    "method",
    "issued_at",
    "refunds",
)


def transmission_of(document: ReceiptDocument, desk_code: str) -> EInvoiceTransmission:
    """What the tax authority gets of a numbered receipt (no payer name)."""
    return EInvoiceTransmission(
        key=transmission_key(desk_code, document.template_no, document.symbol, document.number),
        kind="refund" if document.kind == "refund" else "receipt",
        collector_name_vi=document.agency_name_vi,
        collector_tax_code=document.agency_tax_code,
        desk_code=desk_code,
        **{name: getattr(document, name) for name in _TRANSMITTED},
    )


async def of_dossier(session: AsyncSession, dossier_code: str) -> list[ElectronicReceipt]:
    """A dossier's receipts and refund documents, oldest first."""
    return await rows_where(
        session,
        ElectronicReceipt,
        ElectronicReceipt.dossier_code == dossier_code,
        ElectronicReceipt.id,
    )


async def record_due(
    session: AsyncSession,
    dossier_code: str,
    due: FeeDue,
    at: datetime,
    *,
    facts: str | None = None,
) -> DossierFee:
    """The dossier's fee at receipt, recorded once (a retry finds the first record).

    A fee that blocks the clock is recorded ``held``: the dossier is started when it is paid.
    ``facts`` (`DossierFacts` JSON): what a dossier filed at the desk starts with then.
    The caller commits.
    """
    await session.execute(
        dialect_insert(session, DossierFee)
        .values(
            dossier_code=dossier_code,
            procedure_code=due.procedure_code,
            procedure_version=due.procedure_version,
            fee_name_vi=due.name_vi,
            amount_vnd=due.amount_vnd,
            blocks_clock=due.blocks_clock,
            held=due.blocks_clock,
            status=FeeStatus.DUE.value,
            created_at=at.astimezone(UTC),
            facts=facts,
        )
        .on_conflict_do_nothing(index_elements=[DossierFee.dossier_code])
    )
    fee = await session.get(DossierFee, dossier_code)
    assert fee is not None  # inserted now or earlier, in this transaction's view
    return fee


async def hold_at_desk(
    session: AsyncSession,
    catalog: Catalog,
    *,
    dossier_code: str,
    procedure_code: str,
    received_at: datetime,
    facts: str,
) -> DossierFee | None:
    """The fee of a dossier filed at the desk, recorded as an online one's is; None when the
    procedure is exempt. When the fee blocks the clock the returned fee is ``held``: the caller
    does not start the dossier, the desk payment does (`api.fee_intake.start_held`), with
    ``facts``. The caller commits.
    """
    due = fee_due_on(catalog, procedure_code, received_at.astimezone(VN_TZ).date())
    if due.exempt:
        return None
    return await record_due(session, dossier_code, due, received_at, facts=facts)


async def fee_of(session: AsyncSession, dossier_code: str) -> DossierFee | None:
    """The dossier's fee at receipt, or None (exempt, or not known here)."""
    return await session.get(DossierFee, dossier_code)


async def locked_fee(session: AsyncSession, dossier_code: str) -> DossierFee | None:
    """The dossier's fee row, read afresh and locked until the transaction ends."""
    fee: DossierFee | None = await locked_row(
        session, DossierFee, DossierFee.dossier_code == dossier_code
    )
    return fee


async def receipt_by_id(session: AsyncSession, receipt_id: int | None) -> ElectronicReceipt | None:
    """One stored receipt (or refund document), or None (also for no id: a fee not paid)."""
    return None if receipt_id is None else await session.get(ElectronicReceipt, receipt_id)


async def release_held(session: AsyncSession, dossier_code: str, received_at: datetime) -> None:
    """A dossier held for its fee has started: no longer held, and (filed online) received at
    the moment of payment, so that retries of its submission say so too. The caller commits."""
    await session.execute(
        update(DossierFee).where(DossierFee.dossier_code == dossier_code).values(held=False)
    )
    await session.execute(
        update(OnlineSubmission)
        .where(OnlineSubmission.dossier_code == dossier_code)
        .values(received_at=received_at)
    )
