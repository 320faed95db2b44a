"""What a dossier carries into the engine, and the contract of every automated step.

Automated steps of the catalog (``Step.activity``, e.g. ``land.check-parcel``) are Temporal
activities registered under exactly that name on the owning agency's task queue; the dossier
workflow calls them by name with `AutomatedCheckInput` and gets an `AutomatedCheckResult`, so a
new procedure needs no new workflow code, only (at most) a new agency activity.

No personal data here: the person concerned is an opaque ``subject_ref``; names, ID numbers,
phones and addresses stay in the registry's protected tables.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from domain.calendar import CalendarOverride
from domain.deadlines import ClockSnapshot, Pause, Verdict
from domain.plan import DossierPlan
from domain.registry import AuditEntry
from domain.registry import HandoverRow as HandoverRow  # re-exported: the workflow's ledger
from domain.registry import Outcome as Outcome  # re-exported


class DossierStatus(StrEnum):
    """Statuses of the national public-service portal model (codes 1-10)."""

    NEW = "new"  # 1
    ACCEPTED = "accepted"  # 2
    REFUSED = "refused"  # 3
    IN_PROGRESS = "in_progress"  # 4
    SUPPLEMENT_REQUESTED = "supplement_requested"  # 5
    FINANCIAL_OBLIGATION = "financial_obligation"  # 6
    WITHDRAWN = "withdrawn"  # 7
    STOPPED = "stopped"  # 8
    DECIDED = "decided"  # 9
    RETURNED = "returned"  # 10

    @property
    def name_vi(self) -> str:
        """The status as the forms print it (forms/templates/form_labels_vi.yaml agrees)."""
        return _STATUS_NAMES_VI[self]


_STATUS_NAMES_VI = {
    DossierStatus.NEW: "Mới tiếp nhận",
    DossierStatus.ACCEPTED: "Đã tiếp nhận",
    DossierStatus.REFUSED: "Từ chối giải quyết",
    DossierStatus.IN_PROGRESS: "Đang giải quyết",
    DossierStatus.SUPPLEMENT_REQUESTED: "Chờ bổ sung hồ sơ",
    DossierStatus.FINANCIAL_OBLIGATION: "Chờ thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Người nộp rút hồ sơ",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.DECIDED: "Đã có kết quả, chờ trả",
    DossierStatus.RETURNED: "Đã trả kết quả",
}


# The national portal's status code of each status (what the portal sync reports).
PORTAL_STATUS_CODE: dict[DossierStatus, int] = {
    status: code for code, status in enumerate(DossierStatus, start=1)
}


class ParcelRef(BaseModel):
    """A land parcel as the land register names it: map sheet and parcel number in a commune."""

    commune: str = Field(description="code of the ward/commune, e.g. 'phuong-lien'")
    map_sheet: int = Field(ge=1, description="tờ bản đồ số")
    parcel_number: int = Field(ge=1, description="thửa đất số")

    @property
    def key(self) -> str:
        """``commune/sheet/parcel``, how logs and letters name the parcel."""
        return f"{self.commune}/{self.map_sheet}/{self.parcel_number}"


class SubmittedDocument(BaseModel):
    """One document handed in, named as in the catalog's required documents."""

    name_vi: str
    sha256: str | None = None  # digest of the stored file, when uploaded


class SubmissionChannel(StrEnum):
    """How the dossier reached the desk; an online-only procedure refuses the counter."""

    ONLINE = "online"  # the national portal, the API (or the desk filing there for the applicant)
    COUNTER = "counter"  # paper handed in at the one-stop counter


class DossierFacts(BaseModel):
    """The facts of a dossier that agencies' automated checks need."""

    parcel: ParcelRef | None = None
    documents: list[SubmittedDocument] = []
    subject_ref: str | None = None  # opaque id of the person concerned (no personal data)
    # The applicant asked for the result by post (the address is in the registry, encrypted).
    home_delivery: bool = False
    channel: SubmissionChannel | None = None  # None: a client that does not say
    # The desk officer who filed an online-only dossier online on the applicant's behalf.
    filed_online_by: str | None = None


class AutomatedCheckInput(BaseModel):
    """Input of every automated step: which dossier, which step, under which rules."""

    dossier_code: str
    procedure: str
    procedure_version: str
    step: str
    facts: DossierFacts


class AutomatedCheckResult(BaseModel):
    """Outcome of an automated step.

    ``passed`` False means the agency's system refuses the step with ``summary_vi`` as the
    reason, or (with ``missing_documents``) that the applicant must supplement.
    """

    passed: bool
    summary_vi: str
    missing_documents: list[str] = []
    amount_due_vnd: int | None = None  # a financial obligation computed by this step
    reference: str | None = None  # a number issued by the agency (registration number, ...)
    findings: dict[str, str] = {}


# ---- the dossier workflow's contract: its input, messages, state and views ---------------------
# They live here, below the workflow, so the pure dossier core (`domain.dossier_core`), the
# workflow shell and every client share one definition.

TERMINAL = frozenset(
    {DossierStatus.REFUSED, DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.RETURNED}
)
CONTINUING_AS_NEW = "ContinuingAsNew"  # a validator's refusal the client should retry


class StepStatus(StrEnum):
    """Where a step stands."""

    PENDING = "pending"  # waiting for the steps it depends on
    OPEN = "open"  # held by its agency
    DONE = "done"
    CANCELLED = "cancelled"  # its procedure ended (refusal, withdrawal) before it ran


class DecisionAction(StrEnum):
    """What an officer may decide on an open step."""

    APPROVE = "approve"
    REQUEST_SUPPLEMENT = "request_supplement"
    REFUSE = "refuse"
    SEND_BACK = "send_back"


class RefusalKind(StrEnum):
    """Why a message was refused before it reached the history (the API maps these to HTTP)."""

    NOT_READY = "NotReady"
    DOSSIER_CLOSED = "DossierClosed"
    INVALID_DECISION = "InvalidDecision"
    UNKNOWN_STEP = "UnknownStep"
    WRONG_AGENCY = "WrongAgency"
    CONTINUING_AS_NEW = CONTINUING_AS_NEW
    STEP_NOT_OPEN = "StepNotOpen"
    NOT_AN_OFFICER_STEP = "NotAnOfficerStep"
    CLOCK_PAUSED = "ClockPaused"
    SUPPLEMENT_NOT_ALLOWED = "SupplementNotAllowed"
    NO_SUPPLEMENT_REQUESTED = "NoSupplementRequested"
    INVALID_SUPPLEMENT = "InvalidSupplement"
    INVALID_AMENDMENT = "InvalidAmendment"


class Refusal(Exception):
    """A message the dossier does not accept, and why (raised by the core's validators)."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StepState(BaseModel):
    """One step's life in this dossier."""

    key: str
    status: StepStatus = StepStatus.PENDING
    opened_at: datetime | None = None
    due: datetime | None = None
    done_at: datetime | None = None
    overdue: bool = False
    outcome: str = ""  # what happened, as form 05 words it ("approved: hồ sơ đủ")
    outcome_kind: Outcome | None = None
    officer_id: str | None = None
    carried_over: bool = False  # reopened after continue-as-new: keep opened_at
    warn_at: datetime | None = None
    warned: bool = False
    verdict: Verdict | None = None
    working_hours: float | None = None  # working time the step took (counted steps)
    late_working_hours: float = 0.0
    runs: int = 0  # automated checks started; a late answer of an earlier run is ignored
    checking: bool = False  # an automated check is running
    awaiting_supplement: bool = False  # a check that runs again once the applicant supplements
    notice_ends: datetime | None = None  # a public notice's end


class DocumentIssued(BaseModel):
    """A document the dossier produced: a registration number, a notice, a result."""

    procedure: str
    step: str
    kind: str
    reference: str | None = None
    summary_vi: str = ""
    at: datetime


class SupplementRequest(BaseModel):
    """Form 02: what the applicant must add; the clock is paused until it arrives."""

    procedure: str
    step: str
    requested_by: str  # agency
    missing_documents: list[str]
    reason: str
    at: datetime
    answered_at: datetime | None = None
    answer_by: datetime | None = None  # the applicant's time ends (None: no limit)
    lapsed_at: datetime | None = None  # it ended unanswered: processing stopped
    remind_at: datetime | None = None  # the applicant is reminded a working day before
    reminded: bool = False


class ApologyRecord(BaseModel):
    """A form 04 letter: one per missed (or foreseeably missed) appointment."""

    sequence: int
    agency: str
    reason_vi: str
    original_appointment: datetime
    new_appointment: datetime
    letter_id: str | None = None
    sent: bool = False
    issued_at: datetime | None = None
    # Working time from the letter to the appointment it apologises for: under a working day
    # when the lateness became visible only on the last day (0 when the appointment was missed).
    lead_working_hours: float | None = None


DeliveryStatus = Literal["dispatching", "dispatched", "delivered", "returned_to_desk", "no_address"]


class ApplicantNoticeKind(StrEnum):
    """What the applicant is told by e-mail besides an apology (form numbers of Circular
    03/2025/TT-VPCP; a dossier received before 15/9/2025 prints the 2018 numbers)."""

    SUPPLEMENT_REQUESTED = "supplement_requested"  # form 02
    SUPPLEMENT_REMINDER = "supplement_reminder"  # a working day before the applicant's time ends
    PROCESSING_STOPPED = "processing_stopped"  # form 05 (2025): the applicant's time ran out
    REFUSED = "refused"  # form 03


class DeliveryState(BaseModel):
    """A result on its way home by post (the address stays in the registry, encrypted)."""

    step: str  # the return step's key
    status: DeliveryStatus = "dispatching"
    tracking_number: str | None = None
    attempts: int = 0
    outcomes: list[str] = []
    next_attempt_at: datetime | None = None  # the postman's next round
    busy: bool = False  # an activity with the post is running


class CalendarChange(BaseModel):
    """A calendar amendment that reached this dossier, and what it moved."""

    at: datetime
    announced_by: str
    days: list[CalendarOverride]
    appointment_before: datetime | None = None
    appointment_after: datetime | None = None
    notified: bool = False  # the applicant was told of the new appointment


class DecisionInput(BaseModel):
    """An officer's decision on an open step."""

    step: str  # ``procedure:step``
    agency: str  # the officer's agency (from their credentials)
    officer_id: str
    action: DecisionAction
    reason: str = ""
    missing_documents: list[str] = []
    send_back_to: str | None = None  # ``procedure:step`` of an earlier, finished step


class DecisionResult(BaseModel):
    """The dossier status after the decision."""

    step: str
    action: DecisionAction
    status: DossierStatus


class SupplementInput(BaseModel):
    """The applicant's supplementary documents."""

    documents: list[SubmittedDocument]


class WithdrawInput(BaseModel):
    """The applicant withdraws the dossier."""

    reason: str = ""


class PaymentInput(BaseModel):
    """The payment side confirms a payment of the financial obligation."""

    reference: str
    amount_vnd: int


class CalendarAmendmentInput(BaseModel):
    """Days whose working status the government changed after the dossier was received."""

    announced_by: str
    overrides: list[CalendarOverride]


class DossierState(BaseModel):
    """Everything the dossier core knows; serialisable so continue-as-new can carry it."""

    status: DossierStatus = DossierStatus.NEW
    plan: DossierPlan | None = None
    clock: ClockSnapshot | None = None  # the calendar pinned at receipt (amended since)
    facts: DossierFacts = DossierFacts()
    steps: dict[str, StepState] = {}
    ledger: list[HandoverRow] = []
    documents: list[DocumentIssued] = []
    pauses: list[Pause] = []
    supplements: list[SupplementRequest] = []
    procedure_outcomes: dict[str, str] = {}  # procedure -> refused/stopped/withdrawn
    amount_due_vnd: int = 0
    amount_paid_vnd: int = 0
    payment_reference: str | None = None
    withdrawn_reason: str | None = None
    # The appointment as promised now (moved by supplements, apology letters and calendar
    # amendments, never earlier) and the legal one (moved by supplements and amendments) that
    # the dossier's verdict is measured against.
    appointment: datetime | None = None
    legal_appointment: datetime | None = None
    forecast_at: datetime | None = None  # when to check that the appointment still holds
    apologies: list[ApologyRecord] = []
    calendar_changes: list[CalendarChange] = []
    early_amendments: list[CalendarAmendmentInput] = []  # arrived before the calendar did
    calendar_extension_asked: bool = False
    verdict: Verdict | None = None
    late_working_hours: float = 0.0
    working_hours: float | None = None  # the dossier's working time, receipt to end
    finished_at: datetime | None = None
    audit: list[AuditEntry] = []  # every decision and applicant act, for the audit log
    registry_revision: int = 0  # syncs sent to the registry
    decisions: dict[str, DecisionInput] = {}  # approvals of steps still finishing (delivery)
    deliveries: dict[str, DeliveryState] = {}  # by return step
    # Behaviour added in dossier 1.1 (docs/versioning.md): the applicant is e-mailed forms 02,
    # 03 and 05 and reminded before their time to supplement ends; an apology goes out as soon
    # as the appointment can no longer be met. The workflow turns both off for a dossier whose
    # history began before the patch; the core alone (tests, simulation) has them on.
    applicant_notices: bool = True
    apology_when_known: bool = True


class DossierInput(BaseModel):
    """A received dossier. ``state`` is set only when the workflow continues as new.

    ``calendar``: the working calendar and office hours the dossier's clock counts with, pinned
    for its life (amendments arrive as signals). When the client does not pin one, the desk's
    reception pins its own with the plan.
    """

    dossier_code: str
    desk_code: str
    procedure_code: str
    received_at: datetime
    facts: DossierFacts = DossierFacts()
    calendar: ClockSnapshot | None = None
    # Policy (working hours): warn an agency this long before a step is due (at most half the
    # step's budget before, so that a short step is not warned as it opens); check the
    # appointment still holds this long before it (an apology at least N working hours ahead);
    # leave this margin after the projected finish when setting a letter's new appointment.
    warning_lead_hours: float = 8.0
    apology_lead_hours: float = 8.0
    apology_grace_hours: float = 8.0
    delivery_attempts: int = 3  # home delivery: attempts before the result goes back to the desk
    state: DossierState | None = None


class OpenStep(BaseModel):
    """An open step as tracking shows it."""

    key: str
    name_vi: str
    agency: str
    kind: str
    opened_at: datetime | None
    due: datetime | None
    overdue: bool
    warn_at: datetime | None = None
    warned: bool = False
    decided: bool = False  # an officer's decision is accepted; the step is finishing


class TrackingState(BaseModel):
    """What a citizen, an officer or an operator sees of the dossier."""

    dossier_code: str
    procedure_code: str
    status: DossierStatus
    received_at: datetime
    appointment: datetime | None
    open_steps: list[OpenStep]
    ledger: list[HandoverRow]
    documents: list[DocumentIssued]
    supplements: list[SupplementRequest]
    amount_due_vnd: int
    amount_paid_vnd: int
    apologies: list[ApologyRecord] = []
    calendar_changes: list[CalendarChange] = []


class DossierResult(BaseModel):
    """How the dossier ended."""

    dossier_code: str
    status: DossierStatus
    ledger: list[HandoverRow]
    documents: list[DocumentIssued]
    apologies: list[ApologyRecord] = []
    verdict: Verdict | None = None  # against the legal appointment (moved by supplements)
    late_working_hours: float = 0.0
