"""The operator's command line. ``python starter.py --help`` lists the commands.

Commands that only compute (``catalog``, ``due-date``) need neither Temporal nor a database.
Bad arguments exit 2 with one line saying what is wrong; an unreachable service exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
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


# ---- due-date --------------------------------------------------------------------------------


def cmd_due_date(args: argparse.Namespace) -> int:
    """Compute the appointment and every step's due moment."""
    from domain.calendar import default_calendar
    from domain.catalog import default_catalog
    from domain.clock import LegalClock
    from domain.plan import plan_dossier

    plan = plan_dossier(
        default_catalog(),
        LegalClock(default_calendar()),
        args.procedure,
        args.received,
        pauses=args.pause or (),
    )
    if args.json:
        _print_json(plan.model_dump(mode="json"))
        return 0
    print(f"{plan.procedure}@{plan.version}  {plan.name_vi}")
    print(f"  received      {plan.received_at.isoformat()}")
    print(f"  clock starts  {plan.clock_starts.isoformat()}")
    print(f"  appointment   {plan.appointment.isoformat()}")
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


async def _submit(args: argparse.Namespace) -> int:
    from domain.catalog import default_catalog
    from domain.dossier import DossierFacts, SubmittedDocument
    from engine.dossiers import allocate_code, start_dossier, wait_for_receipt
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
    )
    client = await connect(args.address)
    code = await allocate_code(settings.database_url, settings.desk_code, received)
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


def cmd_submit(args: argparse.Namespace) -> int:
    """Receive a dossier and print its receipt."""
    return asyncio.run(_submit(args))


async def _track(args: argparse.Namespace) -> int:
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


def cmd_track(args: argparse.Namespace) -> int:
    """Print a dossier's tracking state."""
    return asyncio.run(_track(args))


async def _decide(args: argparse.Namespace) -> int:
    from temporalio.client import WorkflowUpdateFailedError

    from engine.dossiers import update_dossier
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


def cmd_decide(args: argparse.Namespace) -> int:
    """An officer's decision on an open step."""
    return asyncio.run(_decide(args))


# ---- the parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, each command with its own --help."""
    parser = _Parser(
        prog="starter.py",
        description="Operate the liên thông engine: the catalog, the legal clock, dossiers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    catalog = commands.add_parser(
        "catalog", help="list or show catalogued procedures", description="The procedure catalog."
    )
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    listing = catalog_commands.add_parser("list", help="procedures in force on a day")
    listing.add_argument("--on", type=_day, help="the day (default: today)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_catalog_list)
    show = catalog_commands.add_parser("show", help="one procedure with its steps")
    show.add_argument("code", help="procedure or combined code, e.g. land-first-certificate")
    show.add_argument("--on", type=_day, help="the day whose version to show (default: today)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_catalog_show)

    due = commands.add_parser(
        "due-date",
        help="appointment and step due moments for a receipt",
        description="Apply the legal clock: working days, holidays, office hours, pauses.",
    )
    due.add_argument("--procedure", required=True, help="procedure or combined code")
    due.add_argument(
        "--received",
        required=True,
        type=_aware_datetime,
        help="receipt moment with offset, e.g. 2026-02-12T09:00+07:00",
    )
    due.add_argument(
        "--pause",
        action="append",
        type=_pause,
        metavar="START/END",
        help="a period the clock stops (supplement), ISO/ISO; repeatable",
    )
    due.add_argument("--json", action="store_true", help="print one JSON object")
    due.set_defaults(handler=cmd_due_date)

    db = commands.add_parser("db", help="database maintenance", description="The registry.")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="apply migrations to DATABASE_URL")
    db_upgrade.set_defaults(handler=cmd_db_upgrade)

    submit = commands.add_parser(
        "submit",
        help="receive a dossier and print its receipt",
        description="Allocate a dossier code, start its workflow and print the receipt.",
    )
    submit.add_argument("--procedure", required=True, help="procedure or combined code")
    submit.add_argument("--received", type=_aware_datetime, help="receipt moment (default: now)")
    submit.add_argument("--parcel", type=_parcel, help="land parcel COMMUNE/SHEET/NUMBER")
    submit.add_argument(
        "--document", action="append", metavar="NAME", help="a document handed in (repeatable)"
    )
    submit.add_argument(
        "--all-documents", action="store_true", help="hand in every required document"
    )
    submit.add_argument("--address", help="Temporal host:port (default: TEMPORAL_ADDRESS)")
    submit.set_defaults(handler=cmd_submit)

    track = commands.add_parser(
        "track", help="a dossier's status, open steps and hand-over ledger (form 05)"
    )
    track.add_argument("code", help="dossier code, e.g. DONGDA-261130-0001")
    track.add_argument("--json", action="store_true", help="print JSON")
    track.add_argument("--address", help="Temporal host:port (default: TEMPORAL_ADDRESS)")
    track.set_defaults(handler=cmd_track)

    decide = commands.add_parser(
        "decide",
        help="an officer's decision on an open step",
        description="Approve, request a supplement, refuse, or send back an open step.",
    )
    decide.add_argument("code", help="dossier code")
    decide.add_argument("step", help="the open step, PROCEDURE:STEP")
    decide.add_argument("action", choices=["approve", "request_supplement", "refuse", "send_back"])
    decide.add_argument("--agency", required=True, help="the officer's agency code")
    decide.add_argument("--officer", required=True, help="the officer's id")
    decide.add_argument("--reason", help="required to refuse or send back")
    decide.add_argument("--missing", action="append", metavar="DOCUMENT", help="for a supplement")
    decide.add_argument("--to", metavar="PROCEDURE:STEP", help="for send_back: the earlier step")
    decide.add_argument("--address", help="Temporal host:port (default: TEMPORAL_ADDRESS)")
    decide.set_defaults(handler=cmd_decide)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and map known failures to one line and an exit code."""
    from domain.catalog import CatalogError
    from store.db import StoreUnavailable
    from store.migrate import MigrationRefused

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
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
    from engine.temporal import exit_process

    exit_process(main())
