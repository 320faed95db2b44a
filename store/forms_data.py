"""The official forms (all but the apology) built from the registry's read model.

Each loader reads the tables the dossier workflow keeps up to date (``dossiers``,
``procedure_runs``, ``dossier_steps``, ``handovers``, ``documents_issued``,
``documents_received``) and returns the form's model of `forms.official`, every field already
in Vietnamese: agencies by their catalog names, verdicts and statuses by the labels of
``forms/templates/form_labels_vi.yaml``, moments in Viet Nam's time zone.

Each form carries the edition of the dossier's receipt day (`forms.editions`: the 2018 or the
2025 numbers). Only forms addressed to the applicant (receipt, supplement request, refusal, stop
notice) read the applicant's name (``applicant_contacts``); the control slip and the register
name nobody.

Read-only: callers own the session. A dossier or a form that is not in the registry raises
`LookupError` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import default_provisional, provisional_between
from domain.catalog import Catalog, CombinedProcedure, ProcedureVersion
from domain.clock import VN_TZ
from engine.settings import Settings
from forms import official
from forms.editions import FormEdition, edition_on
from store.letters import get_contact
from store.models import (
    DocumentKind,
    DocumentRecord,
    DossierRecord,
    HandoverRecord,
    ProcedureRun,
    ReceivedDocument,
    StepRecord,
)

# The catalog's agency for the one-stop desk: the issuer of forms 01, 05 and 06.
ONE_STOP_AGENCY = "one-stop"


# -- conversions ---------------------------------------------------------------------------------


def _vn(moment: datetime) -> datetime:
    """A stored moment in Viet Nam's time zone (SQLite gives back naive UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VN_TZ)


def _vn_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _vn(moment)


def _agency_vi(catalog: Catalog, code: str) -> str:
    """An agency (or the applicant) by its Vietnamese name; an unknown code as it is."""
    party = official.labels().parties.get(code)
    if party is not None:
        return party
    try:
        return catalog.agency(code).name_vi
    except LookupError:
        return code


def _catalog_entry(
    catalog: Catalog, code: str, version: str, received: datetime
) -> ProcedureVersion | CombinedProcedure | None:
    """The catalog's version the dossier was pinned to (or, if that label is gone, the one in
    force on its receipt day); None when the catalog does not know the procedure."""
    entries: Sequence[ProcedureVersion | CombinedProcedure]
    try:
        if catalog.is_combined(code):
            entries = catalog.combined_versions(code)
        else:
            entries = catalog.versions(code)
    except LookupError:
        return None
    day = _vn(received).date()
    pinned = [entry for entry in entries if entry.version == version]
    in_force = [entry for entry in entries if entry.in_force_on(day)]
    found = pinned or in_force
    return found[0] if found else None


async def _dossier(session: AsyncSession, code: str) -> DossierRecord:
    row = await session.get(DossierRecord, code)
    if row is None:
        raise LookupError(f"no dossier {code!r} in the registry")
    return row


async def _runs(session: AsyncSession, code: str) -> list[ProcedureRun]:
    return list(
        (
            await session.execute(
                select(ProcedureRun)
                .where(ProcedureRun.dossier_code == code)
                .order_by(ProcedureRun.procedure_code)
            )
        ).scalars()
    )


def _dossier_name(dossier: DossierRecord, catalog: Catalog) -> str:
    if dossier.name_vi:
        return dossier.name_vi
    entry = _catalog_entry(
        catalog, dossier.procedure_code, dossier.procedure_version, dossier.received_at
    )
    return entry.name_vi if entry is not None else dossier.procedure_code


def _components(
    dossier: DossierRecord, runs: list[ProcedureRun], catalog: Catalog
) -> tuple[str, ...]:
    """The procedures of a combined dossier by name, in the bundle's order; empty otherwise."""
    if not runs or [run.procedure_code for run in runs] == [dossier.procedure_code]:
        return ()
    entry = _catalog_entry(
        catalog, dossier.procedure_code, dossier.procedure_version, dossier.received_at
    )
    order = list(entry.components) if isinstance(entry, CombinedProcedure) else []

    def position(run: ProcedureRun) -> tuple[int, str]:
        code = run.procedure_code
        return (order.index(code) if code in order else len(order), code)

    return tuple(run.name_vi for run in sorted(runs, key=position))


def _procedure_name(
    dossier: DossierRecord, runs: list[ProcedureRun], procedure_code: str, catalog: Catalog
) -> str:
    """One procedure of the dossier by name (the run's, else the catalog's, else the dossier's)."""
    for run in runs:
        if run.procedure_code == procedure_code and run.name_vi:
            return run.name_vi
    if procedure_code == dossier.procedure_code:
        return _dossier_name(dossier, catalog)
    try:
        return catalog.version_on(procedure_code, _vn(dossier.received_at).date()).name_vi
    except LookupError:
        return procedure_code


async def _step_names(session: AsyncSession, code: str) -> dict[str, str]:
    """The dossier's steps by key (``procedure:step``) → Vietnamese name."""
    rows = await session.execute(
        select(StepRecord.step_key, StepRecord.name_vi).where(StepRecord.dossier_code == code)
    )
    return {key: name for key, name in rows if name}


def _step_name(
    names: dict[str, str],
    dossier: DossierRecord,
    runs: list[ProcedureRun],
    procedure_code: str,
    step: str,
    catalog: Catalog,
) -> str:
    """A step by its Vietnamese name: the registry's, else the catalog's, else its id."""
    stored = names.get(f"{procedure_code}:{step}")
    if stored:
        return stored
    version = next((run.version for run in runs if run.procedure_code == procedure_code), None)
    try:
        versions = catalog.versions(procedure_code)
        pinned = [v for v in versions if v.version == version] or [
            catalog.version_on(procedure_code, _vn(dossier.received_at).date())
        ]
        return pinned[0].step(step).name_vi
    except LookupError:
        return step


async def _applicant_name(session: AsyncSession, code: str) -> str:
    contact = await get_contact(session, code)
    return contact.full_name if contact is not None else official.labels().no_contact


class _LetterHead(TypedDict):
    """What every dossier letter (forms 02, 03, 05) opens with: `official._DossierLetter`'s
    fields."""

    edition: FormEdition
    dossier_code: str
    sequence: int
    procedure_name_vi: str
    applicant_name_vi: str


async def _letter_head(
    session: AsyncSession,
    dossier: DossierRecord,
    row: DocumentRecord,
    runs: list[ProcedureRun],
    catalog: Catalog,
) -> _LetterHead:
    """The head of the letter ``row`` records: numbered by the row, in the edition of the
    dossier's receipt day, for the row's procedure."""
    return _LetterHead(
        edition=edition_on(_vn(dossier.received_at)),
        dossier_code=dossier.code,
        sequence=row.sequence,
        procedure_name_vi=_procedure_name(dossier, runs, row.procedure_code, catalog),
        applicant_name_vi=await _applicant_name(session, dossier.code),
    )


async def _document(
    session: AsyncSession, code: str, kind: DocumentKind, sequence: int | None, what: str
) -> DocumentRecord:
    """The dossier's document of this kind and number (None: the latest one)."""
    query = select(DocumentRecord).where(
        DocumentRecord.dossier_code == code, DocumentRecord.kind == kind.value
    )
    if sequence is not None:
        query = query.where(DocumentRecord.sequence == sequence)
    row = (
        await session.execute(query.order_by(DocumentRecord.sequence.desc()).limit(1))
    ).scalar_one_or_none()
    if row is None:
        number = "" if sequence is None else f" number {sequence}"
        raise LookupError(f"dossier {code} has no {what}{number}")
    return row


def _detail(row: DocumentRecord) -> dict[str, Any]:
    try:
        detail = json.loads(row.detail or "{}")
    except json.JSONDecodeError:
        detail = None
    if not isinstance(detail, dict):
        raise ValueError(
            f"dossier {row.dossier_code}: the detail of {row.kind} number {row.sequence} "
            "is not a JSON object"
        )
    return detail


async def _receipt_appointment(session: AsyncSession, code: str) -> datetime | None:
    """The appointment given at receipt, as the dossier's form 01 record holds it."""
    row = (
        await session.execute(
            select(DocumentRecord).where(
                DocumentRecord.dossier_code == code,
                DocumentRecord.kind == DocumentKind.RECEIPT.value,
                DocumentRecord.sequence == 1,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    given = _detail(row).get("appointment")
    try:
        return _vn(datetime.fromisoformat(given)) if isinstance(given, str) else None
    except ValueError:
        return None


# -- the loaders ---------------------------------------------------------------------------------


async def receipt_form(
    session: AsyncSession, code: str, settings: Settings, catalog: Catalog
) -> official.ReceiptForm:
    """Form 01: the receipt and appointment of a dossier.

    Lists the documents handed in with the dossier (not the later supplements), counted by
    name, and the component procedures of a combined dossier. The appointment is the one given
    at receipt (the dossier's form 01 record); when supplements or apology letters have moved
    it since, the form also gives the current one.

    Raises:
        LookupError: no such dossier.
    """
    dossier = await _dossier(session, code)
    runs = await _runs(session, code)
    received = await session.execute(
        select(ReceivedDocument.name_vi)
        .where(ReceivedDocument.dossier_code == code, ReceivedDocument.supplement.is_(False))
        .order_by(ReceivedDocument.sequence)
    )
    counts: dict[str, int] = {}
    for name in received.scalars():
        counts[name] = counts.get(name, 0) + 1
    entry = _catalog_entry(
        catalog, dossier.procedure_code, dossier.procedure_version, dossier.received_at
    )
    current = _vn(dossier.appointment_at)
    given = await _receipt_appointment(session, code) or current
    words = official.labels()
    provisional = provisional_between(
        default_provisional(), _vn(dossier.received_at).date(), max(given, current).date()
    )
    contact = await get_contact(session, code)
    return official.ReceiptForm(
        edition=edition_on(_vn(dossier.received_at)),
        dossier_code=dossier.code,
        desk_code=dossier.desk_code,
        desk_name_vi=_agency_vi(catalog, ONE_STOP_AGENCY),
        procedure_name_vi=_dossier_name(dossier, catalog),
        component_procedures_vi=_components(dossier, runs, catalog),
        applicant_name_vi=contact.full_name if contact is not None else words.no_contact,
        applicant_address_vi=contact.address if contact is not None else None,
        applicant_phone=contact.phone if contact is not None else None,
        applicant_email=contact.email if contact is not None else None,
        documents=tuple(official.ReceivedItem(name_vi=name, count=n) for name, n in counts.items()),
        time_limit_vi=(
            words.time_limit(entry.limit.amount, entry.limit.unit) if entry is not None else None
        ),
        received_at=_vn(dossier.received_at),
        appointment_at=given,
        current_appointment_at=current if current != given else None,
        return_method_vi=words.return_methods[
            "home_delivery" if entry is not None and entry.home_delivery else "desk"
        ],
        tracking_url=settings.tracking_url(dossier.code),
        place_vi=settings.letter_place_vi,
        calendar_notes_vi=tuple(period.reason for period in provisional),
    )


async def supplement_form(
    session: AsyncSession, code: str, sequence: int | None, catalog: Catalog, *, place_vi: str = ""
) -> official.SupplementForm:
    """Form 02: the dossier's supplement request number ``sequence`` (None: the latest).

    Raises:
        LookupError: no such dossier, or it has no such request.
        ValueError: the request's stored detail is not a JSON object.
    """
    dossier = await _dossier(session, code)
    row = await _document(
        session, code, DocumentKind.SUPPLEMENT_REQUEST, sequence, "supplement request (form 02)"
    )
    detail = _detail(row)
    requested_by = str(detail.get("requested_by") or row.agency or ONE_STOP_AGENCY)
    return official.SupplementForm(
        **await _letter_head(session, dossier, row, await _runs(session, code), catalog),
        agency_name_vi=_agency_vi(catalog, requested_by),
        missing_documents=tuple(str(item) for item in detail.get("missing_documents") or ()),
        reason_vi=row.summary_vi,
        issued_at=_vn(row.issued_at),
        place_vi=place_vi,
    )


async def refusal_form(
    session: AsyncSession, code: str, sequence: int | None, catalog: Catalog, *, place_vi: str = ""
) -> official.RefusalForm:
    """Form 03: the dossier's refusal number ``sequence`` (None: the latest).

    The reasons are the lines of the refusal's summary.

    Raises:
        LookupError: no such dossier, or it has no such refusal.
    """
    dossier = await _dossier(session, code)
    row = await _document(session, code, DocumentKind.REFUSAL, sequence, "refusal (form 03)")
    runs = await _runs(session, code)
    step_name = ""
    if row.step:
        step_name = _step_name(
            await _step_names(session, code), dossier, runs, row.procedure_code, row.step, catalog
        )
    reasons = tuple(line.strip() for line in row.summary_vi.splitlines() if line.strip())
    return official.RefusalForm(
        **await _letter_head(session, dossier, row, runs, catalog),
        agency_name_vi=_agency_vi(catalog, row.agency or ONE_STOP_AGENCY),
        step_name_vi=step_name,
        reasons_vi=reasons or (row.summary_vi,),
        issued_at=_vn(row.issued_at),
        place_vi=place_vi,
    )


async def stop_notice(
    session: AsyncSession, code: str, sequence: int | None, catalog: Catalog, *, place_vi: str = ""
) -> official.StopNotice:
    """Form 05 (Circular 03/2025): processing stopped because supplement request ``sequence``
    (None: the latest) was not answered in time.

    Raises:
        LookupError: no such dossier or request, or the request did not lapse.
        ValueError: the dossier was received under the 2018 forms, which have no such notice
            (their form 05 is the control slip).
    """
    dossier = await _dossier(session, code)
    edition = edition_on(_vn(dossier.received_at))
    if edition is not FormEdition.CIRCULAR_03_2025:
        raise ValueError(
            f"dossier {code} was received on {_vn(dossier.received_at):%d/%m/%Y}, under the "
            f"forms of Circular {edition}: they have no notice that processing stops (that "
            "is form 05 from 15/09/2025); its control slip is printed with form 06"
        )
    row = await _document(
        session, code, DocumentKind.SUPPLEMENT_REQUEST, sequence, "supplement request (form 02)"
    )
    detail = _detail(row)
    lapsed, answer_by = detail.get("lapsed_at"), detail.get("answer_by")
    if not isinstance(lapsed, str) or not isinstance(answer_by, str):
        raise LookupError(
            f"dossier {code}: supplement request {row.sequence} did not lapse, so processing "
            "was not stopped (form 05 is the notice that processing stops; the control slip "
            "is form 06)"
        )
    requested_by = str(detail.get("requested_by") or row.agency or ONE_STOP_AGENCY)
    return official.StopNotice(
        **await _letter_head(session, dossier, row, await _runs(session, code), catalog),
        agency_name_vi=_agency_vi(catalog, requested_by),
        missing_documents=tuple(str(item) for item in detail.get("missing_documents") or ()),
        requested_at=_vn(row.issued_at),
        answer_by=_vn(datetime.fromisoformat(answer_by)),
        stopped_at=_vn(datetime.fromisoformat(lapsed)),
        place_vi=place_vi,
    )


async def control_slip(session: AsyncSession, code: str, catalog: Catalog) -> official.ControlSlip:
    """Form 06 (05 under the 2018 forms): every hand-over of the dossier, in order, with its
    verdict.

    Raises:
        LookupError: no such dossier.
    """
    dossier = await _dossier(session, code)
    runs = await _runs(session, code)
    names = await _step_names(session, code)
    handovers = (
        await session.execute(
            select(HandoverRecord)
            .where(HandoverRecord.dossier_code == code)
            .order_by(HandoverRecord.sequence)
        )
    ).scalars()
    words = official.labels()
    rows = tuple(
        official.ControlRow(
            sequence=row.sequence,
            step_name_vi=_step_name(names, dossier, runs, row.procedure_code, row.step, catalog),
            from_agency_vi=_agency_vi(catalog, row.from_agency),
            to_agencies_vi=tuple(
                _agency_vi(catalog, agency.strip())
                for agency in row.to_agencies.split(",")
                if agency.strip()
            ),
            at=_vn(row.at),
            result_vi=words.result(row.result),
            due_at=_vn_or_none(row.due_at),
            verdict_vi=words.verdict(row.verdict),
            late_working_hours=max(row.late_working_hours, 0.0),
        )
        for row in handovers
    )
    return official.ControlSlip(
        edition=edition_on(_vn(dossier.received_at)),
        dossier_code=dossier.code,
        desk_name_vi=_agency_vi(catalog, ONE_STOP_AGENCY),
        procedure_name_vi=_dossier_name(dossier, catalog),
        component_procedures_vi=_components(dossier, runs, catalog),
        received_at=_vn(dossier.received_at),
        appointment_at=_vn(dossier.appointment_at),
        rows=rows,
    )


async def register(
    session: AsyncSession, desk: str, day_from: date, day_to: date, catalog: Catalog
) -> official.RegisterForm:
    """Form 07 (06 under the 2018 forms): the dossiers ``desk`` received from ``day_from`` to
    ``day_to`` (inclusive, days in Viet Nam), in order of receipt. No personal data.

    Raises:
        ValueError: ``day_to`` is before ``day_from``.
    """
    if day_to < day_from:
        raise ValueError(f"the register's last day {day_to} is before its first day {day_from}")
    start = datetime.combine(day_from, time(0), VN_TZ).astimezone(UTC)
    end = datetime.combine(day_to + timedelta(days=1), time(0), VN_TZ).astimezone(UTC)
    dossiers = (
        await session.execute(
            select(DossierRecord)
            .where(
                DossierRecord.desk_code == desk,
                DossierRecord.received_at >= start,
                DossierRecord.received_at < end,
            )
            .order_by(DossierRecord.received_at, DossierRecord.code)
        )
    ).scalars()
    words = official.labels()
    rows = tuple(
        official.RegisterRow(
            sequence=index,
            dossier_code=dossier.code,
            procedure_name_vi=_dossier_name(dossier, catalog),
            received_at=_vn(dossier.received_at),
            appointment_at=_vn(dossier.appointment_at),
            finished_at=_vn_or_none(dossier.finished_at),
            status_vi=words.status(dossier.status),
            verdict_vi=words.verdict(dossier.verdict),
        )
        for index, dossier in enumerate(dossiers, start=1)
    )
    return official.RegisterForm(
        edition=edition_on(day_to),  # the book in use on its last day
        desk_code=desk,
        desk_name_vi=_agency_vi(catalog, ONE_STOP_AGENCY),
        day_from=day_from,
        day_to=day_to,
        rows=rows,
    )
