"""Online submission: ``POST /api/v1/dossiers``, idempotent by the ``Idempotency-Key`` header.

A retry with the same key and body gets the same dossier (``Idempotent-Replayed: true``); the
same key with another body is refused. The dossier code, the key and the applicant's contact
are recorded in one transaction before the workflow starts; a fee that blocks the clock holds
the dossier until it is paid (`api.fee_intake`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import schemas as s
from api.admission import admit
from api.auth import tracking_secret
from api.citizens import Client, WriteQuota
from api.context import ApiContext, Ctx
from api.errors import FieldError
from api.fee_intake import hold_for_fee
from api.limits import TooManyRequests, take_submission
from api.uploads import uploaded_documents
from api.workflow import handle_of, rpc_error
from clients.dossiers import start_dossier, wait_for_receipt
from domain.catalog import CatalogEntry, DossierFact, NotInForce, UnknownProcedure
from domain.clock import VN_TZ
from domain.dossier import DossierFacts, SubmissionChannel
from store.applicants import insert_submission, submission_of_key
from store.dossier_codes import allocate_dossier_code
from store.letters import save_contact, subject_ref
from store.models import OnlineSubmission

router = APIRouter(prefix="/api/v1", tags=["citizens"])


def catalog_entry(ctx: ApiContext, code: str, day: Any) -> CatalogEntry:
    """The procedure or bundle version in force on ``day``.

    Raises:
        HTTPException: 404 naming the catalog endpoint for an unknown code.
        FieldError: 422 when no version is in force that day.
    """
    try:
        combined = ctx.catalog.is_combined(code)
    except UnknownProcedure:
        raise HTTPException(
            404, f"unknown procedure {code!r}: the procedures are listed at /api/v1/procedures"
        ) from None
    try:
        if combined:
            return ctx.catalog.combined_on(code, day)
        return ctx.catalog.version_on(code, day)
    except NotInForce as exc:
        raise FieldError("procedure", "not_in_force", str(exc)) from None


def _links(code: str) -> s.Links:
    base = f"/api/v1/dossiers/{code}"
    return s.Links(
        tracking=base,
        receipt_html=f"{base}/receipt?format=html",
        receipt_pdf=f"{base}/receipt?format=pdf",
        qr=f"{base}/qr.png",
    )


async def _claim(
    ctx: ApiContext,
    key: str,
    digest: str,
    body: s.SubmissionRequest,
    facts: DossierFacts,
    client: str,
) -> tuple[OnlineSubmission, bool]:
    """The submission row of this key: created now (True) or by an earlier request (False).

    Only a new dossier counts against the client's submission quotas (a retry with the same key
    does not); past them nothing is kept, not even the code's number (429).

    The dossier code is allocated, the key recorded and the applicant's contact saved in one
    transaction; a concurrent request with the same key waits on the key's row and then finds
    it (its own code allocation is rolled back with its transaction, so no number is lost).
    """
    received = ctx.now()
    async with ctx.sessions() as session:
        existing = await submission_of_key(session, key)
        if existing is None:
            code = await allocate_dossier_code(
                session, ctx.settings.desk_code, received.astimezone(VN_TZ).date()
            )
            row = {
                "idempotency_key": key,
                "request_sha256": digest,
                "dossier_code": code,
                "procedure_code": body.procedure,
                "received_at": received.astimezone(UTC),
                "facts": facts.model_dump_json(),
            }
            if await insert_submission(session, **row):
                try:
                    await take_submission(session, ctx, client)
                except TooManyRequests:
                    await session.rollback()  # no number taken, nothing counted
                    raise
                applicant = body.applicant
                home = body.delivery.address if isinstance(body.delivery, s.HomeDelivery) else None
                await save_contact(
                    session,
                    code,
                    full_name=applicant.full_name,
                    email=applicant.email,
                    phone=applicant.phone,
                    national_id=applicant.national_id,
                    address=home or applicant.address,
                    sms_opt_in=applicant.notify_by_sms,
                )
                await session.commit()
                return OnlineSubmission(**row), True
            await session.rollback()
            existing = await submission_of_key(session, key)
            assert existing is not None
    if existing.request_sha256 != digest:
        raise HTTPException(409, "this Idempotency-Key was used for a different request")
    return existing, False


@router.post(
    "/dossiers",
    # The engine's capacity first (h15, api.admission): a refused request is not counted.
    dependencies=[Depends(admit), WriteQuota],
    status_code=201,
    response_model=s.SubmissionResponse,
    summary="Submit a dossier online (idempotent by the Idempotency-Key header)",
)
async def submit(
    body: s.SubmissionRequest,
    response: Response,
    ctx: Ctx,
    client: Client,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="a unique key per dossier (a UUID): a retry with it returns the same one",
        ),
    ],
) -> s.SubmissionResponse | Response:
    """Receive a dossier, start its workflow and answer with the receipt's essentials (202
    without starting it when its fee blocks the clock: `api.fee_intake`)."""
    received_day = ctx.now().astimezone(VN_TZ).date()
    catalog_entry(ctx, body.procedure, received_day)
    needed = ctx.catalog.facts_needed_on(body.procedure, received_day)
    if DossierFact.PARCEL in needed and body.parcel is None:
        # Refused now rather than by the land office's check, days after the receipt.
        raise FieldError(
            "parcel",
            "parcel_required",
            "this procedure checks a land parcel: give its commune, map sheet and parcel number",
        )
    documents = await uploaded_documents(ctx, list(body.documents), "documents")
    facts = DossierFacts(
        # A parcel identifies a person's land: it enters the workflow only where a step reads it.
        parcel=body.parcel if DossierFact.PARCEL in needed else None,
        documents=documents,
        # The applicant as the person an agency looks up, only where a step does (the subject
        # of a birth registration is the child): a keyed pseudonym, never the ID number.
        subject_ref=(
            subject_ref(body.applicant.national_id) if DossierFact.SUBJECT in needed else None
        ),
        home_delivery=isinstance(body.delivery, s.HomeDelivery),
        channel=SubmissionChannel.ONLINE,
    )
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    row, created = await _claim(ctx, idempotency_key, digest, body, facts, client)
    code = row.dossier_code
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    held = await hold_for_fee(ctx, row)  # a fee that blocks the clock is paid first (h22)
    if held is not None:
        held.headers.update(response.headers)
        return held
    try:
        handle = await start_dossier(
            ctx.temporal,
            code=code,
            desk_code=ctx.settings.desk_code,
            procedure_code=row.procedure_code,
            received_at=s.stored_utc(row.received_at),
            facts=DossierFacts.model_validate_json(row.facts),
            task_queue=ctx.task_queue,
            desk_url=ctx.settings.desk_url(code),
        )
    except WorkflowAlreadyStartedError:
        handle = handle_of(ctx, code)  # an earlier request started it: the same dossier
    except RPCError as err:
        raise rpc_error(err) from None
    appointment = None
    try:
        receipt = await asyncio.wait_for(
            wait_for_receipt(handle, ctx.receipt_wait_seconds), ctx.receipt_wait_seconds + 1
        )
        appointment = receipt.appointment
    except (TimeoutError, RPCError):
        pass  # still being planned: the tracking endpoint gives the appointment later
    return s.SubmissionResponse(
        dossier_code=code,
        procedure=row.procedure_code,
        received_at=row.received_at,
        appointment=appointment,
        tracking_secret=tracking_secret(ctx.token_secret, code),
        links=_links(code),
    )
