"""Table models of the registry (SQLAlchemy 2 typed declarative).

Table models never cross a workflow boundary: activities convert them to the pydantic models of
`domain` before returning.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from store.types import EncryptedText

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _serial_id() -> Mapped[int]:
    """A surrogate key the database numbers."""
    return mapped_column(Integer, primary_key=True, autoincrement=True)


def _written_at() -> Mapped[datetime]:
    """When the row was written, by the database's clock."""
    return mapped_column(TIMESTAMP(timezone=True), server_default=func.now())


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DossierCodeCounter(Base):
    """The last daily sequence number handed out per desk and day (for dossier codes)."""

    __tablename__ = "dossier_code_counters"

    desk_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)


class DossierRecord(Base):
    """One dossier as the registry knows it (the receipt, form 01, and its current status)."""

    __tablename__ = "dossiers"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    desk_code: Mapped[str] = mapped_column(String(20), index=True)
    procedure_code: Mapped[str] = mapped_column(String(80), index=True)
    procedure_version: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), index=True)
    clock_starts_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    appointment_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    status: Mapped[str] = mapped_column(String(32), index=True)
    # -- kept up to date by the workflow (revision 0004) --
    name_vi: Mapped[str] = mapped_column(String(500), default="", server_default="")
    legal_appointment_at: Mapped[datetime | None] = mapped_column(
        TIMESTAMP(timezone=True), nullable=True
    )
    # When the dossier ended (returned, refused, stopped, withdrawn); the reports count by it.
    finished_at: Mapped[datetime | None] = mapped_column(
        TIMESTAMP(timezone=True), nullable=True, index=True
    )
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)  # `Verdict`
    working_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_working_hours: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    apologies: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    amount_due_vnd: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_paid_vnd: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The workflow's sync counter: an older snapshot never overwrites a newer one.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = _written_at()
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# --------------------------------------------------------------------------------------------
# Agency registers (revision 0002): the systems the agencies' automated checks read and write.
# Each is keyed by business ids so that a retried activity finds its own earlier write.
# --------------------------------------------------------------------------------------------


class LandUse(StrEnum):
    """Land-use type codes of the cadastral register (Circular 08/2024/TT-BTNMT, appendix).

    Only the codes the seed and the checks use; the register column accepts any code.
    """

    ODT = "ODT"  # đất ở tại đô thị: urban residential
    ONT = "ONT"  # đất ở tại nông thôn: rural residential
    CLN = "CLN"  # đất trồng cây lâu năm: perennial crops
    BHK = "BHK"  # đất bằng trồng cây hàng năm khác: other annual crops on flat land
    TMD = "TMD"  # đất thương mại, dịch vụ: commercial and service land


class CivilRegistrationKind(StrEnum):
    """Entries of the civil-status (hộ tịch) register this engine reads or writes."""

    BIRTH = "birth"  # khai sinh
    MARRIAGE = "marriage"  # kết hôn


class RegisterCounter(Base):
    """The last sequence number handed out per register and year (KS-2025-000001, ...)."""

    __tablename__ = "register_counters"

    register: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)


class LandParcel(Base):
    """One parcel of the land registration office's cadastral book (sổ địa chính)."""

    __tablename__ = "land_parcels"
    __table_args__ = (
        UniqueConstraint(
            "commune", "map_sheet", "parcel_number", name="uq_land_parcels_commune_sheet_parcel"
        ),
    )

    id: Mapped[int] = _serial_id()
    commune: Mapped[str] = mapped_column(String(40))
    map_sheet: Mapped[int] = mapped_column(Integer)  # tờ bản đồ số
    parcel_number: Mapped[int] = mapped_column(Integer)  # thửa đất số
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    land_use: Mapped[str] = mapped_column(String(8))  # a `LandUse` code
    origin_vi: Mapped[str] = mapped_column(String(300))  # nguồn gốc sử dụng đất, as recorded
    # First day of stable use, when the origin papers establish it; drives the land-use levy.
    stable_use_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    certificate_issued: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))


class LandPrice(Base):
    """A row of the provincial land price table (bảng giá đất), per commune and land use.

    ``effective_to`` is inclusive; None means still in force.
    """

    __tablename__ = "land_prices"
    __table_args__ = (
        UniqueConstraint(
            "commune", "land_use", "effective_from", name="uq_land_prices_commune_use_from"
        ),
    )

    id: Mapped[int] = _serial_id()
    commune: Mapped[str] = mapped_column(String(40))
    land_use: Mapped[str] = mapped_column(String(8))
    price_vnd_per_m2: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    legal_basis_vi: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CivilRegistration(Base):
    """An entry of the civil-status register: a birth or a marriage.

    Entries made by this engine carry the dossier that made them (unique per kind, so a retried
    activity finds its row); entries from before the engine have no dossier code.
    """

    __tablename__ = "civil_registrations"
    __table_args__ = (
        UniqueConstraint("kind", "dossier_code", name="uq_civil_registrations_kind_dossier"),
    )

    id: Mapped[int] = _serial_id()
    kind: Mapped[str] = mapped_column(String(20))  # a `CivilRegistrationKind`
    number: Mapped[str] = mapped_column(String(40), unique=True)  # số đăng ký
    dossier_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Opaque ids of the persons (no personal data); a marriage names both spouses.
    subject_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    partner_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    registered_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # divorce or death
    created_at: Mapped[datetime] = _written_at()


class _MadeFromBirth:
    """Columns of an entry a dossier makes from the child's birth registration, one per dossier
    (the residence registration, the health-insurance card)."""

    __tablename__: str

    id: Mapped[int] = _serial_id()
    dossier_code: Mapped[str] = mapped_column(String(40), unique=True)
    subject_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = _written_at()

    @declared_attr
    def birth_registration_number(cls) -> Mapped[str]:
        return mapped_column(
            String(40),
            ForeignKey("civil_registrations.number", name=f"fk_{cls.__tablename__}_birth_number"),
        )


class ResidenceRegistration(_MadeFromBirth, Base):
    """A permanent-residence registration (đăng ký thường trú) made by the commune police."""

    __tablename__ = "residence_registrations"

    number: Mapped[str] = mapped_column(String(40), unique=True)
    registered_on: Mapped[date] = mapped_column(Date)


class HealthInsuranceCard(_MadeFromBirth, Base):
    """A health-insurance card (thẻ bảo hiểm y tế) issued by the social security office."""

    __tablename__ = "health_insurance_cards"

    card_number: Mapped[str] = mapped_column(String(20), unique=True)
    valid_from: Mapped[date] = mapped_column(Date)


# --------------------------------------------------------------------------------------------
# Letters and notifications (revision 0003): what the engine sends, each row written once per
# business key so a retried or restarted activity finds its own earlier work.
# --------------------------------------------------------------------------------------------


class DeliveryChannel(StrEnum):
    """How a letter or notice left the engine."""

    SMTP = "smtp"  # handed to the configured mail server
    OUTBOX = "outbox"  # written as an .eml file to the outbox directory (demo, no mail server)


class NoticeKind(StrEnum):
    """Why an agency is written to about one of its steps."""

    DUE_SOON = "due_soon"  # warning: the step is due shortly
    OVERDUE = "overdue"  # the step is past its due moment
    ESCALATION = "escalation"  # to the head of the agency: still overdue
    WITHDRAWN = "withdrawn"  # the applicant withdrew: stop working on the step


class ApplicantContact(Base):
    """How to reach the applicant of a dossier (written by the submission side).

    Personal data (Decree 13/2023): read only by the activities that write to the applicant,
    never logged, never copied into workflow histories or search attributes. Encrypted at rest
    (revision 0005, docs/personal-data.md); found by value only through the blind indexes.
    """

    __tablename__ = "applicant_contacts"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    full_name: Mapped[str] = mapped_column(EncryptedText("applicant_contacts.full_name"))
    email: Mapped[str | None] = mapped_column(
        EncryptedText("applicant_contacts.email"), nullable=True
    )
    phone: Mapped[str | None] = mapped_column(
        EncryptedText("applicant_contacts.phone"), nullable=True
    )
    national_id: Mapped[str | None] = mapped_column(  # số CCCD (12 digits)
        EncryptedText("applicant_contacts.national_id"), nullable=True
    )
    address: Mapped[str | None] = mapped_column(
        EncryptedText("applicant_contacts.address"), nullable=True
    )
    # The applicant's choice of text messages besides e-mail (revision 0008).
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Keyed HMACs (engine.crypto blind_index) for exact lookups without decrypting.
    national_id_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_last4_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = _written_at()
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ApologyLetterRecord(Base):
    """One apology letter (form 04): its printed fields, its files and its delivery.

    One row per missed appointment, keyed by (dossier_code, sequence). ``rendered_at`` and
    ``sent_at`` record the two side effects, so a restarted activity redoes only what is missing.
    """

    __tablename__ = "apology_letters"
    __table_args__ = (
        UniqueConstraint("dossier_code", "sequence", name="uq_apology_letters_dossier_sequence"),
        # The on-time reports (revision 0004): letters issued in a period, in total or by agency.
        Index("ix_apology_letters_issued_at", "issued_at"),
        Index("ix_apology_letters_agency_issued_at", "agency", "issued_at"),
    )

    id: Mapped[int] = _serial_id()
    letter_id: Mapped[str] = mapped_column(String(80), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    # -- the form's fields, frozen when the letter is first recorded --
    procedure_code: Mapped[str] = mapped_column(String(80))
    procedure_name_vi: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    original_appointment: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    new_appointment: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    agency: Mapped[str] = mapped_column(String(40))
    agency_name_vi: Mapped[str] = mapped_column(String(200))
    signer_title_vi: Mapped[str] = mapped_column(String(200))
    reason_vi: Mapped[str] = mapped_column(Text)
    # "Ông/Bà <name>": personal data, encrypted like the contact it comes from.
    addressee_vi: Mapped[str] = mapped_column(EncryptedText("apology_letters.addressee_vi"))
    issued_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    place_vi: Mapped[str] = mapped_column(String(100))
    tracking_url: Mapped[str] = mapped_column(String(500))
    # -- rendering --
    html_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    pdf_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rendered_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    # -- delivery --
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)  # `DeliveryChannel`
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recipient_masked: Mapped[str | None] = mapped_column(String(320), nullable=True)
    via_desk: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # no applicant e-mail
    created_at: Mapped[datetime] = _written_at()


class NotificationRecord(Base):
    """One notice to an agency (a warning, an overdue notice or an escalation to its head).

    Keyed by (dossier_code, kind, step, sequence): each is sent once, whatever the retries.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "dossier_code", "kind", "step", "sequence", name="uq_notifications_dossier_kind_step"
        ),
    )

    id: Mapped[int] = _serial_id()
    notice_id: Mapped[str] = mapped_column(String(240), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # a `NoticeKind`
    step: Mapped[str] = mapped_column(String(160))  # "procedure:step"
    sequence: Mapped[int] = mapped_column(Integer)
    agency: Mapped[str] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(320))  # an agency mailbox, not personal data
    due: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    late_working_hours: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(20), nullable=True)  # `DeliveryChannel`
    message_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = _written_at()


# --------------------------------------------------------------------------------------------
# The read model (revision 0004): what the dossier workflow reports of itself, for the forms and
# the on-time reports. Written only by the ``registry.sync`` activity, as upserts keyed by
# business ids, so a retried or replayed sync never duplicates or loses a row.
# All moments are stored in UTC.
# --------------------------------------------------------------------------------------------


class ProcedureRun(Base):
    """One procedure of a dossier (a combined dossier has several), and how it ended."""

    __tablename__ = "procedure_runs"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    name_vi: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))  # running / refused / stopped / withdrawn


class StepRecord(Base):
    """One step of a dossier as it stands: its agency, due moment, finish and verdict.

    A step sent back and run again keeps one row (its latest run); every run is in the ledger.
    """

    __tablename__ = "dossier_steps"
    __table_args__ = (
        # The agency reports: steps an agency received / finished in a period.
        Index("ix_dossier_steps_agency_opened_at", "agency", "opened_at"),
        Index("ix_dossier_steps_agency_done_at", "agency", "done_at"),
        Index("ix_dossier_steps_opened_at", "opened_at"),
        Index("ix_dossier_steps_done_at", "done_at"),
    )

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    step_key: Mapped[str] = mapped_column(String(160), primary_key=True)  # procedure:step
    procedure_code: Mapped[str] = mapped_column(String(80), index=True)
    agency: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(30))
    name_vi: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # pending / open / done / cancelled
    opened_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(Text, default="")
    officer_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)  # `Verdict`
    working_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_working_hours: Mapped[float] = mapped_column(Float, default=0.0)


class HandoverRecord(Base):
    """A row of form 05 (process-control slip): a step finished and the dossier moved on."""

    __tablename__ = "handovers"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(80))
    step: Mapped[str] = mapped_column(String(80))
    from_agency: Mapped[str] = mapped_column(String(40))
    to_agencies: Mapped[str] = mapped_column(String(300))  # comma-separated codes
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    result: Mapped[str] = mapped_column(Text)
    officer_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    late_working_hours: Mapped[float] = mapped_column(Float, default=0.0)


class DocumentKind(StrEnum):
    """What a dossier produced."""

    RECEIPT = "form-01"  # receipt and appointment
    SUPPLEMENT_REQUEST = "form-02"
    REFUSAL = "form-03"
    APOLOGY = "form-04"
    REGISTRATION = "registration"  # a number in an agency's register (birth, residence, ...)
    NOTICE = "notice"  # a notice of the financial obligation
    RESULT = "result"  # the result handed back: certificate, permit, ...


class DocumentRecord(Base):
    """A document a dossier produced, numbered per dossier and kind."""

    __tablename__ = "documents_issued"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # a `DocumentKind`
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(80))
    step: Mapped[str | None] = mapped_column(String(80), nullable=True)
    agency: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(80), nullable=True)
    summary_vi: Mapped[str] = mapped_column(Text, default="")
    # The form's own fields as JSON: the missing documents of a form 02, the new date of a 04.
    detail: Mapped[str] = mapped_column(Text, default="{}")
    issued_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), index=True)


class ReceivedDocument(Base):
    """A document the applicant handed in (with the dossier, or later as a supplement)."""

    __tablename__ = "documents_received"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    supplement: Mapped[bool] = mapped_column(Boolean, default=False)  # handed in later


class AuditRecord(Base):
    """Who decided what on a dossier, when and why: every accepted officer decision and every
    applicant action that changed the dossier. Keyed by the workflow update's id."""

    __tablename__ = "audit_log"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # officer / applicant
    actor_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    agency: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(30))
    step: Mapped[str | None] = mapped_column(String(160), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # missing documents, send-back target


# --------------------------------------------------------------------------------------------
# Home delivery (revision 0006): results sent to the applicant by the public postal service.
# --------------------------------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    """Where a shipment of a result stands."""

    DISPATCHED = "dispatched"  # handed to the post office, tracking number issued
    DELIVERED = "delivered"  # proof of delivery received
    RETURNED_TO_DESK = "returned_to_desk"  # attempts exhausted; the applicant collects it


class DeliveryOutcome(StrEnum):
    """What one delivery attempt came to."""

    DELIVERED = "delivered"
    RECIPIENT_ABSENT = "recipient_absent"
    ADDRESS_NOT_FOUND = "address_not_found"


class DeliveryRecord(Base):
    """One shipment of a dossier's results to the applicant's home."""

    __tablename__ = "deliveries"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    step: Mapped[str] = mapped_column(String(160), primary_key=True)  # the return step's key
    tracking_number: Mapped[str] = mapped_column(String(40), unique=True)
    # Personal data: where the result goes, and who signed for it.
    address: Mapped[str] = mapped_column(EncryptedText("deliveries.address"))
    status: Mapped[str] = mapped_column(String(20), index=True)  # a `DeliveryStatus`
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    received_by: Mapped[str | None] = mapped_column(
        EncryptedText("deliveries.received_by"), nullable=True
    )
    # Attempts exhausted: when the applicant was told to collect the result at the desk.
    applicant_told_at: Mapped[datetime | None] = mapped_column(
        TIMESTAMP(timezone=True), nullable=True
    )


class DeliveryAttemptRecord(Base):
    """One attempt of the post office to deliver a shipment (written once per attempt)."""

    __tablename__ = "delivery_attempts"

    tracking_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    outcome: Mapped[str] = mapped_column(String(30))  # a `DeliveryOutcome`
    note_vi: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------------------------
# The HTTP API (revision 0007): online submissions keyed by the client's idempotency key, the
# digests of uploaded files (the files themselves live outside the database), payments through
# the payment provider, and the applicants' ratings of the service.
# --------------------------------------------------------------------------------------------


class OnlineSubmission(Base):
    """One online submission: the client's idempotency key and the dossier it created.

    Written in the transaction that allocates the dossier code, so a retried or concurrent
    request with the same key finds this row and the same code. ``facts`` is the
    `domain.dossier.DossierFacts` JSON the workflow is started with (no personal data), kept so
    a retry after a crash starts exactly the same dossier.
    """

    __tablename__ = "online_submissions"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))  # of the normalised request body
    dossier_code: Mapped[str] = mapped_column(String(40), unique=True)
    procedure_code: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    facts: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _written_at()


class UploadRecord(Base):
    """A document uploaded before submission; the file is ``<data_dir>/uploads/<sha256>``."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(300))  # the document, as the catalog names it
    content_type: Mapped[str] = mapped_column(String(100))  # as sniffed, not as declared
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = _written_at()


class PaymentStatus(StrEnum):
    """Where a payment through the provider stands."""

    PENDING = "pending"  # created; the provider has not called back yet
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class PaymentRecord(Base):
    """One payment of a dossier's financial obligation through the payment provider."""

    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # a `PaymentStatus`
    decline_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = _written_at()
    completed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)


class RatingRecord(Base):
    """The applicant's rating of the service (1-5), once per dossier."""

    __tablename__ = "ratings"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    # Free text may name people: encrypted like the contacts.
    comment: Mapped[str] = mapped_column(EncryptedText("ratings.comment"))
    created_at: Mapped[datetime] = _written_at()


class OutboxRow(Base):
    """What every outside system's outbox row has (`store.outbox`; revision 0008)."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    changed_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))  # the event's moment
    enqueued_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    pushed_at: Mapped[datetime | None] = mapped_column(
        TIMESTAMP(timezone=True), nullable=True, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PortalOutboxRecord(OutboxRow):
    """A status change owed to the national public-service portal.

    Written by `store.read_model.apply_snapshot` in the transaction that records the change, so
    the registry never holds a status the outbox lacks. ``(dossier_code, sequence)`` is the
    idempotency key the portal sees.
    """

    __tablename__ = "portal_outbox"
    __table_args__ = (UniqueConstraint("dossier_code", "sequence"),)

    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per dossier
    procedure_code: Mapped[str] = mapped_column(String(80))
    desk_code: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(32))  # a `DossierStatus`
    status_code: Mapped[int] = mapped_column(Integer)  # the portal's code, 1-10
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    appointment_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    agencies: Mapped[str] = mapped_column(String(500), default="")  # holding it, comma-separated
    resend: Mapped[bool] = mapped_column(Boolean, default=False)  # queued by a reconciliation


class SimulatedPortalReceipt(Base):
    """What the simulated national portal accepted, by idempotency key (revision 0008).

    Not ours in production: the portal keeps its own. The simulated portal (`activities.portal`)
    keeps it here so tests and the reconciliation can compare the two sides; ``deliveries``
    counts how often the same key arrived (a retry after a lost acknowledgement).
    """

    __tablename__ = "sim_portal_receipts"

    idempotency_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    arrival: Mapped[int] = mapped_column(Integer)  # order of first arrival, 1, 2, ...
    deliveries: Mapped[int] = mapped_column(Integer, default=1)


class SmsKind(StrEnum):
    """Why the applicant gets a text message."""

    RECEIPT = "receipt"  # form 01: received, with the appointment
    SUPPLEMENT = "supplement"  # form 02: papers are asked for
    REFUSAL = "refusal"  # form 03
    APOLOGY = "apology"  # form 04: late, with the new appointment
    RESULT_READY = "result_ready"  # the result waits at the desk (its return step is open)
    OUT_FOR_DELIVERY = "out_for_delivery"  # handed to the post, with the tracking number
    STOPPED = "stopped"  # form 05: the time to supplement ended, processing stopped


class SmsOutboxRecord(OutboxRow):
    """A text message owed to the applicant (revision 0008).

    Written with the registry row or the shipment it tells of; no phone number and no name:
    the number is read from the encrypted contact when the message is sent, and ``params``
    holds only dates, codes and tracking numbers. ``key`` (``{dossier}:{kind}:{n}``) is the
    gateway's idempotency key.
    """

    __tablename__ = "sms_outbox"

    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # an `SmsKind`
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON: dates, tracking number
    # How it ended: the gateway's message id, or why nothing was sent (no phone, opted out).
    gateway_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    skipped: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SimulatedSmsRecord(Base):
    """What the simulated SMS gateway sent (revision 0008): the text and a masked number."""

    __tablename__ = "sim_sms_sent"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(80))
    to_masked: Mapped[str] = mapped_column(String(20))  # 09******78
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(10))  # GSM-7 or UCS-2
    sent_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    deliveries: Mapped[int] = mapped_column(Integer, default=1)


# --------------------------------------------------------------------------------------------
# Abuse limits and officer sessions (revision 0009): counters shared by every API process, the
# one-time codes sent to applicants, revoked officer tokens and steps assigned by a head.
# --------------------------------------------------------------------------------------------


class AbuseCounter(Base):
    """Attempts of one kind by one party in the current window (`api.limits`).

    ``key`` names the kind and the party: ``factor:dossier:<code>``, ``factor:client:<hash of
    the address>``, ``write:client:<hash>``, ``write:dossier:<code>``; never an address in
    clear. Rows are locked while counted, so several API processes count together.
    """

    __tablename__ = "abuse_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    last_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    # Set when the count reached the lock threshold; lifted by time, or for a dossier by the
    # receipt's secret.
    locked_until: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)


class OneTimeCode(Base):
    """The latest one-time code sent to a dossier's applicant: its keyed digest, never the code."""

    __tablename__ = "one_time_codes"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = _written_at()


class RevokedToken(Base):
    """An officer's token revoked before it expires (sign-out, a lost device, a departure)."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the token's jti
    agency: Mapped[str] = mapped_column(String(40))
    officer: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    revoked_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    reason: Mapped[str] = mapped_column(String(200), default="")


class StepAssignment(Base):
    """The officer the head of an agency assigned an open step to (absent: anyone's)."""

    __tablename__ = "step_assignments"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    step_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    agency: Mapped[str] = mapped_column(String(40), index=True)
    officer_id: Mapped[str] = mapped_column(String(80))
    assigned_by: Mapped[str] = mapped_column(String(80))
    assigned_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))


class ReceiptSeriesCounter(Base):
    """The last number of a desk's electronic receipt series (ký hiệu mẫu số + ký hiệu).

    Incremented in the same transaction that writes the receipt, so a rolled-back receipt
    gives its number back: the series has neither repeats nor gaps.
    """

    __tablename__ = "receipt_series_counters"

    desk_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    template_no: Mapped[str] = mapped_column(String(20), primary_key=True)  # ký hiệu mẫu số
    symbol: Mapped[str] = mapped_column(String(20), primary_key=True)  # ký hiệu
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class ElectronicReceipt(Base):
    """One electronic receipt (biên lai điện tử) for a fee, or the document of its refund."""

    __tablename__ = "electronic_receipts"
    __table_args__ = (UniqueConstraint("desk_code", "template_no", "symbol", "number"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The payment's (or refund's) idempotency key: a retried callback finds its receipt.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "receipt" | "refund"
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    desk_code: Mapped[str] = mapped_column(String(20))
    template_no: Mapped[str] = mapped_column(String(20))
    symbol: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    fee_name_vi: Mapped[str] = mapped_column(String(500))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(10))  # "online" | "desk"
    issued_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The rendered receipt holds the payer's name: encrypted like the applicant's contact.
    html: Mapped[str] = mapped_column(EncryptedText("electronic_receipts.html"))


class EInvoiceOutboxRecord(OutboxRow):
    """An electronic receipt (or refund document) owed to the tax authority's e-invoice system
    (revision 0011).

    Written by `store.receipts.issue` in the receipt's own transaction, so no receipt exists that
    the tax authority will not get. ``payload`` is the transmission as sent (JSON: the collector,
    the series and number, the fee and the amount; no payer name); ``key`` (``{desk}:{template}:
    {symbol}:{number}``, one per receipt) is the authority's idempotency key.
    """

    __tablename__ = "einvoice_outbox"

    key: Mapped[str] = mapped_column(String(120), unique=True)
    receipt_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    # What the tax authority answered: its code for the transmitted receipt.
    authority_code: Mapped[str | None] = mapped_column(String(80), nullable=True)


class SimulatedEInvoiceRecord(Base):
    """What the simulated tax authority received, by idempotency key (revision 0011);
    ``deliveries`` counts how often the same key arrived (a retry after a lost acknowledgement).
    """

    __tablename__ = "sim_einvoice_received"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    authority_code: Mapped[str] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    arrival: Mapped[int] = mapped_column(Integer)  # order of first arrival, 1, 2, ...
    deliveries: Mapped[int] = mapped_column(Integer, default=1)


class FeeStatus(StrEnum):
    """Where a dossier's fee at receipt stands."""

    DUE = "due"
    PAID = "paid"
    REFUNDED = "refunded"


class DossierFee(Base):
    """The fee a dossier owes at receipt (from the catalog version in force), and its payment.

    ``held``: the fee blocks the clock and the dossier's workflow has not been started yet; it
    starts, received at ``paid_at``, once the fee is paid. ``facts`` (revision 0011): what a
    dossier filed at the desk starts with once paid (an online one's are its submission's).
    """

    __tablename__ = "dossier_fees"

    dossier_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(80))
    procedure_version: Mapped[str] = mapped_column(String(40))
    fee_name_vi: Mapped[str] = mapped_column(String(500))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    blocks_clock: Mapped[bool] = mapped_column(Boolean)
    held: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10))  # a `FeeStatus`
    method: Mapped[str | None] = mapped_column(String(10), nullable=True)  # "online" | "desk"
    payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    receipt_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refund_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True), nullable=True)
    refund_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    facts: Mapped[str | None] = mapped_column(Text, nullable=True)  # `DossierFacts` JSON
