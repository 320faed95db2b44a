"""Fees at receipt, the part the submission (`api.submission`) and the payment callback
(`api.citizen_payments`) call.

A fee is collected AT RECEIPT, before the dossier's workflow starts, and tracked here, outside
the workflow (the dossier core knows nothing of it):

- `record_fee`: at submission, the fee of the catalog version in force on the day is recorded
  (``dossier_fees``). An exempt procedure records nothing. A fee that blocks the clock holds
  the dossier: its workflow is not started, the submission answers 202 with what to pay.
- `settle_callback`: the provider's signed callback for a fee payment (id ``FEE-...``) marks the
  payment, issues the electronic receipt (`store.receipts`) in the same transaction, and
  starts a held dossier, received at the moment of payment (`start_held`).
- `pay_fee`: the same receipt for a fee paid at the desk. A dossier filed at the desk whose
  fee blocks the clock is held the same way (`store.receipts.hold_at_desk`, from
  ``starter.py submit``) and started by its desk payment.

Every step is idempotent: a retried callback finds its payment settled and its receipt issued,
and a held dossier whose start failed is started by the retry (the workflow id is the code).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import schemas as s
from api.auth import tracking_secret
from api.context import ApiContext
from api.payments import PaymentCallback, PaymentRequest
from clients.dossiers import start_dossier
from domain.catalog import UnknownAgency
from domain.clock import VN_TZ
from domain.dossier import DossierFacts
from domain.fees import fee_due_on
from forms.receipt import ReceiptDocument
from store import payments, receipts
from store.applicants import submission_of
from store.letters import get_contact
from store.models import (
    DossierFee,
    ElectronicReceipt,
    FeeStatus,
    OnlineSubmission,
    PaymentRecord,
    PaymentStatus,
)

log = structlog.get_logger(__name__)

FEE_PAYMENT_PREFIX = "FEE-"
ONE_STOP_AGENCY = "one-stop"
ONLINE_COLLECTOR_VI = "Thu qua cổng thanh toán trực tuyến"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fee_links(code: str) -> dict[str, str]:
    """Where the applicant sees and pays the fee, and downloads its receipts."""
    base = f"/api/v1/dossiers/{code}"
    return {"fees": f"{base}/fees", "pay": f"{base}/fees/payments", "receipts": f"{base}/receipts"}


async def record_fee(ctx: ApiContext, row: OnlineSubmission) -> DossierFee | None:
    """The dossier's fee, recorded once (a retry finds it); None when the procedure is exempt."""
    due = fee_due_on(
        ctx.catalog, row.procedure_code, _utc(row.received_at).astimezone(VN_TZ).date()
    )
    if due.exempt:
        return None
    async with ctx.sessions() as session:
        fee = await receipts.record_due(session, row.dossier_code, due, _utc(row.received_at))
        await session.commit()
        return fee


async def hold_for_fee(ctx: ApiContext, row: OnlineSubmission) -> JSONResponse | None:
    """The 202 answer of a submission whose fee blocks the clock and is not paid yet; None
    when the dossier starts now (no fee, a fee that does not block, or one already paid)."""
    fee = await record_fee(ctx, row)
    if fee is None or not fee.held:
        return None
    if fee.status != FeeStatus.DUE.value:
        await start_held(ctx, row.dossier_code)  # paid, but the start failed: start it now
        return None
    code = row.dossier_code
    base = f"/api/v1/dossiers/{code}"
    body = {
        "dossier_code": code,
        "procedure": row.procedure_code,
        "received_at": None,
        "appointment": None,
        "tracking_secret": tracking_secret(ctx.token_secret, code),
        "links": {
            "tracking": base,
            "receipt_html": f"{base}/receipt?format=html",
            "receipt_pdf": f"{base}/receipt?format=pdf",
            "qr": f"{base}/qr.png",
            **fee_links(code),
        },
        "fee": {
            "name_vi": fee.fee_name_vi,
            "amount_vnd": fee.amount_vnd,
            "blocks_clock": True,
            "message_vi": "Hồ sơ được tiếp nhận khi lệ phí đã được nộp.",
            "message_en": "The dossier is received (its clock starts) once the fee is paid.",
        },
    }
    return JSONResponse(body, status_code=202)


def collector_name_vi(ctx: ApiContext) -> str:
    """The fee-collecting organisation's name: the one-stop desk, as the catalog names it."""
    try:
        return ctx.catalog.agency(ONE_STOP_AGENCY).name_vi
    except UnknownAgency:
        return ONE_STOP_AGENCY


def collector_tax_code(ctx: ApiContext) -> str:
    """The collector's tax code as printed (`Settings.fee_collector_tax_code`)."""
    return ctx.settings.fee_collector_tax_code or "chưa khai báo"


async def fee_document(
    session: AsyncSession,
    ctx: ApiContext,
    fee: DossierFee,
    *,
    kind: str,
    method: str,
    collector_vi: str,
    at: datetime,
    refunds: str = "",
    reason_vi: str = "",
) -> ReceiptDocument:
    """The receipt (or refund document) of ``fee``, before `store.receipts.issue` numbers it."""
    contact = await get_contact(session, fee.dossier_code)
    return ReceiptDocument(
        kind=kind,
        agency_name_vi=collector_name_vi(ctx),
        agency_tax_code=collector_tax_code(ctx),
        template_no="",
        symbol="",
        number=0,
        dossier_code=fee.dossier_code,
        payer_name=contact.full_name if contact is not None else "",
        fee_name_vi=fee.fee_name_vi,
        amount_vnd=fee.amount_vnd,
        method=method,
        issued_at=at,
        collector_vi=collector_vi,
        refunds=refunds,
        reason_vi=reason_vi,
    )


async def pay_fee(
    session: AsyncSession,
    ctx: ApiContext,
    fee: DossierFee,
    *,
    method: str,
    key: str,
    collector_vi: str,
    at: datetime,
) -> ElectronicReceipt | None:
    """Mark ``fee`` (locked by the caller) paid and issue its receipt, in the caller's
    transaction: both are written or neither. None (nothing done) when it is no longer due."""
    if fee.status != FeeStatus.DUE.value:
        return None
    document = await fee_document(
        session, ctx, fee, kind="receipt", method=method, collector_vi=collector_vi, at=at
    )
    receipt = await receipts.issue(session, key, ctx.settings.desk_code, document)
    fee.status = FeeStatus.PAID.value
    fee.method = method
    fee.payment_id = key
    fee.paid_at = at
    fee.receipt_id = receipt.id
    return receipt


async def locked_fee_or_404(session: AsyncSession, code: str) -> DossierFee:
    """The dossier's fee row, locked until the transaction ends.

    Raises:
        HTTPException: 404 when the dossier owes no fee (exempt, or unknown).
    """
    fee = await receipts.locked_fee(session, code)
    if fee is None:
        raise HTTPException(404, "no fee is due for this dossier")
    return fee


async def create_with_provider(
    ctx: ApiContext, row: PaymentRecord, description: str, method: str
) -> s.PaymentView:
    """Ask the provider to create the payment whose row (pending) is committed already; the
    payment's view with where the citizen goes to pay.

    Raises:
        HTTPException: 502 when the provider is unavailable; the payment is then recorded as
            declined, so a new one may be started.
    """
    request = PaymentRequest(
        payment_id=row.payment_id,
        dossier_code=row.dossier_code,
        amount_vnd=row.amount_vnd,
        description=description,
        method=method,
    )
    try:
        created = await ctx.payments.create(request)
    except Exception:
        async with ctx.sessions() as session:
            await payments.decline(session, request.payment_id, "provider_unavailable")
            await session.commit()
        raise HTTPException(502, "the payment provider is unavailable; try again") from None
    return s.view_of(s.PaymentView, row, redirect_url=created.redirect_url)


async def start_held(ctx: ApiContext, code: str) -> None:
    """Start a paid dossier that was held for its fee, received at the moment of payment.

    An online dossier starts with its submission's facts; one filed at the desk with the facts
    recorded with its fee (`store.receipts.hold_at_desk`).

    Raises:
        HTTPException: 503 when Temporal cannot be reached (the caller's retry starts it).
    """
    async with ctx.sessions() as session:
        fee = await receipts.fee_of(session, code)
        submission = await submission_of(session, code)
    if fee is None or not fee.held or fee.paid_at is None:
        return
    if submission is not None:
        procedure, facts = submission.procedure_code, submission.facts
    elif fee.facts is not None:
        procedure, facts = fee.procedure_code, fee.facts
    else:
        return
    received = _utc(fee.paid_at)
    try:
        await start_dossier(
            ctx.temporal,
            code=code,
            desk_code=ctx.settings.desk_code,
            procedure_code=procedure,
            received_at=received,
            facts=DossierFacts.model_validate_json(facts),
            task_queue=ctx.task_queue,
            desk_url=ctx.settings.desk_url(code),
        )
    except WorkflowAlreadyStartedError:
        pass  # an earlier attempt started it
    except RPCError:
        raise HTTPException(503, "the dossier could not be started yet; try again") from None
    async with ctx.sessions() as session:
        await receipts.release_held(session, code, received)
        await session.commit()
    log.info("fee_paid_dossier_started", dossier_code=code)


async def settle_callback(ctx: ApiContext, callback: PaymentCallback) -> dict[str, str]:
    """The provider's (signature-checked) callback for a fee payment: once per payment."""
    async with ctx.sessions() as session:
        row = await payments.locked_payment(session, callback.payment_id)
        if row is None:
            raise HTTPException(404, "no such payment")
        if row.status == PaymentStatus.PENDING.value:
            if callback.amount_vnd != row.amount_vnd:
                raise HTTPException(400, "the amount differs from the payment's")
            now = ctx.now()
            if callback.status == "succeeded":
                fee = await locked_fee_or_404(session, row.dossier_code)
                paid = await pay_fee(
                    session,
                    ctx,
                    fee,
                    method="online",
                    key=row.payment_id,
                    collector_vi=ONLINE_COLLECTOR_VI,
                    at=now,
                )
                if (
                    not paid
                ):  # paid at the desk meanwhile: the money came twice, an officer refunds it
                    log.warning(
                        "fee_paid_twice", dossier_code=row.dossier_code, payment_id=row.payment_id
                    )
                row.status = PaymentStatus.SUCCEEDED.value
            else:
                row.status = PaymentStatus.DECLINED.value
                row.decline_reason = callback.reason or "declined"
            row.completed_at = now
            await session.commit()
        status, code = row.status, row.dossier_code
    if status == PaymentStatus.SUCCEEDED.value:
        await start_held(ctx, code)
    log.info("fee_payment_recorded", payment_id=callback.payment_id, status=status)
    return {"payment_id": callback.payment_id, "status": status}
