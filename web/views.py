"""What the public pages show, built from the catalog and the API's tracking view.

Pure functions: the catalog entry in force (or the tracking view the API returns) in, plain
dataclasses out (the procedure's page a model that starts with the API's
`api.schemas.ProcedureHeading`), so the templates only lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import ConfigDict

from api import schemas as s
from domain.catalog import Catalog, CatalogEntry, CombinedProcedure, ProcedureVersion
from domain.clock import VN_TZ
from forms.official import labels
from web.i18n import DOCUMENT_FORMS, STEP_KINDS, TEXT, Lang, word


@dataclass(frozen=True)
class DocumentLine:
    """A paper to bring or upload."""

    name_vi: str
    copies: int
    form: str
    optional: bool
    template: str | None


@dataclass(frozen=True)
class FeeLine:
    """A fee of the procedure."""

    name_vi: str
    amount: str


@dataclass(frozen=True)
class StepLine:
    """A step of the procedure and the agency that carries it out."""

    name_vi: str
    agency_vi: str
    kind: str
    budget: str


@dataclass(frozen=True)
class Component:
    """One procedure of the page (a combined dossier has several)."""

    code: str
    name_vi: str
    documents: list[DocumentLine]
    fees: list[FeeLine]
    steps: list[StepLine]
    result_vi: str


class ProcedurePage(s.ProcedureHeading):
    """Everything the procedure's public page shows."""

    model_config = ConfigDict(frozen=True)

    legal_basis: list[str]
    effective_from: date
    components: list[Component]


def time_limit(amount: float, unit: str, lang: Lang) -> str:
    """``23 ngày làm việc`` (the forms' words), or ``23 working days`` on an English page."""
    if lang == "vi":
        return labels().time_limit(amount, unit)
    return f"{round(amount, 2):g} {unit.replace('_', ' ')}"


def vnd(amount: int) -> str:
    """``1.500.000 đ``: an amount as Vietnamese write it."""
    return f"{amount:,}".replace(",", ".") + " đ"


def versions_of(catalog: Catalog, entry: CatalogEntry, day: date) -> tuple[ProcedureVersion, ...]:
    """The procedure versions a catalog entry files on ``day`` (the components of a bundle)."""
    if isinstance(entry, CombinedProcedure):
        return catalog.components_on(entry.code, day)
    return (entry,)


def procedure_page(catalog: Catalog, entry: CatalogEntry, day: date, lang: Lang) -> ProcedurePage:
    """The public page of a procedure or bundle in force on ``day``."""
    components = []
    for version in versions_of(catalog, entry, day):
        fees = [
            FeeLine(
                name_vi=fee.name_vi,
                amount=(
                    word(TEXT, "fee_computed", lang)
                    if fee.amount_vnd is None
                    else vnd(fee.amount_vnd) + (f"/{fee.per_vi}" if fee.per_vi else "")
                ),
            )
            for fee in version.fees
        ]
        components.append(
            Component(
                code=version.code,
                name_vi=version.name_vi,
                documents=[
                    DocumentLine(
                        name_vi=doc.name_vi,
                        copies=doc.copies,
                        form=word(DOCUMENT_FORMS, str(doc.form), lang),
                        optional=doc.optional,
                        template=doc.template,
                    )
                    for doc in version.required_documents
                ],
                fees=fees,
                steps=[
                    StepLine(
                        name_vi=step.name_vi,
                        agency_vi=catalog.agency(step.agency).name_vi,
                        kind=word(STEP_KINDS, str(step.kind), lang),
                        budget=time_limit(step.budget.amount, step.budget.unit, lang),
                    )
                    for step in version.topological_order()
                ],
                result_vi=version.result_document_vi,
            )
        )
    return ProcedurePage(
        **s.ProcedureHeading.fields_of(
            entry, time_limit(entry.limit.amount, entry.limit.unit, lang)
        ),
        legal_basis=list(entry.legal_basis),
        effective_from=entry.effective_from,
        components=components,
    )


# -- the tracking page's timeline ---------------------------------------------------------------


@dataclass
class TimelineStep:
    """A step of the dossier: done (when, how), open (due when) or still to come."""

    procedure_vi: str
    name_vi: str
    agency_vi: str
    state: str  # "done", "open", "waiting"
    at: datetime | None = None
    due: datetime | None = None
    overdue: bool = False
    result_vi: str = ""
    verdict_vi: str = ""


@dataclass
class Timeline:
    """The dossier's steps in the order of the plan, with their state."""

    steps: list[TimelineStep] = field(default_factory=list)


def agency_vi(catalog: Catalog, code: str) -> str:
    """An agency's Vietnamese name (or a party's, such as the applicant); the code if unknown."""
    try:
        return catalog.agency(code).name_vi
    except LookupError:
        return labels().parties.get(code, code)


def filed_entry(catalog: Catalog, view: s.TrackingView) -> CatalogEntry:
    """The procedure or bundle version the dossier was filed under (on its receipt day in Viet
    Nam, as reception pinned it)."""
    day = view.received_at.astimezone(VN_TZ).date()
    if catalog.is_combined(view.procedure_code):
        return catalog.combined_on(view.procedure_code, day)
    return catalog.version_on(view.procedure_code, day)


def timeline(catalog: Catalog, view: s.TrackingView) -> Timeline:
    """Every step of the dossier's procedures as the catalog pinned them at receipt.

    A step is done when form 05 has a row for it (the last row wins: a step sent back and done
    again shows its last outcome), open when the dossier holds it now, else still to come.
    """
    day = view.received_at.astimezone(VN_TZ).date()
    entry = filed_entry(catalog, view)
    done = {(row.procedure, row.step): row for row in view.handovers}
    opened = {step.key: step for step in view.open_steps}
    result = Timeline()
    for version in versions_of(catalog, entry, day):
        for step in version.topological_order():
            key = f"{version.code}:{step.id}"
            line = TimelineStep(
                procedure_vi=version.name_vi,
                name_vi=step.name_vi,
                agency_vi=agency_vi(catalog, step.agency),
                state="waiting",
            )
            if key in opened:
                current = opened[key]
                line.state, line.due, line.overdue = "open", current.due, current.overdue
            elif (version.code, step.id) in done:
                row = done[(version.code, step.id)]
                line.state, line.at = "done", row.at
                line.result_vi = labels().result(row.result)
                line.verdict_vi = labels().verdict(row.verdict)
            result.steps.append(line)
    return result
