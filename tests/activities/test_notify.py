"""Notification channels against a real local SMTP server, the outbox, and ``notify.agency``."""

from __future__ import annotations

import email
import email.policy
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.letters import ApologyInput, LetterActivities
from activities.notify import (
    AgencyNoticeInput,
    Attachment,
    NotifyActivities,
    OutboxChannel,
    OutgoingMessage,
    SmtpChannel,
    channel_from_settings,
    mask_address,
    message_id,
)
from domain.catalog import default_catalog
from domain.clock import VN_TZ
from engine.crypto import KeyRing
from engine.keys import use_key_ring
from engine.settings import Settings
from store.letters import save_contact
from store.models import NotificationRecord, StepRecord

APPLICANT_EMAIL = "an.nguyen@example.vn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every accepted message; refuses some recipients."""

    refuse: set[str] = field(default_factory=set)
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        self.received.append(
            email.message_from_bytes(
                envelope.content, _class=EmailMessage, policy=email.policy.default
            )
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 and a free port, for one test."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def data_keys() -> Iterator[KeyRing]:
    """Contacts are encrypted at rest: a key ring of the test's own, not the demo key file."""
    with use_key_ring(KeyRing.generate("test1")) as ring:
        yield ring


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, desk_code="DONGDA", smtp_host="")


@pytest.fixture
def sessions(db_session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=db_session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


def bytes_of(path: str) -> bytes:
    return Path(path).read_bytes()


def new_dossier_code() -> str:
    return f"T{uuid.uuid4().hex[:8].upper()}-251201-0001"


def sample_message(reference: str = "DONGDA-251201-0001-apology-1") -> OutgoingMessage:
    return OutgoingMessage(
        message_id=message_id(reference, "DONGDA"),
        sender="one-stop@agencies.lienthong.local",
        to=APPLICANT_EMAIL,
        subject="Phiếu xin lỗi và hẹn lại ngày trả kết quả",
        text="Kính gửi: Ông/Bà (người nộp hồ sơ)",
        html="<p>Phiếu xin lỗi</p>",
        attachments=(Attachment(f"{reference}.pdf", b"%PDF-1.7 fake"),),
        date=datetime(2026, 1, 5, 8, 0, tzinfo=VN_TZ),
    )


@pytest.mark.postgres
async def test_smtp_delivers_the_letter_with_its_pdf_and_its_message_id(
    smtp: tuple[Mailbox, int],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    mailbox, port = smtp
    code = new_dossier_code()
    async with sessions() as session:
        await save_contact(session, code, full_name="Trần Thị Bình", email=APPLICANT_EMAIL)
        await session.commit()
    letters = LetterActivities(
        sessions, default_catalog(), settings, SmtpChannel("127.0.0.1", port)
    )
    request = ApologyInput(
        dossier_code=code,
        sequence=1,
        procedure_code="certified-copy",
        procedure_name_vi="Chứng thực bản sao từ bản chính",
        received_at=datetime(2025, 12, 1, 9, 0, tzinfo=VN_TZ),
        original_appointment=datetime(2025, 12, 2, 17, 0, tzinfo=VN_TZ),
        new_appointment=datetime(2025, 12, 3, 10, 0, tzinfo=VN_TZ),
        agency="one-stop",
        reason_vi="Máy chủ chứng thực điện tử gặp sự cố.",
    )
    result = await ActivityEnvironment().run(letters.issue_apology, request)
    again = await ActivityEnvironment().run(letters.issue_apology, request)
    assert again == result
    assert (result.channel, result.recipient) == ("smtp", "a***@example.vn")
    (message,) = mailbox.received
    assert mailbox.envelopes == [("one-stop@agencies.lienthong.local", [APPLICANT_EMAIL])]
    assert message["Message-ID"] == f"<{code}-apology-1@dongda.lienthong>"
    assert message["To"] == APPLICANT_EMAIL
    assert code in message["Subject"]
    (pdf,) = message.iter_attachments()
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"{code}-apology-1.pdf"
    assert pdf.get_content() == bytes_of(result.pdf_path)
    html = message.get_body(preferencelist=("html",))
    title = "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT"  # Circular 03/2025
    assert html is not None and title in html.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_logs_in_when_given_credentials() -> None:
    seen: list[tuple[str, str]] = []

    def authenticator(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"s3cret")

    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        channel = SmtpChannel("127.0.0.1", port, username="motcua", password="s3cret")
        sent = await channel.send(sample_message())
    finally:
        controller.stop()
    assert seen == [("motcua", "s3cret")]
    assert sent == "<DONGDA-251201-0001-apology-1@dongda.lienthong>"
    assert len(mailbox.received) == 1


async def test_a_recipient_refused_for_good_is_not_retried(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.refuse.add(APPLICANT_EMAIL)
    with pytest.raises(ApplicationError) as error:
        await SmtpChannel("127.0.0.1", port).send(sample_message())
    assert error.value.non_retryable
    assert error.value.type == "MessageRefused"
    assert mailbox.received == []


async def test_an_unreachable_server_is_an_error_temporal_retries() -> None:
    with pytest.raises(OSError):
        await SmtpChannel("127.0.0.1", free_port(), timeout=5).send(sample_message())


async def test_the_outbox_writes_one_file_per_message_id(tmp_path: Path) -> None:
    outbox = OutboxChannel(tmp_path / "outbox")
    first = await outbox.send(sample_message())
    content = outbox.path_of(first).read_bytes()
    assert await outbox.send(sample_message()) == first  # a re-send overwrites
    assert outbox.path_of(first).read_bytes() == content  # with the very same bytes
    await outbox.send(sample_message("DONGDA-251201-0001-apology-2"))
    files = sorted(path.name for path in outbox.directory.iterdir())
    assert files == [
        "DONGDA-251201-0001-apology-1@dongda.lienthong.eml",
        "DONGDA-251201-0001-apology-2@dongda.lienthong.eml",
    ]
    message = email.message_from_bytes(content, _class=EmailMessage, policy=email.policy.default)
    assert message["Message-ID"] == first
    assert [part.get_filename() for part in message.iter_attachments()] == [
        "DONGDA-251201-0001-apology-1.pdf"
    ]


def test_settings_choose_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    outbox = channel_from_settings(Settings(data_dir=tmp_path, smtp_host=""))
    assert isinstance(outbox, OutboxChannel)
    assert outbox.directory == tmp_path / "outbox"
    custom = channel_from_settings(
        Settings(data_dir=tmp_path, smtp_host="", outbox_dir=tmp_path / "mail")
    )
    assert isinstance(custom, OutboxChannel) and custom.directory == tmp_path / "mail"
    smtp = channel_from_settings(Settings(data_dir=tmp_path, smtp_host="mail.example.vn"))
    assert isinstance(smtp, SmtpChannel)
    assert smtp.name == "smtp"


def test_message_ids_are_valid_and_addresses_are_masked() -> None:
    assert message_id("DONGDA-251201-0001-overdue-land:check-parcel-1", "DONGDA") == (
        "<DONGDA-251201-0001-overdue-land.check-parcel-1@dongda.lienthong>"
    )
    assert mask_address("an.nguyen@example.vn") == "a***@example.vn"
    assert mask_address("not an address") == "***"


def notice(code: str, kind: str = "overdue", **overrides: object) -> AgencyNoticeInput:
    fields: dict[str, object] = {
        "dossier_code": code,
        "kind": kind,
        "step": "land-first-certificate:register",
        "agency": "land-registration",
        "due": datetime(2026, 1, 5, 17, 0, tzinfo=VN_TZ),
        "late_working_hours": 6.5,
    }
    fields.update(overrides)
    return AgencyNoticeInput.model_validate(fields)


def read_outbox(directory: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(
            path.read_bytes(), _class=EmailMessage, policy=email.policy.default
        )
        for path in sorted(directory.glob("*.eml"))
    ]


@pytest.mark.postgres
async def test_notifying_an_agency_twice_keeps_one_row_and_sends_one_message(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    outbox = OutboxChannel(settings.outbox_path)
    notify = NotifyActivities(sessions, default_catalog(), settings, outbox)
    code = new_dossier_code()
    run = ActivityEnvironment()
    first = await run.run(notify.notify_agency, notice(code))
    second = await run.run(notify.notify_agency, notice(code))
    assert first == second
    assert first.notice_id == f"{code}-overdue-land-first-certificate.register-1"
    assert (first.sent, first.channel) == (True, "outbox")
    async with sessions() as session:
        rows = (
            await session.execute(
                select(func.count())
                .select_from(NotificationRecord)
                .where(NotificationRecord.dossier_code == code)
            )
        ).scalar_one()
    assert rows == 1
    (message,) = read_outbox(outbox.directory)
    assert message["To"] == "land-registration@agencies.lienthong.local"
    assert message["Message-ID"] == f"<{first.notice_id}@dongda.lienthong>"
    assert message["Subject"] == (
        f"[Quá hạn] Hồ sơ {code}, bước land-first-certificate:register: trễ 6,5 giờ làm việc"
    )
    body = message.get_content()
    assert "Kính gửi: Chi nhánh Văn phòng đăng ký đất đai" in body
    assert "05/01/2026 17:00" in body
    assert f"http://localhost:8000/track/{code}" in body


@pytest.mark.postgres
async def test_warnings_reminders_and_escalations_are_separate_notices(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    outbox = OutboxChannel(settings.outbox_path)
    notify = NotifyActivities(sessions, default_catalog(), settings, outbox)
    code = new_dossier_code()
    run = ActivityEnvironment()
    warning = await run.run(notify.notify_agency, notice(code, "due_soon", late_working_hours=0))
    reminder = await run.run(notify.notify_agency, notice(code, sequence=2))
    escalation = await run.run(notify.notify_agency, notice(code, "escalation"))
    assert len({warning.notice_id, reminder.notice_id, escalation.notice_id}) == 3
    by_kind = {m["X-Lienthong-Reference"].strip(): m for m in read_outbox(outbox.directory)}
    assert len(by_kind) == 3
    assert by_kind[warning.notice_id]["Subject"].startswith("[Sắp đến hạn]")
    head = by_kind[escalation.notice_id]
    assert head["To"] == "head.land-registration@agencies.lienthong.local"
    assert "Kính gửi: Giám đốc Chi nhánh - Chi nhánh Văn phòng đăng ký đất đai" in (
        head.get_content()
    )


@pytest.mark.postgres
async def test_an_escalation_at_the_due_moment_names_the_step_and_is_not_late_zero_hours(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    code = new_dossier_code()
    async with sessions() as session:
        session.add(
            StepRecord(
                dossier_code=code,
                step_key="land-first-certificate:register",
                procedure_code="land-first-certificate",
                agency="land-registration",
                kind="officer_decision",
                name_vi="Kiểm tra hồ sơ, xác nhận đủ điều kiện đăng ký",
                status="open",
            )
        )
        await session.commit()
    outbox = OutboxChannel(settings.outbox_path)
    notify = NotifyActivities(sessions, default_catalog(), settings, outbox)
    run = ActivityEnvironment()
    await run.run(notify.notify_agency, notice(code, "escalation", late_working_hours=0))
    await run.run(notify.notify_agency, notice(code, "overdue", late_working_hours=0))
    escalation, overdue = sorted(
        read_outbox(outbox.directory), key=lambda m: "head." not in m["To"]
    )
    for message in (escalation, overdue):
        text = f"{message['Subject']}\n{message.get_content()}"
        assert "trễ 0" not in text
        assert "land-first-certificate:register" not in text
        assert "Kiểm tra hồ sơ, xác nhận đủ điều kiện đăng ký" in text
    assert "đã hết hạn hoàn thành (05/01/2026 17:00) mà vẫn chưa được xử lý" in (
        escalation.get_content()
    )
    assert overdue["Subject"].endswith(": đã hết hạn")


@pytest.mark.postgres
async def test_an_unknown_agency_is_refused_for_good(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    notify = NotifyActivities(
        sessions, default_catalog(), settings, OutboxChannel(settings.outbox_path)
    )
    with pytest.raises(ApplicationError) as error:
        await ActivityEnvironment().run(
            notify.notify_agency, notice(new_dossier_code(), agency="nowhere")
        )
    assert error.value.non_retryable
