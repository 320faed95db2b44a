"""What every route needs, injected once into the app (tests pass their own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.payments import PaymentProvider
from domain.catalog import Catalog
from engine.settings import Settings


@dataclass(frozen=True)
class ApiContext:
    """The app's dependencies.

    Attributes:
        temporal: a client made by `engine.temporal.connect` (or a test environment's client).
        sessions: the registry's session factory.
        settings: the process's settings (the API's secrets must be set).
        catalog: the procedure catalog.
        payments: the payment provider.
        task_queue: where dossier workflows are started.
        now: the current moment (tests on the time-skipping server pass its clock).
        receipt_wait_seconds: how long a submission waits for the dossier's appointment.
    """

    temporal: Client
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    catalog: Catalog
    payments: PaymentProvider
    task_queue: str
    now: Callable[[], datetime]
    receipt_wait_seconds: float

    @property
    def token_secret(self) -> str:
        """The HMAC key of agency tokens and tracking secrets."""
        return self.settings.api_token_secret.get_secret_value()

    @property
    def webhook_secret(self) -> str:
        """The HMAC key of the payment provider's callbacks."""
        return self.settings.payment_webhook_secret.get_secret_value()


def context(request: Request) -> ApiContext:
    """The app's `ApiContext` (a FastAPI dependency)."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, ApiContext)
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
# A dossier code in a route's path.
DossierCode = Annotated[str, Path(max_length=40)]
