"""The catalog's routes: the procedures one can file on a day, one in detail (documents, fees,
steps, the fields its submission needs) and whether a planned house needs the procedure at all.
Anyone may read them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import schemas as s
from api.context import ApiContext, Ctx
from api.submission import catalog_entry
from domain.catalog import (
    BuildingCase,
    CatalogEntry,
    CombinedProcedure,
    DossierFact,
    ProcedureVersion,
    exemption_answer_vi,
)
from domain.clock import VN_TZ

router = APIRouter(prefix="/api/v1", tags=["catalog"])


def _summary(ctx: ApiContext, entry: CatalogEntry, day: date) -> s.ProcedureSummary:
    warning = next((w for w in ctx.catalog.ending_soon(day) if w.code == entry.code), None)
    return s.ProcedureSummary(
        **s.ProcedureHeading.fields_of(entry, str(entry.limit)),
        in_force_until=entry.effective_to,
        warning=str(warning) if warning else None,
    )


@router.get("/procedures", summary="Procedures one can file")
async def procedures(
    ctx: Ctx,
    on: Annotated[date | None, Query(description="the day (default: today in Viet Nam)")] = None,
) -> list[s.ProcedureSummary]:
    """Every procedure and combined bundle in force on the day."""
    day = on or ctx.now().astimezone(VN_TZ).date()
    return [_summary(ctx, entry, day) for entry in ctx.catalog.list_in_force(day)]


@router.get("/procedures/{code}", summary="One procedure in detail")
async def procedure(
    code: Annotated[str, Path(max_length=80)],
    ctx: Ctx,
    on: Annotated[date | None, Query(description="the day (default: today in Viet Nam)")] = None,
) -> s.ProcedureDetail:
    """The version in force on the day: documents to supply, fees, steps and their agencies."""
    day = on or ctx.now().astimezone(VN_TZ).date()
    entry = catalog_entry(ctx, code, day)
    versions = (
        ctx.catalog.components_on(code, day) if isinstance(entry, CombinedProcedure) else (entry,)
    )
    # The submission form follows from the steps: a fact a step reads is a field to fill in
    # (the applicant's identity is always asked for, so SUBJECT adds no field).
    needed = ctx.catalog.facts_needed_on(code, day)
    return s.ProcedureDetail(
        **_summary(ctx, entry, day).model_dump(),
        required_fields=["parcel"] if DossierFact.PARCEL in needed else [],
        components=[version.code for version in versions] if len(versions) > 1 else [],
        required_documents=[
            s.RequiredDocument(
                procedure=version.code,
                name_vi=doc.name_vi,
                optional=doc.optional,
                copies=doc.copies,
            )
            for version in versions
            for doc in version.required_documents
        ],
        fees=[
            {"procedure": version.code, **fee.model_dump(mode="json")}
            for version in versions
            for fee in version.fees
        ],
        steps=[
            {
                "procedure": version.code,
                "id": step.id,
                "name_vi": step.name_vi,
                "agency": step.agency,
                "kind": str(step.kind),
                "budget": str(step.budget),
                "depends_on": list(step.depends_on),
            }
            for version in versions
            for step in version.steps
        ],
    )


@router.get(
    "/procedures/{code}/exemption",
    summary="Does this house need the procedure at all?",
)
async def exemption(
    code: Annotated[str, Path(max_length=80)],
    ctx: Ctx,
    floors: Annotated[int, Query(ge=1, le=200, description="storeys above ground")],
    floor_area_m2: Annotated[float, Query(gt=0, le=1_000_000, description="total floor area")],
    in_planned_urban_area: Annotated[
        bool, Query(description="the plot lies in an area with an approved urban plan")
    ],
    on: Annotated[date | None, Query(description="the day (default: today in Viet Nam)")] = None,
) -> s.ExemptionAnswer:
    """An exempt case (a small house outside planned urban areas from 2026-07-01) gets this
    answer, with its legal basis, instead of filing a dossier."""
    day = on or ctx.now().astimezone(VN_TZ).date()
    entry = catalog_entry(ctx, code, day)
    case = BuildingCase(
        floors=floors, floor_area_m2=floor_area_m2, in_planned_urban_area=in_planned_urban_area
    )
    found = ctx.catalog.exemption_on(code, day, case)
    if found is None:
        version = (
            entry
            if isinstance(entry, ProcedureVersion)
            else ctx.catalog.components_on(code, day)[0]
        )
        return s.ExemptionAnswer(
            procedure=code,
            version=entry.version,
            exempt=False,
            answer_vi=exemption_answer_vi(version, None),
        )
    version, rule = found
    return s.ExemptionAnswer(
        procedure=version.code,
        version=version.version,
        exempt=True,
        answer_vi=exemption_answer_vi(version, rule),
        exemption=rule.id,
        legal_basis=rule.legal_basis,
    )
