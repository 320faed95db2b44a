"""Tracking: what the applicant sees of a dossier (the workflow's tracking query, with the
deliveries by post and the payments the registry holds), the receipt (form 01) and the QR code
of the tracking link. The phone's last 4 digits open less than the receipt's secret: no
delivery address, no contacts on the receipt.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api import schemas as s
from api.citizens import Authorised, Factor
from api.context import Ctx
from api.documents import HTML_OR_PDF, pdf_font, pdf_response
from api.workflow import tracking
from forms.official import labels, render_html, render_pdf
from forms.qr import qr_png
from store.applicants import submitted_facts
from store.forms_data import receipt_form
from store.payments import payments_of
from store.read_model import attempts_of, deliveries_of

router = APIRouter(prefix="/api/v1", tags=["citizens"])


async def _deliveries(session: AsyncSession, code: str, factor: Factor) -> list[s.DeliveryView]:
    return [
        s.view_of(
            s.DeliveryView,
            shipment,
            attempt_log=await attempts_of(session, shipment.tracking_number),
            # The receipt's secret proves more than 4 phone digits: only it shows the address.
            address=str(shipment.address) if factor == "secret" else None,
        )
        for shipment in await deliveries_of(session, code)
    ]


@router.get(
    "/dossiers/{code}",
    summary="Track a dossier (needs the tracking secret or the phone's last 4 digits)",
)
async def track(code: str, factor: Authorised, ctx: Ctx) -> s.TrackingView:
    """The dossier's status, open steps, hand-overs, documents, payments and delivery."""
    state = await tracking(ctx, code)
    async with ctx.sessions() as session:
        deliveries = await _deliveries(session, code, factor)
        payments = [s.view_of(s.PaymentView, row) for row in await payments_of(session, code)]
        facts = await submitted_facts(session, code)
    home = facts is not None and facts.home_delivery
    return s.view_of(
        s.TrackingView,
        state,
        handovers=state.ledger,
        home_delivery=home or bool(deliveries),
        deliveries=deliveries,
        payments=payments,
    )


# -- receipt and QR ----------------------------------------------------------------------------


@router.get(
    "/dossiers/{code}/receipt",
    summary="The receipt (form 01) as HTML or PDF",
    responses=HTML_OR_PDF,
    response_class=Response,
)
async def receipt(
    code: str,
    factor: Authorised,
    ctx: Ctx,
    format: Annotated[Literal["html", "pdf"] | None, Query()] = None,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Form 01; ``format`` wins over the Accept header; HTML by default."""
    wanted = format or ("pdf" if accept and "application/pdf" in accept else "html")
    async with ctx.sessions() as session:
        try:
            form = await receipt_form(session, code, ctx.settings, ctx.catalog)
        except LookupError:
            raise HTTPException(
                404, "the receipt is not recorded yet; try again in a moment"
            ) from None
        facts = await submitted_facts(session, code)
    if facts is not None and facts.home_delivery:
        form = form.model_copy(
            update={"return_method_vi": labels().return_methods["home_delivery"]}
        )
    if factor != "secret":
        # The phone's last 4 digits prove less than the receipt's secret: no address or contacts.
        form = form.model_copy(
            update={"applicant_address_vi": None, "applicant_phone": None, "applicant_email": None}
        )
    if wanted == "html":
        return HTMLResponse(render_html(form))
    font = pdf_font(ctx.settings)
    pdf = await asyncio.to_thread(render_pdf, form, font)
    return pdf_response(pdf, f"{code}-form-01.pdf")


@router.get(
    "/dossiers/{code}/qr.png",
    summary="A QR code of the dossier's tracking link",
    responses={200: {"content": {"image/png": {}}}},
    response_class=Response,
)
async def qr(code: str, _: Authorised, ctx: Ctx) -> Response:
    """The tracking link as a PNG QR code."""
    return Response(qr_png(ctx.settings.tracking_url(code)), media_type="image/png")
