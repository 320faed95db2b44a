"""The one-stop desk's reception: the legal plan of a dossier and its entry in the register.

Runs on the one-stop desk's task queue. The catalog and the calendar are read here, not in the
workflow, so that the answer (which may change when the catalog file changes) is recorded in
the workflow's history.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.catalog import Catalog
from domain.clock import LegalClock
from domain.plan import DossierPlan, plan_dossier
from store import repositories


class PlanDossierInput(BaseModel):
    """What the desk knows when it receives a dossier."""

    dossier_code: str
    procedure_code: str
    received_at: datetime


class RecordReceiptInput(BaseModel):
    """The receipt (form 01) to enter in the register."""

    dossier_code: str
    desk_code: str
    status: str
    plan: DossierPlan


class RecordReceiptResult(BaseModel):
    """Whether the row was new (False on a retried activity that had already written it)."""

    created: bool


class ReceptionActivities:
    """Activities of the one-stop desk; dependencies come in through the constructor."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalog: Catalog,
        clock: LegalClock,
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._clock = clock

    @activity.defn(name="reception.plan-dossier")
    async def plan_dossier(self, request: PlanDossierInput) -> DossierPlan:
        """Pin the procedure version in force on the receipt date and plan every due moment.

        An unknown procedure, or one not in force that day, fails at once: retrying cannot help.
        """
        try:
            return plan_dossier(
                self._catalog, self._clock, request.procedure_code, request.received_at
            )
        except (LookupError, ValueError) as exc:
            raise ApplicationError(
                str(exc.args[0]) if exc.args else str(exc),
                type=type(exc).__name__,
                non_retryable=True,
            ) from None

    @activity.defn(name="reception.record-receipt")
    async def record_receipt(self, request: RecordReceiptInput) -> RecordReceiptResult:
        """Enter the dossier in the register; idempotent by dossier code."""
        plan = request.plan
        async with self._sessions() as session:
            existing = await repositories.get_dossier(session, request.dossier_code)
            await repositories.upsert_dossier(
                session,
                code=request.dossier_code,
                desk_code=request.desk_code,
                procedure_code=plan.procedure,
                procedure_version=plan.version,
                received_at=plan.received_at,
                clock_starts_at=plan.clock_starts,
                appointment_at=plan.appointment,
                status=request.status,
            )
            await session.commit()
        activity.logger.info("dossier_registered", extra={"dossier": request.dossier_code})
        return RecordReceiptResult(created=existing is None)
