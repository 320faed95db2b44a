"""The registry's sync contract: the rows the dossier workflow sends, and what comes back.

The dossier core builds them (`domain.dossier_core`), ``registry.sync`` writes them
(`activities.registry`, `store.read_model`). A low module both import, so neither imports the other.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel

from domain.deadlines import Verdict


class ProcedureSnapshot(BaseModel):
    """A component procedure of the dossier and how it stands."""

    code: str
    version: str
    name_vi: str
    outcome: str  # running / refused / stopped / withdrawn / returned


class StepSnapshot(BaseModel):
    """A step as the workflow holds it."""

    key: str
    procedure: str
    agency: str
    kind: str
    name_vi: str
    status: str
    opened_at: datetime | None = None
    due: datetime | None = None
    done_at: datetime | None = None
    overdue: bool = False
    outcome: str = ""
    officer_id: str | None = None
    verdict: str | None = None
    working_hours: float | None = None
    late_working_hours: float = 0.0


class Outcome(StrEnum):
    """What happened at a step: how it finished, or what a form 05 row records."""

    APPROVED = "approved"  # an officer approved
    PASSED = "passed"  # an automated check passed
    NOTICE_ENDED = "notice_ended"  # a public notice period ran out
    PAID = "paid"  # the financial obligation was paid
    DELIVERED = "delivered"  # the post delivered the result home
    COLLECTED = "collected"  # the applicant collected the result at the desk
    REFUSED = "refused"
    SENT_BACK = "sent_back"  # an earlier step must run again
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENT_LAPSED = "supplement_lapsed"  # the applicant's time ran out: processing stops
    WITHDRAWN = "withdrawn"
    POSTED = "posted"  # the result was handed to the post
    BACK_TO_DESK = "back_to_desk"  # the post could not deliver; the result waits at the desk

    @property
    def finishes_step(self) -> bool:
        """Whether the step is done and its dependants may run (a refusal ends it, blocking)."""
        return self in _PASSING


_PASSING = frozenset(
    {
        Outcome.APPROVED,
        Outcome.PASSED,
        Outcome.NOTICE_ENDED,
        Outcome.PAID,
        Outcome.DELIVERED,
        Outcome.COLLECTED,
    }
)


class HandoverRow(BaseModel):
    """A row of the control slip (form 06; form 05 before 15/9/2025): a step finished, or the
    dossier moved on. The workflow's ledger and the registry's rows are the same model."""

    sequence: int
    procedure: str
    step: str
    from_agency: str
    to_agencies: list[str]
    at: datetime
    result: str
    kind: Outcome | None = None
    officer_id: str | None = None
    due: datetime | None = None
    verdict: Verdict | None = None
    late_working_hours: float = 0.0


# The registry's name for a ledger row in a sync (the same model).
HandoverSnapshot = HandoverRow


class IssuedSnapshot(BaseModel):
    """A document the dossier produced (forms 01–04, a registration, a notice, a result)."""

    kind: str  # a `store.models.DocumentKind` value
    sequence: int
    procedure: str
    step: str | None = None
    agency: str | None = None
    reference: str | None = None
    summary_vi: str = ""
    detail: dict[str, Any] = {}
    issued_at: datetime


class ReceivedSnapshot(BaseModel):
    """A document the applicant handed in."""

    sequence: int
    name_vi: str
    sha256: str | None = None
    supplement: bool = False


class AuditEntry(BaseModel):
    """Who did what to the dossier: an officer's decision, or the applicant's or payer's act.

    ``update_id`` is the workflow update's id (a signal's business id for payments), so the row
    is written once however often it is sent.
    """

    update_id: str
    at: datetime
    actor_kind: Literal["officer", "applicant", "payment"]
    actor_id: str | None = None
    agency: str | None = None
    action: str
    step: str | None = None
    reason: str = ""
    detail: str = ""


class RegistrySnapshot(BaseModel):
    """The dossier row, and the rows that changed since the previous sync."""

    dossier_code: str
    revision: int
    # The workflow's time of this sync: when the registry learns a status, the portal is told.
    synced_at: datetime | None = None
    desk_code: str
    procedure_code: str
    procedure_version: str
    name_vi: str
    received_at: datetime
    clock_starts_at: datetime
    appointment: datetime
    legal_appointment: datetime | None = None
    status: str
    finished_at: datetime | None = None
    verdict: str | None = None
    working_hours: float | None = None
    late_working_hours: float = 0.0
    apologies: int = 0
    amount_due_vnd: int = 0
    amount_paid_vnd: int = 0
    procedures: list[ProcedureSnapshot] = []
    steps: list[StepSnapshot] = []
    handovers: list[HandoverSnapshot] = []
    issued: list[IssuedSnapshot] = []
    received: list[ReceivedSnapshot] = []
    audit: list[AuditEntry] = []


class SyncResult(BaseModel):
    """Whether the dossier row took this revision (False: a newer revision was there)."""

    applied: bool
