"""Apology letters (form 04) run as Temporal activities against real PostgreSQL.

Each activity's commit is a savepoint of the test's transaction (rolled back afterwards); the
letters and the outbox are written under ``tmp_path``. The SQLite test follows the demo path.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import email.policy
import io
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.letters import (
    ApologyInput,
    ApologyResult,
    ApplicantNoticeInput,
    LetterActivities,
)
from activities.notify import OutboxChannel
from domain.catalog import default_catalog
from domain.clock import VN_TZ
from domain.dossier import ApplicantNoticeKind
from engine.crypto import KeyRing
from engine.keys import use_key_ring
from engine.settings import Settings
from forms import FontNotFound, find_font, render_apology_pdf
from forms import render as render_module
from store.db import async_engine, session_factory
from store.letters import get_apology, save_contact
from store.migrate import alembic_config, upgrade
from store.models import ApologyLetterRecord

LAND_PROCEDURE_VI = (
    "Đăng ký đất đai, tài sản gắn liền với đất, cấp Giấy chứng nhận quyền sử dụng đất lần đầu"
)
REASON_VI = "Phải xác minh nguồn gốc sử dụng đất với Ủy ban nhân dân phường; việc xác minh kéo dài."
APPLICANT = "Nguyễn Văn An"
APPLICANT_EMAIL = "an.nguyen@example.vn"
APPLICANT_PHONE = "0912345678"


def new_dossier_code() -> str:
    """A dossier code no other test uses (a random desk)."""
    return f"T{uuid.uuid4().hex[:8].upper()}-251201-0001"


def apology(code: str, sequence: int = 1, **overrides: object) -> ApologyInput:
    """The land office missed the 05/01/2026 appointment; the clock moved it to 09/01 16:30."""
    fields: dict[str, object] = {
        "dossier_code": code,
        "sequence": sequence,
        "procedure_code": "land-first-certificate",
        "procedure_name_vi": LAND_PROCEDURE_VI,
        "received_at": datetime(2025, 12, 1, 9, 15, tzinfo=VN_TZ),
        "original_appointment": datetime(2026, 1, 5, 17, 0, tzinfo=VN_TZ),
        "new_appointment": datetime(2026, 1, 9, 16, 30, tzinfo=VN_TZ),
        "agency": "land-registration",
        "reason_vi": REASON_VI,
    }
    fields.update(overrides)
    return ApologyInput.model_validate(fields)


@pytest.fixture(autouse=True)
def data_keys() -> Iterator[KeyRing]:
    """Contacts are encrypted at rest: a key ring of the test's own, not the demo key file."""
    with use_key_ring(KeyRing.generate("test1")) as ring:
        yield ring


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, desk_code="DONGDA", smtp_host="")


@pytest.fixture
def outbox(settings: Settings) -> OutboxChannel:
    return OutboxChannel(settings.outbox_path)


@pytest.fixture
def sessions(db_session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection: each activity's commit is a savepoint, rolled back."""
    return async_sessionmaker(
        bind=db_session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def letters(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, outbox: OutboxChannel
) -> LetterActivities:
    return LetterActivities(sessions, default_catalog(), settings, outbox)


async def with_contact(
    sessions: async_sessionmaker[AsyncSession], code: str, email_address: str | None
) -> None:
    async with sessions() as session:
        await save_contact(
            session, code, full_name=APPLICANT, email=email_address, phone=APPLICANT_PHONE
        )
        await session.commit()


async def issue(letters: LetterActivities, request: ApologyInput) -> ApologyResult:
    return await ActivityEnvironment().run(letters.issue_apology, request)


def outbox_messages(outbox: OutboxChannel) -> list[EmailMessage]:
    return [
        email.message_from_bytes(
            path.read_bytes(), _class=EmailMessage, policy=email.policy.default
        )
        for path in sorted(outbox.directory.glob("*.eml"))
    ]


def text_of(path: str) -> str:
    return Path(path).read_text("utf-8")


def bytes_of(path: str) -> bytes:
    return Path(path).read_bytes()


def remove(*paths: str) -> None:
    for path in paths:
        Path(path).unlink()


def flat(text: str) -> str:
    """NFC text with every run of white space as one space (PDF lines break anywhere)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def embedded_png(html: str) -> bytes:
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "no embedded PNG in the letter"
    return base64.b64decode(match.group(1))


@pytest.mark.postgres
async def test_the_html_letter_has_every_field_of_form_04_in_vietnamese(
    letters: LetterActivities, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    result = await issue(letters, apology(code))
    html = text_of(result.html_path)
    tracking = f"http://localhost:8000/track/{code}"
    for expected in (
        '<html lang="vi">',
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "CHI NHÁNH VĂN PHÒNG ĐĂNG KÝ ĐẤT ĐAI",  # the agency, heading the letter
        "Số: 01/PXL",
        "Hà Nội, ngày ",
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",  # Circular 03/2025, form 04
        f"Phiếu số 1 của hồ sơ {code}",
        f"Kính gửi: <b>Ông/Bà {APPLICANT}</b>",
        f"Mã hồ sơ: <b>{code}</b>",
        f"Thủ tục hành chính: {LAND_PROCEDURE_VI}",
        "Ngày tiếp nhận hồ sơ: 01/12/2025 09:15",
        "Ngày hẹn trả kết quả: 05/01/2026 17:00",
        "Cơ quan để xảy ra trễ hẹn: Chi nhánh Văn phòng đăng ký đất đai",
        f"Lý do: {REASON_VI}",
        "Chi nhánh Văn phòng đăng ký đất đai thành thật xin lỗi Ông/Bà",
        "hẹn lại ngày trả kết quả vào: <b>09/01/2026 16:30</b>",
        "<b>GIÁM ĐỐC CHI NHÁNH</b>",  # the catalog's head_title_vi of the agency at fault
        f'<a href="{tracking}">{tracking}</a>',
    ):
        assert expected in html, expected
    assert result.html_path.startswith(str(settings.letters_path))
    # The QR code is a real one, of the tracking address.
    image = Image.open(io.BytesIO(embedded_png(html)))
    assert [barcode.text for barcode in zxingcpp.read_barcodes(image)] == [tracking]
    # The result (stored in the workflow history) shows no personal data.
    assert result.recipient == "a***@example.vn"
    assert APPLICANT not in result.model_dump_json()
    assert result.channel == "outbox"
    assert result.letter_id == f"{code}-apology-1"


@pytest.mark.postgres
async def test_the_pdf_is_form_04_with_extractable_vietnamese_text_and_the_qr_code(
    letters: LetterActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    result = await issue(letters, apology(code))
    reader = pypdf.PdfReader(result.pdf_path)
    assert len(reader.pages) == 1
    text = flat("\n".join(page.extract_text() for page in reader.pages))
    for expected in (
        code,
        "Chi nhánh Văn phòng đăng ký đất đai",
        "xin lỗi",
        "09/01/2026 16:30",
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",  # Circular 03/2025, form 04
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        f"Kính gửi: Ông/Bà {APPLICANT}",
        "GIÁM ĐỐC CHI NHÁNH",
        f"http://localhost:8000/track/{code}",
    ):
        assert expected in text, expected
    assert len(reader.pages[0].images) == 1  # the QR code
    assert reader.metadata is not None and reader.metadata.subject == result.letter_id


@pytest.mark.postgres
async def test_issuing_the_same_letter_twice_keeps_one_row_and_sends_one_message(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxChannel,
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    first = await issue(letters, apology(code))
    async with sessions() as session:
        before = await get_apology(session, code, 1)
        assert before is not None
        sent_at, rendered_at, digest = before.sent_at, before.rendered_at, before.pdf_sha256
    # A retry, as Temporal would make it (same input), even with another reason typed in.
    second = await issue(letters, apology(code, reason_vi="Một lý do khác"))
    assert second == first
    async with sessions() as session:
        rows = (
            await session.execute(
                select(func.count())
                .select_from(ApologyLetterRecord)
                .where(ApologyLetterRecord.dossier_code == code)
            )
        ).scalar_one()
        after = await get_apology(session, code, 1)
    assert rows == 1
    assert after is not None
    assert (after.sent_at, after.rendered_at, after.pdf_sha256) == (sent_at, rendered_at, digest)
    assert after.reason_vi == REASON_VI  # the first recording wins
    messages = outbox_messages(outbox)
    assert len(messages) == 1
    message = messages[0]
    assert message["Message-ID"] == f"<{code}-apology-1@dongda.lienthong>"
    assert after.message_id == message["Message-ID"]
    assert message["To"] == APPLICANT_EMAIL
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == [f"{code}-apology-1.pdf"]
    assert attachments[0].get_content() == bytes_of(first.pdf_path)


@pytest.mark.postgres
async def test_the_letter_is_dated_when_the_workflow_asked_for_it(
    letters: LetterActivities,
) -> None:
    run = ActivityEnvironment()
    # Workflow time (here 05/01/2026 07:30 in Hanoi), not the worker's clock.
    scheduled = datetime(2026, 1, 5, 0, 30, tzinfo=UTC)
    run.info = dataclasses.replace(run.info, scheduled_time=scheduled)
    result = await run.run(letters.issue_apology, apology(new_dossier_code()))
    assert "Hà Nội, ngày 05 tháng 01 năm 2026" in text_of(result.html_path)


@pytest.mark.postgres
async def test_a_second_missed_appointment_is_a_second_letter(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxChannel,
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    first = await issue(letters, apology(code))
    second = await issue(
        letters,
        apology(
            code,
            2,
            original_appointment=datetime(2026, 1, 9, 16, 30, tzinfo=VN_TZ),
            new_appointment=datetime(2026, 1, 14, 10, 0, tzinfo=VN_TZ),
            agency="tax",
            reason_vi="Chưa có bảng giá đất năm 2026 để xác định nghĩa vụ tài chính.",
        ),
    )
    assert (first.letter_id, second.letter_id) == (f"{code}-apology-1", f"{code}-apology-2")
    html = text_of(second.html_path)
    assert f"Phiếu số 2 của hồ sơ {code}" in html
    assert "Số: 02/PXL" in html
    assert "<b>THỦ TRƯỞNG CƠ QUAN THUẾ</b>" in html  # signed by the tax authority's head
    assert "14/01/2026 10:00" in html
    assert sorted(m["Message-ID"] for m in outbox_messages(outbox)) == [
        f"<{code}-apology-1@dongda.lienthong>",
        f"<{code}-apology-2@dongda.lienthong>",
    ]


@pytest.mark.postgres
async def test_without_a_contact_the_letter_is_generic_and_goes_to_the_desk(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxChannel,
) -> None:
    code = new_dossier_code()
    result = await issue(letters, apology(code))
    html = text_of(result.html_path)
    assert "Kính gửi: <b>Ông/Bà (người nộp hồ sơ)</b>" in html
    assert result.recipient == "o***@agencies.lienthong.local"
    (message,) = outbox_messages(outbox)
    assert message["To"] == "one-stop@agencies.lienthong.local"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Kính gửi: Bộ phận Một cửa" in body.get_content()
    async with sessions() as session:
        row = await get_apology(session, code, 1)
    assert row is not None and row.via_desk is True


@pytest.mark.postgres
async def test_a_contact_without_e_mail_is_named_but_the_letter_goes_to_the_desk(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxChannel,
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, None)
    result = await issue(letters, apology(code))
    assert f"Kính gửi: <b>Ông/Bà {APPLICANT}</b>" in text_of(result.html_path)
    assert result.recipient == "o***@agencies.lienthong.local"
    (message,) = outbox_messages(outbox)
    assert message["To"] == "one-stop@agencies.lienthong.local"


@pytest.mark.postgres
async def test_lost_files_are_rendered_again_identically_and_not_sent_again(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxChannel,
) -> None:
    code = new_dossier_code()
    first = await issue(letters, apology(code))
    pdf = bytes_of(first.pdf_path)
    remove(first.pdf_path, first.html_path)
    again = await issue(letters, apology(code))
    assert bytes_of(again.pdf_path) == pdf
    assert text_of(again.html_path).startswith("<!DOCTYPE html>")
    assert len(outbox_messages(outbox)) == 1


@pytest.mark.postgres
async def test_names_and_addresses_never_reach_the_logs(
    letters: LetterActivities,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    with caplog.at_level(logging.DEBUG):
        await issue(letters, apology(code))
    events = [record.getMessage() for record in caplog.records]
    assert any("apology_sent" in event for event in events), events
    logged = " ".join(str(record.__dict__) for record in caplog.records)
    for secret in (APPLICANT, APPLICANT_EMAIL, APPLICANT_PHONE, "an.nguyen"):
        assert secret not in logged


@pytest.mark.postgres
async def test_an_agency_the_catalog_does_not_know_is_refused_for_good(
    letters: LetterActivities,
) -> None:
    with pytest.raises(ApplicationError) as error:
        await issue(letters, apology(new_dossier_code(), agency="ministry-of-magic"))
    assert error.value.non_retryable
    assert error.value.type == "UnknownAgency"


@pytest.mark.postgres
async def test_a_dossier_code_that_could_escape_the_letters_folder_is_refused(
    letters: LetterActivities,
) -> None:
    with pytest.raises(ApplicationError) as error:
        await issue(letters, apology("../../etc/passwd"))
    assert error.value.non_retryable
    assert error.value.type == "DossierCodeError"


def test_a_missing_font_names_the_setting_and_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(FontNotFound, match=r"LIENTHONG_PDF_FONT=.*no such font file"):
        find_font(tmp_path / "missing.ttf")
    monkeypatch.setattr(render_module, "FONT_CANDIDATES", (tmp_path / "none.ttf",))
    with pytest.raises(FontNotFound) as error:
        find_font()
    assert "apt-get install fonts-dejavu-core" in str(error.value)
    assert "LIENTHONG_PDF_FONT" in str(error.value)


def test_the_configured_font_is_used_with_its_bold_sibling() -> None:
    found = find_font()
    assert found.regular.name == "DejaVuSans.ttf"
    assert found.bold.name == "DejaVuSans-Bold.ttf"
    assert find_font(found.regular) == found


async def test_the_sqlite_demo_registry_prints_the_same_dates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert (
        await asyncio.to_thread(upgrade, url)
        == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    )
    engine = async_engine(url)
    settings = Settings(data_dir=tmp_path, desk_code="DONGDA", smtp_host="")
    outbox = OutboxChannel(settings.outbox_path)
    try:
        sessions = session_factory(engine)
        letters = LetterActivities(sessions, default_catalog(), settings, outbox)
        code = new_dossier_code()
        first = await issue(letters, apology(code))
        second = await issue(letters, apology(code))
    finally:
        await engine.dispose()
    assert first == second
    html = text_of(first.html_path)
    assert "Ngày tiếp nhận hồ sơ: 01/12/2025 09:15" in html
    assert "<b>09/01/2026 16:30</b>" in html
    assert len(outbox_messages(outbox)) == 1


def test_rendering_twice_gives_the_same_pdf_bytes() -> None:
    from activities.letters import letter_form

    row = ApologyLetterRecord(
        letter_id="DONGDA-251201-0001-apology-1",
        sequence=1,
        dossier_code="DONGDA-251201-0001",
        procedure_name_vi=LAND_PROCEDURE_VI,
        received_at=datetime(2025, 12, 1, 9, 15, tzinfo=VN_TZ),
        original_appointment=datetime(2026, 1, 5, 17, tzinfo=VN_TZ),
        new_appointment=datetime(2026, 1, 9, 16, 30, tzinfo=VN_TZ),
        agency_name_vi="Cơ quan thuế",
        signer_title_vi="Thủ trưởng cơ quan thuế",
        reason_vi=REASON_VI,
        addressee_vi="Ông/Bà (người nộp hồ sơ)",
        issued_at=datetime(2026, 1, 5, 8, tzinfo=VN_TZ),
        place_vi="Hà Nội",
        tracking_url="http://localhost:8000/track/DONGDA-251201-0001",
    )
    font = find_font()
    assert render_apology_pdf(letter_form(row), font) == render_apology_pdf(letter_form(row), font)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def notice(code: str, kind: ApplicantNoticeKind, received_at: datetime) -> ApplicantNoticeInput:
    return ApplicantNoticeInput(
        dossier_code=code,
        kind=kind,
        sequence=1,
        procedure_name_vi="Đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế",
        received_at=received_at,
        agency="justice",
        reason_vi="Thiếu giấy chứng sinh",
        missing_documents=["Giấy chứng sinh"],
        answer_by=datetime(2026, 3, 11, 9, 0, tzinfo=VN_TZ),
    )


async def test_the_applicant_is_e_mailed_the_supplement_request_and_the_stop_notice_by_number(
    letters: LetterActivities, sessions: async_sessionmaker[AsyncSession], outbox: OutboxChannel
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    received = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)  # under Circular 03/2025's forms
    env = ActivityEnvironment()
    for kind in ApplicantNoticeKind:
        sent = await env.run(letters.applicant_notice, notice(code, kind, received))
        assert sent.recipient == "a***@example.vn"
    messages = {m["X-Lienthong-Reference"]: m for m in outbox_messages(outbox)}
    assert len(messages) == len(ApplicantNoticeKind)
    asked = messages[f"{code}-supplement-requested-1"]
    assert asked["To"] == APPLICANT_EMAIL
    assert "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (mẫu số 02)" in body(asked)
    assert "Giấy chứng sinh" in body(asked) and "11/03/2026 09:00" in body(asked)
    assert "Nhắc" in str(messages[f"{code}-supplement-reminder-1"]["Subject"])
    stopped = body(messages[f"{code}-processing-stopped-1"])
    assert "Thông báo dừng giải quyết hồ sơ (mẫu số 05)" in stopped
    assert "Phiếu từ chối tiếp nhận giải quyết hồ sơ (mẫu số 03)" in body(
        messages[f"{code}-refused-1"]
    )


async def test_a_dossier_under_the_2018_forms_is_told_in_words_that_processing_stopped(
    letters: LetterActivities, sessions: async_sessionmaker[AsyncSession], outbox: OutboxChannel
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, None)  # no e-mail: the desk passes it on
    received = datetime(2025, 9, 12, 9, 0, tzinfo=VN_TZ)  # the Friday before 15/9/2025
    kind = ApplicantNoticeKind.PROCESSING_STOPPED
    await ActivityEnvironment().run(letters.applicant_notice, notice(code, kind, received))
    [message] = outbox_messages(outbox)
    text = body(message)
    assert "Kính gửi: Bộ phận Một cửa" in text
    assert "mẫu số 05" not in text  # form 05 of 2018 is the control slip, not this notice
    assert "dừng giải quyết" in text


@pytest.mark.postgres
async def test_a_dossier_received_before_15_september_2025_gets_the_2018_form_04(
    letters: LetterActivities, sessions: async_sessionmaker[AsyncSession], outbox: OutboxChannel
) -> None:
    code = new_dossier_code()
    await with_contact(sessions, code, APPLICANT_EMAIL)
    received = datetime(2025, 9, 12, 9, 15, tzinfo=VN_TZ)
    result = await issue(letters, apology(code, received_at=received))
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text_of(result.html_path)
    [message] = outbox_messages(outbox)
    assert str(message["Subject"]).startswith("Phiếu xin lỗi và hẹn lại ngày trả kết quả - hồ sơ")
