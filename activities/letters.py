"""Apology letters (form 04): recorded, rendered and sent exactly once per missed appointment.

Activity ``letters.issue-apology`` (`ApologyInput` → `ApologyResult`), run on the one-stop
desk's task queue (`LETTERS_TASK_QUEUE`). Three steps, each committed before the next, so a
retry (or a new worker after a crash) redoes only what is missing:

1. record: the ``apology_letters`` row, keyed by (dossier_code, sequence), with every printed
   field of the form. The first recording wins; a retry finds it and changes nothing.
2. render: HTML and PDF from the row's fields into ``LIENTHONG_LETTERS_DIR`` (default
   ``data_dir/letters``), unless ``rendered_at`` is set and the files are there. Rendering is
   deterministic, so a letter rendered again is the same document.
3. send: under the row's lock and only while ``sent_at`` is empty; ``sent_at``, the channel
   and the Message-ID are committed right after the server accepted the message.

The one gap left is a crash after the mail server accepted the message and before step 3's
commit: the retry sends again, with the same Message-ID (``<{letter_id}@{desk}.lienthong>``) so
that the receiving system can drop the duplicate.

The addressee comes from ``applicant_contacts``; without a contact the letter is addressed to
"Ông/Bà (người nộp hồ sơ)", and without an e-mail address it goes to the one-stop desk, which
passes it on. Names, e-mail addresses and phone numbers are never logged, and the result carries
only a masked address.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.notify import (
    NOTIFY_TASK_QUEUE,
    Attachment,
    NotificationChannel,
    OutgoingMessage,
    as_vn,
    catalog_agency,
    checked_dossier_code,
    mask_address,
    message_id,
    now_vn,
    with_heartbeats,
    write_atomically,
)
from domain.catalog import Catalog
from domain.clock import VN_TZ
from domain.dossier import ApplicantNoticeKind
from engine.settings import Settings
from forms import (
    ApologyLetter,
    PdfFont,
    find_font,
    render_apology_html,
    render_apology_pdf,
    render_text,
)
from forms.editions import FormKind, edition_on, number_of, title_of
from store import letters as store
from store.models import ApologyLetterRecord

LETTERS_TASK_QUEUE = NOTIFY_TASK_QUEUE
# The desk forwards letters to applicants it cannot e-mail; its mailbox is an agency address.
DESK_AGENCY = "one-stop"
GENERIC_ADDRESSEE_VI = "Ông/Bà (người nộp hồ sơ)"


class ApologyInput(BaseModel):
    """One missed appointment of a dossier, and the new appointment the legal clock computed.

    ``sequence`` is 1 for the dossier's first missed appointment, 2 for the next, ...; the
    letter's id is ``{dossier_code}-apology-{sequence}``. No personal data: the addressee is
    read from the registry by the activity.
    """

    dossier_code: str
    sequence: int
    procedure_code: str
    procedure_name_vi: str
    received_at: datetime
    original_appointment: datetime  # the appointment that is (or will be) missed
    new_appointment: datetime  # computed by the legal clock
    agency: str  # code of the agency at fault; its head signs
    reason_vi: str
    tracking_url: str | None = None  # for the QR code; {public_base_url}/track/{code} if None


class ApologyResult(BaseModel):
    """The letter sent (now or by an earlier attempt) and where it went.

    ``recipient`` is masked (``n***@example.vn``): results are stored in the workflow history,
    which operators browse.
    """

    letter_id: str
    html_path: str
    pdf_path: str
    sent: bool
    channel: str
    recipient: str


class AppointmentMovedInput(BaseModel):
    """A calendar amendment moved a dossier's appointment: the applicant is told (not an
    apology: nobody was late). ``sequence`` numbers the dossier's amendments."""

    dossier_code: str
    sequence: int
    procedure_name_vi: str
    announced_by: str
    days: list[date]
    original_appointment: datetime | None
    new_appointment: datetime | None


class NoticeSent(BaseModel):
    """A notice to the applicant went out; ``recipient`` is masked (it lands in the history)."""

    reference: str
    channel: str
    recipient: str


class ApplicantNoticeInput(BaseModel):
    """A letter to the applicant besides an apology: a supplement request (form 02), its
    reminder, the notice that processing stops (form 05 of Circular 03/2025) or a refusal
    (form 03). ``sequence`` numbers the supplement request or the refusal within the dossier.
    No personal data: the addressee is read from the registry by the activity."""

    dossier_code: str
    kind: ApplicantNoticeKind
    sequence: int
    procedure_name_vi: str
    received_at: datetime  # picks the forms' edition (2018 or 2025 numbers)
    agency: str  # who asked, refused or stopped
    reason_vi: str = ""
    missing_documents: list[str] = []
    answer_by: datetime | None = None  # the end of the applicant's time to supplement


# The form each notice carries (the reminder points to the request's form 02).
NOTICE_FORMS = {
    ApplicantNoticeKind.SUPPLEMENT_REQUESTED: FormKind.SUPPLEMENT,
    ApplicantNoticeKind.SUPPLEMENT_REMINDER: FormKind.SUPPLEMENT,
    ApplicantNoticeKind.PROCESSING_STOPPED: FormKind.STOP_NOTICE,
    ApplicantNoticeKind.REFUSED: FormKind.REFUSAL,
}
NOTICE_SUBJECTS = {
    ApplicantNoticeKind.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung, hoàn thiện hồ sơ",
    ApplicantNoticeKind.SUPPLEMENT_REMINDER: "Nhắc thời hạn bổ sung hồ sơ",
    ApplicantNoticeKind.PROCESSING_STOPPED: "Thông báo dừng giải quyết hồ sơ",
    ApplicantNoticeKind.REFUSED: "Từ chối giải quyết hồ sơ",
}


def notice_form_vi(kind: ApplicantNoticeKind, received_at: datetime) -> str:
    """``Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (mẫu số 02)``: the form a notice carries, by
    the edition of the dossier's receipt. A dossier under the 2018 forms has no stop notice:
    it is told in words that processing stopped."""
    edition = edition_on(received_at)
    form = NOTICE_FORMS[kind]
    try:
        return f"{title_of(form, edition)} (mẫu số {number_of(form, edition)})"
    except ValueError:
        return "Thông báo dừng giải quyết hồ sơ"


def apology_letter_id(dossier_code: str, sequence: int) -> str:
    """The business reference of a letter: ``{dossier_code}-apology-{sequence}``."""
    return f"{dossier_code}-apology-{sequence}"


def _issue_moment() -> datetime:
    """The letter's date: when the workflow asked for it (its first attempt's scheduling).

    Workflow time, not the worker's clock: the same on every attempt, and on a time-skipping
    test server the letter is dated in the dossier's own timeline.
    """
    scheduled = activity.info().scheduled_time
    if scheduled.timestamp() <= 0:  # an activity run outside Temporal (no schedule)
        return now_vn()
    return scheduled.astimezone(VN_TZ).replace(microsecond=0)


def _all_files(*paths: str) -> bool:
    return all(Path(path).is_file() for path in paths)


def letter_form(row: ApologyLetterRecord) -> ApologyLetter:
    """The printed fields of a recorded letter (everything the templates read)."""
    return ApologyLetter(
        letter_id=row.letter_id,
        sequence=row.sequence,
        dossier_code=row.dossier_code,
        procedure_name_vi=row.procedure_name_vi,
        received_at=as_vn(row.received_at),
        original_appointment=as_vn(row.original_appointment),
        new_appointment=as_vn(row.new_appointment),
        agency_name_vi=row.agency_name_vi,
        signer_title_vi=row.signer_title_vi,
        reason_vi=row.reason_vi,
        addressee_vi=row.addressee_vi,
        issued_at=as_vn(row.issued_at),
        place_vi=row.place_vi,
        tracking_url=row.tracking_url,
    )


class LetterActivities:
    """Form 04 letters (``letters.*``): record, render, send through one channel."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalog: Catalog,
        settings: Settings,
        channel: NotificationChannel,
        font: PdfFont | None = None,
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._settings = settings
        self._channel = channel
        self._font = font  # found at the first rendering, so other activities run without it

    async def record(self, request: ApologyInput) -> str:
        """Record the letter's fields once (the first recording wins); its letter id.

        The first part of ``letters.issue-apology``; a simulation's profile run stops here (the
        registry's reports count recorded letters; nobody reads a simulated PDF).

        Raises:
            ApplicationError: non-retryable, the agency is not in the catalog, or the dossier
                code cannot name a file.
        """
        async with self._sessions() as session:
            contact = await store.get_contact(session, request.dossier_code)
            fields = self.apology_fields(request, contact.full_name if contact else None)
            _, created = await store.record_apology(session, **fields)
            await session.commit()
        if created:
            activity.logger.info(
                "apology_recorded",
                extra={
                    "dossier": request.dossier_code,
                    "letter": fields["letter_id"],
                    "agency": fields["agency"],
                },
            )
        return str(fields["letter_id"])

    def apology_fields(self, request: ApologyInput, addressee: str | None) -> dict[str, Any]:
        """The row `record` writes for a letter (its columns by name), addressed to the
        applicant's name when the registry holds a contact (``addressee``). Called inside an
        activity: the letter is dated with its schedule.

        Raises:
            ApplicationError: non-retryable, the agency is not in the catalog, or the dossier
                code cannot name a file.
        """
        code, sequence = checked_dossier_code(request.dossier_code), request.sequence
        agency = catalog_agency(self._catalog, request.agency)
        return {
            "dossier_code": code,
            "sequence": sequence,
            "letter_id": apology_letter_id(code, sequence),
            "procedure_code": request.procedure_code,
            "procedure_name_vi": request.procedure_name_vi,
            "received_at": request.received_at.astimezone(VN_TZ),
            "original_appointment": request.original_appointment.astimezone(VN_TZ),
            "new_appointment": request.new_appointment.astimezone(VN_TZ),
            "agency": agency.code,
            "agency_name_vi": agency.name_vi,
            "signer_title_vi": agency.head_title_vi,
            "reason_vi": request.reason_vi,
            "addressee_vi": f"Ông/Bà {addressee}" if addressee else GENERIC_ADDRESSEE_VI,
            "issued_at": _issue_moment(),
            "place_vi": self._settings.letter_place_vi,
            "tracking_url": request.tracking_url
            or self._settings.tracking_url(request.dossier_code),
            "created_at": now_vn(),
        }

    @activity.defn(name="letters.issue-apology")
    async def issue_apology(self, request: ApologyInput) -> ApologyResult:
        """Record, render and send the dossier's apology letter number ``sequence``, once.

        Raises:
            ApplicationError: non-retryable, the agency is not in the catalog, or the dossier
                code cannot name a file.
            FontNotFound: no font for the PDF (retried: installing one fixes it).
        """
        code, sequence = checked_dossier_code(request.dossier_code), request.sequence
        letter_id = await self.record(request)

        async with self._sessions() as session:
            row = await store.lock_apology(session, code, sequence)
            html_path, pdf_path = await self._ensure_rendered(row)
            await session.commit()
        activity.heartbeat("rendered")

        async with self._sessions() as session:
            row = await store.lock_apology(session, code, sequence)
            if row.sent_at is None:
                await self._send(session, row, Path(pdf_path))
                await session.commit()
                activity.logger.info(
                    "apology_sent",
                    extra={
                        "dossier": row.dossier_code,
                        "letter": letter_id,
                        "agency": row.agency,
                        "channel": row.channel,
                        "via_desk": row.via_desk,
                    },
                )
            else:
                activity.logger.info(
                    "apology_already_sent", extra={"dossier": row.dossier_code, "letter": letter_id}
                )
            return ApologyResult(
                letter_id=letter_id,
                html_path=html_path,
                pdf_path=pdf_path,
                sent=True,
                channel=row.channel or self._channel.name,
                recipient=row.recipient_masked or "",
            )

    @activity.defn(name="letters.appointment-moved")
    async def appointment_moved(self, request: AppointmentMovedInput) -> NoticeSent:
        """Tell the applicant the new appointment a calendar amendment gave the dossier.

        Sent again on a retry with the same Message-ID (``{code}-appointment-moved-{n}``), which
        the outbox overwrites and a receiving system deduplicates.
        """
        code = checked_dossier_code(request.dossier_code)
        reference = f"{code}-appointment-moved-{request.sequence}"
        sent = await self._notify_applicant(
            code,
            reference,
            "appointment_moved.txt.j2",
            f"Thông báo dời ngày hẹn trả kết quả - hồ sơ {code}",
            announced_by=request.announced_by,
            days=[f"{day:%d/%m/%Y}" for day in request.days],
            procedure_name_vi=request.procedure_name_vi,
            original_appointment=request.original_appointment,
            new_appointment=request.new_appointment,
        )
        activity.logger.info("appointment_moved_sent", extra={"dossier": code, "notice": reference})
        return sent

    @activity.defn(name="letters.applicant-notice")
    async def applicant_notice(self, request: ApplicantNoticeInput) -> NoticeSent:
        """E-mail the applicant a supplement request, its reminder, the end of processing or a
        refusal (the printable form: ``starter.py form NN CODE``).

        Sent again on a retry with the same Message-ID (``{code}-{kind}-{n}``), which the
        outbox overwrites and a receiving system deduplicates.

        Raises:
            ApplicationError: non-retryable, the agency is not in the catalog, or the dossier
                code cannot name a file.
        """
        code = checked_dossier_code(request.dossier_code)
        agency = catalog_agency(self._catalog, request.agency)
        reference = f"{code}-{request.kind.value.replace('_', '-')}-{request.sequence}"
        sent = await self._notify_applicant(
            code,
            reference,
            "applicant_notice.txt.j2",
            f"{NOTICE_SUBJECTS[request.kind]} - hồ sơ {code}",
            kind=request.kind.value,
            form_vi=notice_form_vi(request.kind, request.received_at),
            agency_name_vi=agency.name_vi,
            procedure_name_vi=request.procedure_name_vi,
            reason_vi=request.reason_vi,
            missing_documents=request.missing_documents,
            answer_by=request.answer_by,
        )
        activity.logger.info(
            "applicant_notice_sent",
            extra={"dossier": code, "notice": reference, "kind": request.kind.value},
        )
        return sent

    async def _notify_applicant(
        self, code: str, reference: str, template: str, subject: str, **fields: Any
    ) -> NoticeSent:
        """Render ``template`` for the applicant of dossier ``code`` and e-mail it, or send it to
        the desk when no address is on file. The Message-ID comes from ``reference``, so a retry
        sends the same message."""
        async with self._sessions() as session:
            contact = await store.get_contact(session, code)
        email = contact.email if contact is not None else None
        to = email or self._settings.agency_address(DESK_AGENCY)
        text = render_text(
            template,
            via_desk=email is None,
            addressee_vi=f"Ông/Bà {contact.full_name}" if contact else GENERIC_ADDRESSEE_VI,
            dossier_code=code,
            tracking_url=self._settings.tracking_url(code),
            reference=reference,
            **fields,
        )
        await with_heartbeats(
            self._channel.send(
                OutgoingMessage(
                    message_id=message_id(reference, self._settings.desk_code),
                    sender=self._settings.sender_address,
                    to=to,
                    subject=subject,
                    text=text,
                    date=_issue_moment(),
                    headers={"X-Lienthong-Reference": reference},
                )
            )
        )
        return NoticeSent(
            reference=reference, channel=self._channel.name, recipient=mask_address(to)
        )

    def _paths(self, row: ApologyLetterRecord) -> tuple[Path, Path]:
        folder = self._settings.letters_path / row.dossier_code
        return folder / f"{row.letter_id}.html", folder / f"{row.letter_id}.pdf"

    async def _ensure_rendered(self, row: ApologyLetterRecord) -> tuple[str, str]:
        """Render the letter unless it is rendered and its files are there; return the paths."""
        if row.rendered_at is not None and row.html_path and row.pdf_path:
            present = await asyncio.to_thread(_all_files, row.html_path, row.pdf_path)
            if present:
                return row.html_path, row.pdf_path
        html_path, pdf_path = self._paths(row)
        # Rendering a PDF is CPU work (font subsetting); keep the event loop free.
        html, pdf = await asyncio.to_thread(self._render, letter_form(row))
        await asyncio.to_thread(write_atomically, html_path, html.encode("utf-8"))
        await asyncio.to_thread(write_atomically, pdf_path, pdf)
        digest = hashlib.sha256(pdf).hexdigest()
        if row.pdf_sha256 is not None and row.pdf_sha256 != digest:
            # Same fields, different bytes: the renderer (fpdf2, the font) changed in between.
            activity.logger.warning("apology_rendering_changed", extra={"letter": row.letter_id})
        row.html_path, row.pdf_path, row.pdf_sha256 = str(html_path), str(pdf_path), digest
        row.rendered_at = row.rendered_at or now_vn()
        activity.logger.info(
            "apology_rendered", extra={"dossier": row.dossier_code, "letter": row.letter_id}
        )
        return row.html_path, row.pdf_path

    def _render(self, letter: ApologyLetter) -> tuple[str, bytes]:
        if self._font is None:
            self._font = find_font(self._settings.pdf_font)
        return render_apology_html(letter), render_apology_pdf(letter, self._font)

    async def _send(self, session: AsyncSession, row: ApologyLetterRecord, pdf_path: Path) -> None:
        """Send the rendered letter and record it on the (locked) row; the caller commits."""
        contact = await store.get_contact(session, row.dossier_code)
        email = contact.email if contact is not None else None
        to = email or self._settings.agency_address(DESK_AGENCY)
        letter = letter_form(row)
        pdf = await asyncio.to_thread(pdf_path.read_bytes)
        html = await asyncio.to_thread(Path(row.html_path or "").read_text, "utf-8")
        message = OutgoingMessage(
            message_id=message_id(row.letter_id, self._settings.desk_code),
            sender=self._settings.sender_address,
            to=to,
            subject=f"{letter.title_vi} - hồ sơ {row.dossier_code} (lần {row.sequence})",
            text=render_text("apology_04_email.txt.j2", letter=letter, via_desk=email is None),
            html=html,
            attachments=(Attachment(f"{row.letter_id}.pdf", pdf),),
            date=letter.issued_at,
            headers={"X-Lienthong-Reference": row.letter_id},
        )
        sent_id = await with_heartbeats(self._channel.send(message))
        row.sent_at = now_vn()
        row.channel = self._channel.name
        row.message_id = sent_id
        row.recipient_masked = mask_address(to)
        row.via_desk = email is None
