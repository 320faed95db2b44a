"""What a scenario run prints: human-readable text, or one JSON document (``--json``).

Moments are Vietnam time floored to the minute: the time-skipping server's clock moves at wall
speed while work is in flight, so the seconds of a moment carry jitter that would make two runs
of the same scenario differ. No personal data is printed: dossiers are named by their codes,
officers by their agency, letters by their number.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain.clock import VN_TZ
from sim.events import floor_minute
from sim.runner import DossierOutcome, SimulationResult
from store.reports import ReportResult, format_report
from workflows.dossier import ApologyRecord, HandoverRow


def moment(value: datetime | None) -> str | None:
    """ISO 8601 to the minute, Vietnam time (``2027-03-01T09:45+07:00``), or None."""
    if value is None:
        return None
    return floor_minute(value).strftime("%Y-%m-%dT%H:%M%z").replace("+0700", "+07:00")


def _row(row: HandoverRow) -> dict[str, Any]:
    return {
        "sequence": row.sequence,
        "at": moment(row.at),
        "procedure": row.procedure,
        "step": row.step,
        "from": row.from_agency,
        "to": row.to_agencies,
        "result": row.result,
        "due": moment(row.due),
        "verdict": row.verdict,
        "late_working_hours": round(row.late_working_hours, 2),
    }


def _letter(letter: ApologyRecord) -> dict[str, Any]:
    return {
        "sequence": letter.sequence,
        "agency": letter.agency,
        "issued_at": moment(letter.issued_at),
        "original_appointment": moment(letter.original_appointment),
        "new_appointment": moment(letter.new_appointment),
        "reason_vi": letter.reason_vi,
        "sent": letter.sent,
    }


def dossier_document(outcome: DossierOutcome) -> dict[str, Any]:
    """One dossier of the JSON document."""
    dossier = outcome.dossier
    status: str
    if outcome.result is not None:
        status, verdict = outcome.result.status, outcome.result.verdict
        late = outcome.result.late_working_hours
        ledger, letters = outcome.result.ledger, outcome.result.apologies
    elif outcome.tracking is not None:
        status, verdict, late = outcome.tracking.status, None, 0.0
        ledger, letters = outcome.tracking.ledger, outcome.tracking.apologies
    else:
        status, verdict, late, ledger, letters = "unknown", None, 0.0, [], []
    return {
        "code": dossier.code,
        "label": dossier.label,
        "procedure": dossier.procedure,
        "desk": dossier.desk,
        "submitted_at": moment(dossier.submit_at),
        "home_delivery": dossier.home_delivery,
        "finished": outcome.finished,
        "wedged": outcome.wedged,
        "status": str(status),
        "verdict": None if verdict is None else str(verdict),
        "late_working_hours": round(late, 2),
        "appointment": moment(outcome.appointment),
        "finished_at": moment(outcome.finished_at) if outcome.finished else None,
        "ledger": [_row(row) for row in ledger],
        "apology_letters": [_letter(letter) for letter in letters],
        "shipments": [
            {
                "step": shipment.step,
                "tracking_number": shipment.tracking_number,
                "status": shipment.status,
                "attempts": [
                    {"at": moment(attempt.at), "outcome": attempt.outcome}
                    for attempt in shipment.attempts
                ],
            }
            for shipment in outcome.shipments
        ],
    }


def report_document(report: ReportResult) -> Any:
    """A report as `store.reports` prints it in JSON."""
    return json.loads(format_report(report, "json"))


def result_document(result: SimulationResult) -> dict[str, Any]:
    """The whole run as one JSON-able document (shape in docs/simulation.md)."""
    scenario = result.scenario
    return {
        "scenario": {
            "name": scenario.name,
            "start": scenario.start.isoformat(),
            "seed": scenario.seed,
            "dossiers": len(result.outcomes),
        },
        "ended_on": result.ended_on.isoformat(),
        "dossiers": [dossier_document(outcome) for outcome in result.outcomes],
        "unfinished": [o.dossier.code for o in result.outcomes if not o.finished],
        "report": {
            "by_month": report_document(result.report_by_month),
            "by_agency": report_document(result.report_by_agency),
        },
    }


def as_json(result: SimulationResult) -> str:
    """The JSON document, indented, ending with a newline."""
    return json.dumps(result_document(result), ensure_ascii=False, indent=2) + "\n"


def as_text(result: SimulationResult) -> str:
    """The human-readable account: each dossier, its ledger and letters, then the reports."""
    document = result_document(result)
    scenario = document["scenario"]
    lines = [
        f"Simulation {scenario['name'] or ''} from {scenario['start']} (seed {scenario['seed']}): "
        f"{scenario['dossiers']} dossier(s), ended {document['ended_on']}".replace("  ", " ")
    ]
    for dossier in document["dossiers"]:
        label = f" ({dossier['label']})" if dossier["label"] else ""
        post = ", home delivery" if dossier["home_delivery"] else ""
        lines.append("")
        lines.append(
            f"{dossier['code']}{label}: {dossier['procedure']}{post}; "
            f"submitted {_short(dossier['submitted_at'])}"
        )
        verdict = f", {dossier['verdict']}" if dossier["verdict"] else ""
        ended = (
            f"finished {_short(dossier['finished_at'])}"
            if dossier["finished"]
            else "STOPPED: the test server kept failing its workflow task"
            if dossier["wedged"]
            else "NOT finished within the horizon"
        )
        lines.append(
            f"  status {dossier['status']}{verdict}; appointment "
            f"{_short(dossier['appointment'])}; {ended}"
        )
        lines.append("  form 05:")
        for row in dossier["ledger"]:
            verdict = f" [{row['verdict']}]" if row["verdict"] else ""
            lines.append(
                f"    {row['sequence']:>2}. {_short(row['at'])}  {row['from']} -> "
                f"{', '.join(row['to'])}: {row['procedure']}:{row['step']} "
                f"{row['result']}{verdict}".rstrip()
            )
        for shipment in dossier["shipments"]:
            tries = ", ".join(
                f"{_short(attempt['at'])} {attempt['outcome']}" for attempt in shipment["attempts"]
            )
            lines.append(
                f"  post {shipment['tracking_number']} ({shipment['step']}): "
                f"{shipment['status']}; attempts: {tries or 'none'}"
            )
        for letter in dossier["apology_letters"]:
            lines.append(
                f"  apology letter {letter['sequence']} ({letter['agency']}) issued "
                f"{_short(letter['issued_at'])}: appointment "
                f"{_short(letter['original_appointment'])} -> {_short(letter['new_appointment'])}"
            )
    if document["unfinished"]:
        lines += ["", f"Unfinished at the horizon: {', '.join(document['unfinished'])}"]
    lines += ["", format_report(result.report_by_month).rstrip()]
    lines += ["", format_report(result.report_by_agency).rstrip()]
    return "\n".join(lines) + "\n"


def _short(text: str | None) -> str:
    if text is None:
        return "—"
    return datetime.fromisoformat(text).astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")
