"""The officer's desk: server-rendered pages on the API's app, Vietnamese first (``?lang=en``).

Pages (all under ``/desk``):

- ``/desk/sign-in``: the officer pastes the token ``python -m api issue-token`` gave them; it is
  checked by `api.auth` and kept in an HttpOnly, SameSite=Strict cookie for the desk's paths.
- ``/desk/inbox``: the agency's open steps, the most urgent first, with what is left (or how
  late it is) in working hours (`api.agencies.open_steps`, the API inbox's own query).
- ``/desk/dossiers/{code}``: the dossier as the agency sees it: its steps, the documents handed
  in (previewed in the browser), form 05's rows and the decisions, and a form per open step of
  the agency to approve, request a supplement, refuse or send back, with a reason
  (`api.agencies.decide_step`, the API's own decision path). Links to the Temporal Web UI.
- ``/desk/head``: the agency's workload per officer, its overdue steps and its escalations.
- ``/desk/dashboard``: the on-time report of `store.reports` (the figures of
  ``starter.py report``) with bar charts; ``/desk/report.html`` and ``/desk/report.pdf`` print it.

Every page shows only the signed-in officer's agency: a dossier in which the agency holds no
step is a 403, whatever its code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api import schemas as s
from api.agencies import decide_step, open_steps, working_hours_left
from api.auth import AgencyClaims, InvalidToken, SignedTokens, authenticate, revoke
from api.context import ApiContext, context
from domain.catalog import UnknownAgency
from domain.clock import VN_TZ
from domain.dossier import DecisionAction
from forms.official import labels
from forms.render import vn_datetime, vn_hours
from store import outbox
from store.desk import dossier_held_by, dossier_names, dossier_page, handed_in_file, head_view
from store.models import DossierRecord
from store.reports import ReportBy, ReportInputError, report_input, run_report
from web.desk_text import TEXT
from web.i18n import Lang
from web.report import report_html, report_pdf, vietnamese_report

COOKIE = "lienthong_desk"
LANG_COOKIE = "lienthong_lang"
PREFIX = "/desk"
TEMPLATES = Jinja2Templates(directory=FsPath(__file__).resolve().parent / "templates")
TEMPLATES.env.filters["vn_datetime"] = vn_datetime
TEMPLATES.env.filters["vn_hours"] = vn_hours

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class SignInRequired(Exception):
    """No valid desk session: the page answers with a redirect to the sign-in page."""


class DeskRefusal(Exception):
    """A desk page refused (403), not found (404) or asked wrongly (400): an HTML page that
    says so, in the officer's language (the reason itself is the engine's, in English)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Desk:
    """Who is at the desk, in which language the pages speak, and the request they answer."""

    claims: AgencyClaims
    lang: Lang
    agency_name: str
    request: Request

    def page(self, template: str, status_code: int = 200, **values: Any) -> Any:
        """``template`` rendered for this officer, in their language (its ``desk`` is this)."""
        return _page(self.request, template, self.lang, status_code, desk=self, **values)


def language(request: Request) -> Lang:
    """``?lang=`` if given, else the cookie, else Vietnamese."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "vi"


def _agency_name(ctx: ApiContext, code: str, lang: Lang) -> str:
    try:
        agency = ctx.catalog.agency(code)
    except UnknownAgency:
        return code
    return agency.name_en if lang == "en" else agency.name_vi


async def officer_claims(request: Request, ctx: ApiContext, token: str) -> AgencyClaims:
    """The claims of a valid, unrevoked token, through the app's verifier (ours, or the
    province's single sign-on: `api.auth.authenticate`), as the API's own middleware checks.

    Raises:
        InvalidToken: malformed, forged, expired or revoked.
    """
    verifier = getattr(request.app.state, "verifier", None) or SignedTokens(ctx.token_secret)
    return await authenticate(verifier, ctx.sessions, token)


async def desk(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Desk:
    """The signed-in officer (a FastAPI dependency); no valid session: to the sign-in page."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired
    try:
        claims = await officer_claims(request, ctx, token)
    except InvalidToken:
        raise SignInRequired from None
    lang = language(request)
    return Desk(claims, lang, _agency_name(ctx, claims.agency, lang), request)


Officer = Annotated[Desk, Depends(desk)]
Ctx = Annotated[ApiContext, Depends(context)]


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict as well)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise DeskRefusal(403, "a form from another site")


def _page(
    request: Request, template: str, lang: Lang, status_code: int = 200, **values: Any
) -> Any:
    text = TEXT[lang]
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"t": text, "lang": lang, "path": request.url.path, **values},
        status_code=status_code,
    )
    if request.query_params.get("lang") in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, lang, samesite="strict", path="/")
    return response


def install(app: Any) -> None:
    """Add the desk's routes and its sign-in redirect to the app."""

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/sign-in?{urlencode({'next': target})}", 303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeskRefusal)
        lang = language(request)
        return _page(  # type: ignore[no-any-return]
            request,
            "desk_refused.html",
            lang,
            exc.status,
            title=TEXT[lang].refusals.get(exc.status, str(exc.status)),
            reason=exc.reason,
        )

    app.add_exception_handler(SignInRequired, to_sign_in)
    app.add_exception_handler(DeskRefusal, refused)
    app.include_router(router)


# ---- sign-in -------------------------------------------------------------------------------------


def _next_page(target: str | None) -> str:
    """Only a desk page of this site is a place to go after signing in."""
    if target and target.startswith(f"{PREFIX}/") and "//" not in target and "\\" not in target:
        return target
    return f"{PREFIX}/inbox"


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    """The desk starts at the inbox."""
    return RedirectResponse(f"{PREFIX}/inbox", 303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None) -> Any:
    """The sign-in form."""
    return _page(request, "desk_sign_in.html", language(request), next=_next_page(next))


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    ctx: Ctx,
    token: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Any:
    """Check the token; on success keep it in the desk's cookie until it expires."""
    _same_origin(request)
    lang = language(request)
    try:
        claims = await officer_claims(request, ctx, token.strip())
    except InvalidToken as exc:
        reason = TEXT[lang].token_problems.get(str(exc), str(exc))
        return _page(request, "desk_sign_in.html", lang, 401, next=_next_page(next), error=reason)
    response = RedirectResponse(_next_page(next), 303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=max(1, int((claims.expires_at - datetime.now(UTC)).total_seconds())),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, ctx: Ctx) -> Response:
    """Forget the desk's cookie and revoke its token: a copy of it opens nothing any more."""
    _same_origin(request)
    token = request.cookies.get(COOKIE)
    if token:
        try:
            claims = await officer_claims(request, ctx, token)
        except InvalidToken:
            pass  # expired or already revoked: nothing to revoke
        else:
            async with ctx.sessions() as session:
                await revoke(session, claims, "signed out of the desk")
                await session.commit()
    response = RedirectResponse(f"{PREFIX}/sign-in", 303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# ---- inbox ---------------------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    officer: Officer, ctx: Ctx, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Any:
    """The agency's open steps, the most urgent first."""
    listing = await open_steps(ctx, officer.claims.agency, page=page, page_size=50)
    codes = {item.dossier_code for item in listing.items}
    async with ctx.sessions() as session:
        names = await dossier_names(session, codes)
    return officer.page(
        "desk_inbox.html",
        listing=listing,
        names=names,
        due_soon_hours=ctx.settings.inbox_due_soon_hours,
        pages=max(1, -(-listing.total // listing.page_size)),
    )


# ---- a dossier -----------------------------------------------------------------------------------


async def _dossier_of_agency(ctx: ApiContext, code: str, agency: str) -> DossierRecord:
    """The dossier, if the agency holds a step of it; 404 / 403 otherwise."""
    async with ctx.sessions() as session:
        record, held = await dossier_held_by(session, code, agency)
    if record is None:
        raise DeskRefusal(404, f"no dossier {code}")
    if not held:
        raise DeskRefusal(403, f"{agency} holds no step of dossier {code}")
    return record


def temporal_ui_link(ctx: ApiContext, code: str) -> str:
    """The dossier's workflow in the Temporal Web UI (the workflow id is the dossier code)."""
    namespace = quote(ctx.temporal.namespace if ctx.temporal else "default", safe="")
    return f"{ctx.settings.temporal_ui_url}/namespaces/{namespace}/workflows/{quote(code)}"


@router.get("/dossiers/{code}", response_class=HTMLResponse)
async def dossier(
    code: Annotated[str, Path(max_length=40)],
    officer: Officer,
    ctx: Ctx,
    done: str | None = None,
    error: str | None = None,
) -> Any:
    """The dossier page: steps, documents, form 05, decisions, and what the agency may do."""
    record = await _dossier_of_agency(ctx, code, officer.claims.agency)
    async with ctx.sessions() as session:
        shown = await dossier_page(session, code)
    steps = shown.steps
    now = ctx.now()
    mine = [
        step for step in steps if step.agency == officer.claims.agency and step.status == "open"
    ]
    finished = [step for step in steps if step.status == "done"]
    text = TEXT[officer.lang]
    return officer.page(
        "desk_dossier.html",
        record=record,
        status=text.status(record.status),
        steps=steps,
        mine=mine,
        finished=finished,
        left={step.step_key: working_hours_left(now, _aware(step.due_at)) for step in steps},
        documents=shown.documents,
        types=shown.content_types,
        handovers=shown.handovers,
        audit=shown.audit,
        agency_name=lambda code: _agency_name(ctx, code, officer.lang),
        agencies_of=lambda codes: ", ".join(
            _agency_name(ctx, part, officer.lang) for part in codes.split(",") if part
        ),
        verdict=text.verdict,
        result=labels().result if officer.lang == "vi" else (lambda value: value),
        temporal_link=temporal_ui_link(ctx, code),
        actions=[action.value for action in DecisionAction],
        done=text.done.get(done or "") if done else None,
        error=error,
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/dossiers/{code}/documents/{sequence}")
async def document(
    code: Annotated[str, Path(max_length=40)],
    sequence: int,
    officer: Officer,
    ctx: Ctx,
) -> Response:
    """A document the applicant handed in, shown in the browser (not downloaded)."""
    await _dossier_of_agency(ctx, code, officer.claims.agency)
    async with ctx.sessions() as session:
        found = await handed_in_file(session, code, sequence)
    if found is None:
        raise DeskRefusal(404, f"dossier {code} has no document {sequence}")
    sha256, kind = found
    path = ctx.settings.data_dir / "uploads" / sha256
    if kind is None or not path.is_file():
        raise DeskRefusal(404, f"the file of document {sequence} is not kept here")
    return FileResponse(
        path,
        media_type=kind,
        headers={
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/dossiers/{code}/steps/{step_key}/decision")
async def decision(
    code: Annotated[str, Path(max_length=40)],
    step_key: str,
    officer: Officer,
    ctx: Ctx,
    action: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    missing_documents: Annotated[str, Form(max_length=20_000)] = "",
    send_back_to: Annotated[str, Form(max_length=160)] = "",
) -> Response:
    """Decide on an open step through the API's decision path; back to the dossier page."""
    _same_origin(officer.request)
    page = f"{PREFIX}/dossiers/{quote(code)}"
    text = TEXT[officer.lang]
    try:
        body = s.DecisionBody(
            action=action,
            reason=reason,
            missing_documents=[
                line.strip() for line in missing_documents.splitlines() if line.strip()
            ],
            send_back_to=send_back_to or None,
        )
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return RedirectResponse(f"{page}?{urlencode({'error': problem})}", 303)
    if body.action is not DecisionAction.APPROVE and not body.reason.strip():
        return RedirectResponse(f"{page}?{urlencode({'error': text.reason_required})}", 303)
    try:
        await decide_step(ctx, officer.claims, code, step_key, body)
    except HTTPException as exc:
        detail = exc.detail
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
        return RedirectResponse(f"{page}?{urlencode({'error': message})}", 303)
    return RedirectResponse(f"{page}?{urlencode({'done': body.action.value})}", 303)


# ---- the head's view -----------------------------------------------------------------------------


def is_head(claims: AgencyClaims) -> bool:
    """Whether the officer may see the head's view: a head, where tokens carry a role."""
    role = getattr(claims, "role", None)
    return role is None or str(role) == "head"


@router.get("/head", response_class=HTMLResponse)
async def head(officer: Officer, ctx: Ctx, days: Annotated[int, Query(ge=1, le=366)] = 30) -> Any:
    """Workload per officer over the last ``days`` days, overdue steps, escalations."""
    if not is_head(officer.claims):
        raise DeskRefusal(403, "the head of the agency's view")
    agency = officer.claims.agency
    now = ctx.now()
    since = now - timedelta(days=days)
    async with ctx.sessions() as session:
        view = await head_view(session, agency, since)
    listing = await open_steps(ctx, agency, page=1, page_size=100)
    overdue = [item for item in listing.items if item.overdue]
    return officer.page(
        "desk_head.html",
        days=days,
        view=view,
        open_total=listing.total,
        overdue=overdue,
    )


# ---- the on-time dashboard and report ------------------------------------------------------------


def _period(start: date | None, end: date | None, now: datetime) -> tuple[date, date]:
    today = now.astimezone(VN_TZ).date()
    return start or today.replace(day=1), end or today


def _report(
    ctx: ApiContext,
    start: date,
    end: date,
    by: str,
    desk_code: str | None,
    agency: str | None,
    procedure: str | None,
) -> Callable[[Any], Any]:
    params = report_input(
        start,
        end,
        catalog=ctx.catalog,
        desk=desk_code or None,
        agency=agency or None,
        procedure=procedure or None,
        by=by or None,
    )

    def run(connection: Any) -> Any:
        return run_report(connection, params)

    return run


async def _run_report(ctx: ApiContext, run: Callable[[Any], Any]) -> Any:
    async with ctx.sessions() as session:
        connection = await session.connection()
        return await connection.run_sync(run)


ReportQuery = dict[str, Any]


def _report_query(
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    by: Annotated[str, Query(max_length=20)] = "agency",
    desk_code: Annotated[str, Query(alias="desk", max_length=20)] = "",
    agency: Annotated[str, Query(max_length=40)] = "",
    procedure: Annotated[str, Query(max_length=80)] = "",
) -> ReportQuery:
    return {
        "start": start,
        "end": end,
        "by": by,
        "desk_code": desk_code,
        "agency": agency,
        "procedure": procedure,
    }


async def _report_or_error(ctx: ApiContext, query: ReportQuery) -> tuple[Any, str | None]:
    start, end = _period(query["start"], query["end"], ctx.now())
    try:
        run = _report(
            ctx,
            start,
            end,
            query["by"],
            query["desk_code"],
            query["agency"],
            query["procedure"],
        )
    except ReportInputError as exc:
        return None, str(exc)
    return await _run_report(ctx, run), None


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    officer: Officer, ctx: Ctx, query: Annotated[ReportQuery, Depends(_report_query)]
) -> Any:
    """On-time figures per agency, procedure, desk or month, with charts."""
    result, error = await _report_or_error(ctx, query)
    document = vietnamese_report(result, ctx.catalog) if result is not None else None
    async with ctx.sessions() as session:
        outside = {
            system: await outbox.backlog(session, model)
            for system, model in outbox.OUTBOXES.items()
        }
    printable = urlencode(
        {
            "from": (result.params.start if result else ""),
            "to": (result.params.end if result else ""),
            "by": query["by"],
            "desk": query["desk_code"],
            "agency": query["agency"],
            "procedure": query["procedure"],
        }
    )
    return officer.page(
        "desk_dashboard.html",
        400 if error else 200,
        query=query,
        result=result,
        document=document,
        error=error,
        groupings=[by.value for by in ReportBy],
        printable=printable,
        outside=outside,
        vn_tz=VN_TZ,
    )


@router.get("/report.html", response_class=HTMLResponse)
async def printable_report(
    officer: Officer, ctx: Ctx, query: Annotated[ReportQuery, Depends(_report_query)]
) -> Response:
    """The on-time report as a printable Vietnamese document (A4 landscape)."""
    result, error = await _report_or_error(ctx, query)
    if error:
        raise DeskRefusal(400, error)
    html = report_html(vietnamese_report(result, ctx.catalog), issuer_vi=_issuer(ctx))
    return HTMLResponse(html)


@router.get("/report.pdf")
async def printable_report_pdf(
    officer: Officer, ctx: Ctx, query: Annotated[ReportQuery, Depends(_report_query)]
) -> Response:
    """The same document as a PDF."""
    result, error = await _report_or_error(ctx, query)
    if error:
        raise DeskRefusal(400, error)
    pdf = report_pdf(
        vietnamese_report(result, ctx.catalog),
        issuer_vi=_issuer(ctx),
        created=ctx.now(),
        font_path=ctx.settings.pdf_font,
    )
    name = f"bao-cao-dung-han-{result.params.start}-{result.params.end}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _issuer(ctx: ApiContext) -> str:
    with contextlib.suppress(UnknownAgency):
        return ctx.catalog.agency("one-stop").name_vi
    return "Bộ phận Một cửa"
