"""The cross-check: the same scenario through both engines, dossier by dossier.

``python -m sim.fidelity --dossiers 200`` runs `fidelity_scenario` on the dossier core
(`sim.core`) and on the real workflows (`sim.runner`), and prints every difference in what a
dossier went through: status, verdict, the appointment, when it finished, every form 05 row
(moment, agencies, result, due moment, verdict), the apology letters (agency, dates) and the
shipments (tracking number, attempts); then the registry each engine wrote, as its reports by
month, agency and desk read it, figure by figure. Exit status 1 when there is a difference.

What is deliberately not compared, and why:

- **numbers registers hand out** (birth, residence, health card): the sequence follows the order
  in which checks reach the register, which on Temporal is a race between dossiers; they are
  masked in the texts;
- **the order of rows written at the same moment** (two checks that run in parallel): on
  Temporal they complete in either order; rows are compared sorted by moment and step;
- **a few seconds of clock**: the time-skipping server's clock runs at wall speed while work is
  in flight, so its moments carry jitter (an appointment moved by a pause can land a few
  milliseconds before the minute; a due moment at exactly 12:00 in one engine is 13:00:00.169
  in the other). Moments must agree within `TOLERANCE` of wall time or of working time on the
  legal clock, and lateness within as many working hours.

A difference is a bug in one of the engines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from domain.calendar import default_calendar
from domain.clock import VN_TZ, LegalClock
from sim.runner import DossierOutcome, SimulationResult
from sim.scenario import Scenario
from store.reports import format_report

TOLERANCE = timedelta(seconds=60)
_NUMBERS = re.compile(r"\b(KS-\d{4}-\d{6}|TT-\d{4}-\d{6}|TE\d{13})\b")

# One explicit dossier per path that drawn behaviour reaches only by chance.
_EXPLICIT: list[dict[str, Any]] = [
    {"label": "approved", "procedure": "certified-copy", "submit_at": "09:00"},
    {
        "label": "refused",
        "procedure": "house-building-permit",
        "submit_at": "10:00",
        "officers": [
            {
                "step": "appraise",
                "action": "refuse",
                "after_days": 2,
                "reason": "Không phù hợp quy hoạch",
            }
        ],
    },
    {
        "label": "sent back",
        "procedure": "house-building-permit",
        "submit_at": "10:30",
        "officers": [
            {
                "step": "decision",
                "action": "send_back",
                "send_back_to": "appraise",
                "after_days": 1,
                "reason": "Thẩm định lại chiều cao công trình",
            },
            {"step": "decision", "after_days": 1},
        ],
    },
    {
        "label": "supplement answered",
        "procedure": "house-building-permit",
        "submit_at": "11:00",
        "officers": [{"step": "appraise", "action": "request_supplement", "after_days": 1}],
        "applicant": {"supplement_after_days": 2},
    },
    {
        "label": "supplement lapsed",
        "procedure": "birth-residence-insurance",
        "submit_at": "14:00",
        "officers": [{"step": "return", "action": "request_supplement", "after_days": 0.5}],
        "applicant": {"supplement_after_days": 12},
    },
    {
        "label": "paid",
        "procedure": "land-first-certificate",
        "submit_at": "14:30",
        "payer": {"pay_after_days": 2},
    },
    {
        "label": "withdrawn",
        "procedure": "land-first-certificate",
        "submit_at": "15:00",
        "applicant": {"withdraw_after_days": 3},
    },
    {
        "label": "late, apology",
        "procedure": "house-building-permit",
        "submit_at": "15:30",
        "officers": [{"step": "appraise", "after_days": 18}],
    },
    {
        "label": "by post",
        "procedure": "land-and-permit",
        "submit_at": "16:00",
        "home_delivery": True,
    },
]
# The rest are drawn: every procedure, officers that ask for supplements, refuse and run late.
_MIX = {
    "certified-copy": 3,
    "signature-certification": 2,
    "marital-status-confirmation": 2,
    "birth-residence-insurance": 2,
    "land-first-certificate": 3,
    "house-building-permit": 3,
    "land-and-permit": 3,
}


def next_start(today: date | None = None) -> date:
    """The Monday a week or more after ``today`` (Vietnam's date by default).

    The Temporal engine runs only scenarios that start in the future, so a fixed date would
    break the cross-check once it passed. Every Monday from 7 December 2026 to 15 February
    2027 was tried at 60 dossiers: each covered every path in `REQUIRED_PATHS`. From 22
    February the land dossiers' last week falls after Decree 151/2025 ends (28 February
    2027) and the delivery paths go missing, until the catalog has the successor land version.
    """
    today = today or datetime.now(VN_TZ).date()
    ahead = today + timedelta(days=7)
    return ahead + timedelta(days=-ahead.weekday() % 7)


def fidelity_scenario(dossiers: int, start: date | None = None) -> Scenario:
    """A scenario of ``dossiers`` dossiers (at least the explicit ones) covering every path:
    approved, refused, sent back, a supplement answered and one lapsed, payment, withdrawal,
    apology letters, deliveries that arrive and results that come back to the desk.

    ``start``: its first working day (default `next_start`)."""
    start = start or next_start()
    explicit = [
        {**spec, "submit_at": f"{start.isoformat()}T{spec['submit_at']}"} for spec in _EXPLICIT
    ]
    drawn = max(0, dossiers - len(explicit))
    weights = sum(_MIX.values())
    counts = {p: drawn * w // weights for p, w in _MIX.items()}
    counts["certified-copy"] += drawn - sum(counts.values())
    arrivals = [
        {
            "procedure": procedure,
            "count": count,
            "from": start.isoformat(),
            "to": (start + timedelta(days=25)).isoformat(),
            "home_delivery_rate": 0.8 if procedure == "land-and-permit" else 0.0,
        }
        for procedure, count in counts.items()
        if count
    ]
    return Scenario.model_validate(
        {
            "name": f"cross-check {dossiers}",
            "start": start,
            "seed": 16,
            "desk": "PLIEN",
            "post": {"absent_rate": 0.4, "not_found_rate": 0.1},
            "dossiers": explicit[:dossiers] if dossiers < len(explicit) else explicit,
            "rules": {
                "arrivals": arrivals,
                "default": {
                    "budget_share": [0.3, 1.4],
                    "supplement_rate": 0.12,
                    "refusal_rate": 0.04,
                },
                "payment_delay_days": [0.5, 4],
                "supplement_reply_days": [1, 6],
            },
        }
    )


def _text(value: str) -> str:
    return _NUMBERS.sub("<số>", value)


def dossier_record(outcome: DossierOutcome) -> dict[str, Any]:
    """What is compared of one dossier (moments exact; see `differences`)."""
    result, tracking = outcome.result, outcome.tracking
    ledger = result.ledger if result is not None else tracking.ledger if tracking else []
    letters = result.apologies if result is not None else tracking.apologies if tracking else []
    status = result.status if result else tracking.status if tracking else "unknown"
    rows: list[dict[str, Any]] = [
        {
            "at": row.at,
            "procedure": row.procedure,
            "step": row.step,
            "from": row.from_agency,
            "to": list(row.to_agencies),
            "result": _text(row.result),
            "due": row.due,
            "verdict": None if row.verdict is None else str(row.verdict),
            "late_working_hours": row.late_working_hours,
        }
        for row in sorted(
            ledger, key=lambda r: (r.at.replace(second=0, microsecond=0), r.procedure, r.step)
        )
    ]
    return {
        "status": str(status),
        "finished": outcome.finished,
        "verdict": None if result is None or result.verdict is None else str(result.verdict),
        "late_working_hours": result.late_working_hours if result else 0.0,
        "appointment": outcome.appointment,
        "finished_at": outcome.finished_at if outcome.finished else None,
        "ledger": rows,
        "apology_letters": [
            {
                "sequence": letter.sequence,
                "agency": letter.agency,
                "issued_at": letter.issued_at,
                "original_appointment": letter.original_appointment,
                "new_appointment": letter.new_appointment,
                "sent": letter.sent,
            }
            for letter in letters
        ],
        "shipments": [
            {
                "step": s.step,
                "tracking_number": s.tracking_number,
                "status": s.status,
                "attempts": [{"at": a.at, "outcome": a.outcome} for a in s.attempts],
            }
            for s in outcome.shipments
        ],
    }


_CLOCK = LegalClock(default_calendar())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        if abs(a - b) <= TOLERANCE:
            return True
        # 12:00 in one engine, 13:00:00.169 in the other: the same working moment, reached
        # with a few milliseconds more on Temporal's clock across the lunch break (or a night).
        return _CLOCK.working_time_between(min(a, b), max(a, b)) <= TOLERANCE
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOLERANCE / timedelta(hours=1)  # working hours late
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _where(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [line for k in a for line in _where(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [line for i, (x, y) in enumerate(zip(a, b, strict=True))
                for line in _where(x, y, f"{path}[{i}]")]  # fmt: skip
    return [] if _same(a, b) else [f"{path}: core {a!r} / temporal {b!r}"]


def differences(core: SimulationResult, temporal: SimulationResult) -> list[str]:
    """Every difference between the two runs' dossiers, one line each (empty: none)."""
    lines = []
    mine = {o.dossier.code: o for o in core.outcomes}
    theirs = {o.dossier.code: o for o in temporal.outcomes}
    if mine.keys() != theirs.keys():
        lines.append(f"dossiers differ: {sorted(mine.keys() ^ theirs.keys())}")
    for code in sorted(mine.keys() & theirs.keys()):
        lines += _where(dossier_record(mine[code]), dossier_record(theirs[code]), code)
    # The registry each engine wrote, as its reports read it.
    for name in ("report_by_month", "report_by_agency", "report_by_desk"):
        lines += _where(
            json.loads(format_report(getattr(core, name), "json")),
            json.loads(format_report(getattr(temporal, name), "json")),
            name,
        )
    return lines


def paths_covered(result: SimulationResult) -> set[str]:
    """Which of the paths the cross-check must cover this run went through."""
    paths: set[str] = set()
    for outcome in result.outcomes:
        record = dossier_record(outcome)
        paths.add(f"status:{record['status']}")
        texts = [row["result"] for row in record["ledger"]]
        for prefix, name in (
            ("approved", "approved"),
            ("refused", "refused"),
            ("sent back", "sent back"),
            ("supplement requested", "supplement requested"),
            ("supplement not received", "supplement lapsed"),
            ("paid", "paid"),
            ("withdrawn", "withdrawn"),
            ("delivered by post", "delivered"),
            ("back to the desk", "returned to the desk"),
            ("collected at the desk", "collected at the desk"),
        ):
            if any(text.startswith(prefix) for text in texts):
                paths.add(name)
        if record["apology_letters"]:
            paths.add("apology")
        if any(a["outcome"] != "delivered" for s in record["shipments"] for a in s["attempts"]):
            paths.add("failed attempt")
    return paths


REQUIRED_PATHS = frozenset(
    {
        "approved", "refused", "sent back", "supplement requested", "supplement lapsed", "paid",
        "withdrawn", "delivered", "returned to the desk", "apology", "failed attempt",
        "status:returned", "status:refused", "status:withdrawn", "status:stopped",
    }
)  # fmt: skip


async def cross_check(dossiers: int) -> tuple[SimulationResult, SimulationResult, list[str]]:
    """Run the scenario through both engines; the two results and their differences."""
    from sim.core import run_scenario_core
    from sim.runner import run_scenario

    scenario = fidelity_scenario(dossiers)
    core = await run_scenario_core(scenario)
    temporal = await run_scenario(scenario)
    return core, temporal, differences(core, temporal)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.fidelity [--dossiers N]``."""
    parser = argparse.ArgumentParser(prog="python -m sim.fidelity", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=200, help="default 200")
    args = parser.parse_args(argv)
    if args.dossiers < 1:
        parser.error("--dossiers must be at least 1")
    core, temporal, lines = asyncio.run(cross_check(args.dossiers))
    missing = sorted(REQUIRED_PATHS - paths_covered(core))
    print(
        f"{len(core.outcomes)} dossiers; core {core.wall_seconds:.1f} s, temporal "
        f"{temporal.wall_seconds:.1f} s; {len(lines)} difference(s)"
        + (f"; paths not covered: {', '.join(missing)}" if missing else "")
    )
    for line in lines:
        print("  " + line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
