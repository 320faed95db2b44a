"""The FastAPI application: `create_app` wires the routes to injected dependencies.

Routes: the catalog (`api.catalog`), citizens (`api.citizens` and the modules it names, one per
resource), agencies (`api.agencies`), fees (`api.fees`) and the payment provider's callback
(`api.citizen_payments`). OpenAPI at ``/openapi.json``, interactive
docs at ``/docs``. See docs/api.md.

Every route's path and query parameters are checked once, here (`plain_parameters`), for
control characters: the body's text fields are checked by `api.schemas`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import (
    agencies,
    citizen_payments,
    citizens,
    errors,
    fees,
    rating,
    submission,
    supplements,
    tracking,
    uploads,
)
from api import schemas as s
from api.auth import InvalidToken, SignedTokens, TokenVerifier, authenticate
from api.catalog import router as catalog_router
from api.context import ApiContext
from api.payments import PaymentProvider
from domain.catalog import Catalog, default_catalog
from engine.names import ORCHESTRATION_TASK_QUEUE
from engine.settings import Settings
from web import desk, pages

AGENCY_PREFIX = "/api/v1/agencies"


async def plain_parameters(request: Request) -> None:
    """Refuse a path or query parameter holding a control character (a FastAPI dependency).

    Applied to every route of the app, before the route's own dependencies: a NUL in a dossier
    code or a phone's last digits would otherwise reach PostgreSQL, which cannot take it, and
    fail as a 500. Tab and line breaks pass, as in the body's text fields.

    Raises:
        RequestValidationError: ``control_character`` on each offending parameter, located as
            FastAPI locates its own parameter errors (``("path", "code")``), so the answer is
            the API's 422 naming the parameter in Vietnamese and English.
    """
    params = (("path", request.path_params.items()), ("query", request.query_params.multi_items()))
    errors = [
        {
            "type": "control_character",
            "loc": (where, name),
            "msg": s.CONTROL_CHARACTER_MESSAGE,
            "input": value,
        }
        for where, items in params
        for name, value in items
        if isinstance(value, str) and s.has_control_characters(value)
    ]
    if errors:
        raise RequestValidationError(errors)


def _agency_auth(
    verifier: TokenVerifier, sessions: async_sessionmaker[AsyncSession]
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Before routing and body parsing: no agency route answers anything but 401 to a
        # caller without a valid, unrevoked token, whatever the path, parameters or body.
        path = request.url.path
        if path == AGENCY_PREFIX or path.startswith(AGENCY_PREFIX + "/"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            reason = "a bearer token is required"
            if scheme.lower() == "bearer" and token.strip():
                try:
                    request.state.claims = await authenticate(verifier, sessions, token)
                    request.state.token = token.strip()
                    return await call_next(request)
                except InvalidToken as exc:
                    reason = str(exc)
            return JSONResponse(
                {"detail": reason}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await call_next(request)

    return middleware


def create_app(
    *,
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    payments: PaymentProvider,
    catalog: Catalog | None = None,
    task_queue: str = ORCHESTRATION_TASK_QUEUE,
    now: Callable[[], datetime] | None = None,
    receipt_wait_seconds: float = 20.0,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    """The API with its dependencies.

    Args:
        temporal: a client with the project's data converter (`engine.temporal.connect`).
        sessions: the registry's sessions.
        settings: must have ``api_token_secret`` and ``payment_webhook_secret``.
        payments: the payment provider (closed when the app shuts down).
        catalog: the procedure catalog; the default one if None.
        task_queue: where dossier workflows are started.
        now: the current moment; the wall clock by default.
        receipt_wait_seconds: how long a submission waits for the appointment.
        verifier: who checks officers' tokens: ours (`api.auth.SignedTokens`) by default, or a
            province's single sign-on (`api.auth.OidcVerifier`, docs/security.md).

    Raises:
        ValueError: a secret is missing.
    """
    for name in ("api_token_secret", "payment_webhook_secret"):
        if not getattr(settings, name).get_secret_value():
            raise ValueError(f"LIENTHONG_{name.upper()} is not set; the API needs it")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await payments.aclose()

    # The docs' Swagger UI assets come from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        title="Một cửa liên thông: citizens and agencies API",
        version="1",
        description="Online submission, tracking, payment and agency inboxes (docs/api.md).",
        lifespan=lifespan,
        dependencies=[Depends(plain_parameters)],
    )
    app.state.ctx = ApiContext(
        temporal=temporal,
        sessions=sessions,
        settings=settings,
        catalog=catalog or default_catalog(),
        payments=payments,
        task_queue=task_queue,
        now=now or (lambda: datetime.now(UTC)),
        receipt_wait_seconds=receipt_wait_seconds,
    )
    errors.install(app)
    verifier = verifier or SignedTokens(settings.api_token_secret.get_secret_value())
    app.state.verifier = verifier  # the officer's desk (web.desk) signs in through it too
    app.middleware("http")(_agency_auth(verifier, sessions))
    app.include_router(catalog_router)
    for citizens_routes in (uploads, submission, tracking, supplements, citizen_payments):
        app.include_router(citizens_routes.router)
    app.include_router(citizens.router)  # the one-time code
    app.include_router(rating.router)
    app.include_router(citizen_payments.provider)
    app.include_router(agencies.router)
    app.include_router(fees.router)  # fees at receipt and electronic receipts (h22)
    pages.install(app)  # the pages for people (web/), on the same app
    desk.install(app)
    return app


__all__ = ["HTTPException", "create_app"]
