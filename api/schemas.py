"""Wire models of the HTTP API (requests and responses); table models stay in `store.models`.

Text coming in is normalised to Unicode NFC and stripped, so a Vietnamese name typed with
combining marks (decomposed, as some keyboards and macOS file names produce) is the same string
as the precomposed one. Rules a citizen can break have their own error types; `api.errors`
gives every error type a Vietnamese and an English message.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from domain.catalog import CatalogEntry, CombinedProcedure
from domain.dossier import DossierStatus, ParcelRef
from workflows.dossier import DecisionAction


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab and line breaks (a NUL byte,
    which PostgreSQL cannot store, or any other that no form means)."""
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


CONTROL_CHARACTER_MESSAGE = "must not contain control characters (such as NUL)"


def nfc(value: Any) -> Any:
    """Strings in NFC, stripped; anything else unchanged (the type check reports it).

    Raises:
        PydanticCustomError: ``control_character``, the string holds one.
    """
    if not isinstance(value, str):
        return value
    if has_control_characters(value):
        raise PydanticCustomError("control_character", CONTROL_CHARACTER_MESSAGE)
    return unicodedata.normalize("NFC", value).strip()


Text = Annotated[str, BeforeValidator(nfc)]


def stored_utc(moment: datetime) -> datetime:
    """A moment read from the database with its zone (SQLite gives stored moments back naive;
    they are UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


V = TypeVar("V", bound=BaseModel)
# A moment a view reads from a table row.
StoredMoment = Annotated[datetime, AfterValidator(stored_utc)]


def view_of(model: type[V], source: object, **given: Any) -> V:
    """A view read from ``source``'s attributes of the same names (a table row, a workflow's
    model; nested models too), with the ``given`` fields besides or instead."""
    read = {
        name: getattr(source, name)
        for name in model.model_fields
        if name not in given and hasattr(source, name)
    }
    return model.model_validate(read | given, from_attributes=True)


UploadId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]

_MOBILE = re.compile(r"0[35789]\d{8}")


def normalise_phone(value: str) -> str:
    """A Vietnamese mobile number as ``+84`` and 9 digits.

    Accepts ``0`` + 9 digits or ``+84``/``84`` + 9 digits, with spaces, dots or dashes.

    Raises:
        PydanticCustomError: ``phone``, not a Vietnamese mobile number.
    """
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise PydanticCustomError(
            "phone",
            "must be a Vietnamese mobile number: 0 and 9 digits, or +84 and 9 digits",
        )
    return "+84" + digits[1:]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Applicant(_In):
    """The person who files the dossier."""

    full_name: Text = Field(min_length=1, max_length=200)
    national_id: str = Field(description="CCCD: exactly 12 digits", examples=["001090012345"])
    phone: str = Field(description="0 + 9 digits or +84 + 9 digits", examples=["0912345678"])
    email: Text | None = Field(default=None, max_length=320)
    address: Text = Field(min_length=5, max_length=500)
    notify_by_sms: bool = Field(
        default=True,
        description="text messages to the phone (receipt, papers asked for, apology, result); "
        "e-mail is used whenever an address is given",
    )

    @field_validator("national_id", mode="before")
    @classmethod
    def _national_id(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        digits = re.sub(r"[\s.\-]", "", value)
        if not re.fullmatch(r"\d{12}", digits):
            raise PydanticCustomError(
                "national_id", "the citizen identity card (CCCD) number must be exactly 12 digits"
            )
        return digits

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        return normalise_phone(value) if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise PydanticCustomError("email", "must be an e-mail address")
        return value or None


class DeskDelivery(_In):
    """The applicant collects the result at the one-stop desk."""

    method: Literal["desk"]


class HomeDelivery(_In):
    """The result is posted to this address."""

    method: Literal["home"]
    address: Text = Field(min_length=5, max_length=500)


Delivery = Annotated[DeskDelivery | HomeDelivery, Field(discriminator="method")]


class SubmissionRequest(_In):
    """An online dossier."""

    procedure: str = Field(min_length=1, max_length=80, description="a code of /api/v1/procedures")
    applicant: Applicant
    parcel: ParcelRef | None = Field(
        default=None,
        description="the land parcel; required when a step of the procedure checks one (land)",
    )
    documents: list[UploadId] = Field(
        default=[], max_length=50, description="ids returned by POST /api/v1/uploads"
    )
    delivery: Delivery = Field(default_factory=lambda: DeskDelivery(method="desk"))


class Links(BaseModel):
    """Where the applicant goes next (each needs the tracking secret)."""

    tracking: str
    receipt_html: str
    receipt_pdf: str
    qr: str


class SubmissionResponse(BaseModel):
    """The dossier a submission created (the same for every retry of the request)."""

    dossier_code: str
    procedure: str
    received_at: StoredMoment
    appointment: datetime | None = Field(description="null while the dossier is being planned")
    tracking_secret: str = Field(description="the second factor for tracking; keep it")
    links: Links


class UploadResponse(BaseModel):
    """A stored upload."""

    id: str
    name_vi: str
    content_type: str
    size_bytes: int
    sha256: str


class OpenStepView(BaseModel):
    """A step an agency holds now."""

    key: str
    name_vi: str
    agency: str
    kind: str
    due: datetime | None
    overdue: bool


class HandoverView(BaseModel):
    """A row of the control slip (form 06; form 05 before 15/9/2025)."""

    procedure: str
    step: str
    from_agency: str
    to_agencies: list[str]
    at: datetime
    result: str
    verdict: str | None


class DocumentView(BaseModel):
    """A document the dossier produced."""

    procedure: str
    kind: str
    reference: str | None
    summary_vi: str
    at: datetime


class SupplementView(BaseModel):
    """A request to supplement the dossier (form 02)."""

    requested_by: str
    missing_documents: list[str]
    reason: str
    at: datetime
    answered_at: datetime | None


class ApologyView(BaseModel):
    """An apology letter (form 04) and the new appointment it gives."""

    agency: str
    reason_vi: str
    new_appointment: datetime


class DeliveryAttemptView(BaseModel):
    """One attempt of the post office."""

    attempt: int
    at: StoredMoment
    outcome: str
    note_vi: str


class DeliveryView(BaseModel):
    """A shipment of a result by post (a combined dossier may return several results)."""

    step: str = Field(description="the return step whose result is shipped")
    tracking_number: str
    status: str
    attempts: int
    dispatched_at: StoredMoment
    closed_at: StoredMoment | None
    applicant_told_at: StoredMoment | None = Field(
        description="attempts exhausted: when the applicant was told to collect it at the desk"
    )
    attempt_log: list[DeliveryAttemptView]
    address: str | None = Field(
        description="shown only to a caller with the receipt's tracking secret"
    )


class PaymentView(BaseModel):
    """A payment through the provider."""

    payment_id: str
    status: str
    amount_vnd: int
    decline_reason: str | None = None
    redirect_url: str | None = None


class TrackingView(BaseModel):
    """What the applicant sees of the dossier."""

    dossier_code: str
    procedure_code: str
    status: DossierStatus
    received_at: datetime
    appointment: datetime | None
    open_steps: list[OpenStepView]
    handovers: list[HandoverView]
    documents: list[DocumentView]
    supplements: list[SupplementView]
    apologies: list[ApologyView]
    amount_due_vnd: int
    amount_paid_vnd: int
    home_delivery: bool
    deliveries: list[DeliveryView]
    payments: list[PaymentView]


class SupplementRequestBody(_In):
    """The applicant's supplementary documents."""

    documents: list[UploadId] = Field(min_length=1, max_length=50)


class WithdrawRequestBody(_In):
    """The applicant withdraws the dossier."""

    reason: Text = Field(default="", max_length=1000)


class StatusView(BaseModel):
    """The dossier's status after an applicant's act."""

    dossier_code: str
    status: DossierStatus


class DeliveryAddressBody(_In):
    """Where the result of a home-delivery dossier is to be posted from now on."""

    address: Text = Field(min_length=5, max_length=500)


class DeliveryAddressChanged(BaseModel):
    """The address is changed (it is not repeated in the answer)."""

    dossier_code: str
    changed: bool


class OneTimeCodeSent(BaseModel):
    """Where a one-time code went (masked) and until when it opens the dossier."""

    sent_to: str
    expires_at: datetime


class PaymentStartBody(_In):
    """Pay the outstanding financial obligation."""

    method: str = Field(
        default="tok_visa",
        min_length=1,
        max_length=64,
        description="the payment method token the provider gave the citizen's card or wallet",
    )


class RatingBody(_In):
    """The applicant's rating of the service."""

    score: int = Field(ge=1, le=5)
    comment: Text = Field(default="", max_length=2000)


class RatingView(BaseModel):
    """A recorded rating."""

    dossier_code: str
    score: int
    comment: str


class DecisionBody(_In):
    """An officer's decision on an open step."""

    action: DecisionAction
    reason: Text = Field(default="", max_length=2000)
    missing_documents: list[Text] = Field(default=[], max_length=50)
    send_back_to: str | None = Field(default=None, max_length=160)


class AssignmentBody(_In):
    """The head of an agency hands an open step to one of its officers."""

    officer: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-_]{0,79}$", description="the officer's id")
    reason: Text = Field(default="", max_length=2000)


class AssignmentView(BaseModel):
    """Who holds a step now."""

    dossier_code: str
    step_key: str
    officer: str
    assigned_by: str
    assigned_at: datetime


class SignedOut(BaseModel):
    """The token used for this request no longer opens anything."""

    revoked: bool


class DecisionView(BaseModel):
    """The dossier after the decision."""

    dossier_code: str
    step: str
    action: DecisionAction
    status: DossierStatus


class InboxItem(BaseModel):
    """An open step of the agency."""

    dossier_code: str
    step_key: str
    name_vi: str
    kind: str
    opened_at: StoredMoment | None
    due_at: StoredMoment | None
    overdue: bool
    due_soon: bool
    working_hours_left: float | None = Field(
        default=None, description="working hours until due (negative: overdue by that much)"
    )
    officer_action: bool = Field(description="an officer decides it (others finish by themselves)")
    assigned_to: str | None = Field(
        default=None, description="the officer the head assigned it to; anyone's if null"
    )


class InboxPage(BaseModel):
    """A page of the agency's inbox, most urgent first."""

    agency: str
    page: int
    page_size: int
    total: int
    items: list[InboxItem]


class ProcedureHeading(BaseModel):
    """What names a procedure (or combined bundle) version: the catalog's lists and the
    procedure's public page (`web.views.ProcedurePage`) both start with it."""

    code: str
    version: str
    name_vi: str
    name_en: str
    combined: bool
    online_only: bool
    home_delivery: bool
    limit: str  # the time limit, in words

    @classmethod
    def fields_of(cls, entry: CatalogEntry, limit: str) -> dict[str, Any]:
        """This heading's fields of a catalog entry, its time limit given in words."""
        return {
            "code": entry.code,
            "version": entry.version,
            "name_vi": entry.name_vi,
            "name_en": entry.name_en,
            "combined": isinstance(entry, CombinedProcedure),
            "online_only": entry.online_only,
            "home_delivery": entry.home_delivery,
            "limit": limit,
        }


class ProcedureSummary(ProcedureHeading):
    """A procedure (or combined bundle) one can file today."""

    # The last day this version takes dossiers (None: open-ended), and, within 30 days of it
    # with no successor published, a warning that dossiers will be refused after it.
    in_force_until: date | None = None
    warning: str | None = None


class ExemptionAnswer(BaseModel):
    """Whether a planned house needs the procedure at all (a building permit), and why not."""

    procedure: str
    version: str
    exempt: bool
    answer_vi: str
    exemption: str | None = None  # the exemption's id in the catalog
    legal_basis: str | None = None


class RequiredDocument(BaseModel):
    """A document the applicant supplies."""

    procedure: str
    name_vi: str
    optional: bool
    copies: int


class ProcedureDetail(ProcedureSummary):
    """A procedure with its documents, fees and steps."""

    components: list[str]
    required_documents: list[RequiredDocument]
    fees: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    required_fields: list[str] = Field(
        default=[],
        description=(
            "fields of the submission this procedure's steps cannot do without, beyond the "
            "applicant, documents and delivery (e.g. parcel for a land procedure)"
        ),
    )
