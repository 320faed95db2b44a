"""The applicant's acts on a running dossier: a supplement (the documents form 02 asked for),
withdrawal, and a new address for a result sent by post. Each needs a strong factor (the
receipt's secret or a one-time code) and counts against the write quotas; the shared functions
are what the portal's pages call too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException

from api import schemas as s
from api.citizens import ApplicantProof, Proof, authorise_change
from api.context import ApiContext, Ctx, DossierCode
from api.uploads import uploaded_documents
from api.workflow import NOT_FOUND
from api.workflow import update as run_update
from domain.dossier import DossierStatus
from store.applicants import is_posted, record_address_change, submitted_facts
from store.letters import get_contact
from workflows.dossier import DossierWorkflow, SupplementInput, WithdrawInput

router = APIRouter(prefix="/api/v1", tags=["citizens"])


async def supplement_dossier(
    ctx: ApiContext, code: str, given: Proof, upload_ids: list[str]
) -> s.StatusView:
    """Hand in a supplement: needs a strong factor; counted against the write quotas."""
    await authorise_change(ctx, code, given)
    documents = await uploaded_documents(ctx, upload_ids, "documents")
    return await _run(
        ctx, code, DossierWorkflow.provide_supplement, SupplementInput(documents=documents)
    )


async def withdraw_dossier(ctx: ApiContext, code: str, given: Proof, reason: str) -> s.StatusView:
    """Withdraw a dossier: needs a strong factor; counted against the write quotas."""
    await authorise_change(ctx, code, given)
    return await _run(ctx, code, DossierWorkflow.withdraw, WithdrawInput(reason=reason))


async def _run(ctx: ApiContext, code: str, update: Any, arg: Any) -> s.StatusView:
    status: DossierStatus = await run_update(ctx, code, update, arg)
    return s.StatusView(dossier_code=code, status=status)


@router.post(
    "/dossiers/{code}/supplements",
    summary="Hand in the documents a supplement request asked for (receipt's secret or OTP)",
)
async def supplement(
    code: DossierCode, body: s.SupplementRequestBody, given: ApplicantProof, ctx: Ctx
) -> s.StatusView:
    """The uploads become the dossier's supplement; the clock runs again."""
    return await supplement_dossier(ctx, code, given, list(body.documents))


@router.post(
    "/dossiers/{code}/withdraw",
    summary="Withdraw the dossier (receipt's secret or a one-time code)",
)
async def withdraw(
    code: DossierCode, body: s.WithdrawRequestBody, given: ApplicantProof, ctx: Ctx
) -> s.StatusView:
    """Every open step ends; nothing is left running."""
    return await withdraw_dossier(ctx, code, given, body.reason)


async def change_delivery_address(
    ctx: ApiContext, code: str, given: Proof, address: str
) -> s.DeliveryAddressChanged:
    """Post the result elsewhere: needs a strong factor; counted against the write quotas.

    The post office reads the address when it dispatches, so a change holds until then.

    Raises:
        HTTPException: 409 for a result collected at the desk, or already with the post.
    """
    await authorise_change(ctx, code, given)
    async with ctx.sessions() as session:
        facts = await submitted_facts(session, code)
        if facts is None or not facts.home_delivery:
            raise HTTPException(409, "the result is collected at the desk, not posted")
        if await is_posted(session, code):
            raise HTTPException(409, "the result is already with the post office")
        contact = await get_contact(session, code)
        if contact is None:
            raise HTTPException(404, NOT_FOUND)
        contact.address = address
        record_address_change(session, code, datetime.now(UTC))
        await session.commit()
    return s.DeliveryAddressChanged(dossier_code=code, changed=True)


@router.put(
    "/dossiers/{code}/delivery-address",
    summary="Change where the result is posted (receipt's secret or a one-time code)",
)
async def delivery_address(
    code: DossierCode,
    body: s.DeliveryAddressBody,
    given: ApplicantProof,
    ctx: Ctx,
) -> s.DeliveryAddressChanged:
    """Until the post office has it, the result goes to the new address."""
    return await change_delivery_address(ctx, code, given, body.address)
