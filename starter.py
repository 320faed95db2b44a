"""The operator's command line. ``python starter.py --help`` lists the commands.

Commands that only compute (``catalog``, ``due-date``) need neither Temporal nor a database.
Bad arguments exit 2 with one line saying what is wrong; an unreachable service exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from engine.settings import SettingsError

if TYPE_CHECKING:
    from domain.dossier import ParcelRef


class UsageError(Exception):
    """A bad argument; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block before the error; people asked for one line.
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _aware_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date-time (e.g. 2026-02-12T09:00+07:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time-zone offset; add one, e.g. {text}+07:00"
        )
    return moment


def _pause(text: str) -> tuple[datetime, datetime]:
    start_text, sep, end_text = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not a pause START/END")
    start, end = _aware_datetime(start_text), _aware_datetime(end_text)
    if end < start:
        raise argparse.ArgumentTypeError(f"the pause {text!r} ends before it starts")
    return start, end


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# ---- catalog ---------------------------------------------------------------------------------


def cmd_catalog_list(args: argparse.Namespace) -> int:
    """List the procedures in force on a day."""
    from domain.catalog import default_catalog

    catalog = default_catalog()
    day = args.on or date.today()
    rows: list[dict[str, Any]] = [
        {
            "code": entry.code,
            "version": entry.version,
            "name_vi": entry.name_vi,
            "limit": str(entry.limit),
            "combined": catalog.is_combined(entry.code),
        }
        for entry in catalog.list_in_force(day)
    ]
    if args.json:
        _print_json(rows)
        return 0
    width = max((len(row["code"]) for row in rows), default=4)
    for row in rows:
        kind = "liên thông" if row["combined"] else ""
        print(
            f"{row['code']:<{width}}  {row['version']:<8} {row['limit']:<18} {kind:<10} "
            f"{row['name_vi']}"
        )
    return 0


def cmd_catalog_show(args: argparse.Namespace) -> int:
    """Show one procedure (or combined bundle) as in force on a day."""
    from domain.catalog import default_catalog

    catalog = default_catalog()
    day = args.on or date.today()
    entry: Any = (
        catalog.combined_on(args.code, day)
        if catalog.is_combined(args.code)
        else catalog.version_on(args.code, day)
    )
    if args.json:
        _print_json(entry.model_dump(mode="json"))
        return 0
    print(f"{entry.code}@{entry.version}  {entry.name_vi}")
    print(f"  {entry.name_en}")
    print(
        f"  in force {entry.effective_from} .. {entry.effective_to or 'now'}; limit {entry.limit}"
    )
    print(f"  legal basis: {'; '.join(entry.legal_basis)}")
    if hasattr(entry, "steps"):
        for step in entry.topological_order():
            after = ", ".join(step.depends_on) or "-"
            counted = "" if step.counts_toward_limit else " (not counted)"
            print(
                f"  - {step.id:<26} {step.agency:<20} {step.kind:<17} {step.budget}"
                f"{counted}; after {after}"
            )
    else:
        print(f"  components: {', '.join(entry.components)}")
        for dependency in entry.cross_dependencies:
            print(f"  - {dependency}")
    return 0


def cmd_catalog_check(args: argparse.Namespace) -> int:
    """Validate every catalog file, print the coverage table and every [unverified] fact."""
    from domain.catalog_check import check_catalog

    report = check_catalog(on=args.on or date.today())
    if args.json:
        _print_json(report.as_json())
    else:
        print(report.text())
    return 0 if report.ok else 1


def cmd_exemption(args: argparse.Namespace) -> int:
    """Tell an applicant whether a planned house needs the procedure at all."""
    from domain.catalog import BuildingCase, default_catalog, exemption_answer_vi

    catalog = default_catalog()
    day = args.on or date.today()
    case = BuildingCase(
        floors=args.floors,
        floor_area_m2=args.floor_area,
        in_planned_urban_area=args.planned_urban_area,
    )
    found = catalog.exemption_on(args.procedure, day, case)
    if found is None:
        version = (
            catalog.components_on(args.procedure, day)[0]
            if catalog.is_combined(args.procedure)
            else catalog.version_on(args.procedure, day)
        )
        answer = {"exempt": False, "answer_vi": exemption_answer_vi(version, None)}
    else:
        version, rule = found
        answer = {
            "exempt": True,
            "answer_vi": exemption_answer_vi(version, rule),
            "exemption": rule.id,
            "legal_basis": rule.legal_basis,
        }
    answer = {"procedure": version.code, "version": version.version, **answer}
    if args.json:
        _print_json(answer)
    else:
        print(answer["answer_vi"])
    return 0


def cmd_catalog_poster(args: argparse.Namespace) -> int:
    """Write the desk's A4 poster: its procedures, each with a QR code to its public page."""
    from domain.catalog import default_catalog
    from engine.settings import get_settings
    from forms import FontNotFound
    from web.poster import poster_pdf

    if not re.fullmatch(r"[A-Z0-9.]{2,20}", args.desk):
        raise ValueError(f"--desk {args.desk!r}: a desk code is 2-20 characters of A-Z, 0-9, '.'")
    day = args.on or date.today()
    target = Path(args.out or f"{args.desk}-poster.pdf")
    try:
        base_url = get_settings().public_base_url
        pdf = poster_pdf(default_catalog(), day, args.desk, base_url, _pdf_font())
    except FontNotFound as exc:
        print(f"starter.py catalog poster: {exc}", file=sys.stderr)
        return 1
    target.write_bytes(pdf)
    print(target)
    return 0


# ---- due-date --------------------------------------------------------------------------------


def cmd_due_date(args: argparse.Namespace) -> int:
    """Compute the appointment and every step's due moment."""
    from domain.calendar import default_calendar, default_provisional
    from domain.catalog import default_catalog
    from domain.clock import LegalClock
    from domain.plan import plan_dossier

    def codes(plan: Any) -> set[str]:
        return {component.code for component in plan.components}

    catalog = default_catalog()
    plan = plan_dossier(
        catalog,
        LegalClock(default_calendar()),
        args.procedure,
        args.received,
        pauses=args.pause or (),
        provisional=default_provisional(),
    )
    day = plan.received_at.date()
    ending = [str(w) for w in catalog.ending_soon(day) if w.code in {plan.procedure, *codes(plan)}]
    if args.json:
        _print_json({**plan.model_dump(mode="json"), "warnings": ending})
        return 0
    print(f"{plan.procedure}@{plan.version}  {plan.name_vi}")
    print(f"  received      {plan.received_at.isoformat()}")
    print(f"  clock starts  {plan.clock_starts.isoformat()}")
    print(f"  appointment   {plan.appointment.isoformat()}")
    if plan.service_target is not None:
        print(
            f"  desk target   {plan.service_target.isoformat()}  (mục tiêu của Bộ phận Một cửa, "
            "không phải thời hạn luật định / the desk's own target, not the legal limit)"
        )
    for note in plan.calendar_notes_vi:
        print(f"  LỊCH TẠM THỜI / provisional calendar: {note}")
    for warning in ending:
        print(f"  {warning}")
    for step in plan.steps:
        counted = "" if step.counted else "  (not counted)"
        print(f"  - {step.key:<50} {step.agency:<20} due {step.due.isoformat()}{counted}")
    return 0


# ---- database and dossiers ---------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply the migrations to DATABASE_URL."""
    from engine.settings import get_settings, mask_url
    from store.migrate import upgrade

    url = get_settings().database_url
    head = upgrade(url)
    print(f"database {mask_url(url)} is at revision {head}")
    return 0


def _parcel(text: str) -> ParcelRef:
    from domain.dossier import ParcelRef

    commune, _, rest = text.partition("/")
    sheet, _, number = rest.partition("/")
    try:
        return ParcelRef(commune=commune, map_sheet=int(sheet), parcel_number=int(number))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a parcel COMMUNE/SHEET/NUMBER, e.g. phuong-lien/12/345"
        ) from None


async def cmd_submit(args: argparse.Namespace) -> int:
    """Receive a dossier and print its receipt."""
    from clients.dossiers import allocate_code, check_channel, start_dossier, wait_for_receipt
    from domain.catalog import default_catalog
    from domain.dossier import DossierFacts, SubmissionChannel, SubmittedDocument
    from engine.settings import get_settings
    from engine.temporal import connect

    settings = get_settings()
    received = args.received or datetime.now().astimezone()
    documents = list(args.document or [])
    if args.all_documents:
        catalog = default_catalog()
        day = received.date()
        versions = (
            catalog.components_on(args.procedure, day)
            if catalog.is_combined(args.procedure)
            else (catalog.version_on(args.procedure, day),)
        )
        documents += [d.name_vi for v in versions for d in v.required_documents if not d.optional]
    facts = DossierFacts(
        parcel=args.parcel,
        documents=[SubmittedDocument(name_vi=name) for name in dict.fromkeys(documents)],
        # The desk's command line is the counter, unless an officer files online for the
        # applicant (an online-only procedure), which the dossier records.
        channel=SubmissionChannel.ONLINE
        if args.online_for_applicant
        else SubmissionChannel.COUNTER,
        filed_online_by=args.online_for_applicant,
    )
    check_channel(default_catalog(), args.procedure, received, facts)  # before a code is used
    client = await connect(args.address)
    code = await allocate_code(settings.database_url, settings.desk_code, received)
    held = await _hold_for_fee(settings.database_url, code, args.procedure, received, facts)
    if held is not None:
        print(held)
        return 0
    handle = await start_dossier(
        client,
        code=code,
        desk_code=settings.desk_code,
        procedure_code=args.procedure,
        received_at=received,
        facts=facts,
    )
    receipt = await wait_for_receipt(handle)
    assert receipt.appointment is not None
    print(f"dossier {code} {receipt.status}; appointment {receipt.appointment.isoformat()}")
    return 0


async def cmd_track(args: argparse.Namespace) -> int:
    """Print a dossier's tracking state."""
    from engine.temporal import connect
    from workflows.dossier import DossierWorkflow

    client = await connect(args.address)
    state = await client.get_workflow_handle(args.code).query(DossierWorkflow.tracking)
    if args.json:
        _print_json(state.model_dump(mode="json"))
        return 0
    print(f"{state.dossier_code}  {state.procedure_code}  status {state.status}")
    if state.appointment:
        print(f"  appointment {state.appointment.isoformat()}")
    for step in state.open_steps:
        due = step.due.isoformat() if step.due else "clock paused"
        flag = "  OVERDUE" if step.overdue else ""
        print(f"  open  {step.key:<48} {step.agency:<20} due {due}{flag}")
    for row in state.ledger:
        verdict = row.verdict or ""
        print(
            f"  {row.sequence:>3}. {row.at:%Y-%m-%d %H:%M} {row.from_agency} -> "
            f"{', '.join(row.to_agencies)}: {row.procedure}:{row.step} {row.result} {verdict}"
        )
    return 0


async def cmd_decide(args: argparse.Namespace) -> int:
    """An officer's decision on an open step."""
    from temporalio.client import WorkflowUpdateFailedError

    from clients.dossiers import update_dossier
    from engine.temporal import connect
    from workflows.dossier import DecisionAction, DecisionInput, DossierWorkflow

    client = await connect(args.address)
    decision = DecisionInput(
        step=args.step,
        agency=args.agency,
        officer_id=args.officer,
        action=DecisionAction(args.action),
        reason=args.reason or "",
        missing_documents=args.missing or [],
        send_back_to=args.to,
    )
    try:
        result = await update_dossier(
            client.get_workflow_handle(args.code), DossierWorkflow.decide, decision
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        print(f"starter.py decide: refused: {getattr(cause, 'message', cause)}", file=sys.stderr)
        return 2
    print(f"{args.code}: {result.action} on {result.step}; dossier {result.status}")
    return 0


# ---- calendar ------------------------------------------------------------------------------------


async def cmd_calendar_amend(args: argparse.Namespace) -> int:
    """Record a calendar amendment and tell the open dossiers it touches."""
    from datetime import timedelta

    from domain.calendar import OVERRIDES_FILE, load_amendment, record_amendment
    from domain.dossier import CalendarAmendmentInput
    from domain.dossier_core import CALENDAR_HORIZON
    from engine.temporal import connect
    from workflows.dossier import DossierWorkflow

    amendment = load_amendment(args.file)
    target = args.overrides or OVERRIDES_FILE
    if args.dry_run:
        print(f"{args.file}: {len(amendment.overrides)} day(s), valid; nothing recorded")
        return 0
    changed = record_amendment(target, amendment)
    days = ", ".join(f"{o.day.isoformat()} {o.kind}" for o in changed) or "none (already there)"
    print(f"recorded in {target}: {days}")
    # Every open dossier whose calendar snapshot reaches the amended days; telling one whose
    # calendar already has them changes nothing, so a second run after a failure is safe.
    earliest = min(o.day for o in amendment.overrides) - CALENDAR_HORIZON - timedelta(days=1)
    query = (
        "WorkflowType = 'DossierWorkflow' AND ExecutionStatus = 'Running' "
        f"AND StartTime >= '{earliest.isoformat()}T00:00:00Z'"
    )
    client = await connect(args.address)
    signal = CalendarAmendmentInput(
        announced_by=amendment.announced_by, overrides=amendment.overrides
    )
    told = 0
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=None)
        await handle.signal(DossierWorkflow.calendar_amended, signal)
        told += 1
    print(f"told {told} open dossier(s); each re-plans its due moments and appointment")
    return 0


# ---- reports -------------------------------------------------------------------------------------

REPORT_GROUPINGS = ("month", "agency", "procedure", "desk")  # store.reports.ReportBy
REPORT_FORMATS = ("table", "csv", "json")  # store.reports.ReportFormat
PRINTABLE_REPORT_FORMATS = ("html", "pdf")  # the Vietnamese document of web.report


def cmd_report(args: argparse.Namespace) -> int:
    """Print the on-time report of a period (one SQL query; aggregates only, no personal data)."""
    from sqlalchemy.exc import DBAPIError

    from domain.catalog import default_catalog
    from engine.settings import get_settings, mask_url, normalise_database_url
    from store.db import StoreUnavailable, check_connection, sync_engine
    from store.reports import format_report, report_input, run_report

    params = report_input(
        args.start,
        args.end,
        catalog=default_catalog(),
        desk=args.desk,
        agency=args.agency,
        procedure=args.procedure,
        by=args.by,
    )
    url = normalise_database_url(args.database_url or get_settings().database_url)
    check_connection(url)
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            result = run_report(connection, params)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise StoreUnavailable(
            f"the report failed on {mask_url(url)}: {reason} (migrated? starter.py db upgrade)"
        ) from None
    finally:
        engine.dispose()
    if args.format in PRINTABLE_REPORT_FORMATS:
        return _write_printable_report(args, result)
    sys.stdout.write(format_report(result, args.format))
    return 0


# ---- portal ----------------------------------------------------------------------------------


async def _portal_sessions(args: argparse.Namespace) -> Any:
    from engine.settings import get_settings, normalise_database_url
    from store.db import async_engine, check_connection

    url = normalise_database_url(args.database_url or get_settings().database_url)
    check_connection(url)
    return async_engine(url)


async def _outside_status(args: argparse.Namespace) -> int:
    from datetime import UTC

    from store import outbox
    from store.db import session_factory

    engine = await _portal_sessions(args)
    try:
        async with session_factory(engine)() as session:
            backlogs = {
                system: await outbox.backlog(session, model)
                for system, model in outbox.OUTBOXES.items()
            }
    finally:
        await engine.dispose()
    now = datetime.now(UTC)
    if args.json:
        _print_json(
            {
                system: {
                    "waiting": b.waiting,
                    "oldest_since": b.oldest_since.isoformat() if b.oldest_since else None,
                    "oldest_age_seconds": age.total_seconds()
                    if (age := b.oldest_age(now))
                    else None,
                    "last_error": b.last_error,
                }
                for system, b in backlogs.items()
            }
        )
        return 0
    for system, b in backlogs.items():
        line = f"{system:<8} waiting {b.waiting:>6}"
        if b.oldest_since is not None:
            line += f"  oldest {b.oldest_since:%Y-%m-%d %H:%M} UTC ({b.oldest_age(now)} ago)"
        print(line)
        if b.last_error:
            print(f"         last error: {b.last_error}")
    return 0


def cmd_outside_status(args: argparse.Namespace) -> int:
    """How many messages still wait for each outside system, and why."""
    return asyncio.run(_outside_status(args))


async def cmd_portal_reconcile(args: argparse.Namespace) -> int:
    """Compare the registry with what the portal acknowledged on a day; re-send the difference."""
    from activities.portal import SimulatedPortal, reconcile
    from store.db import session_factory

    engine = await _portal_sessions(args)
    try:
        sessions = session_factory(engine)
        # The simulated portal is the only adapter so far; a real one is chosen here.
        report = await reconcile(sessions, SimulatedPortal(sessions), args.date)
    finally:
        await engine.dispose()
    if args.json:
        _print_json(report.model_dump(mode="json"))
    else:
        print(
            f"{report.day}: {report.compared} dossiers compared, "
            f"{len(report.mismatches)} differ from the portal"
        )
        for m in report.mismatches:
            theirs = "unknown to the portal" if m.portal_code is None else f"portal {m.portal_code}"
            action = "re-send queued" if m.queued else "a report is already waiting"
            print(f"  {m.dossier_code:<28} registry {m.registry_code:>2}  {theirs:<22} {action}")
    if any(m.queued for m in report.mismatches) and not args.no_nudge:
        await _nudge_relay(args.address)
    return 0


async def _nudge_relay(address: str | None) -> None:
    from engine.temporal import connect
    from workflows.relay import OutboxRelayWorkflow, relay_id

    try:
        client = await connect(address)
        await client.get_workflow_handle(relay_id("portal")).signal(OutboxRelayWorkflow.nudge)
        print("the portal relay was asked to send them now")
    except Exception as exc:
        print(f"the relay could not be reached ({exc}); it sends them at its next round")


async def _outside_relays(args: argparse.Namespace) -> int:
    from clients.dossiers import ensure_relay
    from engine.names import OUTSIDE_SYSTEMS
    from engine.temporal import connect

    client = await connect(args.address)
    for system in OUTSIDE_SYSTEMS:
        run_id = await ensure_relay(client, system)
        print(f"{system}-relay running (run {run_id})")
    return 0


def cmd_outside_relays(args: argparse.Namespace) -> int:
    """Start each outside system's relay unless it runs already."""
    return asyncio.run(_outside_relays(args))


async def _fees_receipt_rows(args: argparse.Namespace) -> list[Any]:
    from store import receipts
    from store.db import session_factory

    engine = await _portal_sessions(args)
    try:
        async with session_factory(engine)() as session:
            return await receipts.of_dossier(session, args.code)
    finally:
        await engine.dispose()


def cmd_fees_receipts(args: argparse.Namespace) -> int:
    """Write a dossier's electronic receipts (HTML and PDF) to print them."""
    from domain.catalog import default_catalog
    from forms.receipt import receipt_pdf, reference

    rows = asyncio.run(_fees_receipt_rows(args))
    if not rows:
        print(f"starter.py fees receipts: no receipt for {args.code}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    font, desk = _pdf_font(), default_catalog().agency("one-stop").name_vi
    for row in rows:
        name = reference(row.template_no, row.symbol, row.number)
        stem = out / f"{row.dossier_code}-{row.kind}-{row.number:07d}"
        stem.with_suffix(".html").write_text(row.html, encoding="utf-8")
        pdf = receipt_pdf(row.html, reference=name, issued_at=row.issued_at, author=desk, font=font)
        stem.with_suffix(".pdf").write_bytes(pdf)
        print(f"{row.kind:<8} {name}  {row.amount_vnd:>10,} đ  {stem}.pdf")
    return 0


async def _hold_for_fee(
    database_url: str, code: str, procedure: str, received: datetime, facts: Any
) -> str | None:
    """Record the fee of a dossier filed at the desk; when it blocks the clock, what to tell
    the officer instead of starting the dossier (its desk payment starts it)."""
    from domain.catalog import default_catalog
    from forms.receipt import vnd
    from store import receipts
    from store.db import async_engine, session_factory

    engine = async_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            fee = await receipts.hold_at_desk(
                session,
                default_catalog(),
                dossier_code=code,
                procedure_code=procedure,
                received_at=received,
                facts=facts.model_dump_json(),
            )
            await session.commit()
    finally:
        await engine.dispose()
    if fee is None or not fee.held:
        return None
    return (
        f"dossier {code} held until its fee is paid: {fee.fee_name_vi}, {vnd(fee.amount_vnd)} đ;"
        f" it is received when paid: starter.py fees pay {code}"
    )


async def fees_desk_payment(
    api: str, token: str, code: str, http: Any = None
) -> tuple[int, dict[str, Any]]:
    """Record, through the API, a dossier's fee paid in cash at the one-stop desk: the HTTP
    status and the answer (the fee with its receipt)."""
    import httpx

    client = http or httpx.AsyncClient(base_url=api, timeout=30.0)
    try:
        response = await client.post(
            f"/api/v1/agencies/one-stop/fees/{code}/desk-payment",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        if http is None:
            await client.aclose()
    return response.status_code, response.json()


def _desk_answer(
    command: str,
    token: str,
    role_help: str,
    call: Callable[[str], Coroutine[Any, Any, tuple[int, dict[str, Any]]]],
) -> int:
    """Run an officer's request to the API with ``token`` (or LIENTHONG_OFFICER_TOKEN) and
    print its answer; exit 2 without a token, 1 when the API refuses."""
    import os

    token = token or os.environ.get("LIENTHONG_OFFICER_TOKEN", "")
    if not token:
        print(
            f"starter.py {command}: error: give --token or LIENTHONG_OFFICER_TOKEN ({role_help})",
            file=sys.stderr,
        )
        return 2
    status, answer = asyncio.run(call(token))
    if status != 200:
        detail = answer.get("detail", answer)
        print(f"starter.py {command}: error {status}: {detail}", file=sys.stderr)
        return 1
    _print_json(answer)
    return 0


def cmd_fees_pay(args: argparse.Namespace) -> int:
    """Record a fee paid in cash at the desk; a dossier held for it starts, received now."""
    return _desk_answer(
        "fees pay",
        args.token,
        "an officer's token: python -m api issue-token --agency one-stop --officer ID",
        lambda token: fees_desk_payment(args.api, token, args.code),
    )


async def fees_refund(
    api: str, token: str, code: str, reason: str, http: Any = None
) -> tuple[int, dict[str, Any]]:
    """Ask the API (which holds the payment provider) to refund a dossier's fee, as the head of
    the one-stop desk: the HTTP status and the answer."""
    import httpx

    client = http or httpx.AsyncClient(base_url=api, timeout=30.0)
    try:
        response = await client.post(
            f"/api/v1/agencies/one-stop/fees/{code}/refund",
            json={"reason": reason},
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        if http is None:
            await client.aclose()
    return response.status_code, response.json()


def cmd_fees_refund(args: argparse.Namespace) -> int:
    """Refund the fee of a dossier refused for the agency's fault (the head's act)."""
    return _desk_answer(
        "fees refund",
        args.token,
        "a head's token: python -m api issue-token --agency one-stop --officer ID --role head",
        lambda token: fees_refund(args.api, token, args.code, args.reason),
    )


def _write_printable_report(args: argparse.Namespace, result: Any) -> int:
    """The report as the printable Vietnamese document (web/report.py), HTML or PDF."""
    from datetime import datetime

    from domain.catalog import default_catalog
    from domain.clock import VN_TZ
    from engine.settings import get_settings
    from web.report import report_html, report_pdf, vietnamese_report

    catalog = default_catalog()
    document = vietnamese_report(result, catalog)
    issuer = catalog.agency("one-stop").name_vi
    output = Path(
        args.output or f"on-time-report-{result.params.start}-{result.params.end}.{args.format}"
    )
    if args.format == "html":
        output.write_text(report_html(document, issuer_vi=issuer), encoding="utf-8")
    else:
        created = datetime.combine(result.params.end, datetime.min.time(), VN_TZ)
        output.write_bytes(
            report_pdf(
                document, issuer_vi=issuer, created=created, font_path=get_settings().pdf_font
            )
        )
    print(f"wrote {output}")
    return 0


# ---- simulate ------------------------------------------------------------------------------------


def _simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from sim.cli import add_arguments

    add_arguments(parser)


def _plan_staff_arguments(parser: argparse.ArgumentParser) -> None:
    from sim.staffing import add_arguments

    add_arguments(parser)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a scenario or a district profile on the core engine or Temporal (sim/)."""
    from sim.cli import run

    return run(args)


def cmd_plan_staff(args: argparse.Namespace) -> int:
    """The staffing planner over a district profile (sim/staffing.py)."""
    from sim.staffing import run

    return run(args)


# ---- official forms (Circular 03/2025 numbers: 01, 02, 03, 05 stop notice, 06 slip, 07 register) -

# The numbers the command line takes are those of Circular 03/2025/TT-VPCP (forms.editions); a
# dossier received before 15/9/2025 prints its form with the 2018 number (its slip is "05").
FORM_NUMBERS = ("01", "02", "03", "05", "06")


async def _read_form(args: argparse.Namespace) -> Any:
    """Build the asked form from the registry at DATABASE_URL (read-only)."""
    from sqlalchemy.exc import DBAPIError

    from domain.catalog import default_catalog
    from engine.settings import get_settings, mask_url
    from store import forms_data
    from store.db import StoreUnavailable, async_engine, check_connection, session_factory

    settings = get_settings()
    catalog = default_catalog()
    check_connection(settings.database_url)
    engine = async_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            if args.command == "register":
                return await forms_data.register(session, args.desk, args.start, args.end, catalog)
            if args.number == "01":
                return await forms_data.receipt_form(session, args.code, settings, catalog)
            if args.number == "02":
                return await forms_data.supplement_form(
                    session, args.code, args.sequence, catalog, place_vi=settings.letter_place_vi
                )
            if args.number == "03":
                return await forms_data.refusal_form(
                    session, args.code, args.sequence, catalog, place_vi=settings.letter_place_vi
                )
            if args.number == "05":
                return await forms_data.stop_notice(
                    session, args.code, args.sequence, catalog, place_vi=settings.letter_place_vi
                )
            return await forms_data.control_slip(session, args.code, catalog)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise StoreUnavailable(
            f"reading {mask_url(settings.database_url)} failed: {reason} "
            "(migrated? starter.py db upgrade)"
        ) from None
    finally:
        await engine.dispose()


def _pdf_font() -> Any:
    from engine.settings import get_settings
    from forms import find_font

    return find_font(get_settings().pdf_font)


def cmd_form(args: argparse.Namespace) -> int:
    """Write form 01, 02, 03, 05 or 06 of a dossier as HTML and/or PDF; print the paths."""
    from pathlib import Path

    from forms import FontNotFound, render_html, render_pdf

    if args.sequence is not None and args.number not in ("02", "03", "05"):
        raise ValueError(f"--sequence is for forms 02, 03 and 05, not form {args.number}")
    form = asyncio.run(_read_form(args))
    wanted = [
        (path, kind)
        for path, kind in ((args.html, "html"), (args.pdf, "pdf"))
        if path is not None or (args.html is None and args.pdf is None)
    ]
    for path, kind in wanted:
        target = Path(path or f"{args.code}-form-{form.number}.{kind}")
        if kind == "html":
            target.write_text(render_html(form), encoding="utf-8")
        else:
            try:
                target.write_bytes(render_pdf(form, _pdf_font()))
            except FontNotFound as exc:
                print(f"starter.py form: {exc}", file=sys.stderr)
                return 1
        print(target)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Write the register (form 07; 06 before 15/9/2025) of a desk as HTML, PDF or CSV."""
    from pathlib import Path

    from forms import FontNotFound, render_html, render_pdf, render_register_csv

    if args.end < args.start:
        raise ValueError(f"--to {args.end} is before --from {args.start}")
    register = asyncio.run(_read_form(args))
    if args.format == "pdf":
        try:
            data = render_pdf(register, _pdf_font())
        except FontNotFound as exc:
            print(f"starter.py register: {exc}", file=sys.stderr)
            return 1
    elif args.format == "csv":
        data = render_register_csv(register).encode("utf-8")
    else:
        data = render_html(register).encode("utf-8")
    if args.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        return 0
    target = Path(args.output or f"{register.reference}.{args.format}")
    target.write_bytes(data)
    print(target)
    return 0


# ---- the parser --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument of a command: what `argparse.ArgumentParser.add_argument` takes."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def _arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class Group:
    """A command that only holds others (``catalog``, ``db``, ...)."""

    name: str
    help: str
    description: str


@dataclass(frozen=True)
class Command:
    """One command: its group (if any), its name, what runs it and its arguments.

    A handler returns the exit status, or a coroutine that `main` runs to get it.
    """

    group: Group | None
    name: str
    handler: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]]
    help: str
    description: str | None = None
    args: tuple[Arg, ...] = ()
    more_args: Callable[[argparse.ArgumentParser], None] | None = None  # a module's own set


# Arguments several commands take, worded once.
_JSON = _arg("--json", action="store_true", help="print JSON")
_ON = _arg("--on", type=_day, help="the day (default: today)")
_TEMPORAL = _arg("--address", help="Temporal host:port (default: TEMPORAL_ADDRESS)")
_FRONTEND = _arg("--address", help="Temporal frontend (default: TEMPORAL_ADDRESS)")
_DATABASE_URL = _arg("--database-url", metavar="URL", help="default: DATABASE_URL")
_PROCEDURE = _arg("--procedure", required=True, help="procedure or combined code")
_DOSSIER_CODE = _arg("code", help="dossier code, e.g. DONGDA-261130-0001")
_FEE_DOSSIER = _arg("code", help="the dossier code")
_FEE_API = _arg("--api", default="http://127.0.0.1:8080", help="the API's base URL")


def _token(whose: str) -> Arg:
    """The officer's token of a fees command that calls the API (``whose``: who must hold it)."""
    return _arg("--token", help=f"{whose} token (default: LIENTHONG_OFFICER_TOKEN)")


_FROM = _arg(
    "--from", dest="start", required=True, type=_day, metavar="YYYY-MM-DD", help="first day"
)
_TO = _arg(
    "--to", dest="end", required=True, type=_day, metavar="YYYY-MM-DD", help="last day (incl.)"
)

_CATALOG = Group("catalog", "list or show catalogued procedures", "The procedure catalog.")
_CALENDAR = Group(
    "calendar", "the working calendar", "Days off and worked days the government announces."
)
_DB = Group("db", "database maintenance", "The registry.")
_OUTSIDE = Group(
    "outside",
    "outside systems (national portal, SMS): backlogs and their relays",
    "Messages owed to outside systems (docs/integrations.md).",
)
_PORTAL = Group(
    "portal",
    "the national public-service portal: compare a day with it, re-send the difference",
    "Status reports to the national portal (docs/integrations.md).",
)
_FEES = Group(
    "fees",
    "fees at receipt: a dossier's electronic receipts, a desk payment, a refund",
    "Fees and electronic receipts (docs/integrations.md).",
)

# In the order --help lists them; a group is listed where its first command is.
COMMANDS: tuple[Command, ...] = (
    Command(
        _CATALOG,
        "list",
        cmd_catalog_list,
        "procedures in force on a day",
        args=(_ON, _JSON),
    ),
    Command(
        _CATALOG,
        "show",
        cmd_catalog_show,
        "one procedure with its steps",
        args=(
            _arg("code", help="procedure or combined code, e.g. land-first-certificate"),
            _arg("--on", type=_day, help="the day whose version to show (default: today)"),
            _JSON,
        ),
    ),
    Command(
        _CATALOG,
        "check",
        cmd_catalog_check,
        "validate every file; coverage table; every [unverified] fact",
        "Load and validate the whole catalog and the calendar overrides, print a coverage table "
        "and list every fact marked [unverified] with its file and line. Exit 1 when a file "
        "breaks a rule.",
        args=(
            _arg("--on", type=_day, help="the day for coverage and warnings (default: today)"),
            _JSON,
        ),
    ),
    Command(
        None,
        "exemption",
        cmd_exemption,
        "does a planned house need a building permit at all?",
        "Answer from the catalog's exemptions (Construction Law 2025 from 2026-07-01) instead of "
        "opening a dossier.",
        args=(
            _arg("--procedure", default="house-building-permit", help="procedure code"),
            _arg("--floors", type=int, required=True, help="storeys above ground"),
            _arg("--floor-area", type=float, required=True, help="total floor area, m²"),
            _arg(
                "--planned-urban-area",
                action="store_true",
                help="the plot lies in an area with an approved urban plan",
            ),
            _ON,
            _JSON,
        ),
    ),
    Command(
        _CATALOG,
        "poster",
        cmd_catalog_poster,
        "the desk's A4 poster: procedures with QR codes to their pages",
        args=(
            _arg("--desk", required=True, help="the desk's code, e.g. DONGDA"),
            _arg("--on", type=_day, help="the day whose procedures to list (default: today)"),
            _arg("--out", help="the PDF to write (default: DESK-poster.pdf)"),
        ),
    ),
    Command(
        None,
        "due-date",
        cmd_due_date,
        "appointment and step due moments for a receipt",
        "Apply the legal clock: working days, holidays, office hours, pauses.",
        args=(
            _PROCEDURE,
            _arg(
                "--received",
                required=True,
                type=_aware_datetime,
                help="receipt moment with offset, e.g. 2026-02-12T09:00+07:00",
            ),
            _arg(
                "--pause",
                action="append",
                type=_pause,
                metavar="START/END",
                help="a period the clock stops (supplement), ISO/ISO; repeatable",
            ),
            _arg("--json", action="store_true", help="print one JSON object"),
        ),
    ),
    Command(
        _CALENDAR,
        "amend",
        cmd_calendar_amend,
        "record an amendment and re-plan the open dossiers it touches",
        "Record the amendment in the calendar override file, then signal every open dossier "
        "whose calendar reaches the amended days: each re-plans its due moments and "
        "appointment, and tells the applicant if the appointment moved (no apology).",
        args=(
            _arg(
                "--file",
                required=True,
                type=Path,
                help="YAML: announced_by, note, overrides (day, kind, reason, source)",
            ),
            _arg("--overrides", type=Path, help="the override file (default: the shipped one)"),
            _arg("--dry-run", action="store_true", help="validate the file only"),
            _arg("--address", help="Temporal frontend host:port (default: TEMPORAL_ADDRESS)"),
        ),
    ),
    Command(_DB, "upgrade", cmd_db_upgrade, "apply migrations to DATABASE_URL"),
    Command(
        None,
        "submit",
        cmd_submit,
        "receive a dossier and print its receipt",
        "Allocate a dossier code, start its workflow and print the receipt.",
        args=(
            _PROCEDURE,
            _arg("--received", type=_aware_datetime, help="receipt moment (default: now)"),
            _arg("--parcel", type=_parcel, help="land parcel COMMUNE/SHEET/NUMBER"),
            _arg(
                "--document",
                action="append",
                metavar="NAME",
                help="a document handed in (repeatable)",
            ),
            _arg("--all-documents", action="store_true", help="hand in every required document"),
            _arg(
                "--online-for-applicant",
                metavar="OFFICER",
                help="file through the online channel on the applicant's behalf (required for "
                "an online-only procedure; the officer's id is recorded in the audit log)",
            ),
            _TEMPORAL,
        ),
    ),
    Command(
        None,
        "track",
        cmd_track,
        "a dossier's status, open steps and hand-over ledger (form 06)",
        args=(_DOSSIER_CODE, _JSON, _TEMPORAL),
    ),
    Command(
        None,
        "decide",
        cmd_decide,
        "an officer's decision on an open step",
        "Approve, request a supplement, refuse, or send back an open step.",
        args=(
            _arg("code", help="dossier code"),
            _arg("step", help="the open step, PROCEDURE:STEP"),
            _arg("action", choices=["approve", "request_supplement", "refuse", "send_back"]),
            _arg("--agency", required=True, help="the officer's agency code"),
            _arg("--officer", required=True, help="the officer's id"),
            _arg("--reason", help="required to refuse or send back"),
            _arg("--missing", action="append", metavar="DOCUMENT", help="for a supplement"),
            _arg("--to", metavar="PROCEDURE:STEP", help="for send_back: the earlier step"),
            _TEMPORAL,
        ),
    ),
    Command(
        None,
        "form",
        cmd_form,
        "a dossier's form 01, 02, 03, 05 or 06 as HTML and PDF, from the registry",
        "Render an official form of a dossier from DATABASE_URL, numbered as in Circular "
        "03/2025/TT-VPCP; a dossier received before 15/09/2025 gets the 2018 form (its control "
        "slip is numbered 05 there). Without --html or --pdf, writes CODE-form-NN.html and "
        "CODE-form-NN.pdf here; prints the paths.",
        args=(
            _arg(
                "number",
                choices=FORM_NUMBERS,
                help="01 receipt, 02 supplement request, 03 "
                "refusal, 05 notice that processing stops, 06 process-control slip",
            ),
            _DOSSIER_CODE,
            _arg("--sequence", type=int, help="which request/refusal (02, 03, 05; default: last)"),
            _arg("--html", metavar="FILE", help="write the HTML page to FILE"),
            _arg("--pdf", metavar="FILE", help="write the PDF to FILE"),
        ),
    ),
    Command(
        None,
        "register",
        cmd_register,
        "the register of a desk (form 07) over a range of days, as HTML, PDF or CSV",
        "Every dossier the desk received from --from to --to (Vietnam days, inclusive); no "
        "personal data. Writes DESK-register-FROM-TO.FORMAT unless --output.",
        args=(
            _arg("--desk", required=True, help="one-stop desk code, e.g. DONGDA"),
            _FROM,
            _TO,
            _arg("--format", choices=("html", "pdf", "csv"), default="html"),
            _arg("--output", metavar="FILE", help="where to write; - for stdout"),
        ),
    ),
    Command(
        None,
        "report",
        cmd_report,
        "on-time report: received, decided early/on time/late, apologies, working time",
        "Dossiers (or, with --by agency or --agency, agency steps) of a period of Vietnam-time "
        "days; a totals row ends the table. See docs/reports.md.",
        args=(
            _FROM,
            _TO,
            _arg("--desk", help="only dossiers of this one-stop desk, e.g. DONGDA"),
            _arg("--agency", help="only this agency's steps and letters (agency level)"),
            _arg("--procedure", help="only this procedure or combined code"),
            _arg("--by", choices=REPORT_GROUPINGS, help="one row per month, agency, ..."),
            _arg(
                "--format",
                choices=REPORT_FORMATS + PRINTABLE_REPORT_FORMATS,
                default="table",
                help="default: table; html and pdf write the printable Vietnamese report",
            ),
            _arg(
                "--output",
                metavar="FILE",
                help="html/pdf: where to write (default on-time-report-...)",
            ),
            _DATABASE_URL,
        ),
    ),
    Command(
        _OUTSIDE,
        "status",
        cmd_outside_status,
        "what still waits, and why",
        args=(_arg("--json", action="store_true"), _DATABASE_URL),
    ),
    Command(
        _OUTSIDE,
        "relays",
        cmd_outside_relays,
        "start the relays unless they run",
        args=(_FRONTEND,),
    ),
    Command(
        _PORTAL,
        "reconcile",
        cmd_portal_reconcile,
        "compare the registry with the portal for a day; re-send the difference",
        args=(
            _arg(
                "--date",
                required=True,
                type=_day,
                metavar="YYYY-MM-DD",
                help="Vietnam calendar day",
            ),
            _arg("--json", action="store_true"),
            _arg("--no-nudge", action="store_true", help="do not ask the relay to send at once"),
            _DATABASE_URL,
            _FRONTEND,
        ),
    ),
    Command(
        _FEES,
        "receipts",
        cmd_fees_receipts,
        "write the receipts as HTML and PDF",
        args=(
            _FEE_DOSSIER,
            _arg("--out", default="receipts", help="directory (default: receipts)"),
            _DATABASE_URL,
        ),
    ),
    Command(
        _FEES,
        "pay",
        cmd_fees_pay,
        "record the fee paid in cash at the desk; a held dossier starts (officer)",
        args=(_FEE_DOSSIER, _FEE_API, _token("an officer's")),
    ),
    Command(
        _FEES,
        "refund",
        cmd_fees_refund,
        "refund the fee of a dossier refused for the agency's fault (head)",
        args=(
            _FEE_DOSSIER,
            _arg("--reason", required=True, help="why (printed on the refund document)"),
            _FEE_API,
            _token("a head's"),
        ),
    ),
    Command(
        None,
        "simulate",
        cmd_simulate,
        "run a scenario or a district profile (the dossier core, or Temporal)",
        "Months in minutes on the dossier core (default) or the real workflows on Temporal's "
        "time-skipping test server; a throwaway registry. See docs/simulation.md.",
        more_args=_simulate_arguments,
    ),
    Command(
        None,
        "plan-staff",
        cmd_plan_staff,
        "the fewest officers per agency and desk keeping a target on-time rate",
        "Bisection over each agency's officers at each of its desks (all desks in the same "
        "runs), each candidate a run of the profile on the core engine at a reduced scale. "
        "See docs/simulation.md.",
        more_args=_plan_staff_arguments,
    ),
)


def _add_command(
    commands: Any, groups: dict[str, Any], command: Command
) -> argparse.ArgumentParser:
    """Add one command of the table (and its group, the first time) to the parser."""
    where = commands
    if command.group is not None:
        group = command.group
        if group.name not in groups:
            holder = commands.add_parser(group.name, help=group.help, description=group.description)
            groups[group.name] = holder.add_subparsers(dest=f"{group.name}_command", required=True)
        where = groups[group.name]
    options = {} if command.description is None else {"description": command.description}
    parser: argparse.ArgumentParser = where.add_parser(command.name, help=command.help, **options)
    for argument in command.args:
        parser.add_argument(*argument.flags, **argument.options)
    if command.more_args is not None:
        command.more_args(parser)
    parser.set_defaults(handler=command.handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, each command with its own --help."""
    parser = _Parser(
        prog="starter.py",
        description="Operate the liên thông engine: the catalog, the legal clock, dossiers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        _add_command(commands, groups, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and map known failures to one line and an exit code."""
    from domain.catalog import CatalogError
    from store.db import StoreUnavailable
    from store.migrate import MigrationRefused

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.handler(args)
        if inspect.iscoroutine(status):  # the commands that talk to Temporal or the registry
            status = asyncio.run(status)
        return int(status)
    except LookupError as exc:  # unknown procedure, version not in force
        print(
            f"starter.py {args.command}: error: {exc.args[0] if exc.args else exc}", file=sys.stderr
        )
        return 2
    except (SettingsError, CatalogError) as exc:
        print(f"starter.py: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"starter.py {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, MigrationRefused) as exc:
        print(f"starter.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from engine.logs import configure_logging
    from engine.temporal import exit_process

    # Log lines go to stderr: stdout holds what a command prints (a JSON document, a report),
    # and structlog unconfigured would print its warnings there.
    configure_logging()
    exit_process(main())
