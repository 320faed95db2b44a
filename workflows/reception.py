"""Reception of a dossier at the one-stop desk (form 01: receipt and appointment)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.reception import (
        PlanDossierInput,
        ReceptionActivities,
        RecordReceiptInput,
    )
    from domain.plan import DossierPlan
    from engine import names

ONE_STOP = names.agency_task_queue("one-stop")


class ReceptionInput(BaseModel):
    """A dossier handed in at the desk (or online). Personal data is not part of this yet."""

    dossier_code: str
    desk_code: str
    procedure_code: str
    received_at: datetime


class ReceptionResult(BaseModel):
    """The receipt: dossier code, the pinned procedure version and every planned due moment."""

    dossier_code: str
    status: str
    plan: DossierPlan


@workflow.defn
class ReceptionWorkflow:
    """Receives one dossier: pins the rules, plans the appointment, enters it in the register.

    Queries: ``status`` (the current status code).
    """

    def __init__(self) -> None:
        self._status = "new"

    @workflow.run
    async def run(self, request: ReceptionInput) -> ReceptionResult:
        """Plan the dossier and register its receipt."""
        workflow.upsert_search_attributes(
            [
                names.DOSSIER_CODE.value_set(request.dossier_code),
                names.DESK.value_set(request.desk_code),
                names.DOSSIER_STATUS.value_set(self._status),
            ]
        )
        try:
            plan = await workflow.execute_activity_method(
                ReceptionActivities.plan_dossier,
                PlanDossierInput(
                    dossier_code=request.dossier_code,
                    procedure_code=request.procedure_code,
                    received_at=request.received_at,
                ),
                task_queue=ONE_STOP,
                start_to_close_timeout=timedelta(seconds=30),
                summary="Lập kế hoạch thời hạn giải quyết",
            )
        except ActivityError as err:
            # The desk cannot receive a dossier for a procedure the catalog does not have.
            if isinstance(err.cause, ApplicationError) and err.cause.non_retryable:
                raise ApplicationError(
                    f"dossier {request.dossier_code} not received: {err.cause.message}",
                    type="ReceptionRefused",
                    non_retryable=True,
                ) from err
            raise
        self._status = "accepted"
        await workflow.execute_activity_method(
            ReceptionActivities.record_receipt,
            RecordReceiptInput(
                dossier_code=request.dossier_code,
                desk_code=request.desk_code,
                status=self._status,
                plan=plan,
            ),
            task_queue=ONE_STOP,
            start_to_close_timeout=timedelta(seconds=30),
            summary="Vào sổ theo dõi hồ sơ (mẫu 06)",
        )
        workflow.upsert_search_attributes(
            [
                names.DOSSIER_STATUS.value_set(self._status),
                names.PROCEDURE_CODES.value_set(
                    list(dict.fromkeys([plan.procedure, *(c.code for c in plan.components)]))
                ),
                names.APPOINTMENT_AT.value_set(plan.appointment),
            ]
        )
        workflow.set_current_details(
            f"Hồ sơ {request.dossier_code} đã được tiếp nhận; "
            f"hẹn trả kết quả {plan.appointment:%H:%M ngày %d/%m/%Y}."
        )
        return ReceptionResult(dossier_code=request.dossier_code, status=self._status, plan=plan)

    @workflow.query
    def status(self) -> str:
        """The dossier's current status code."""
        return self._status
