"""The one-stop forms other than the apology: receipt, supplement request, refusal, the notice
that processing stops, the control slip and the register.

Each form carries the edition of the dossier's receipt day (`forms.editions`): its number and
title are those of Circular 01/2018/TT-VPCP (01, 02, 03, 05 slip, 06 register) or of Circular
03/2025/TT-VPCP (01, 02, 03, 05 stop notice, 06 slip, 07 register).

One pydantic model per form holds exactly what the form prints, already in Vietnamese (the
loaders of `store.forms_data` build them from the registry); `render_html` and `render_pdf` fill
the form's templates ``forms/templates/form_NN*.j2`` in (named by the 2018 numbers; the stop
notice's are ``form_stop*.j2``), and `render_register_csv` exports the register for a
spreadsheet. Like form 04 (`forms.render`), rendering is a pure function
of the model: the same form gives the same HTML and the same PDF bytes.

The Vietnamese words printed for the engine's codes (verdicts, statuses, hand-over results, the
forms' titles, the register's columns) are in ``forms/templates/form_labels_vi.yaml``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.clock import VN_TZ
from forms.editions import FormEdition, FormKind, number_of, title_of
from forms.qr import png_data_uri, qr_png
from forms.render import TEMPLATES_DIR, PdfFont, html_to_pdf, render_text, vn_hours

LABELS_FILE = TEMPLATES_DIR / "form_labels_vi.yaml"


# -- the Vietnamese words for codes ------------------------------------------------------------


class FormLabels(BaseModel):
    """The contents of ``form_labels_vi.yaml``: Vietnamese words for the engine's codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdicts: dict[str, str]
    statuses: dict[str, str]
    parties: dict[str, str]
    results: dict[str, str]
    return_methods: dict[str, str]
    units: dict[str, str]
    no_contact: str
    register_columns: tuple[str, ...] = Field(min_length=8, max_length=8)

    def verdict(self, code: str | None) -> str:
        """``Đúng hạn`` for ``on_time``; empty for no verdict; an unknown code as it is."""
        return "" if code is None else self.verdicts.get(code, code)

    def status(self, code: str) -> str:
        """``Đang giải quyết`` for ``in_progress``; an unknown code as it is."""
        return self.statuses.get(code, code)

    def result(self, text: str) -> str:
        """A hand-over result in Vietnamese: ``approved: ok`` → ``Đồng ý: ok``.

        Only the leading words the workflow writes are translated; the reason after them (typed
        by an officer, usually in Vietnamese) is kept, and an unknown text is printed as it is.
        """
        stripped = text.strip()
        for prefix in sorted(self.results, key=len, reverse=True):
            match = re.fullmatch(rf"{re.escape(prefix)}(?::\s*|\s+|$)(.*)", stripped, re.DOTALL)
            if match:
                rest = match.group(1).strip()
                label = self.results[prefix]
                if not rest:
                    return label
                return f"{label}: {rest}" if stripped[len(prefix)] == ":" else f"{label} {rest}"
        return stripped

    def time_limit(self, amount: float, unit: str) -> str:
        """``23 ngày làm việc`` for a catalog limit of 23 working days."""
        return f"{vn_hours(amount)} {self.units.get(unit, unit)}"


@functools.cache
def labels() -> FormLabels:
    """The labels file, read once per process."""
    with LABELS_FILE.open(encoding="utf-8") as handle:
        return FormLabels.model_validate(yaml.safe_load(handle))


# -- the forms ---------------------------------------------------------------------------------


class _OfficialForm(BaseModel):
    """What every form shares: its kind, edition, number, title and the metadata of its PDF."""

    model_config = ConfigDict(frozen=True)

    kind: ClassVar[FormKind]
    template: ClassVar[str]  # forms/templates/form_{template}*.j2
    landscape: ClassVar[bool] = False  # A4 landscape for the wide tables of slip and register
    motto: ClassVar[bool] = True  # the national motto; not on the desk's own records

    # The circular in force on the dossier's receipt day (the register's: its last day).
    edition: FormEdition = FormEdition.CIRCULAR_03_2025

    @property
    def number(self) -> str:
        """The form's number in its edition (``05`` or ``06`` for the control slip)."""
        return number_of(self.kind, self.edition)

    @property
    def title_vi(self) -> str:
        """The form's title in its edition."""
        return title_of(self.kind, self.edition)

    @property
    def reference(self) -> str:
        """The form's business reference (the PDF's subject, the file name)."""
        raise NotImplementedError

    @property
    def issuer_vi(self) -> str:
        """Who issues the form (the PDF's author, the heading)."""
        raise NotImplementedError

    @property
    def dated(self) -> datetime:
        """The form's own date: the PDF's creation date, so re-rendering gives the same bytes."""
        raise NotImplementedError


class _DeskForm(_OfficialForm):
    """A form the one-stop desk issues and keeps: the receipt (01), the slip and the register."""

    desk_name_vi: str

    @property
    def issuer_vi(self) -> str:
        """The one-stop desk."""
        return self.desk_name_vi


class _DossierLetter(_OfficialForm):
    """A form the dossier's n-th request, refusal or stop sends the applicant (02, 03, 05).

    Its reference names the form by a fixed number (02, 03, 05), whatever its edition prints.

    Attributes:
        agency_name_vi: The agency that writes, and so issues the form: the one that asks for
            the supplement (the step it holds found the gap), refuses, or stops.
        place_vi: The place printed before the date; empty prints the date alone.
    """

    reference_number: ClassVar[str]

    dossier_code: str
    sequence: int = Field(ge=1)
    procedure_name_vi: str
    applicant_name_vi: str
    agency_name_vi: str
    place_vi: str = ""

    @property
    def reference(self) -> str:
        """``{code}-form-{02|03|05}-{sequence}``."""
        return f"{self.dossier_code}-form-{self.reference_number}-{self.sequence}"

    @property
    def issuer_vi(self) -> str:
        """The agency that writes."""
        return self.agency_name_vi


class ReceivedItem(BaseModel):
    """A document handed in, and how many of it."""

    model_config = ConfigDict(frozen=True)

    name_vi: str
    count: int = Field(ge=1)


class ReceiptForm(_DeskForm):
    """Form 01, giấy tiếp nhận hồ sơ và hẹn trả kết quả: what the applicant takes home.

    Attributes:
        component_procedures_vi: The procedures of a combined dossier, each by name; empty for a
            dossier of one procedure.
        applicant_name_vi: The applicant's name, or the labels' ``no_contact`` text.
        applicant_address_vi: The applicant's address, as given (None: not given).
        applicant_phone: The applicant's phone, as stored (None: not given).
        applicant_email: The applicant's e-mail (None: not given).
        documents: The documents handed in with the dossier (not the later supplements).
        time_limit_vi: The statutory limit (``23 ngày làm việc``); None when unknown.
        appointment_at: The appointment given at receipt.
        current_appointment_at: The appointment now, when supplements or an apology letter
            (form 04) have moved it since; None while it is the one given at receipt.
        return_method_vi: Where the result is handed over.
        tracking_url: Where the applicant follows the dossier (also as a QR code).
        place_vi: The place printed before the date.
        calendar_notes_vi: One note per provisional calendar period (an unannounced year, an
            unconfirmed day off) between the receipt and the appointment.
    """

    kind: ClassVar[FormKind] = FormKind.RECEIPT
    template: ClassVar[str] = "01"

    dossier_code: str
    desk_code: str
    procedure_name_vi: str
    component_procedures_vi: tuple[str, ...] = ()
    applicant_name_vi: str
    applicant_address_vi: str | None = None
    applicant_phone: str | None = None
    applicant_email: str | None = None
    documents: tuple[ReceivedItem, ...]
    time_limit_vi: str | None
    received_at: AwareDatetime
    appointment_at: AwareDatetime
    current_appointment_at: AwareDatetime | None = None
    return_method_vi: str
    tracking_url: str
    place_vi: str
    # Why the appointment may move: the provisional calendar periods its count touches.
    calendar_notes_vi: tuple[str, ...] = ()

    @property
    def register_book(self) -> str:
        """The desk's register (form 06) the dossier is entered in: one book a year (``2025``);
        the entry is the dossier code, as the register lists it."""
        return f"{self.received_at.astimezone(VN_TZ):%Y}"

    @property
    def reference(self) -> str:
        """``{code}-form-01``."""
        return f"{self.dossier_code}-form-01"

    @property
    def dated(self) -> datetime:
        """The receipt is dated when the dossier was received."""
        return self.received_at


class SupplementForm(_DossierLetter):
    """Form 02, phiếu yêu cầu bổ sung, hoàn thiện hồ sơ: what the applicant must add, and why.

    Attributes:
        sequence: 1 for the dossier's first request, 2 for the next, ...
    """

    kind: ClassVar[FormKind] = FormKind.SUPPLEMENT
    template: ClassVar[str] = "02"
    reference_number: ClassVar[str] = "02"

    missing_documents: tuple[str, ...]
    reason_vi: str
    issued_at: AwareDatetime

    @property
    def dated(self) -> datetime:
        """When the request was made."""
        return self.issued_at


class RefusalForm(_DossierLetter):
    """Form 03, phiếu từ chối tiếp nhận, giải quyết hồ sơ: who refused, at which step, why.

    Attributes:
        step_name_vi: The step at which the agency refused (``Thẩm định hồ sơ``).
        reasons_vi: The reasons, one per line of the refusal.
    """

    kind: ClassVar[FormKind] = FormKind.REFUSAL
    template: ClassVar[str] = "03"
    reference_number: ClassVar[str] = "03"

    step_name_vi: str
    reasons_vi: tuple[str, ...] = Field(min_length=1)
    issued_at: AwareDatetime

    @property
    def dated(self) -> datetime:
        """When the refusal was issued."""
        return self.issued_at


class ControlRow(BaseModel):
    """One hand-over on form 05: a step finished and the dossier moved on.

    Attributes:
        to_agencies_vi: The agencies (or the applicant) the dossier went to.
        due_at: The step's due moment; None for a step without one.
        verdict_vi: ``Trước hạn`` / ``Đúng hạn`` / ``Quá hạn`` / ``Không tính``, or empty.
        late_working_hours: How late, in working hours (1 working day = 8 h); 0 if not late.
    """

    model_config = ConfigDict(frozen=True)

    sequence: int
    step_name_vi: str
    from_agency_vi: str
    to_agencies_vi: tuple[str, ...]
    at: AwareDatetime
    result_vi: str
    due_at: AwareDatetime | None
    verdict_vi: str
    late_working_hours: float = Field(ge=0)


class ControlSlip(_DeskForm):
    """Phiếu kiểm soát quá trình giải quyết hồ sơ (form 06; 05 under the 2018 forms): every
    hand-over and its verdict."""

    kind: ClassVar[FormKind] = FormKind.CONTROL_SLIP
    template: ClassVar[str] = "05"
    landscape: ClassVar[bool] = True
    motto: ClassVar[bool] = False

    dossier_code: str
    procedure_name_vi: str
    component_procedures_vi: tuple[str, ...] = ()
    received_at: AwareDatetime
    appointment_at: AwareDatetime
    rows: tuple[ControlRow, ...]

    @property
    def reference(self) -> str:
        """``{code}-form-06`` (``-form-05`` under the 2018 forms)."""
        return f"{self.dossier_code}-form-{self.number}"

    @property
    def dated(self) -> datetime:
        """The last hand-over (or the receipt, before the first)."""
        return self.rows[-1].at if self.rows else self.received_at


class StopNotice(_DossierLetter):
    """Form 05 of Circular 03/2025/TT-VPCP, thông báo dừng giải quyết hồ sơ: the applicant did
    not supplement within their time, so processing stopped (no such form in 2018).

    Attributes:
        sequence: The supplement request (form 02) that was not answered.
        requested_at: When form 02 was issued; ``answer_by``: the end of the applicant's time.
    """

    kind: ClassVar[FormKind] = FormKind.STOP_NOTICE
    template: ClassVar[str] = "stop"
    reference_number: ClassVar[str] = "05"

    missing_documents: tuple[str, ...]
    requested_at: AwareDatetime
    answer_by: AwareDatetime
    stopped_at: AwareDatetime

    @model_validator(mode="after")
    def _only_2025(self) -> StopNotice:
        number_of(self.kind, self.edition)  # the 2018 forms have none: ValueError
        return self

    @property
    def dated(self) -> datetime:
        """When processing stopped."""
        return self.stopped_at


class RegisterRow(BaseModel):
    """One dossier in the register (form 06); no personal data."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    dossier_code: str
    procedure_name_vi: str
    received_at: AwareDatetime
    appointment_at: AwareDatetime
    finished_at: AwareDatetime | None
    status_vi: str
    verdict_vi: str


class RegisterForm(_DeskForm):
    """Sổ theo dõi hồ sơ (form 07; 06 under the 2018 forms): the dossiers a desk received
    between two days (inclusive).

    The register never names the applicant: it is read by officers and auditors who have no
    need for it (Decree 13/2023 on personal data).
    """

    kind: ClassVar[FormKind] = FormKind.REGISTER
    template: ClassVar[str] = "06"
    landscape: ClassVar[bool] = True
    motto: ClassVar[bool] = False

    desk_code: str
    day_from: date
    day_to: date
    rows: tuple[RegisterRow, ...]

    @model_validator(mode="after")
    def _range(self) -> RegisterForm:
        if self.day_to < self.day_from:
            raise ValueError(
                f"the register ends on {self.day_to}, before it starts ({self.day_from})"
            )
        return self

    @property
    def reference(self) -> str:
        """``{desk}-register-{from}-{to}``."""
        return f"{self.desk_code}-register-{self.day_from:%Y%m%d}-{self.day_to:%Y%m%d}"

    @property
    def dated(self) -> datetime:
        """The end of the register's last day, in Viet Nam."""
        return datetime.combine(self.day_to + timedelta(days=1), time(0), VN_TZ)


OfficialForm = ReceiptForm | SupplementForm | RefusalForm | StopNotice | ControlSlip | RegisterForm
"""Any of the forms this module renders."""


# -- rendering ---------------------------------------------------------------------------------


def _context(form: OfficialForm) -> dict[str, Any]:
    qr_src = png_data_uri(qr_png(form.tracking_url)) if isinstance(form, ReceiptForm) else None
    return {
        "form": form,
        "title_vi": form.title_vi,
        "qr_src": qr_src,
        "columns": labels().register_columns,
    }


def render_html(form: OfficialForm) -> str:
    """The form as a self-contained HTML page (form 01's QR code is an embedded PNG)."""
    return render_text(f"form_{form.template}.html.j2", **_context(form))


def render_pdf(form: OfficialForm, font: PdfFont) -> bytes:
    """The form as an A4 PDF (landscape for 05 and 06) with extractable Vietnamese text."""
    return html_to_pdf(
        render_text(f"form_{form.template}.pdf.html.j2", **_context(form)),
        font,
        created=form.dated,
        title=f"{form.title_vi} - {form.reference}",
        author=form.issuer_vi,
        subject=form.reference,
        font_size=9 if form.landscape else 11,
        landscape=form.landscape,
    )


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(VN_TZ).isoformat(timespec="seconds")


def render_register_csv(register: RegisterForm) -> str:
    """Form 06 as CSV for a spreadsheet: UTF-8 with a BOM (so Excel reads the Vietnamese
    correctly), a header row, CRLF line ends, moments in ISO 8601 with the +07:00 offset.

    Encode the text as UTF-8 to write it; the BOM is its first character.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(labels().register_columns)
    for row in register.rows:
        writer.writerow(
            (
                row.sequence,
                row.dossier_code,
                row.procedure_name_vi,
                _iso(row.received_at),
                _iso(row.appointment_at),
                _iso(row.finished_at),
                row.status_vi,
                row.verdict_vi,
            )
        )
    return "\ufeff" + buffer.getvalue()
