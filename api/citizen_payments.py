"""Paying a dossier's financial obligation through the payment provider (`api.payments`), and
the provider's signed callback with the outcome.

A payment is created pending; the provider calls back (``POST /api/v1/payments/callback``,
HMAC-signed) with the outcome, and a success reaches the dossier as a signal. A fee at receipt
(id ``FEE-...``) is settled by `api.fee_intake` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, HTTPException, Path, Request
from pydantic import ValidationError
from temporalio.service import RPCError

from api import schemas as s
from api.citizens import ApplicantProof, Authorised, Proof, authorise_change
from api.context import ApiContext, Ctx, DossierCode
from api.fee_intake import FEE_PAYMENT_PREFIX, create_with_provider, settle_callback
from api.payments import PaymentCallback, signature_matches
from api.workflow import handle_of, rpc_error, tracking
from domain.dossier import DossierStatus
from store.models import PaymentStatus
from store.payments import add_payment, get_payment, locked_payment, pending_payment
from workflows.dossier import DossierWorkflow, PaymentInput

router = APIRouter(prefix="/api/v1", tags=["citizens"])
provider = APIRouter(prefix="/api/v1", tags=["payment provider"])  # its callback
log = structlog.get_logger(__name__)


async def pay_dossier(
    ctx: ApiContext, code: str, given: Proof, method: str | None = None
) -> s.PaymentView:
    """Start a payment of what is due: needs a strong factor; counted against the quotas.

    Raises:
        HTTPException: 409 when nothing is due or a payment is pending; 502 when the provider
            is unavailable (the payment is then recorded as declined).
    """
    await authorise_change(ctx, code, given)
    body = s.PaymentStartBody() if method is None else s.PaymentStartBody(method=method)
    state = await tracking(ctx, code)
    outstanding = state.amount_due_vnd - state.amount_paid_vnd
    if state.status != DossierStatus.FINANCIAL_OBLIGATION or outstanding <= 0:
        raise HTTPException(409, f"nothing to pay: the dossier is {state.status}")
    async with ctx.sessions() as session:
        pending = await pending_payment(session, code)
        if pending is not None:
            raise HTTPException(409, f"payment {pending.payment_id} is still pending")
        row = add_payment(session, code, outstanding)
        await session.commit()
    return await create_with_provider(ctx, row, f"Nghĩa vụ tài chính hồ sơ {code}", body.method)


@router.post(
    "/dossiers/{code}/payments",
    status_code=202,
    summary="Pay the outstanding financial obligation (receipt's secret or a one-time code)",
)
async def start_payment(
    code: DossierCode,
    given: ApplicantProof,
    ctx: Ctx,
    body: s.PaymentStartBody | None = None,
) -> s.PaymentView:
    """Create a payment of what is due; the provider calls back with the outcome."""
    return await pay_dossier(ctx, code, given, body.method if body is not None else None)


@router.get(
    "/dossiers/{code}/payments/{payment_id}",
    summary="A payment's status",
)
async def payment_status(
    code: str,
    payment_id: Annotated[str, Path(max_length=64)],
    _: Authorised,
    ctx: Ctx,
) -> s.PaymentView:
    """Pending until the provider calls back; then succeeded or declined (with the reason)."""
    async with ctx.sessions() as session:
        row = await get_payment(session, payment_id)
    if row is None or row.dossier_code != code:
        raise HTTPException(404, "no such payment")
    return s.view_of(s.PaymentView, row)


# -- the provider's callback -------------------------------------------------------------------


async def _signal_payment(ctx: ApiContext, code: str, payment_id: str, amount: int) -> None:
    try:
        await handle_of(ctx, code).signal(
            DossierWorkflow.payment_received, PaymentInput(reference=payment_id, amount_vnd=amount)
        )
    except RPCError as err:
        raise rpc_error(err) from None


@provider.post(
    "/payments/callback",
    summary="The payment provider's callback (HMAC-signed body, header X-Signature)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": PaymentCallback.model_json_schema()},
            },
        }
    },
)
async def payment_callback(
    request: Request,
    ctx: Ctx,
    x_signature: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, str]:
    """Record the outcome of a payment, once; a success reaches the dossier as a signal.

    Idempotent by payment id: the provider retries until it gets a 2xx, and a repeated callback
    changes nothing. The signal is sent before the row is committed, so a failure in between
    leaves the payment pending for the retry (the workflow ignores a repeated reference).
    """
    raw = await request.body()
    if not x_signature or not signature_matches(ctx.webhook_secret, raw, x_signature):
        raise HTTPException(401, "bad signature")
    try:
        callback = PaymentCallback.model_validate_json(raw)
    except ValidationError:
        raise HTTPException(400, "not a payment callback") from None
    if callback.payment_id.startswith(FEE_PAYMENT_PREFIX):  # a fee at receipt (h22)
        return await settle_callback(ctx, callback)
    async with ctx.sessions() as session:
        row = await locked_payment(session, callback.payment_id)
        if row is None:
            raise HTTPException(404, "no such payment")
        if row.status != PaymentStatus.PENDING.value:
            return {"payment_id": row.payment_id, "status": row.status}
        if callback.amount_vnd != row.amount_vnd:
            raise HTTPException(400, "the amount differs from the payment's")
        if callback.status == "succeeded":
            await _signal_payment(ctx, row.dossier_code, row.payment_id, row.amount_vnd)
            row.status = PaymentStatus.SUCCEEDED.value
        else:
            row.status = PaymentStatus.DECLINED.value
            row.decline_reason = callback.reason or "declined"
        row.completed_at = datetime.now(UTC)
        await session.commit()
        log.info("payment_recorded", payment_id=row.payment_id, status=row.status)
        return {"payment_id": row.payment_id, "status": row.status}
