"""Fees at receipt: the applicant's fee and receipts, the desk's cash payment, the refund.

Applicant routes (same second factor as tracking, `api.citizens.authorise`):
``GET /api/v1/dossiers/{code}/fees``, ``POST .../fees/payments`` (online, through the payment
provider; its callback is `api.fee_intake.settle_callback`),
``GET .../receipts/{receipt_id}?format=html|pdf``.

Officer routes of the one-stop desk (bearer token, `api.agencies`):
``POST /api/v1/agencies/one-stop/fees/{code}/desk-payment`` (cash at the desk) and, for the
head only, ``POST /api/v1/agencies/one-stop/fees/{code}/refund`` when the dossier was refused
for the agency's fault: the provider refunds with an idempotency key, a refund document is
issued in the receipt series, and the audit log records who did it and why.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, Field

from api import schemas as s
from api.agencies import Head, Officer
from api.citizens import ApplicantProof, Authorised, authorise
from api.context import ApiContext, context
from api.documents import HTML_OR_PDF, pdf_font, pdf_response
from api.fee_intake import (
    FEE_PAYMENT_PREFIX,
    ONE_STOP_AGENCY,
    collector_name_vi,
    create_with_provider,
    fee_document,
    fee_links,
    locked_fee_or_404,
    pay_fee,
    start_held,
)
from api.limits import take_write
from api.payments import ProviderUnavailable, RefundRefused, RefundRequest
from domain.dossier import DossierStatus
from forms.receipt import receipt_pdf, reference
from store import receipts
from store.dossier_codes import get_dossier
from store.models import (
    AuditRecord,
    ElectronicReceipt,
    FeeStatus,
    PaymentRecord,
    PaymentStatus,
)
from store.payments import pending_payment

router = APIRouter(prefix="/api/v1", tags=["fees"])
FeeCode = Annotated[str, Path(max_length=40)]


class ReceiptView(BaseModel):
    """One electronic receipt or refund document, and where to download it."""

    id: int
    kind: Literal["receipt", "refund"]
    reference: str = Field(description="ký hiệu mẫu số, ký hiệu and số, as printed")
    amount_vnd: int
    method: str
    issued_at: str
    html: str
    pdf: str


class FeeView(BaseModel):
    """The dossier's fee at receipt: what is owed, whether the clock waits, what was paid."""

    dossier_code: str
    name_vi: str
    amount_vnd: int
    blocks_clock: bool
    held: bool = Field(description="the dossier waits for the fee to be received")
    status: str
    method: str | None
    receipts: list[ReceiptView]
    links: dict[str, str]


class RefundBody(BaseModel):
    """Why the fee is given back (the refusal was the agency's fault)."""

    reason: str = Field(min_length=5, max_length=500)


def _receipt_view(code: str, row: ElectronicReceipt) -> ReceiptView:
    url = f"/api/v1/dossiers/{code}/receipts/{row.id}"
    return ReceiptView(
        id=row.id,
        kind="refund" if row.kind == "refund" else "receipt",
        reference=reference(row.template_no, row.symbol, row.number),
        amount_vnd=row.amount_vnd,
        method=row.method,
        issued_at=row.issued_at.astimezone(UTC).isoformat(),
        html=f"{url}?format=html",
        pdf=f"{url}?format=pdf",
    )


async def fee_view(ctx: ApiContext, code: str) -> FeeView:
    """The fee and its receipts (404 when the dossier owes no fee: exempt, or not online)."""
    async with ctx.sessions() as session:
        fee = await receipts.fee_of(session, code)
        if fee is None:
            raise HTTPException(404, "no fee is due for this dossier (exempt procedure)")
        rows = await receipts.of_dossier(session, code)
    return s.view_of(
        FeeView,
        fee,
        name_vi=fee.fee_name_vi,
        receipts=[_receipt_view(code, row) for row in rows],
        links=fee_links(code),
    )


@router.get(
    "/dossiers/{code}/fees",
    summary="The dossier's fee at receipt and its electronic receipts",
)
async def fees(
    code: FeeCode, _: Authorised, ctx: Annotated[ApiContext, Depends(context)]
) -> FeeView:
    """What is owed, whether the dossier waits for it, and the receipts issued."""
    return await fee_view(ctx, code)


@router.post(
    "/dossiers/{code}/fees/payments",
    status_code=202,
    summary="Pay the fee online (receipt's secret or a one-time code)",
)
async def pay_online(
    code: FeeCode,
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
    body: s.PaymentStartBody | None = None,
) -> s.PaymentView:
    """Create the fee's payment; the provider's callback issues the receipt.

    Raises:
        HTTPException: 409 when no fee is due or a fee payment is pending; 502 when the
            provider is unavailable (the payment is then recorded as declined).
    """
    await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    method = (body or s.PaymentStartBody()).method
    async with ctx.sessions() as session:
        fee = await receipts.locked_fee(session, code)
        if fee is None or fee.status != FeeStatus.DUE.value:
            raise HTTPException(409, "no fee is due for this dossier")
        pending = await pending_payment(session, code, prefix=FEE_PAYMENT_PREFIX)
        if pending is not None:
            raise HTTPException(409, f"payment {pending.payment_id} is still pending")
        row = PaymentRecord(
            payment_id=f"{FEE_PAYMENT_PREFIX}{uuid.uuid4().hex}",
            dossier_code=code,
            amount_vnd=fee.amount_vnd,
            status=PaymentStatus.PENDING.value,
        )
        session.add(row)
        name = fee.fee_name_vi
        await session.commit()
    return await create_with_provider(ctx, row, f"{name} - hồ sơ {code}", method)


@router.get(
    "/dossiers/{code}/receipts/{receipt_id}",
    summary="An electronic receipt (or refund document) as HTML or PDF",
    responses=HTML_OR_PDF,
    response_class=Response,
)
async def receipt_document(
    code: FeeCode,
    receipt_id: Annotated[int, Path(ge=1, le=2**62)],
    _: Authorised,
    ctx: Annotated[ApiContext, Depends(context)],
    format: Annotated[Literal["html", "pdf"], Query()] = "html",
) -> Response:
    """The stored receipt; its PDF is laid out from the stored HTML (same HTML, same bytes)."""
    async with ctx.sessions() as session:
        row = await receipts.receipt_by_id(session, receipt_id)
    if row is None or row.dossier_code != code:
        raise HTTPException(404, "no such receipt for this dossier")
    if format == "html":
        return HTMLResponse(row.html)
    font = pdf_font(ctx.settings)
    name = reference(row.template_no, row.symbol, row.number)
    pdf = await asyncio.to_thread(
        receipt_pdf,
        row.html,
        reference=name,
        issued_at=row.issued_at,
        author=collector_name_vi(ctx),
        font=font,
    )
    filename = f"{code}-bien-lai-{row.number:07d}.pdf"
    return pdf_response(pdf, filename)


# -- the one-stop desk ---------------------------------------------------------------------------


def _desk_route(action: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """An officer route of the one-stop desk on a dossier's fee, answering the fee's view."""
    return router.post(
        f"/agencies/{{agency}}/fees/{{code}}/{action}",
        response_model=FeeView,
        tags=["agencies"],
        summary=summary,
    )


def _desk_only(agency: str) -> None:
    if agency != ONE_STOP_AGENCY:
        raise HTTPException(403, f"fees are collected by the {ONE_STOP_AGENCY} desk only")


@_desk_route("desk-payment", "Record the fee paid in cash at the desk; issues the receipt")
async def desk_payment(
    code: FeeCode, claims: Officer, ctx: Annotated[ApiContext, Depends(context)]
) -> FeeView:
    """The receipt is issued now; a dossier held for its fee starts, received now."""
    _desk_only(claims.agency)
    async with ctx.sessions() as session:
        fee = await locked_fee_or_404(session, code)
        paid = await pay_fee(
            session,
            ctx,
            fee,
            method="desk",
            key=f"DESK-{code}",
            collector_vi=claims.officer,
            at=ctx.now(),
        )
        if paid is not None:
            await session.commit()
        elif fee.method != "desk":
            raise HTTPException(409, f"the fee is already {fee.status} ({fee.method})")
    await start_held(ctx, code)
    return await fee_view(ctx, code)


@_desk_route("refund", "The head refunds the fee of a dossier refused for the agency's fault")
async def refund(
    code: FeeCode, body: RefundBody, claims: Head, ctx: Annotated[ApiContext, Depends(context)]
) -> FeeView:
    """Give the fee back through the provider (or in cash) and issue the refund document.

    Idempotent: the provider's refund and the document are keyed by ``REFUND-{code}``, so a
    repeated request (after a timeout, say) refunds once.

    Raises:
        HTTPException: 409 unless the fee was paid and the dossier was refused; 502 when the
            provider did not answer (repeat the request).
    """
    _desk_only(claims.agency)
    key = f"REFUND-{code}"
    async with ctx.sessions() as session:
        fee = await locked_fee_or_404(session, code)
        if fee.status == FeeStatus.REFUNDED.value:
            await session.rollback()
            return await fee_view(ctx, code)
        if fee.status != FeeStatus.PAID.value or fee.payment_id is None:
            raise HTTPException(409, "the fee has not been paid: nothing to refund")
        dossier = await get_dossier(session, code)
        if dossier is None or dossier.status != DossierStatus.REFUSED.value:
            raise HTTPException(409, "only the fee of a refused dossier is refunded")
        if fee.method == "online":
            try:
                done = await ctx.payments.refund(
                    RefundRequest(
                        payment_id=fee.payment_id,
                        amount_vnd=fee.amount_vnd,
                        idempotency_key=key,
                        reason=body.reason,
                    )
                )
            except ProviderUnavailable:
                raise HTTPException(502, "the payment provider did not answer; repeat") from None
            except RefundRefused as err:
                raise HTTPException(409, f"the provider refused the refund: {err}") from None
            refund_id = done.refund_id
        else:
            refund_id = f"CASH-{code}"
        original = await receipts.receipt_by_id(session, fee.receipt_id)
        now = ctx.now()
        document = await fee_document(
            session,
            ctx,
            fee,
            kind="refund",
            method=fee.method or "desk",
            collector_vi=claims.officer,
            at=now,
            refunds=(
                reference(original.template_no, original.symbol, original.number)
                if original is not None
                else ""
            ),
            reason_vi=body.reason,
        )
        await receipts.issue(session, key, ctx.settings.desk_code, document)
        fee.status = FeeStatus.REFUNDED.value
        fee.refund_id = refund_id
        fee.refunded_at = now
        fee.refund_reason = body.reason
        session.add(
            AuditRecord(
                dossier_code=code,
                update_id=key,
                at=now,
                actor_kind="officer",
                actor_id=claims.officer,
                agency=claims.agency,
                action="fee_refunded",
                step=None,
                reason=body.reason,
                detail=refund_id,
            )
        )
        await session.commit()
    return await fee_view(ctx, code)
