"""Notifications: the channels that carry the engine's mail, and notices to the agencies.

Channels (`NotificationChannel`): `SmtpChannel` hands a message to a real mail server;
`OutboxChannel` writes it as an ``.eml`` file (the demo's channel, and a desk without a mail
server). `channel_from_settings` picks SMTP when ``LIENTHONG_SMTP_HOST`` is set, else the outbox.

Every message carries a deterministic Message-ID (``<{reference}@{desk}.lienthong>``): a
retried send repeats the same message, which a receiving system can deduplicate, and the outbox
overwrites the same file.

Activity ``notify.agency`` (`AgencyNoticeInput` → `AgencyNoticeResult`) writes to an agency
about one of its steps: ``due_soon`` and ``overdue`` go to ``{agency}@{domain}``, ``escalation``
to the head, ``head.{agency}@{domain}``. Exactly once per (dossier, kind, step, sequence): the
``notifications`` row is recorded first and the message is sent only while its ``sent_at`` is
empty, under the row's lock.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import os
import re
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import aiosmtplib
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.catalog import Agency, Catalog, UnknownAgency
from domain.clock import VN_TZ
from engine.names import agency_task_queue
from engine.settings import Settings
from forms import render_text
from store import letters as store
from store.models import DeliveryChannel, NoticeKind, StepRecord

# The one-stop desk sends every letter and notice; its workers serve these activities.
NOTIFY_TASK_QUEUE = agency_task_queue("one-stop")

_T = TypeVar("_T")


# -- messages and channels ------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message."""

    filename: str
    content: bytes
    mime_type: str = "application/pdf"


# Headers are not folded below RFC 5322's 998-character limit: the standard library's folding
# of encoded words can drop the space between two Vietnamese words ("kết quảchuyển").
_POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class OutgoingMessage:
    """One e-mail, complete: the channel adds nothing but the transport.

    Attributes:
        message_id: ``<reference@desk.lienthong>``, the same on every attempt.
        date: The message's Date header; the moment the letter or notice was recorded, so a
            re-send is byte-for-byte the same message.
    """

    message_id: str
    sender: str
    to: str
    subject: str
    text: str
    date: datetime
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def to_email(self) -> EmailMessage:
        """The message as MIME, with fixed multipart boundaries (reproducible bytes)."""
        message = EmailMessage(policy=_POLICY)
        message["Message-ID"] = self.message_id
        message["Date"] = format_datetime(self.date)
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        if self.html is not None:
            message.add_alternative(self.html, subtype="html")
        for attachment in self.attachments:
            maintype, _, subtype = attachment.mime_type.partition("/")
            message.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
            )
        seed = hashlib.sha256(self.message_id.encode()).hexdigest()[:24]
        for number, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(f"=_lienthong_{seed}_{number}")
        return message


class NotificationChannel(Protocol):
    """Something that delivers an `OutgoingMessage` and returns its Message-ID."""

    @property
    def name(self) -> DeliveryChannel:
        """The channel's name as recorded on the rows it sent."""
        ...

    async def send(self, message: OutgoingMessage) -> str:
        """Deliver ``message``; raise if it was not accepted (the caller retries)."""
        ...


class SmtpChannel:
    """Real e-mail through an SMTP server (plain, STARTTLS or implicit TLS; optional login)."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        username: str = "",
        password: str = "",
        security: Literal["none", "starttls", "tls"] = "none",
        timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username or None
        self._password = password or None
        self._security = security
        self._timeout = timeout

    @property
    def name(self) -> DeliveryChannel:
        """Always ``smtp``."""
        return DeliveryChannel.SMTP

    async def send(self, message: OutgoingMessage) -> str:
        """Send and wait for the server's acceptance of the whole message.

        Raises:
            ApplicationError: non-retryable, the server refused the message or its recipient
                for good (a 5xx reply); retrying cannot help.
            aiosmtplib.SMTPException, OSError: anything else (retried by Temporal).
        """
        try:
            await aiosmtplib.send(
                message.to_email(),
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise ApplicationError(
                    f"the mail server refused the recipient (codes {codes})",
                    type="MessageRefused",
                    non_retryable=True,
                ) from None
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                raise ApplicationError(
                    f"the mail server refused the message: {exc.code} {exc.message}",
                    type="MessageRefused",
                    non_retryable=True,
                ) from None
            raise
        return message.message_id


def _file_name(message_id: str) -> str:
    # "<DONGDA-251201-0001-apology-1@dongda.lienthong>" -> "DONGDA-...@dongda.lienthong.eml"
    return re.sub(r"[^A-Za-z0-9@._-]", "_", message_id.strip("<>")) + ".eml"


class OutboxChannel:
    """Each message as an ``.eml`` file, named by its Message-ID (a re-send overwrites it)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @property
    def name(self) -> DeliveryChannel:
        """Always ``outbox``."""
        return DeliveryChannel.OUTBOX

    @property
    def directory(self) -> Path:
        """Where the ``.eml`` files are written."""
        return self._directory

    def path_of(self, message_id: str) -> Path:
        """The file a message with this Message-ID is written to."""
        return self._directory / _file_name(message_id)

    async def send(self, message: OutgoingMessage) -> str:
        """Write the message atomically (a reader never sees half a file)."""
        await asyncio.to_thread(
            write_atomically, self.path_of(message.message_id), message.to_email().as_bytes()
        )
        return message.message_id


def channel_from_settings(settings: Settings) -> NotificationChannel:
    """SMTP when ``LIENTHONG_SMTP_HOST`` is set, else the outbox directory."""
    if settings.smtp_host:
        return SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            security=settings.smtp_security,
            timeout=settings.smtp_timeout_seconds,
        )
    return OutboxChannel(settings.outbox_path)


# -- helpers shared with the letters ---------------------------------------------------------------


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def message_id(reference: str, desk_code: str) -> str:
    """The deterministic Message-ID of a letter or notice: ``<reference@desk.lienthong>``."""
    left = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", ".", reference).strip(".")
    left = re.sub(r"\.{2,}", ".", left)
    return f"<{left}@{desk_code.lower()}.lienthong>"


def mask_address(address: str) -> str:
    """An e-mail address with its local part hidden: ``n***@example.vn`` (for results, logs)."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def now_vn() -> datetime:
    """The current moment in Viet Nam's time zone, to the second (stored on the rows)."""
    return datetime.now(VN_TZ).replace(microsecond=0)


def as_vn(moment: datetime) -> datetime:
    """A moment read back from the registry, in Viet Nam's time zone.

    PostgreSQL returns aware values; SQLite (the demo) returns the naive wall time that was
    written, and everything is written in ``VN_TZ``.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=VN_TZ)
    return moment.astimezone(VN_TZ)


async def with_heartbeats(work: Awaitable[_T], every: float = 1.0) -> _T:
    """Await ``work``, heartbeating meanwhile, so a short heartbeat timeout tells a dead worker
    from a slow mail server."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat()
    except asyncio.CancelledError:
        task.cancel()
        raise


def checked_dossier_code(code: str) -> str:
    """The dossier code, if it can name a row, a file and a Message-ID safely.

    Raises:
        ApplicationError: non-retryable, the code has other characters or is too long.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", code) or ".." in code:
        raise ApplicationError(
            f"dossier code {code!r} is not 1-40 letters, digits, '.', '_' or '-'",
            type="DossierCodeError",
            non_retryable=True,
        )
    return code


def catalog_agency(catalog: Catalog, code: str) -> Agency:
    """The catalog's agency with this code.

    Raises:
        ApplicationError: non-retryable, no such agency (retrying cannot create it).
    """
    try:
        return catalog.agency(code)
    except UnknownAgency as exc:
        raise ApplicationError(str(exc), type="UnknownAgency", non_retryable=True) from None


# -- notices to agencies ---------------------------------------------------------------------------


class AgencyNoticeInput(BaseModel):
    """A warning, an overdue notice, an escalation or a withdrawal, about one step of a dossier.

    ``sequence`` makes repeated notices of one kind distinct (the second overdue reminder);
    (dossier_code, kind, step, sequence) is sent once whatever the retries.
    """

    dossier_code: str
    kind: Literal["due_soon", "overdue", "escalation", "withdrawn"]
    step: str  # "procedure:step"
    agency: str
    due: datetime | None
    late_working_hours: float = 0.0
    sequence: int = 1


class AgencyNoticeResult(BaseModel):
    """The notice's id (``{dossier}-{kind}-{procedure}.{step}-{sequence}``) and its channel."""

    notice_id: str
    sent: bool
    channel: str


def notice_id(request: AgencyNoticeInput) -> str:
    """The business reference of a notice; also the left part of its Message-ID."""
    step = request.step.replace(":", ".")
    return f"{request.dossier_code}-{request.kind}-{step}-{request.sequence}"


class NotifyActivities:
    """Notices to the agencies (``notify.*``), sent through one channel."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalog: Catalog,
        settings: Settings,
        channel: NotificationChannel,
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._settings = settings
        self._channel = channel

    @activity.defn(name="notify.agency")
    async def notify_agency(self, request: AgencyNoticeInput) -> AgencyNoticeResult:
        """Write to an agency (or its head, for an escalation) about one of its steps, once.

        Raises:
            ApplicationError: non-retryable, the agency is not in the catalog.
        """
        checked_dossier_code(request.dossier_code)
        agency = catalog_agency(self._catalog, request.agency)
        kind = NoticeKind(request.kind)
        reference = notice_id(request)
        recipient = self._settings.agency_address(agency.code, head=kind is NoticeKind.ESCALATION)
        key = (request.dossier_code, kind.value, request.step, request.sequence)
        async with self._sessions() as session:
            await store.record_notice(
                session,
                dossier_code=request.dossier_code,
                kind=kind.value,
                step=request.step,
                sequence=request.sequence,
                notice_id=reference,
                agency=agency.code,
                recipient=recipient,
                due=request.due.astimezone(VN_TZ) if request.due else None,
                late_working_hours=request.late_working_hours,
                created_at=now_vn(),
            )
            await session.commit()
        async with self._sessions() as session:
            row = await store.lock_notice(session, *key)
            if row.sent_at is not None:
                activity.logger.info(
                    "agency_notice_already_sent",
                    extra={"dossier": request.dossier_code, "notice": reference},
                )
                return AgencyNoticeResult(
                    notice_id=reference, sent=True, channel=row.channel or self._channel.name
                )
            step_record = await session.get(StepRecord, (row.dossier_code, row.step))
            context = {
                "kind": kind.value,
                "dossier_code": row.dossier_code,
                # People read the step's name; the code only where the registry lacks it.
                "step": step_record.name_vi if step_record is not None else row.step,
                "agency_name_vi": agency.name_vi,
                "head_title_vi": agency.head_title_vi,
                "due": as_vn(row.due) if row.due else None,
                "late_working_hours": row.late_working_hours,
                "tracking_url": self._settings.tracking_url(row.dossier_code),
            }
            body = render_text("agency_notice.txt.j2", **context)
            subject = render_text("agency_notice_subject.txt.j2", **context).strip()
            sent_id = await with_heartbeats(
                self._channel.send(
                    OutgoingMessage(
                        message_id=message_id(reference, self._settings.desk_code),
                        sender=self._settings.sender_address,
                        to=row.recipient,
                        subject=subject,
                        text=body,
                        date=as_vn(row.created_at),
                        headers={"X-Lienthong-Reference": reference},
                    )
                )
            )
            row.sent_at = now_vn()
            row.channel = self._channel.name
            row.message_id = sent_id
            await session.commit()
        activity.logger.info(
            "agency_notice_sent",
            extra={
                "dossier": request.dossier_code,
                "notice": reference,
                "agency": agency.code,
                "kind": kind.value,
                "channel": self._channel.name.value,
            },
        )
        return AgencyNoticeResult(notice_id=reference, sent=True, channel=self._channel.name)
