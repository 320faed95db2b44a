"""The public pages: the procedure catalogue, the desk's poster, the citizen's portal.

Server-rendered HTML on the API's app, no JavaScript. Every act goes through the API's own
functions (`api.citizens` and the citizens' route modules): the same validation, the same second
factor, the same refusals, so a rule changed there applies here. The receipt's tracking secret
(or the phone's last 4 digits) travels in a POST body, never in a URL.

- ``/`` and ``/procedures/{code}``: the catalogue, from the versions in force today.
- ``/procedures/{code}/file``: the filing form built from what the procedure needs.
- ``/track/{code}``: what the receipt's QR code opens; asks for the second factor, then shows
  the timeline, the appointment, apologies, supplements, payment and delivery, and the forms to
  supplement, pay, withdraw and rate.
- ``/desks/{desk}/poster`` (and ``.pdf``): the wall poster of `web.poster`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import citizen_payments, citizens, submission, supplements, tracking, uploads
from api import schemas as s
from api.context import ApiContext, context
from api.errors import FieldError, error_entry
from api.limits import TooManyRequests
from api.rating import rate
from domain.catalog import CatalogEntry, DossierFact
from domain.clock import VN_TZ
from domain.dossier import DossierStatus
from forms.official import labels
from forms.qr import png_data_uri, qr_png
from forms.render import FontNotFound, find_font, vn_datetime
from store.letters import get_apology, rendered_apologies
from web import poster
from web.i18n import LANG_COOKIE, REFUSALS, STATES, Lang, lang_of, translator, word
from web.views import (
    agency_vi,
    filed_entry,
    procedure_page,
    time_limit,
    timeline,
    versions_of,
    vnd,
)
from workflows.dossier import TERMINAL

STATIC_DIR = Path(__file__).resolve().parent / "static"
# A supplement hands in the few documents a request names.
_MAX_SUPPLEMENT_FILES = 10
# The filing form's text fields: the applicant, the parcel, the delivery, a name per document.
_MAX_FIELDS = 120

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ApiContext, Depends(context)]


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their HTML error page to the API's app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _http_error(request: Request, exc: Exception) -> Response:
    # The API answers JSON as before; a page answers a page a person can read.
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(("/api/", "/docs", "/openapi", "/static/")):
        return await http_exception_handler(request, exc)
    return _render(request, "error.html.j2", status=exc.status_code, message=_message(exc.detail))


# -- rendering ------------------------------------------------------------------------------------


def _render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    lang = lang_of(request)
    html = (
        poster.environment()
        .get_template(template)
        .render(
            lang=lang,
            t=translator(lang),
            path=request.url.path,
            vn_datetime=vn_datetime,
            status_vi=labels().status,
            **values,
        )
    )
    response = HTMLResponse(html, status_code=status)
    chosen = request.query_params.get("lang")
    if chosen in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax")
    return response


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    return str(detail)


def _today(ctx: ApiContext) -> date:
    return ctx.now().astimezone(VN_TZ).date()


def _entry(ctx: ApiContext, code: str) -> CatalogEntry:
    try:
        return submission.catalog_entry(ctx, code, _today(ctx))
    except FieldError as exc:  # no version in force today
        raise HTTPException(404, exc.message_en) from None


# -- the catalogue ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def catalogue(request: Request, ctx: Ctx) -> HTMLResponse:
    """Every procedure and bundle one can file today."""
    entries = [
        {
            "entry": entry,
            "limit_vi": time_limit(entry.limit.amount, entry.limit.unit, lang_of(request)),
        }
        for entry in ctx.catalog.list_in_force(_today(ctx))
    ]
    return _render(request, "catalogue.html.j2", entries=entries)


@router.get("/procedures/{code}", response_class=HTMLResponse)
async def procedure(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """A procedure's page: papers, steps and agencies, time limit, fee, legal basis."""
    entry = _entry(ctx, code)
    page = procedure_page(ctx.catalog, entry, _today(ctx), lang_of(request))
    return _render(request, "procedure.html.j2", page=page)


# -- filing ----------------------------------------------------------------------------------------


def _form_documents(ctx: ApiContext, entry: CatalogEntry) -> list[dict[str, Any]]:
    """The filing form's file inputs: one per document of every component, in catalog order."""
    return [
        {
            "field": f"doc_{index}",
            "name_vi": doc.name_vi,
            "optional": doc.optional,
            "procedure_vi": version.name_vi,
        }
        for index, (version, doc) in enumerate(
            (version, doc)
            for version in versions_of(ctx.catalog, entry, _today(ctx))
            for doc in version.required_documents
        )
    ]


# Where the API's field paths are on the filing form.
_FORM_FIELDS = {
    "applicant.full_name": "full_name",
    "applicant.national_id": "national_id",
    "applicant.phone": "phone",
    "applicant.email": "email",
    "applicant.address": "address",
    "parcel.commune": "parcel_commune",
    "parcel.map_sheet": "map_sheet",
    "parcel.parcel_number": "parcel_number",
    "delivery.address": "delivery_address",
}


def _filing(
    request: Request,
    ctx: ApiContext,
    entry: CatalogEntry,
    *,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    status: int = 200,
) -> HTMLResponse:
    needed = ctx.catalog.facts_needed_on(entry.code, _today(ctx))
    return _render(
        request,
        "file.html.j2",
        status=status,
        entry=entry,
        documents=_form_documents(ctx, entry),
        needs_parcel=DossierFact.PARCEL in needed,
        values=values,
        errors={_FORM_FIELDS.get(field, field): text for field, text in errors.items()},
        key=values.get("key") or uuid.uuid4().hex,
    )


@router.get("/procedures/{code}/file", response_class=HTMLResponse)
async def filing_form(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """The empty filing form of a procedure."""
    return _filing(request, ctx, _entry(ctx, code), values={}, errors={})


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in loc]
    if parts[:1] == ["delivery"] and len(parts) > 1 and parts[1] in ("home", "desk"):
        del parts[1]  # the tagged union's tag: keep the data's path
    return ".".join(parts) or "body"


def _messages(exc: ValidationError, lang: Lang) -> dict[str, str]:
    """The first message of each field, in the page's language."""
    found: dict[str, str] = {}
    for error in exc.errors():
        field = _field_name(tuple(error["loc"]))
        if error.get("input") == "":  # an empty box: "too short" would puzzle a citizen
            found.setdefault(field, translator(lang)["fill_in"])
            continue
        entry = error_entry(field, error["type"], str(error["msg"]).removeprefix("Value error, "))
        found.setdefault(field, entry["message_vi" if lang == "vi" else "message_en"])
    return found


def _field_error(exc: FieldError, lang: Lang) -> str:
    entry = error_entry(exc.field, exc.kind, exc.message_en)
    return entry["message_vi" if lang == "vi" else "message_en"]


async def _read_filing_form(
    request: Request, ctx: Ctx, documents: list[dict[str, Any]], lang: Lang
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]], dict[str, str]]:
    """The filled-in form: its text values, its files by field, and a message per missing file."""
    limit = ctx.settings.upload_max_bytes
    # Files are read into memory: no more than the procedure's documents at their size limit.
    most = limit * len(documents) + 64 * 1024
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > most:
        raise HTTPException(413, f"the form must have a Content-Length of at most {most} bytes")
    form = await request.form(max_files=len(documents), max_fields=_MAX_FIELDS)
    try:
        values: dict[str, Any] = {name: _text(form, name) for name in form if name != "key"}
        values["key"] = _text(form, "key") or uuid.uuid4().hex
        files: dict[str, tuple[str, bytes]] = {}
        errors: dict[str, str] = {}
        for doc in documents:
            upload = form.get(doc["field"])
            data = await upload.read(limit + 1) if isinstance(upload, UploadFile) else b""
            if data:
                files[doc["field"]] = (doc["name_vi"], data)
            elif not doc["optional"]:
                errors[doc["field"]] = translator(lang)["doc_missing"]
    finally:
        await form.close()
    return values, files, errors


def _submission_body(code: str, values: dict[str, Any]) -> dict[str, Any]:
    """The API's submission body from the form's values (a parcel only where one is given)."""
    body: dict[str, Any] = {
        "procedure": code,
        "applicant": {
            "full_name": values.get("full_name", ""),
            "national_id": values.get("national_id", ""),
            "phone": values.get("phone", ""),
            "email": values.get("email") or None,
            "address": values.get("address", ""),
        },
        "delivery": (
            {"method": "home", "address": values.get("delivery_address", "")}
            if values.get("delivery") == "home"
            else {"method": "desk"}
        ),
    }
    if any(values.get(name) for name in ("parcel_commune", "map_sheet", "parcel_number")):
        body["parcel"] = {
            "commune": values.get("parcel_commune", ""),
            "map_sheet": values.get("map_sheet", ""),
            "parcel_number": values.get("parcel_number", ""),
        }
    return body


@router.post("/procedures/{code}/file", response_class=HTMLResponse)
async def file_dossier(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """Validate the form as the API validates a submission, store the uploads, submit, and show
    the receipt; or show the form again with each error next to its field."""
    entry = _entry(ctx, code)
    lang = lang_of(request)
    values, files, errors = await _read_filing_form(request, ctx, _form_documents(ctx, entry), lang)
    body = _submission_body(entry.code, values)
    needed = ctx.catalog.facts_needed_on(entry.code, _today(ctx))
    if DossierFact.PARCEL in needed and "parcel" not in body:
        errors["parcel"] = _field_error(
            FieldError("parcel", "parcel_required", "give the parcel"), lang
        )
    try:
        request_body = s.SubmissionRequest.model_validate(body)
    except ValidationError as exc:
        errors = {**_messages(exc, lang), **errors}
    for field, (name_vi, data) in files.items():
        try:
            uploads.check_upload(ctx, name_vi, data)
        except FieldError as exc:
            errors[field] = _field_error(exc, lang)
    if errors:  # nothing is stored until the whole form passes
        return _filing(request, ctx, entry, values=values, errors=errors, status=422)
    try:
        await citizens.write_quota(ctx, citizens.client_of(request, ctx))  # as POST /uploads does
    except TooManyRequests as exc:
        return _too_many(request, exc)
    upload_ids = [
        (await uploads.store_upload(ctx, name_vi, data)).id for name_vi, data in files.values()
    ]
    request_body = request_body.model_copy(update={"documents": upload_ids})
    try:
        created = await submission.submit(
            request_body,
            Response(),
            ctx,
            client=citizens.client_of(request, ctx),
            idempotency_key=str(values["key"]),
        )
    except TooManyRequests as exc:
        return _too_many(request, exc)
    except FieldError as exc:
        field = "parcel" if exc.field.startswith("parcel") else exc.field
        errors[field] = _field_error(exc, lang)
        return _filing(request, ctx, entry, values=values, errors=errors, status=422)
    except HTTPException as exc:
        return _render(
            request, "error.html.j2", status=exc.status_code, message=_message(exc.detail)
        )
    if not isinstance(created, s.SubmissionResponse):  # held for its fee (api.fee_intake, h22)
        held = json.loads(bytes(created.body))
        message = (
            f"Hồ sơ {held['dossier_code']} được tiếp nhận khi nộp {held['fee']['name_vi']}: "
            f"{vnd(held['fee']['amount_vnd'])}. Mã bí mật tra cứu: {held['tracking_secret']}."
        )
        return _render(request, "error.html.j2", status=202, message=message)
    return _render(
        request,
        "receipt.html.j2",
        status=201,
        created=created,
        entry=entry,
        tracking_url=ctx.settings.tracking_url(created.dossier_code),
        qr_src=png_data_uri(qr_png(ctx.settings.tracking_url(created.dossier_code), scale=6)),
    )


# -- tracking ----------------------------------------------------------------------------------


async def _factor(
    request: Request, ctx: ApiContext, code: str, form: FormData
) -> tuple[citizens.Factor, str, str]:
    """The API's check of the second factor, with what the form sent (404 if it fails; 429
    past the API's limits, which count the page's tries as the API's own)."""
    secret = _text(form, "secret").strip()[:64]
    last4 = _text(form, "phone_last4").strip()[:8]
    factor = await citizens.authorise(ctx, code, _proof(request, ctx, secret, last4))
    return factor, secret, last4


def _too_many(request: Request, exc: TooManyRequests) -> HTMLResponse:
    """The API's 429 as a page: the limit's reason in Vietnamese, and when to come back."""
    page = _render(
        request,
        "error.html.j2",
        status=429,
        message=error_entry(exc.field, exc.kind, exc.message_en)["message_vi"],
    )
    page.headers["Retry-After"] = str(exc.retry_after)
    return page


def _proof(request: Request, ctx: ApiContext, secret: str, last4: str) -> citizens.Proof:
    """The factors a form sent, as the API's shared functions take them."""
    return citizens.proof_for(ctx, request, secret=secret or None, phone_last4=last4 or None)


@router.get("/track/{code}", response_class=HTMLResponse)
async def track_form(request: Request, code: str) -> HTMLResponse:
    """What the QR code opens: a form asking for the receipt's secret or the phone's digits."""
    return _render(request, "track_ask.html.j2", code=code, failed=False)


async def _tracking_page(
    request: Request,
    ctx: ApiContext,
    code: str,
    factor: citizens.Factor,
    secret: str,
    last4: str,
    *,
    notice: str = "",
    pay_at: str | None = None,
    problem: str = "",
) -> HTMLResponse:
    view = await tracking.track(code, factor, ctx)
    async with ctx.sessions() as session:
        downloadable = await rendered_apologies(session, code)
    pending = [req for req in view.supplements if req.answered_at is None]
    outstanding = view.amount_due_vnd - view.amount_paid_vnd
    return _render(
        request,
        "track.html.j2",
        view=view,
        steps=timeline(ctx.catalog, view).steps,
        entry_name=filed_entry(ctx.catalog, view).name_vi,
        secret=secret,
        last4=last4,
        pending_supplement=pending[-1] if pending else None,
        can_pay=view.status == DossierStatus.FINANCIAL_OBLIGATION and outstanding > 0,
        paying=any(p.status == "pending" for p in view.payments),
        outstanding=vnd(max(outstanding, 0)),
        vnd=vnd,
        ended=view.status in TERMINAL,
        apology_sequences=sorted(downloadable),
        agency_vi=lambda code: agency_vi(ctx.catalog, code),
        result_vi=labels().result,
        state_word=lambda code: word(STATES, code, lang_of(request)),
        notice=notice,
        pay_at=pay_at,
        problem=problem,
    )


async def _authorised(
    request: Request, ctx: ApiContext, code: str, max_files: int = 0
) -> tuple[FormData, tuple[citizens.Factor, str, str] | HTMLResponse]:
    form = await request.form(max_files=max_files, max_fields=_MAX_FIELDS)
    try:
        return form, await _factor(request, ctx, code, form)
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        return form, _render(request, "track_ask.html.j2", status=404, code=code, failed=True)
    except TooManyRequests as exc:
        return form, _too_many(request, exc)


@router.post("/track/{code}", response_class=HTMLResponse)
async def track(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """The dossier's page, once the second factor is right."""
    _, checked = await _authorised(request, ctx, code)
    if isinstance(checked, HTMLResponse):
        return checked
    return await _tracking_page(request, ctx, code, *checked)


Act = Callable[[FormData, citizens.Factor, citizens.Proof], Awaitable[Any]]


class _Unconfirmed(Exception):
    """The applicant did not tick the confirmation an act asks for (its word in `web.i18n`)."""


async def _act(
    request: Request, ctx: ApiContext, code: str, kind: str, act: Act, max_files: int = 0
) -> HTMLResponse:
    """Check the form's second factor, run an act of the applicant through the API with it and
    show the page with its outcome. The act gets the form (closed afterwards), the factor and
    the proof the API's shared functions take."""
    form, checked = await _authorised(request, ctx, code, max_files)
    if isinstance(checked, HTMLResponse):
        await form.close()
        return checked
    lang = lang_of(request)
    t = translator(lang)
    try:
        outcome = await act(form, checked[0], _proof(request, ctx, checked[1], checked[2]))
    except _Unconfirmed as exc:
        problem = f"{t['refused_action']}: {t[str(exc)]}"
        return await _tracking_page(request, ctx, code, *checked, problem=problem)
    except HTTPException as exc:
        if exc.status_code >= 500:
            raise
        # The API's reason, in English, after the Vietnamese one (the refusal's words are its own).
        problem = f"{t['refused_action']}: {word(REFUSALS, kind, lang)} ({_message(exc.detail)})"
        return await _tracking_page(request, ctx, code, *checked, problem=problem)
    except FieldError as exc:
        return await _tracking_page(
            request, ctx, code, *checked, problem=_field_error(exc, lang_of(request))
        )
    except ValidationError as exc:
        problem = "; ".join(_messages(exc, lang_of(request)).values())
        return await _tracking_page(request, ctx, code, *checked, problem=problem)
    finally:
        await form.close()
    # A payment continues at the provider's page (the demo's provider completes by itself).
    pay_at = outcome.redirect_url if isinstance(outcome, s.PaymentView) else None
    return await _tracking_page(request, ctx, code, *checked, notice=t["done_ok"], pay_at=pay_at)


@router.post("/track/{code}/supplement", response_class=HTMLResponse)
async def supplement(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """Hand in the documents the supplement request asked for."""
    most = ctx.settings.upload_max_bytes * _MAX_SUPPLEMENT_FILES + 64 * 1024
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > most:
        raise HTTPException(413, f"the form must have a Content-Length of at most {most} bytes")

    async def act(form: FormData, _: citizens.Factor, proof: citizens.Proof) -> None:
        files = [
            (_text(form, f"name_{index}"), await value.read(ctx.settings.upload_max_bytes + 1))
            for index in range(_MAX_SUPPLEMENT_FILES)
            if isinstance(value := form.get(f"file_{index}"), UploadFile)
        ]
        await form.close()  # read: the spooled copies go before the uploads are stored
        ids = [(await uploads.store_upload(ctx, name, data)).id for name, data in files if data]
        body = s.SupplementRequestBody.model_validate({"documents": ids})
        await supplements.supplement_dossier(ctx, code, proof, body.documents)

    return await _act(request, ctx, code, "supplement", act, _MAX_SUPPLEMENT_FILES)


@router.post("/track/{code}/pay", response_class=HTMLResponse)
async def pay(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """Start the payment of what is due (the provider calls the engine back)."""

    async def act(_: FormData, __: citizens.Factor, proof: citizens.Proof) -> s.PaymentView:
        return await citizen_payments.pay_dossier(ctx, code, proof)

    return await _act(request, ctx, code, "pay", act)


@router.post("/track/{code}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """Withdraw the dossier (the applicant ticks a confirmation first)."""

    async def act(form: FormData, _: citizens.Factor, proof: citizens.Proof) -> None:
        if _text(form, "confirm") != "yes":
            raise _Unconfirmed("withdraw_confirm")
        body = s.WithdrawRequestBody.model_validate({"reason": _text(form, "reason")})
        await supplements.withdraw_dossier(ctx, code, proof, body.reason)

    return await _act(request, ctx, code, "withdraw", act)


@router.post("/track/{code}/rating", response_class=HTMLResponse)
async def rating(request: Request, code: str, ctx: Ctx) -> HTMLResponse:
    """Rate the service once the dossier has ended."""

    async def act(form: FormData, factor: citizens.Factor, _: citizens.Proof) -> None:
        body = s.RatingBody.model_validate(
            {"score": _text(form, "score"), "comment": _text(form, "comment")}
        )
        await rate(code, body, factor, citizens.client_of(request, ctx), ctx)

    return await _act(request, ctx, code, "rating", act)


@router.post("/track/{code}/receipt.pdf")
async def receipt_pdf(request: Request, code: str, ctx: Ctx) -> Response:
    """The receipt (form 01) as a PDF, through the API's receipt route."""
    _, checked = await _authorised(request, ctx, code)
    if isinstance(checked, HTMLResponse):
        return checked
    return await tracking.receipt(code, checked[0], ctx, format="pdf", accept=None)


@router.post("/track/{code}/letters/{sequence}.pdf")
async def apology_pdf(request: Request, code: str, sequence: int, ctx: Ctx) -> Response:
    """An apology letter (form 04) as the worker rendered it."""
    _, checked = await _authorised(request, ctx, code)
    if isinstance(checked, HTMLResponse):
        return checked
    async with ctx.sessions() as session:
        row = await get_apology(session, code, sequence)
    path = Path(row.pdf_path) if row is not None and row.pdf_path else None
    if path is None or not await asyncio.to_thread(path.is_file):
        raise HTTPException(404, "the letter is not rendered yet; try again in a moment")
    return Response(
        await asyncio.to_thread(path.read_bytes),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{code}-form-04-{sequence}.pdf"'},
    )


# -- the desk's poster ---------------------------------------------------------------------------


def _desk(ctx: ApiContext, desk: str) -> str:
    if desk != ctx.settings.desk_code:
        raise HTTPException(404, f"this site serves the desk {ctx.settings.desk_code}")
    return desk


@router.get("/desks/{desk}/poster", response_class=HTMLResponse)
async def poster_page(request: Request, desk: str, ctx: Ctx) -> HTMLResponse:
    """The desk's poster as a printable page."""
    body = poster.poster_html(
        ctx.catalog, _today(ctx), _desk(ctx, desk), ctx.settings.public_base_url
    )
    return _render(request, "poster.html.j2", poster_body=body, desk=desk)


@router.get("/desks/{desk}/poster.pdf")
async def poster_file(desk: str, ctx: Ctx) -> Response:
    """The desk's poster as an A4 PDF (what ``starter.py catalog poster`` writes)."""
    try:
        font = find_font(ctx.settings.pdf_font)
    except FontNotFound:
        raise HTTPException(503, "no font to print the PDF; open the page and print it") from None
    pdf = await asyncio.to_thread(
        poster.poster_pdf,
        ctx.catalog,
        _today(ctx),
        _desk(ctx, desk),
        ctx.settings.public_base_url,
        font,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{desk}-poster.pdf"'},
    )


@router.get("/track", include_in_schema=False)
async def track_lookup(code: str = "") -> RedirectResponse:
    """The catalogue's search box: a dossier code (no secret) goes to its tracking form."""
    clean = "".join(c for c in code.strip().upper() if c.isalnum() or c in "-.")[:40]
    return RedirectResponse(f"/track/{clean}" if clean else "/", status_code=303)
