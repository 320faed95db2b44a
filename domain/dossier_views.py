"""What the dossier looks like from outside: tracking, the Web UI, the registry.

Read-only projections of a `DossierCore`'s state, for the workflow's query, its search
attributes and current details, and the rows ``registry.sync`` writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from domain.catalog import StepKind
from domain.clock import VN_TZ
from domain.dossier import (
    DossierStatus,
    OpenStep,
    Outcome,
    StepState,
    StepStatus,
    TrackingState,
)
from domain.dossier_core import DossierCore
from domain.plan import PlannedStep
from domain.registry import (
    IssuedSnapshot,
    ProcedureSnapshot,
    ReceivedSnapshot,
    RegistrySnapshot,
    StepSnapshot,
)


class Visibility(NamedTuple):
    """What operators filter on in the Web UI. Never personal data: it is not encrypted."""

    status: DossierStatus
    agencies: list[str]  # holding an open step
    overdue: list[str]  # holding an overdue step
    due_soon: bool  # a step's warning moment has passed
    apologies: int
    appointment: datetime | None


def _step_view(planned: PlannedStep, step: StepState) -> dict[str, Any]:
    """What every view of a step shows: which step, whose, and where its clock stands."""
    return {
        "key": planned.key,
        "name_vi": planned.name_vi,
        "agency": planned.agency,
        "kind": planned.kind,
        "opened_at": step.opened_at,
        "due": step.due,
        "overdue": step.overdue,
    }


def tracking(core: DossierCore) -> TrackingState:
    """Status, open steps with their agencies and due moments, the ledger, documents."""
    state = core.state
    # Built from the (valid) state without validating again: the oracle of a simulated year
    # reads this view at every look. The lists are copies, as validation would make them.
    return TrackingState.model_construct(
        dossier_code=core.request.dossier_code,
        procedure_code=core.request.procedure_code,
        status=state.status,
        received_at=core.request.received_at,
        appointment=state.appointment or (state.plan.appointment if state.plan else None),
        open_steps=[
            OpenStep.model_construct(
                **_step_view(planned, step),
                warn_at=step.warn_at,
                warned=step.warned,
                decided=planned.key in state.decisions,
            )
            for planned, step in core.open_steps()
        ],
        ledger=list(state.ledger),
        documents=list(state.documents),
        supplements=list(state.supplements),
        amount_due_vnd=state.amount_due_vnd,
        amount_paid_vnd=state.amount_paid_vnd,
        apologies=list(state.apologies),
        calendar_changes=list(state.calendar_changes),
    )


def visibility(core: DossierCore) -> Visibility:
    """What operators filter on: status, agencies holding it, those overdue, whether a step
    is due soon, apologies, the appointment. Never personal data (it is not encrypted)."""
    state = core.state
    open_steps = core.open_steps() if not core.finished else []
    agencies = sorted({planned.agency for planned, _ in open_steps})
    overdue = sorted({planned.agency for planned, step in open_steps if step.overdue})
    due_soon = any(step.warned and not step.overdue for _, step in open_steps)
    return Visibility(
        state.status, agencies, overdue, due_soon, len(state.apologies), state.appointment
    )


def details(core: DossierCore) -> str:
    """The UI's current details, in Vietnamese."""
    state = core.state
    lines = [f"**Hồ sơ {core.request.dossier_code}** — {state.status.name_vi}"]
    if state.plan is not None:
        lines.append(f"Thủ tục: {state.plan.name_vi}")
    if state.appointment is not None:
        lines.append(f"Hẹn trả kết quả: {state.appointment.astimezone(VN_TZ):%H:%M ngày %d/%m/%Y}")
    for planned, step in core.open_steps() if not core.finished else []:
        due = f"hạn {step.due.astimezone(VN_TZ):%H:%M %d/%m/%Y}" if step.due else "đồng hồ tạm dừng"
        flag = " — **QUÁ HẠN**" if step.overdue else ""
        lines.append(f"- {planned.agency_vi}: {planned.name_vi} ({due}){flag}")
    return "\n".join(lines)


def registry_rows(core: DossierCore) -> RegistrySnapshot:
    """Every registry row of the dossier as it stands (the shell sends what changed)."""
    state = core.state
    plan = core.plan
    # The rows go in with the dossier's fields, not assigned afterwards: a list field left to
    # its default is a deep copy of that default per snapshot, six of them thrown away at once.
    return RegistrySnapshot(
        dossier_code=core.request.dossier_code,
        revision=state.registry_revision,
        desk_code=core.request.desk_code,
        procedure_code=plan.procedure,
        procedure_version=plan.version,
        name_vi=plan.name_vi,
        received_at=plan.received_at,
        clock_starts_at=plan.clock_starts,
        appointment=state.appointment or plan.appointment,
        legal_appointment=state.legal_appointment,
        status=state.status,
        finished_at=state.finished_at,
        verdict=state.verdict,
        working_hours=state.working_hours,
        late_working_hours=state.late_working_hours,
        apologies=len(state.apologies),
        amount_due_vnd=state.amount_due_vnd,
        amount_paid_vnd=state.amount_paid_vnd,
        procedures=[
            ProcedureSnapshot(
                code=policy.code,
                version=policy.version,
                name_vi=policy.name_vi,
                outcome=state.procedure_outcomes.get(policy.code)
                or ("returned" if state.status is DossierStatus.RETURNED else "running"),
            )
            for policy in plan.policies
        ],
        steps=[
            StepSnapshot(
                **_step_view(planned, step),
                procedure=planned.procedure,
                status=step.status,
                done_at=step.done_at,
                outcome=step.outcome,
                officer_id=step.officer_id,
                verdict=step.verdict,
                working_hours=step.working_hours,
                late_working_hours=step.late_working_hours,
            )
            for planned in plan.steps
            for step in [state.steps[planned.key]]
        ],
        handovers=[row.model_copy() for row in state.ledger],  # the same model
        received=[
            ReceivedSnapshot(
                sequence=number,
                name_vi=document.name_vi,
                sha256=document.sha256,
                supplement=number > len(core.request.facts.documents),
            )
            for number, document in enumerate(state.facts.documents, start=1)
        ],
        issued=list(_issued(core)),
        audit=list(state.audit),
    )


def _issued(core: DossierCore) -> Iterator[IssuedSnapshot]:
    """Every document the dossier produced so far, numbered per kind."""
    state = core.state
    plan = core.plan
    yield IssuedSnapshot(
        kind="form-01",
        sequence=1,
        procedure=plan.procedure,
        agency="one-stop",
        summary_vi=f"Hẹn trả kết quả {plan.appointment.astimezone(VN_TZ):%d/%m/%Y}",
        detail={"appointment": plan.appointment.isoformat()},
        issued_at=plan.received_at,
    )
    for number, request in enumerate(state.supplements, start=1):
        yield IssuedSnapshot(
            kind="form-02",
            sequence=number,
            procedure=request.procedure,
            step=request.step,
            agency=request.requested_by,
            summary_vi=request.reason,
            detail={
                "missing_documents": request.missing_documents,
                "requested_by": request.requested_by,
                "answered_at": request.answered_at.isoformat() if request.answered_at else None,
                "answer_by": request.answer_by.isoformat() if request.answer_by else None,
                "lapsed_at": request.lapsed_at.isoformat() if request.lapsed_at else None,
            },
            issued_at=request.at,
        )
    refusals = [row for row in state.ledger if row.kind is Outcome.REFUSED]
    for number, row in enumerate(refusals, start=1):
        yield IssuedSnapshot(
            kind="form-03",
            sequence=number,
            procedure=row.procedure,
            step=row.step,
            agency=row.from_agency,
            summary_vi=row.result.removeprefix("refused: "),
            issued_at=row.at,
        )
    for letter in state.apologies:
        yield IssuedSnapshot(
            kind="form-04",
            sequence=letter.sequence,
            procedure=plan.procedure,
            agency=letter.agency,
            reference=letter.letter_id,
            summary_vi=letter.reason_vi,
            detail={
                "original_appointment": letter.original_appointment.isoformat(),
                "new_appointment": letter.new_appointment.isoformat(),
                "sent": letter.sent,
            },
            issued_at=letter.issued_at or letter.original_appointment,
        )
    counters: dict[str, int] = {}
    for document in state.documents:
        counters[document.kind] = counters.get(document.kind, 0) + 1
        yield IssuedSnapshot(
            kind=document.kind,
            sequence=counters[document.kind],
            procedure=document.procedure,
            step=document.step,
            agency=core.planned(f"{document.procedure}:{document.step}").agency,
            reference=document.reference,
            summary_vi=document.summary_vi,
            issued_at=document.at,
        )
    results = [
        (planned, step)
        for planned in plan.steps
        for step in [state.steps[planned.key]]
        if planned.kind == StepKind.RETURN_RESULT
        and step.status is StepStatus.DONE
        and step.done_at is not None
        and step.outcome_kind is not Outcome.REFUSED
    ]
    for number, (planned, step) in enumerate(results, start=1):
        assert step.done_at is not None
        yield IssuedSnapshot(
            kind="result",
            sequence=number,
            procedure=planned.procedure,
            step=planned.step,
            agency=planned.agency,
            summary_vi=f"Trả kết quả: {core.policy_name(planned.procedure)}",
            issued_at=step.done_at,
        )
