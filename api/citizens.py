"""Citizens' routes: uploads, submission (idempotent), receipt, QR, tracking, supplements,
withdrawal, payment and rating.

Every route under ``/dossiers/{code}`` needs a second factor besides the code, in a header (never
the URL): the receipt's tracking secret (``X-Tracking-Secret``), a one-time code sent to the
applicant (``X-One-Time-Code``) or the last 4 digits of the applicant's phone
(``X-Phone-Last4``, enough to read, not to change). Attempts are limited (`api.limits`). A
wrong or missing factor gets exactly the answer an
unknown code gets, so a stranger who guesses codes learns nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.notify import OutgoingMessage, channel_from_settings, mask_address, message_id
from api import schemas as s
from api.admission import admit
from api.auth import tracking_secret, tracking_secret_matches
from api.context import ApiContext, context
from api.errors import FieldError
from api.fee_intake import FEE_PAYMENT_PREFIX, hold_for_fee, settle_callback
from api.limits import (
    TooManyRequests,
    begin_factor,
    client_key,
    end_factor,
    lift_dossier_lock,
    take_submission,
    take_write,
)
from api.payments import PaymentCallback, PaymentRequest, signature_matches
from api.workflow import NOT_FOUND, handle_of, rpc_error, tracking
from api.workflow import update as run_update
from clients.dossiers import start_dossier, wait_for_receipt
from domain.catalog import CatalogEntry, DossierFact, NotInForce, UnknownProcedure
from domain.clock import VN_TZ
from domain.dossier import DossierFacts, DossierStatus, SubmissionChannel, SubmittedDocument
from forms.official import labels, render_html, render_pdf
from forms.qr import qr_png
from forms.render import FontNotFound, find_font
from store.db import dialect_insert
from store.forms_data import receipt_form
from store.letters import contact_phone_ends_with, get_contact, save_contact, subject_ref
from store.models import (
    AuditRecord,
    DeliveryAttemptRecord,
    DeliveryRecord,
    OneTimeCode,
    OnlineSubmission,
    PaymentRecord,
    PaymentStatus,
    RatingRecord,
    UploadRecord,
)
from store.repositories import allocate_dossier_code
from workflows.dossier import (
    TERMINAL,
    DossierWorkflow,
    PaymentInput,
    SupplementInput,
    WithdrawInput,
)

router = APIRouter(prefix="/api/v1")
log = structlog.get_logger(__name__)

# Magic numbers of the accepted file types: the declared type is not trusted.
_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
_MULTIPART_OVERHEAD = 64 * 1024  # headers and the name field around the file


def _utc(moment: datetime) -> datetime:
    # SQLite gives stored moments back naive (they are UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- catalog lookups ---------------------------------------------------------------------------


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


async def _uploads(session: AsyncSession, ids: list[str], field: str) -> list[SubmittedDocument]:
    rows = {
        row.id: row
        for row in (
            await session.execute(select(UploadRecord).where(UploadRecord.id.in_(ids)))
        ).scalars()
    }
    documents = []
    for index, upload_id in enumerate(ids):
        row = rows.get(upload_id)
        if row is None:
            raise FieldError(f"{field}.{index}", "unknown_upload", "no upload has this id")
        documents.append(SubmittedDocument(name_vi=row.name_vi, sha256=row.sha256))
    return documents


# -- the second factor ------------------------------------------------------------------------

# What opened the dossier: the receipt's secret and a one-time code sent to the applicant are
# strong enough to change it; the phone's last 4 digits only to read it.
Factor = Literal["secret", "one_time_code", "phone"]
STRONG_FACTORS: frozenset[str] = frozenset({"secret", "one_time_code"})
# Secrets travel in headers, never in a URL (URLs end up in access logs, histories, referrers).
_FACTOR_HEADERS = {
    "secret": "X-Tracking-Secret",
    "phone_last4": "X-Phone-Last4",
    "one_time_code": "X-One-Time-Code",
}


@dataclass(frozen=True)
class Proof:
    """What a caller shows to open a dossier, and from where (a digest of its address).

    Built by the `proof` dependency from the request's headers; pages that call the shared
    functions below (`authorise`, `supplement_dossier`, `withdraw_dossier`, `pay_dossier`,
    `send_one_time_code`) build one the same way, and get the same checks and limits.
    """

    client: str
    secret: str | None = None
    phone_last4: str | None = None
    one_time_code: str | None = None


def proof(
    request: Request,
    ctx: Annotated[ApiContext, Depends(context)],
    x_tracking_secret: Annotated[
        str | None, Header(max_length=64, description="the receipt's tracking secret")
    ] = None,
    x_phone_last4: Annotated[
        str | None, Header(max_length=8, description="last 4 digits of the applicant's phone")
    ] = None,
    x_one_time_code: Annotated[
        str | None, Header(max_length=12, description="a one-time code sent to the applicant")
    ] = None,
) -> Proof:
    """The caller's proof from its headers (a FastAPI dependency).

    Raises:
        FieldError: 400 when a factor is given in the URL's query instead of a header.
    """
    for name, header in _FACTOR_HEADERS.items():
        if name in request.query_params:
            raise FieldError(
                name,
                "secret_in_url",
                f"send it in the {header} header: URLs are written to logs",
                400,
            )
    return proof_for(
        ctx,
        request,
        secret=x_tracking_secret,
        phone_last4=x_phone_last4,
        one_time_code=x_one_time_code,
    )


def proof_for(
    ctx: ApiContext,
    request: Request,
    *,
    secret: str | None = None,
    phone_last4: str | None = None,
    one_time_code: str | None = None,
) -> Proof:
    """A `Proof` of factors a page received (in a form's body, say) from this request's client."""
    return Proof(
        client=client_of(request, ctx),
        secret=secret,
        phone_last4=phone_last4,
        one_time_code=one_time_code,
    )


ApplicantProof = Annotated[Proof, Depends(proof)]


def _code_digest(ctx: ApiContext, code: str, one_time_code: str) -> str:
    message = f"one-time-code:{code}:{one_time_code.strip()}".encode()
    return hmac.new(ctx.token_secret.encode(), message, hashlib.sha256).hexdigest()


async def _one_time_code_matches(ctx: ApiContext, code: str, given: str) -> bool:
    async with ctx.sessions() as session:
        row = await session.get(OneTimeCode, code)
    if row is None or _utc(row.expires_at) <= datetime.now(UTC):
        return False
    return hmac.compare_digest(row.digest, _code_digest(ctx, code, given))


async def authorise(ctx: ApiContext, code: str, given: Proof, *, change: bool = False) -> Factor:
    """Check the proof for a dossier, within the limits; the factor that opened it.

    The receipt's secret is checked first and always opens (80 bits cannot be guessed; it also
    lifts a lock). Any other attempt is counted (`api.limits`) before it is checked.

    Args:
        change: the caller wants to change the dossier: only a strong factor will do.

    Raises:
        TooManyRequests: 429, too many failures on this dossier or from this client.
        HTTPException: 404, the same as for an unknown code, when the proof fails.
        FieldError: 403 when the phone's digits opened the dossier but ``change`` needs more.
    """
    if given.secret and tracking_secret_matches(ctx.token_secret, code, given.secret):
        await lift_dossier_lock(ctx, code)
        return "secret"
    await begin_factor(ctx, code, given.client)
    factor: Factor | None = None
    try:
        if given.one_time_code and await _one_time_code_matches(ctx, code, given.one_time_code):
            factor = "one_time_code"
        elif given.phone_last4 and given.phone_last4.isdigit() and len(given.phone_last4) == 4:
            async with ctx.sessions() as session:
                if await contact_phone_ends_with(session, code, given.phone_last4):
                    factor = "phone"
    finally:
        await end_factor(ctx, code, given.client, passed=factor is not None)
    if factor is None:
        raise HTTPException(404, NOT_FOUND)
    if change and factor not in STRONG_FACTORS:
        raise FieldError(
            "X-Tracking-Secret",
            "change_needs_secret",
            "changing a dossier needs the receipt's secret or a one-time code "
            f"(POST /api/v1/dossiers/{code}/one-time-code sends one to the applicant)",
            403,
        )
    if change and factor == "one_time_code":
        async with ctx.sessions() as session:  # one act per code
            await session.execute(delete(OneTimeCode).where(OneTimeCode.dossier_code == code))
            await session.commit()
    return factor


async def applicant(
    ctx: Annotated[ApiContext, Depends(context)],
    code: Annotated[str, Path(max_length=40)],
    given: ApplicantProof,
) -> Factor:
    """The factor that opens the dossier for reading (a FastAPI dependency, `authorise`)."""
    return await authorise(ctx, code, given)


Authorised = Annotated[Factor, Depends(applicant)]


def client_of(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> str:
    """The keyed digest naming the request's client address (`api.limits.client_key`)."""
    return client_key(ctx.token_secret, request.client.host if request.client else None)


Client = Annotated[str, Depends(client_of)]


async def write_quota(ctx: Annotated[ApiContext, Depends(context)], client: Client) -> None:
    """Count a submission or upload against the client's quota of writes (a FastAPI
    dependency); a submission's own quotas count new dossiers only (`_claim`)."""
    await take_write(ctx, client, None)


WriteQuota = Depends(write_quota)


# -- uploads -----------------------------------------------------------------------------------


class _TextPartTooLarge(MultiPartException):
    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"the field {field!r} exceeds {limit} bytes")
        self.field = field


class _FieldNamingParser(MultiPartParser):
    """Starlette's multipart parser, except that a text part over the limit names its field
    (Starlette's own message, "Part exceeded maximum size", names none)."""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None and len(part.data) + (end - start) > self.max_part_size:
            raise _TextPartTooLarge(part.field_name, self.max_part_size)
        super().on_part_data(data, start, end)


async def _read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The multipart form, or the API's error naming what is wrong with it.

    Text parts are held in memory, so each is limited to ``_MULTIPART_OVERHEAD`` (the room the
    size check on Content-Length leaves beside the file); files keep their own limit.

    Raises:
        FieldError: 413 naming a text field over the limit; 400 on ``body`` for a malformed
            form or too many parts.
    """
    try:
        async with contextlib.aclosing(request.stream()) as stream:
            parser = _FieldNamingParser(
                request.headers,
                stream,
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=_MULTIPART_OVERHEAD,
            )
            return await parser.parse()
    except _TextPartTooLarge as exc:
        raise FieldError(
            exc.field[:100] or "body",
            "text_too_large",
            f"the field exceeds {_MULTIPART_OVERHEAD} bytes",
            413,
        ) from None
    except MultiPartException as exc:
        raise FieldError("body", "invalid_multipart", exc.message, 400) from None


def _sniff(head: bytes) -> str | None:
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


def _store_file(directory: FsPath, digest: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / digest
    if target.exists():
        return  # content-addressed: the same bytes are already there
    partial = directory / f".{digest}.{uuid.uuid4().hex}.part"
    partial.write_bytes(data)
    os.replace(partial, target)


@router.post(
    "/uploads",
    status_code=201,
    dependencies=[WriteQuota],
    response_model=s.UploadResponse,
    tags=["citizens"],
    summary="Upload a document (PDF, JPEG or PNG) before submitting",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "name"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "name": {
                                "type": "string",
                                "description": "the document's name as the catalog lists it",
                            },
                        },
                    }
                }
            },
        }
    },
)
async def upload(
    request: Request, ctx: Annotated[ApiContext, Depends(context)]
) -> s.UploadResponse:
    """Store an uploaded document; size and type are checked before anything is stored."""
    limit = ctx.settings.upload_max_bytes
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise FieldError("file", "length_required", "send the upload with a Content-Length", 411)
    if int(length) > limit + _MULTIPART_OVERHEAD:
        raise FieldError("file", "too_large", f"the file exceeds {limit} bytes", 413)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise FieldError("file", "not_multipart", "send the file as multipart/form-data", 415)
    form = await _read_form(request, max_files=1, max_fields=4)
    try:
        file, name = form.get("file"), form.get("name")
        if not isinstance(file, UploadFile):
            raise FieldError("file", "missing", "Field required")
        if not isinstance(name, str):
            raise FieldError("name", "control_character", "the document's name, in plain text")
        return await store_upload(ctx, name, await file.read(limit + 1))
    finally:
        await form.close()


def check_upload(ctx: ApiContext, name: str, data: bytes) -> str:
    """The type of an uploaded document, once its name, size and type pass.

    Raises:
        FieldError: on ``name`` for a name that is not plain text of 1-300 characters; on
            ``file`` for a file over the size limit (413) or of a type not accepted (415).
    """
    limit = ctx.settings.upload_max_bytes
    allowed = ctx.settings.upload_types.split(",")
    if s.has_control_characters(name):
        raise FieldError("name", "control_character", "the document's name, in plain text")
    if not 1 <= len(s.nfc(name)) <= 300:
        raise FieldError("name", "string_too_short", "the document's name (1-300 characters)")
    if len(data) > limit:
        raise FieldError("file", "too_large", f"the file exceeds {limit} bytes", 413)
    kind = _sniff(data[:8])
    if kind is None or kind not in allowed:
        raise FieldError("file", "file_type", f"accepted types: {', '.join(allowed)}", 415)
    return kind


async def store_upload(ctx: ApiContext, name: str, data: bytes) -> s.UploadResponse:
    """Check (`check_upload`) and store one uploaded document: the upload route's and the
    portal's way in."""
    kind = check_upload(ctx, name, data)
    digest = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(_store_file, ctx.settings.data_dir / "uploads", digest, data)
    row = UploadRecord(
        id=uuid.uuid4().hex,
        name_vi=s.nfc(name),
        content_type=kind,
        size_bytes=len(data),
        sha256=digest,
    )
    async with ctx.sessions() as session:
        session.add(row)
        await session.commit()
    return s.UploadResponse(
        id=row.id, name_vi=row.name_vi, content_type=kind, size_bytes=len(data), sha256=digest
    )


# -- submission --------------------------------------------------------------------------------


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
        existing = await session.get(OnlineSubmission, key)
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
            inserted = (
                await session.execute(
                    dialect_insert(session, OnlineSubmission)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=[OnlineSubmission.idempotency_key])
                    .returning(OnlineSubmission.dossier_code)
                )
            ).scalar_one_or_none()
            if inserted is not None:
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
            existing = await session.get(OnlineSubmission, key)
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
    tags=["citizens"],
    summary="Submit a dossier online (idempotent by the Idempotency-Key header)",
)
async def submit(
    body: s.SubmissionRequest,
    response: Response,
    ctx: Annotated[ApiContext, Depends(context)],
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
    async with ctx.sessions() as session:
        documents = await _uploads(session, list(body.documents), "documents")
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
            received_at=_utc(row.received_at),
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
        received_at=_utc(row.received_at),
        appointment=appointment,
        tracking_secret=tracking_secret(ctx.token_secret, code),
        links=_links(code),
    )


# -- tracking ----------------------------------------------------------------------------------


async def _deliveries(session: AsyncSession, code: str, factor: Factor) -> list[s.DeliveryView]:
    shipments = (
        await session.execute(
            select(DeliveryRecord)
            .where(DeliveryRecord.dossier_code == code)
            .order_by(DeliveryRecord.dispatched_at, DeliveryRecord.step)
        )
    ).scalars()
    views = []
    for shipment in shipments:
        attempts = (
            await session.execute(
                select(DeliveryAttemptRecord)
                .where(DeliveryAttemptRecord.tracking_number == shipment.tracking_number)
                .order_by(DeliveryAttemptRecord.attempt)
            )
        ).scalars()
        views.append(
            s.DeliveryView(
                step=shipment.step,
                tracking_number=shipment.tracking_number,
                status=shipment.status,
                attempts=shipment.attempts,
                dispatched_at=_utc(shipment.dispatched_at),
                closed_at=_utc(shipment.closed_at) if shipment.closed_at else None,
                applicant_told_at=(
                    _utc(shipment.applicant_told_at) if shipment.applicant_told_at else None
                ),
                attempt_log=[
                    s.DeliveryAttemptView(
                        attempt=row.attempt,
                        at=_utc(row.at),
                        outcome=row.outcome,
                        note_vi=row.note_vi,
                    )
                    for row in attempts
                ],
                # The receipt's secret proves more than 4 phone digits: only it shows the address.
                address=str(shipment.address) if factor == "secret" else None,
            )
        )
    return views


def _payment_view(row: PaymentRecord, redirect_url: str | None = None) -> s.PaymentView:
    return s.PaymentView(
        payment_id=row.payment_id,
        status=row.status,
        amount_vnd=row.amount_vnd,
        decline_reason=row.decline_reason,
        redirect_url=redirect_url,
    )


@router.get(
    "/dossiers/{code}",
    response_model=s.TrackingView,
    tags=["citizens"],
    summary="Track a dossier (needs the tracking secret or the phone's last 4 digits)",
)
async def track(
    code: str, factor: Authorised, ctx: Annotated[ApiContext, Depends(context)]
) -> s.TrackingView:
    """The dossier's status, open steps, hand-overs, documents, payments and delivery."""
    state = await tracking(ctx, code)
    async with ctx.sessions() as session:
        deliveries = await _deliveries(session, code, factor)
        payments = (
            await session.execute(
                select(PaymentRecord)
                .where(PaymentRecord.dossier_code == code)
                .order_by(PaymentRecord.created_at)
            )
        ).scalars()
        submission = (
            await session.execute(
                select(OnlineSubmission.facts).where(OnlineSubmission.dossier_code == code)
            )
        ).scalar_one_or_none()
        payment_views = [_payment_view(row) for row in payments]
    home = submission is not None and DossierFacts.model_validate_json(submission).home_delivery
    return s.TrackingView(
        dossier_code=state.dossier_code,
        procedure_code=state.procedure_code,
        status=state.status,
        received_at=state.received_at,
        appointment=state.appointment,
        open_steps=[
            s.OpenStepView(
                key=step.key,
                kind=step.kind,
                name_vi=step.name_vi,
                agency=step.agency,
                due=step.due,
                overdue=step.overdue,
            )
            for step in state.open_steps
        ],
        handovers=[
            s.HandoverView(
                procedure=row.procedure,
                step=row.step,
                from_agency=row.from_agency,
                to_agencies=row.to_agencies,
                at=row.at,
                result=row.result,
                verdict=row.verdict,
            )
            for row in state.ledger
        ],
        documents=[
            s.DocumentView(
                procedure=doc.procedure,
                kind=doc.kind,
                reference=doc.reference,
                summary_vi=doc.summary_vi,
                at=doc.at,
            )
            for doc in state.documents
        ],
        supplements=[
            s.SupplementView(
                requested_by=req.requested_by,
                missing_documents=req.missing_documents,
                reason=req.reason,
                at=req.at,
                answered_at=req.answered_at,
            )
            for req in state.supplements
        ],
        apologies=[
            s.ApologyView(
                agency=letter.agency,
                reason_vi=letter.reason_vi,
                new_appointment=letter.new_appointment,
            )
            for letter in state.apologies
        ],
        amount_due_vnd=state.amount_due_vnd,
        amount_paid_vnd=state.amount_paid_vnd,
        home_delivery=home or bool(deliveries),
        deliveries=deliveries,
        payments=payment_views,
    )


# -- receipt and QR ----------------------------------------------------------------------------


@router.get(
    "/dossiers/{code}/receipt",
    tags=["citizens"],
    summary="The receipt (form 01) as HTML or PDF",
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
    response_class=Response,
)
async def receipt(
    code: str,
    factor: Authorised,
    ctx: Annotated[ApiContext, Depends(context)],
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
        facts = (
            await session.execute(
                select(OnlineSubmission.facts).where(OnlineSubmission.dossier_code == code)
            )
        ).scalar_one_or_none()
    if facts is not None and DossierFacts.model_validate_json(facts).home_delivery:
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
    try:
        font = find_font(ctx.settings.pdf_font)
    except FontNotFound:
        raise HTTPException(503, "no font to print the PDF; ask for format=html") from None
    pdf = await asyncio.to_thread(render_pdf, form, font)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{code}-form-01.pdf"'},
    )


@router.get(
    "/dossiers/{code}/qr.png",
    tags=["citizens"],
    summary="A QR code of the dossier's tracking link",
    responses={200: {"content": {"image/png": {}}}},
    response_class=Response,
)
async def qr(code: str, _: Authorised, ctx: Annotated[ApiContext, Depends(context)]) -> Response:
    """The tracking link as a PNG QR code."""
    return Response(qr_png(ctx.settings.tracking_url(code)), media_type="image/png")


# -- acts of the applicant ---------------------------------------------------------------------


async def supplement_dossier(
    ctx: ApiContext, code: str, given: Proof, upload_ids: list[str]
) -> DossierStatus:
    """Hand in a supplement: needs a strong factor; counted against the write quotas."""
    await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    async with ctx.sessions() as session:
        documents = await _uploads(session, upload_ids, "documents")
    status: DossierStatus = await run_update(
        ctx, code, DossierWorkflow.provide_supplement, SupplementInput(documents=documents)
    )
    return status


async def withdraw_dossier(ctx: ApiContext, code: str, given: Proof, reason: str) -> DossierStatus:
    """Withdraw a dossier: needs a strong factor; counted against the write quotas."""
    await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    status: DossierStatus = await run_update(
        ctx, code, DossierWorkflow.withdraw, WithdrawInput(reason=reason)
    )
    return status


@router.post(
    "/dossiers/{code}/supplements",
    response_model=s.StatusView,
    tags=["citizens"],
    summary="Hand in the documents a supplement request asked for (receipt's secret or OTP)",
)
async def supplement(
    code: Annotated[str, Path(max_length=40)],
    body: s.SupplementRequestBody,
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.StatusView:
    """The uploads become the dossier's supplement; the clock runs again."""
    status = await supplement_dossier(ctx, code, given, list(body.documents))
    return s.StatusView(dossier_code=code, status=status)


@router.post(
    "/dossiers/{code}/withdraw",
    response_model=s.StatusView,
    tags=["citizens"],
    summary="Withdraw the dossier (receipt's secret or a one-time code)",
)
async def withdraw(
    code: Annotated[str, Path(max_length=40)],
    body: s.WithdrawRequestBody,
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.StatusView:
    """Every open step ends; nothing is left running."""
    status = await withdraw_dossier(ctx, code, given, body.reason)
    return s.StatusView(dossier_code=code, status=status)


async def pay_dossier(
    ctx: ApiContext, code: str, given: Proof, method: str | None = None
) -> s.PaymentView:
    """Start a payment of what is due: needs a strong factor; counted against the quotas.

    Raises:
        HTTPException: 409 when nothing is due or a payment is pending; 502 when the provider
            is unavailable (the payment is then recorded as declined).
    """
    await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    body = s.PaymentStartBody() if method is None else s.PaymentStartBody(method=method)
    state = await tracking(ctx, code)
    outstanding = state.amount_due_vnd - state.amount_paid_vnd
    if state.status != DossierStatus.FINANCIAL_OBLIGATION or outstanding <= 0:
        raise HTTPException(409, f"nothing to pay: the dossier is {state.status}")
    async with ctx.sessions() as session:
        pending = (
            await session.execute(
                select(PaymentRecord).where(
                    PaymentRecord.dossier_code == code,
                    PaymentRecord.status == PaymentStatus.PENDING.value,
                )
            )
        ).scalar_one_or_none()
        if pending is not None:
            raise HTTPException(409, f"payment {pending.payment_id} is still pending")
        row = PaymentRecord(
            payment_id=f"PAY-{uuid.uuid4().hex}",
            dossier_code=code,
            amount_vnd=outstanding,
            status=PaymentStatus.PENDING.value,
        )
        session.add(row)
        await session.commit()
    try:
        created = await ctx.payments.create(
            PaymentRequest(
                payment_id=row.payment_id,
                dossier_code=code,
                amount_vnd=outstanding,
                description=f"Nghĩa vụ tài chính hồ sơ {code}",
                method=body.method,
            )
        )
    except Exception:
        async with ctx.sessions() as session:
            await session.execute(
                update(PaymentRecord)
                .where(PaymentRecord.payment_id == row.payment_id)
                .values(status=PaymentStatus.DECLINED.value, decline_reason="provider_unavailable")
            )
            await session.commit()
        raise HTTPException(502, "the payment provider is unavailable; try again") from None
    return _payment_view(row, created.redirect_url)


@router.post(
    "/dossiers/{code}/payments",
    status_code=202,
    response_model=s.PaymentView,
    tags=["citizens"],
    summary="Pay the outstanding financial obligation (receipt's secret or a one-time code)",
)
async def start_payment(
    code: Annotated[str, Path(max_length=40)],
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
    body: s.PaymentStartBody | None = None,
) -> s.PaymentView:
    """Create a payment of what is due; the provider calls back with the outcome."""
    return await pay_dossier(ctx, code, given, body.method if body is not None else None)


async def change_delivery_address(
    ctx: ApiContext, code: str, given: Proof, address: str
) -> s.DeliveryAddressChanged:
    """Post the result elsewhere: needs a strong factor; counted against the write quotas.

    The post office reads the address when it dispatches, so a change holds until then.

    Raises:
        HTTPException: 409 for a result collected at the desk, or already with the post.
    """
    await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    async with ctx.sessions() as session:
        facts = (
            await session.execute(
                select(OnlineSubmission.facts).where(OnlineSubmission.dossier_code == code)
            )
        ).scalar_one_or_none()
        if facts is None or not DossierFacts.model_validate_json(facts).home_delivery:
            raise HTTPException(409, "the result is collected at the desk, not posted")
        posted = (
            await session.execute(
                select(DeliveryRecord.step).where(DeliveryRecord.dossier_code == code)
            )
        ).first()
        if posted is not None:
            raise HTTPException(409, "the result is already with the post office")
        contact = await get_contact(session, code)
        if contact is None:
            raise HTTPException(404, NOT_FOUND)
        contact.address = address
        session.add(
            AuditRecord(
                dossier_code=code,
                update_id=f"address-{uuid.uuid4().hex}",
                at=datetime.now(UTC),
                actor_kind="applicant",
                actor_id=None,
                agency=None,
                action="address_changed",
                step=None,
                reason="",
                detail="",  # never the address itself: the audit log is not encrypted
            )
        )
        await session.commit()
    return s.DeliveryAddressChanged(dossier_code=code, changed=True)


@router.put(
    "/dossiers/{code}/delivery-address",
    response_model=s.DeliveryAddressChanged,
    tags=["citizens"],
    summary="Change where the result is posted (receipt's secret or a one-time code)",
)
async def delivery_address(
    code: Annotated[str, Path(max_length=40)],
    body: s.DeliveryAddressBody,
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.DeliveryAddressChanged:
    """Until the post office has it, the result goes to the new address."""
    return await change_delivery_address(ctx, code, given, body.address)


async def send_one_time_code(ctx: ApiContext, code: str, given: Proof) -> s.OneTimeCodeSent:
    """Send a fresh one-time code to the applicant's e-mail on file (any factor opens this).

    The code replaces any earlier one; only its keyed digest is stored.

    Raises:
        FieldError: 409 when the applicant left no e-mail address.
    """
    await authorise(ctx, code, given)
    await take_write(ctx, given.client, code)
    async with ctx.sessions() as session:
        contact = await get_contact(session, code)
    if contact is None or not contact.email:
        raise FieldError(
            "email", "no_email", "no e-mail address on file: use the receipt's secret", 409
        )
    one_time = f"{secrets.randbelow(10**6):06d}"
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=ctx.settings.api_one_time_code_minutes)
    async with ctx.sessions() as session:
        await session.execute(delete(OneTimeCode).where(OneTimeCode.dossier_code == code))
        session.add(
            OneTimeCode(
                dossier_code=code, digest=_code_digest(ctx, code, one_time), expires_at=expires
            )
        )
        await session.commit()
    minutes = ctx.settings.api_one_time_code_minutes
    await channel_from_settings(ctx.settings).send(
        OutgoingMessage(
            message_id=message_id(f"{code}-otp-{uuid.uuid4().hex}", ctx.settings.desk_code),
            sender=ctx.settings.sender_address,
            to=contact.email,
            subject=f"Mã xác nhận hồ sơ {code} / One-time code for dossier {code}",
            text=(
                f"Mã xác nhận dùng một lần cho hồ sơ {code}: {one_time}\n"
                f"Mã có hiệu lực trong {minutes} phút. Không chia sẻ mã này với người khác.\n\n"
                f"One-time code for dossier {code}: {one_time} (valid {minutes} minutes).\n"
            ),
            date=now,
        )
    )
    return s.OneTimeCodeSent(sent_to=mask_address(contact.email), expires_at=expires)


@router.post(
    "/dossiers/{code}/one-time-code",
    status_code=202,
    response_model=s.OneTimeCodeSent,
    tags=["citizens"],
    summary="Send a one-time code to the applicant's e-mail (to act without the receipt)",
)
async def one_time_code(
    code: Annotated[str, Path(max_length=40)],
    given: ApplicantProof,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.OneTimeCodeSent:
    """Send the code; it goes in the ``X-One-Time-Code`` header of the act that needs it."""
    return await send_one_time_code(ctx, code, given)


@router.get(
    "/dossiers/{code}/payments/{payment_id}",
    response_model=s.PaymentView,
    tags=["citizens"],
    summary="A payment's status",
)
async def payment_status(
    code: str,
    payment_id: Annotated[str, Path(max_length=64)],
    _: Authorised,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.PaymentView:
    """Pending until the provider calls back; then succeeded or declined (with the reason)."""
    async with ctx.sessions() as session:
        row = await session.get(PaymentRecord, payment_id)
    if row is None or row.dossier_code != code:
        raise HTTPException(404, "no such payment")
    return _payment_view(row)


@router.post(
    "/dossiers/{code}/rating",
    status_code=201,
    response_model=s.RatingView,
    tags=["citizens"],
    summary="Rate the service (1-5), once, after the dossier has ended",
)
async def rate(
    code: str,
    body: s.RatingBody,
    _: Authorised,
    client: Client,
    ctx: Annotated[ApiContext, Depends(context)],
) -> s.RatingView:
    """Record the rating; a second one is refused. The phone's digits are enough (a rating
    changes nothing of the dossier), and it counts against the write quotas."""
    await take_write(ctx, client, code)
    state = await tracking(ctx, code)
    if state.status not in TERMINAL:
        raise HTTPException(409, f"the dossier is {state.status}; rate it once it has ended")
    async with ctx.sessions() as session:
        inserted = (
            await session.execute(
                dialect_insert(session, RatingRecord)
                .values(
                    dossier_code=code,
                    score=body.score,
                    comment=body.comment,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=[RatingRecord.dossier_code])
                .returning(RatingRecord.dossier_code)
            )
        ).scalar_one_or_none()
        await session.commit()
    if inserted is None:
        raise HTTPException(409, "this dossier has already been rated")
    return s.RatingView(dossier_code=code, score=body.score, comment=body.comment)


# -- the provider's callback -------------------------------------------------------------------


async def _signal_payment(ctx: ApiContext, code: str, payment_id: str, amount: int) -> None:
    try:
        await handle_of(ctx, code).signal(
            DossierWorkflow.payment_received, PaymentInput(reference=payment_id, amount_vnd=amount)
        )
    except RPCError as err:
        raise rpc_error(err) from None


@router.post(
    "/payments/callback",
    tags=["payment provider"],
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
    ctx: Annotated[ApiContext, Depends(context)],
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
        row = (
            await session.execute(
                select(PaymentRecord)
                .where(PaymentRecord.payment_id == callback.payment_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
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
