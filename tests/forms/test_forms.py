"""Forms 01, 02, 03, 05 and 06 built from the registry tables and rendered as HTML, PDF and CSV.

A small fixed registry (three dossiers of desk DONGDA, one of another desk, two just outside the
register's days) is written with SQLAlchemy Core into the test's transaction, then each form is
loaded by `store.forms_data`, rendered and read back (the PDF text with pypdf, the QR code with
zxing). The command line is run through ``starter.main`` on PostgreSQL (errors) and on a
SQLite file (the demo registry, where moments come back naive).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import Connection, insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import VN_TZ, LegalClock
from domain.deadlines import Verdict, snapshot_of
from domain.dossier import AutomatedCheckResult, DossierInput, DossierStatus
from domain.dossier_core import DossierCore, calendar_window
from domain.dossier_views import registry_rows
from domain.effects import RunCheck
from domain.plan import plan_dossier
from engine.settings import Settings, get_settings
from forms import (
    ControlSlip,
    StopNotice,
    find_font,
    labels,
    render_html,
    render_pdf,
    render_register_csv,
)
from forms.editions import FormEdition, FormKind, edition_on, kind_of, number_of, title_of
from forms.official import OfficialForm
from starter import main
from store import forms_data
from store.db import sync_engine
from store.migrate import upgrade
from store.models import (
    ApplicantContact,
    DocumentRecord,
    DossierRecord,
    HandoverRecord,
    ProcedureRun,
    ReceivedDocument,
    StepRecord,
)
from store.read_model import apply_snapshot

CATALOG = default_catalog()
COMBINED = "DONGDA-251201-0001"  # land certificate + building permit, in progress
REFUSED = "DONGDA-251202-0001"  # a certified copy, refused; no contact on file
LATE = "DONGDA-251203-0001"  # a certified copy received at 23:30, returned late
MIDNIGHT = "DONGDA-251201-0002"  # received five minutes after midnight (Hanoi)
BEFORE = "DONGDA-251130-0001"  # one minute before the register's first day
ELSEWHERE = "HOANKIEM-251201-0001"  # another desk
APPLICANT = "Nguyễn Văn An"
APPLICANT_ADDRESS = "Số 12 ngõ 5 Phương Liên, Đống Đa, Hà Nội"
COMBINED_VI = (
    "Liên thông cấp Giấy chứng nhận quyền sử dụng đất lần đầu và cấp giấy phép xây dựng nhà ở "
    "riêng lẻ"
)
LAND_VI = "Đăng ký đất đai, cấp Giấy chứng nhận quyền sử dụng đất lần đầu cho hộ gia đình, cá nhân"
PERMIT_VI = "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ"
COPY_VI = "Chứng thực bản sao từ bản chính giấy tờ, văn bản"
APPLICATION_VI = "Đơn đăng ký đất đai, tài sản gắn liền với đất (Mẫu số 04/ĐK)"
ID_COPY_VI = "Bản sao Căn cước công dân"
DRAWING_VI = "Bản vẽ thiết kế xây dựng"
LAND_PROOF_VI = "Bản sao giấy tờ chứng minh quyền sử dụng đất"
SUPPLEMENT_REASON_VI = "Hồ sơ thiếu bản vẽ thiết kế và giấy tờ về đất."
REFUSAL_REASONS_VI = ("Bản chính không hợp lệ.", "Giấy tờ đã bị tẩy xóa, sửa chữa.")


def vn(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A moment in Hanoi, stored as UTC like the workflow stores it."""
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ).astimezone(UTC)


def dossier(
    code: str, procedure: str, received: datetime, appointment: datetime, status: str, **more: Any
) -> dict[str, Any]:
    return {
        "code": code,
        "desk_code": code.split("-")[0],
        "procedure_code": procedure,
        "procedure_version": "2025-07",
        "received_at": received,
        "clock_starts_at": received,
        "appointment_at": appointment,
        "status": status,
        # Every row has every column: an executemany takes its columns from the first row.
        "name_vi": "",
        "finished_at": None,
        "verdict": None,
        "late_working_hours": 0.0,
        **more,
    }


def handover(
    sequence: int,
    procedure: str,
    step: str,
    from_agency: str,
    to_agencies: str,
    at: datetime,
    result: str,
    due: datetime | None,
    verdict: str | None,
    late: float = 0.0,
) -> dict[str, Any]:
    return {
        "dossier_code": COMBINED,
        "sequence": sequence,
        "procedure_code": procedure,
        "step": step,
        "from_agency": from_agency,
        "to_agencies": to_agencies,
        "at": at,
        "result": result,
        "due_at": due,
        "verdict": verdict,
        "late_working_hours": late,
    }


REGISTRY: list[tuple[Any, list[dict[str, Any]]]] = [
    (
        DossierRecord.__table__,
        [
            dossier(
                COMBINED,
                "land-and-permit",
                vn(2025, 12, 1, 9, 15),
                vn(2026, 1, 6, 17, 0),
                DossierStatus.IN_PROGRESS,
                name_vi=COMBINED_VI,
            ),
            dossier(
                REFUSED,
                "certified-copy",
                vn(2025, 12, 2, 8, 30),
                vn(2025, 12, 2, 10, 30),
                DossierStatus.REFUSED,
                name_vi=COPY_VI,
                finished_at=vn(2025, 12, 2, 9, 0),
            ),
            dossier(
                LATE,
                "certified-copy",
                vn(2025, 12, 3, 23, 30),
                vn(2025, 12, 4, 10, 0),
                DossierStatus.RETURNED,
                name_vi="",
                finished_at=vn(2025, 12, 4, 11, 45),
                verdict=Verdict.LATE,
                late_working_hours=1.75,
            ),
            dossier(
                MIDNIGHT,
                "certified-copy",
                vn(2025, 12, 1, 0, 5),
                vn(2025, 12, 1, 10, 0),
                DossierStatus.RETURNED,
                name_vi=COPY_VI,
                finished_at=vn(2025, 12, 1, 9, 0),
                verdict=Verdict.EARLY,
            ),
            dossier(
                BEFORE,
                "certified-copy",
                vn(2025, 11, 30, 23, 59),
                vn(2025, 12, 1, 10, 0),
                DossierStatus.RETURNED,
                name_vi=COPY_VI,
            ),
            dossier(
                ELSEWHERE,
                "certified-copy",
                vn(2025, 12, 1, 9, 0),
                vn(2025, 12, 1, 11, 0),
                DossierStatus.ACCEPTED,
                name_vi=COPY_VI,
            ),
        ],
    ),
    (
        ProcedureRun.__table__,
        [
            {
                "dossier_code": COMBINED,
                "procedure_code": "house-building-permit",
                "version": "2025-07",
                "name_vi": PERMIT_VI,
                "outcome": "running",
            },
            {
                "dossier_code": COMBINED,
                "procedure_code": "land-first-certificate",
                "version": "2025-07",
                "name_vi": LAND_VI,
                "outcome": "running",
            },
            {
                "dossier_code": REFUSED,
                "procedure_code": "certified-copy",
                "version": "2025-07",
                "name_vi": COPY_VI,
                "outcome": "refused",
            },
        ],
    ),
    (
        ReceivedDocument.__table__,
        [
            {
                "dossier_code": COMBINED,
                "sequence": 1,
                "name_vi": APPLICATION_VI,
                "supplement": False,
            },
            {"dossier_code": COMBINED, "sequence": 2, "name_vi": ID_COPY_VI, "supplement": False},
            {"dossier_code": COMBINED, "sequence": 3, "name_vi": ID_COPY_VI, "supplement": False},
            {"dossier_code": COMBINED, "sequence": 4, "name_vi": DRAWING_VI, "supplement": True},
        ],
    ),
    (
        StepRecord.__table__,
        [
            {
                "dossier_code": COMBINED,
                "step_key": "land-first-certificate:receive",
                "procedure_code": "land-first-certificate",
                "agency": "one-stop",
                "kind": "automated_check",
                "name_vi": "Tiếp nhận hồ sơ đất đai",
                "status": "done",
            },
            {
                "dossier_code": COMBINED,
                "step_key": "house-building-permit:appraise",
                "procedure_code": "house-building-permit",
                "agency": "commune-economic",
                "kind": "officer_decision",
                "name_vi": "Thẩm định hồ sơ cấp phép",
                "status": "open",
            },
        ],
    ),
    (
        HandoverRecord.__table__,
        [
            handover(
                1,
                "land-first-certificate",
                "receive",
                "one-stop",
                "commune-committee",
                vn(2025, 12, 1, 10, 0),
                "passed: Hồ sơ đầy đủ",
                vn(2025, 12, 2, 9, 15),
                Verdict.EARLY,
            ),
            handover(
                2,
                "house-building-permit",
                "appraise",
                "commune-economic",
                "applicant",
                vn(2025, 12, 3, 10, 0),
                "supplement requested: Thiếu bản vẽ",
                vn(2025, 12, 10, 17, 0),
                None,
            ),
            handover(
                3,
                "land-first-certificate",
                "post-notice",
                "commune-committee",
                "land-registration",
                vn(2025, 12, 22, 8, 0),
                "notice period ended",
                vn(2025, 12, 22, 17, 0),
                Verdict.NOT_COUNTED,
            ),
            handover(
                4,
                "land-first-certificate",
                "check-parcel",
                "land-registration",
                "land-registration, tax",
                vn(2025, 12, 24, 15, 30),
                "approved: Thửa đất khớp bản đồ",
                vn(2025, 12, 23, 11, 0),
                Verdict.LATE,
                12.5,
            ),
            handover(
                5,
                "land-first-certificate",
                "prepare-file",
                "land-registration",
                "commune-economic,tax",
                vn(2025, 12, 26, 9, 0),
                "approved:",
                vn(2025, 12, 26, 17, 0),
                Verdict.ON_TIME,
            ),
        ],
    ),
    (
        DocumentRecord.__table__,
        [
            {
                "dossier_code": COMBINED,
                "kind": "form-02",
                "sequence": 1,
                "procedure_code": "house-building-permit",
                "step": "appraise",
                "agency": "commune-economic",
                "summary_vi": SUPPLEMENT_REASON_VI,
                "detail": json.dumps(
                    {
                        "missing_documents": [DRAWING_VI, LAND_PROOF_VI],
                        "requested_by": "commune-economic",
                    },
                    ensure_ascii=False,
                ),
                "issued_at": vn(2025, 12, 3, 10, 0),
            },
            {
                "dossier_code": COMBINED,
                "kind": "form-01",
                "sequence": 1,
                "procedure_code": "land-and-permit",
                "step": None,
                "agency": "one-stop",
                "summary_vi": "Hẹn trả kết quả 31/12/2025",
                # The appointment given at receipt; the supplement request moved it since.
                "detail": json.dumps({"appointment": "2025-12-31T17:00:00+07:00"}),
                "issued_at": vn(2025, 12, 1, 9, 15),
            },
            {
                "dossier_code": REFUSED,
                "kind": "form-03",
                "sequence": 1,
                "procedure_code": "certified-copy",
                "step": "certify",
                "agency": "commune-committee",
                "summary_vi": "\n".join(REFUSAL_REASONS_VI),
                "detail": "{}",
                "issued_at": vn(2025, 12, 2, 9, 0),
            },
        ],
    ),
    (
        ApplicantContact.__table__,
        [
            {
                "dossier_code": COMBINED,
                "full_name": APPLICANT,
                "phone": "0912345678",
                "address": APPLICANT_ADDRESS,
            }
        ],
    ),
]


async def write_registry(session: AsyncSession) -> None:
    for table, rows in REGISTRY:
        await session.execute(insert(table), rows)


def write_registry_sync(connection: Connection) -> None:
    for table, rows in REGISTRY:
        connection.execute(insert(table), rows)


@pytest.fixture
async def registry(db_session: AsyncSession) -> AsyncSession:
    await write_registry(db_session)
    return db_session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, desk_code="DONGDA", public_base_url="https://dvc.example.vn")


def flat(text: str) -> str:
    """NFC text with every run of white space as one space (PDF lines break anywhere)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return flat("\n".join(page.extract_text() for page in reader.pages))


def assert_all_in(text: str, expected: Sequence[str]) -> None:
    for needle in expected:
        assert needle in text, needle


# -- labels --------------------------------------------------------------------------------------


def test_every_verdict_and_status_has_a_vietnamese_label() -> None:
    words = labels()
    assert {v.value for v in Verdict} <= set(words.verdicts)
    assert {s.value for s in DossierStatus} <= set(words.statuses)
    # The Web UI's details (workflow code, no file reads) print the same words as the forms.
    assert {s.value: s.name_vi for s in DossierStatus} == {
        code: words.statuses[code] for code in DossierStatus
    }
    assert [words.verdict(v) for v in ("early", "on_time", "late", "not_counted")] == [
        "Trước hạn", "Đúng hạn", "Quá hạn", "Không tính",
    ]  # fmt: skip
    assert words.verdict(None) == ""


def test_hand_over_results_are_translated_by_their_leading_words_only() -> None:
    words = labels()
    assert words.result("approved: Hồ sơ hợp lệ") == "Đồng ý: Hồ sơ hợp lệ"
    assert words.result("approved: ") == "Đồng ý"
    assert words.result("sent back: thiếu chữ ký") == "Trả lại bước trước: thiếu chữ ký"
    assert words.result("paid 150000 VND (BL-1)") == "Đã nộp 150000 VND (BL-1)"
    assert words.result("notice period ended") == "Hết thời gian niêm yết"
    assert words.result("passedover") == "passedover"  # not a known result: printed as is
    assert words.result("Đã xử lý xong") == "Đã xử lý xong"


# -- form 01 -------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_receipt_lists_procedures_documents_appointment_and_tracking_qr(
    registry: AsyncSession, settings: Settings
) -> None:
    form = await forms_data.receipt_form(registry, COMBINED, settings, CATALOG)
    html = render_html(form)
    tracking = f"https://dvc.example.vn/track/{COMBINED}"
    assert_all_in(
        html,
        [
            '<html lang="vi">',
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "BỘ PHẬN MỘT CỬA",
            "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
            f"Mã hồ sơ: <b>{COMBINED}</b>",
            "Hà Nội, ngày 01 tháng 12 năm 2025",
            "Bộ phận tiếp nhận và trả kết quả: Bộ phận Một cửa",
            f"Tiếp nhận hồ sơ của: <b>{APPLICANT}</b>",
            f"Địa chỉ: {APPLICANT_ADDRESS}",
            "Số điện thoại: 0912345678",
            f"Vào Sổ theo dõi hồ sơ, Quyển số: 2025, Số thứ tự: {COMBINED}",
            "@page { size: A4;",
            f"Nội dung yêu cầu giải quyết: <b>{COMBINED_VI}</b>",
            f"- {LAND_VI}",
            f"- {PERMIT_VI}",
            "3. Thời gian giải quyết hồ sơ theo quy định: 24 ngày làm việc",
            "4. Thời gian nhận hồ sơ: <b>09:15, ngày 01/12/2025</b>",
            "5. Thời gian trả kết quả giải quyết hồ sơ: <b>17:00, ngày 31/12/2025</b>",
            "(Thời gian trả kết quả đã được điều chỉnh thành: <b>17:00, ngày 06/01/2026</b>",
            "qua dịch vụ bưu chính công ích",  # the combined bundle delivers to the home
            f'<a href="{tracking}">{tracking}</a>',
        ],
    )
    # The bundle's order (land first), not the alphabetical order of the rows.
    assert html.index(LAND_VI) < html.index(PERMIT_VI)
    # December 2025 is not a provisional period; an appointment in one says it may move.
    assert form.calendar_notes_vi == () and "Lưu ý" not in html
    noted = render_html(form.model_copy(update={"calendar_notes_vi": ("Lịch năm 2027 ...",)}))
    assert "Lưu ý: ngày hẹn được tính theo lịch làm việc tạm thời" in noted
    assert "Lịch năm 2027 ..." in noted
    assert [(d.name_vi, d.count) for d in form.documents] == [(APPLICATION_VI, 1), (ID_COPY_VI, 2)]
    assert DRAWING_VI not in html  # handed in later, as a supplement
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    assert [barcode.text for barcode in zxingcpp.read_barcodes(image)] == [tracking]

    text = pdf_text(render_pdf(form, find_font()))
    assert_all_in(
        text,
        [
            COMBINED,
            "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
            APPLICANT,
            ID_COPY_VI,
            "17:00, ngày 06/01/2026",
            "NGƯỜI TIẾP NHẬN HỒ SƠ",
            APPLICANT_ADDRESS,
            "Vào Sổ theo dõi hồ sơ",
            tracking,
        ],
    )
    # The circular's forms are A4 (we had been told A5): 210 x 297 mm, in points.
    page = pypdf.PdfReader(io.BytesIO(render_pdf(form, find_font()))).pages[0].mediabox
    assert (round(float(page.width)), round(float(page.height))) == (595, 842)


@pytest.mark.postgres
async def test_a_receipt_without_a_contact_says_so(
    registry: AsyncSession, settings: Settings
) -> None:
    form = await forms_data.receipt_form(registry, REFUSED, settings, CATALOG)
    html = render_html(form)
    assert "Tiếp nhận hồ sơ của: <b>(không có thông tin)</b>" in html
    assert form.component_procedures_vi == ()  # a single procedure lists no components
    assert "1 ngày làm việc (trả trong ngày làm việc;" in html  # Decree 23/2015: the same day
    assert "Trực tiếp tại Bộ phận Một cửa" in html
    assert "(không có giấy tờ nào được ghi nhận)" in html
    # No form 01 record: the dossier's appointment, not said to be moved.
    assert "5. Thời gian trả kết quả giải quyết hồ sơ: <b>10:30, ngày 02/12/2025</b>" in html
    assert "điều chỉnh" not in html
    assert "(không có thông tin)" in pdf_text(render_pdf(form, find_font()))


# -- forms 02 and 03 -----------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_supplement_request_names_the_agency_the_documents_and_the_reason(
    registry: AsyncSession,
) -> None:
    form = await forms_data.supplement_form(registry, COMBINED, 1, CATALOG, place_vi="Hà Nội")
    assert (
        await forms_data.supplement_form(registry, COMBINED, None, CATALOG, place_vi="Hà Nội")
        == form
    )  # no sequence: the latest request
    html = render_html(form)
    assert_all_in(
        html,
        [
            "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
            "PHÒNG KINH TẾ, HẠ TẦNG VÀ ĐÔ THỊ",  # the requesting agency heads the form
            "Hà Nội, ngày 03 tháng 12 năm 2025",
            f"Phiếu số 1 của hồ sơ {COMBINED}",
            f"Hồ sơ của: <b>{APPLICANT}</b>",
            f"Nội dung yêu cầu giải quyết: {PERMIT_VI}",
            "Phòng Kinh tế, Hạ tầng và Đô thị đề nghị Ông/Bà bổ sung, hoàn thiện hồ sơ",
            f"1. {DRAWING_VI}",
            f"2. {LAND_PROOF_VI}",
            f"Lý do: {SUPPLEMENT_REASON_VI}",
            "NGƯỜI HƯỚNG DẪN",
        ],
    )
    text = pdf_text(render_pdf(form, find_font()))
    assert_all_in(text, [COMBINED, DRAWING_VI, LAND_PROOF_VI, SUPPLEMENT_REASON_VI])


@pytest.mark.postgres
async def test_the_refusal_gives_the_agency_the_step_and_each_reason(
    registry: AsyncSession,
) -> None:
    form = await forms_data.refusal_form(registry, REFUSED, 1, CATALOG)
    html = render_html(form)
    step_vi = CATALOG.version_on("certified-copy", date(2025, 12, 2)).step("certify").name_vi
    assert_all_in(
        html,
        [
            "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",  # Circular 03/2025: no comma
            "Ngày 02 tháng 12 năm 2025",  # no place given: the date alone
            "Hồ sơ của: <b>(không có thông tin)</b>",
            f"Nội dung yêu cầu giải quyết: {COPY_VI}",
            f"Ủy ban nhân dân cấp xã thông báo không tiếp nhận, giải quyết hồ sơ này "
            f"(bước: {step_vi})",
            f"1. {REFUSAL_REASONS_VI[0]}",
            f"2. {REFUSAL_REASONS_VI[1]}",
        ],
    )
    text = pdf_text(render_pdf(form, find_font()))
    assert_all_in(text, [REFUSED, REFUSAL_REASONS_VI[1], "ỦY BAN NHÂN DÂN CẤP XÃ"])


@pytest.mark.postgres
async def test_missing_dossiers_and_forms_are_lookup_errors_naming_them(
    registry: AsyncSession, settings: Settings
) -> None:
    unknown = "DONGDA-991231-9999"
    for load in (
        forms_data.receipt_form(registry, unknown, settings, CATALOG),
        forms_data.supplement_form(registry, unknown, 1, CATALOG),
        forms_data.refusal_form(registry, unknown, None, CATALOG),
        forms_data.control_slip(registry, unknown, CATALOG),
    ):
        with pytest.raises(LookupError, match=f"no dossier '{unknown}'"):
            await load
    with pytest.raises(LookupError, match="no supplement request \\(form 02\\) number 2"):
        await forms_data.supplement_form(registry, COMBINED, 2, CATALOG)
    with pytest.raises(LookupError, match=f"{COMBINED} has no refusal \\(form 03\\)$"):
        await forms_data.refusal_form(registry, COMBINED, None, CATALOG)


# -- form 05 -------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_control_slip_has_one_row_per_hand_over_with_its_verdict(
    registry: AsyncSession,
) -> None:
    slip = await forms_data.control_slip(registry, COMBINED, CATALOG)
    land = CATALOG.version_on("land-first-certificate", date(2025, 12, 1))
    # Steps the registry has no row for are named from the dossier's catalog version.
    check_parcel_vi, prepare_file_vi = (
        land.step(s).name_vi for s in ("check-parcel", "prepare-file")
    )
    assert [
        (row.sequence, row.step_name_vi, row.from_agency_vi, row.to_agencies_vi, row.verdict_vi)
        for row in slip.rows
    ] == [
        (1, "Tiếp nhận hồ sơ đất đai", "Bộ phận Một cửa", ("Ủy ban nhân dân cấp xã",),
         "Trước hạn"),
        (2, "Thẩm định hồ sơ cấp phép", "Phòng Kinh tế, Hạ tầng và Đô thị",
         ("Người nộp hồ sơ",), ""),
        (3, "Niêm yết công khai tại trụ sở Ủy ban nhân dân cấp xã và khu dân cư",
         "Ủy ban nhân dân cấp xã", ("Chi nhánh Văn phòng đăng ký đất đai",), "Không tính"),
        (4, check_parcel_vi, "Chi nhánh Văn phòng đăng ký đất đai",
         ("Chi nhánh Văn phòng đăng ký đất đai", "Cơ quan thuế"), "Quá hạn"),
        (5, prepare_file_vi, "Chi nhánh Văn phòng đăng ký đất đai",
         ("Phòng Kinh tế, Hạ tầng và Đô thị", "Cơ quan thuế"), "Đúng hạn"),
    ]  # fmt: skip
    assert [row.late_working_hours for row in slip.rows] == [0, 0, 0, 12.5, 0]
    assert slip.rows[4].result_vi == "Đồng ý"  # "approved:" with no reason typed
    html = render_html(slip)
    assert_all_in(
        html,
        [
            "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
            f"Mã hồ sơ: <b>{COMBINED}</b>",
            f"Thủ tục hành chính: {COMBINED_VI}",
            "Thời gian nhận hồ sơ: 09:15, ngày 01/12/2025",
            "Thời gian hẹn trả kết quả: 17:00, ngày 06/01/2026",
            "Đạt yêu cầu: Hồ sơ đầy đủ",
            "Yêu cầu bổ sung hồ sơ: Thiếu bản vẽ",
            "Hết thời gian niêm yết",
            "Đồng ý: Thửa đất khớp bản đồ",
            "15:30, ngày 24/12/2025",  # when the land office handed over
            "11:00, ngày 23/12/2025",  # the step's due moment
            ">12,5<",  # working hours late
        ],
    )
    assert "CỘNG HÒA" not in html  # the desk's own record carries no national motto
    assert APPLICANT not in html
    pdf = render_pdf(slip, find_font())
    assert_all_in(pdf_text(pdf), [COMBINED, "Đúng hạn", "Quá hạn", "Trước hạn", "12,5"])
    assert pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width > 800  # A4 landscape


# -- form 06 -------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_register_lists_the_desk_s_dossiers_of_those_hanoi_days(
    registry: AsyncSession,
) -> None:
    book = await forms_data.register(
        registry, "DONGDA", date(2025, 12, 1), date(2025, 12, 3), CATALOG
    )
    # Received from 00:00 on the first day to 24:00 on the last, Hanoi time, in order.
    assert [row.dossier_code for row in book.rows] == [MIDNIGHT, COMBINED, REFUSED, LATE]
    assert [row.sequence for row in book.rows] == [1, 2, 3, 4]
    short = await forms_data.register(
        registry, "DONGDA", date(2025, 12, 1), date(2025, 12, 2), CATALOG
    )
    assert LATE not in [row.dossier_code for row in short.rows]  # 23:30 on the 3rd

    html = render_html(book)
    assert_all_in(
        html,
        [
            "SỔ THEO DÕI HỒ SƠ",
            "Từ ngày 01/12/2025 đến ngày 03/12/2025",
            "Đang giải quyết",
            "Từ chối giải quyết",
            "Đã trả kết quả",
            "Quá hạn",
            "11:45, ngày 04/12/2025",
            "Tổng số: 4 hồ sơ.",
        ],
    )
    assert COPY_VI in [row.procedure_name_vi for row in book.rows if row.dossier_code == LATE]
    pdf = render_pdf(book, find_font())
    text = pdf_text(pdf)
    assert_all_in(text, [MIDNIGHT, LATE, "Trước hạn", "Quá hạn", "SỔ THEO DÕI HỒ SƠ"])

    exported = render_register_csv(book)
    assert exported.startswith("\ufeff")  # Excel reads UTF-8 only with the BOM
    rows = list(csv.reader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert rows[0] == list(labels().register_columns)
    assert rows[1:] == [
        ["1", MIDNIGHT, COPY_VI, "2025-12-01T00:05:00+07:00", "2025-12-01T10:00:00+07:00",
         "2025-12-01T09:00:00+07:00", "Đã trả kết quả", "Trước hạn"],
        ["2", COMBINED, COMBINED_VI, "2025-12-01T09:15:00+07:00", "2026-01-06T17:00:00+07:00",
         "", "Đang giải quyết", ""],
        ["3", REFUSED, COPY_VI, "2025-12-02T08:30:00+07:00", "2025-12-02T10:30:00+07:00",
         "2025-12-02T09:00:00+07:00", "Từ chối giải quyết", ""],
        ["4", LATE, COPY_VI, "2025-12-03T23:30:00+07:00", "2025-12-04T10:00:00+07:00",
         "2025-12-04T11:45:00+07:00", "Đã trả kết quả", "Quá hạn"],
    ]  # fmt: skip
    # No personal data, in any of the three.
    for output in (html, text, exported):
        assert APPLICANT not in output
        assert "0912345678" not in output


@pytest.mark.postgres
async def test_a_reversed_register_range_is_refused(registry: AsyncSession) -> None:
    with pytest.raises(ValueError, match="before its first day"):
        await forms_data.register(registry, "DONGDA", date(2025, 12, 3), date(2025, 12, 1), CATALOG)


# -- same input, same bytes ----------------------------------------------------------------------


@pytest.mark.postgres
async def test_loading_and_rendering_again_gives_the_same_pdf_bytes(
    registry: AsyncSession, settings: Settings
) -> None:
    font = find_font()

    async def everything() -> list[bytes]:
        forms: list[OfficialForm] = [
            await forms_data.receipt_form(registry, COMBINED, settings, CATALOG),
            await forms_data.supplement_form(registry, COMBINED, 1, CATALOG),
            await forms_data.refusal_form(registry, REFUSED, 1, CATALOG),
            await forms_data.control_slip(registry, COMBINED, CATALOG),
            await forms_data.register(
                registry, "DONGDA", date(2025, 12, 1), date(2025, 12, 3), CATALOG
            ),
        ]
        return [render_pdf(form, font) for form in forms]

    first, second = await everything(), await everything()
    assert first == second
    assert len(set(first)) == 5
    metadata = pypdf.PdfReader(io.BytesIO(first[3])).metadata
    assert metadata is not None
    assert metadata.subject == f"{COMBINED}-form-06"
    assert metadata.creation_date == datetime(2025, 12, 26, 2, 0, tzinfo=UTC)  # last hand-over


# -- the command line ----------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read again from the environment the test sets, and forgotten afterwards."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["form", "01", "DONGDA-991231-9999"], "no dossier 'DONGDA-991231-9999'"),
        (["form", "05", "DONGDA-991231-9999"], "no dossier 'DONGDA-991231-9999'"),
        (["form", "01", "DONGDA-991231-9999", "--sequence", "2"], "--sequence is for forms 02"),
        (["form", "04", "DONGDA-991231-9999"], "invalid choice: '04'"),
        (["register", "--desk", "DONGDA", "--from", "2025-12-31", "--to", "2025-12-01"],
         "--to 2025-12-01 is before --from 2025-12-31"),
        (["register", "--desk", "DONGDA", "--from", "2025-13-01", "--to", "2025-12-01"],
         "not a date"),
        (["register", "--desk", "DONGDA", "--from", "2025-12-01"], "--to"),
    ],
)  # fmt: skip
def test_bad_form_and_register_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database: None,
    pg_url: str,
    argv: list[str],
    needle: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert needle in err
    assert err.count("\n") == 1


def test_the_commands_write_the_forms_of_the_sqlite_demo_registry(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database: None,
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            write_registry_sync(connection)
    finally:
        engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "form", "01", COMBINED)
    assert (code, err) == (0, "")
    assert out.split() == [f"{COMBINED}-form-01.html", f"{COMBINED}-form-01.pdf"]
    html = (tmp_path / f"{COMBINED}-form-01.html").read_text("utf-8")
    # SQLite gives the moments back naive (UTC); they still print in Hanoi time.
    assert "09:15, ngày 01/12/2025" in html
    assert COMBINED in pdf_text((tmp_path / f"{COMBINED}-form-01.pdf").read_bytes())

    code, out, _ = run(capsys, "form", "02", COMBINED, "--pdf", "request.pdf")
    assert (code, out.split()) == (0, ["request.pdf"])
    assert DRAWING_VI in pdf_text((tmp_path / "request.pdf").read_bytes())

    code, out, _ = run(capsys, "form", "02", COMBINED, "--sequence", "3")
    assert code == 2

    code, out, _ = run(
        capsys, "register", "--desk", "DONGDA", "--from", "2025-12-01", "--to", "2025-12-03",
        "--format", "csv", "--output", "-",
    )  # fmt: skip
    assert code == 0
    assert [row[1] for row in csv.reader(io.StringIO(out.removeprefix("\ufeff")))][1:] == [
        MIDNIGHT, COMBINED, REFUSED, LATE,
    ]  # fmt: skip
    assert APPLICANT not in out

    code, out, _ = run(
        capsys, "register", "--desk", "DONGDA", "--from", "2025-12-01", "--to", "2025-12-03",
        "--format", "pdf",
    )  # fmt: skip
    assert (code, out.split()) == (0, ["DONGDA-register-20251201-20251203.pdf"])
    assert LATE in pdf_text((tmp_path / "DONGDA-register-20251201-20251203.pdf").read_bytes())


def test_an_unmigrated_registry_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database: None,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out, err = run(capsys, "form", "05", COMBINED)
    assert (code, out) == (1, "")
    assert "no such table: dossiers (migrated? starter.py db upgrade)" in err
    assert err.count("\n") == 1


def test_the_form_commands_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["form", "--help"], ["register", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "usage:" in out


@pytest.mark.parametrize(
    "words",
    [
        "Nguyễn Thị Ánh Tuyết, số 12 ngõ Văn Chương — 1.500.000 ₫",
        "Nguyễn Văn Ω and Жуков",  # letters outside the cut-down font: the whole font is used
    ],
)
def test_a_pdf_keeps_every_character_whichever_font_sets_it(words: str) -> None:
    from forms.render import html_to_pdf

    pdf = html_to_pdf(
        f"<p>{words}</p>",
        find_font(),
        created=datetime(2027, 3, 1, tzinfo=UTC),
        title="t",
        author="a",
        subject="s",
    )
    assert flat(words) in pdf_text(pdf)


# -- editions: Circular 01/2018 before 15/9/2025, Circular 03/2025 from then -----------------------


def test_a_dossier_gets_the_forms_in_force_on_its_receipt_day() -> None:
    assert edition_on(date(2025, 9, 14)) is FormEdition.CIRCULAR_01_2018
    assert edition_on(datetime(2025, 9, 14, 23, 30, tzinfo=VN_TZ)) is FormEdition.CIRCULAR_01_2018
    assert edition_on(date(2025, 9, 15)) is FormEdition.CIRCULAR_03_2025
    old, new = FormEdition.CIRCULAR_01_2018, FormEdition.CIRCULAR_03_2025
    assert [number_of(FormKind.CONTROL_SLIP, e) for e in (old, new)] == ["05", "06"]
    assert [number_of(FormKind.REGISTER, e) for e in (old, new)] == ["06", "07"]
    assert title_of(FormKind.APOLOGY, new) == (
        "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết"
    )
    assert title_of(FormKind.STOP_NOTICE, new) == "Thông báo dừng giải quyết hồ sơ"
    with pytest.raises(ValueError, match="form 05 of Circular 03/2025"):
        number_of(FormKind.STOP_NOTICE, old)
    # The command line names forms by the 2025 numbers.
    assert [kind_of(n) for n in ("05", "06", "07")] == [
        FormKind.STOP_NOTICE,
        FormKind.CONTROL_SLIP,
        FormKind.REGISTER,
    ]


def test_a_control_slip_of_2018_is_form_05_and_of_2025_form_06() -> None:
    fields: dict[str, Any] = {
        "dossier_code": "DONGDA-250912-0001",
        "desk_name_vi": "Bộ phận Một cửa",
        "procedure_name_vi": COPY_VI,
        "received_at": vn(2025, 9, 12, 9, 0),
        "appointment_at": vn(2025, 9, 12, 11, 0),
        "rows": (),
    }
    old = ControlSlip(edition=FormEdition.CIRCULAR_01_2018, **fields)
    new = ControlSlip(edition=FormEdition.CIRCULAR_03_2025, **fields)
    assert (old.number, old.reference) == ("05", "DONGDA-250912-0001-form-05")
    assert (new.number, new.reference) == ("06", "DONGDA-250912-0001-form-06")
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in render_html(old)


def stop_notice(edition: FormEdition = FormEdition.CIRCULAR_03_2025) -> StopNotice:
    return StopNotice(
        edition=edition,
        dossier_code="DONGDA-260302-0001",
        sequence=1,
        procedure_name_vi="Đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế",
        applicant_name_vi=APPLICANT,
        agency_name_vi="Bộ phận Một cửa",
        missing_documents=("Giấy chứng sinh",),
        requested_at=vn(2026, 3, 2, 9, 0),
        answer_by=vn(2026, 3, 11, 9, 0),
        stopped_at=vn(2026, 3, 11, 9, 0),
        place_vi="Hà Nội",
    )


def test_the_notice_that_processing_stops_is_form_05_of_2025_in_html_and_pdf() -> None:
    notice = stop_notice()
    assert (notice.number, notice.reference) == ("05", "DONGDA-260302-0001-form-05-1")
    expected = [
        "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ",
        f"Hồ sơ của: {APPLICANT}",
        "1. Giấy chứng sinh",
        "Đến 11/03/2026 09:00, hết thời hạn bổ sung",
        "thông báo dừng giải quyết hồ sơ nêu trên",
    ]
    assert_all_in(re.sub(r"</?b>", "", render_html(notice)), expected)
    assert_all_in(pdf_text(render_pdf(notice, find_font())), expected)
    with pytest.raises(ValueError, match=r"form 05 of Circular 03/2025"):
        stop_notice(FormEdition.CIRCULAR_01_2018)


def test_form_05_of_a_dossier_that_did_not_stop_points_to_form_06(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database: None,
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    engine = sync_engine(url)
    try:
        with engine.begin() as connection:
            write_registry_sync(connection)
    finally:
        engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "form", "05", COMBINED)
    assert (code, out) == (2, "")
    assert "processing was not stopped" in err and "control slip is form 06" in err
    assert err.count("\n") == 1
    code, out, err = run(capsys, "form", "06", COMBINED, "--html", "slip.html")
    assert (code, out.split()) == (0, ["slip.html"])
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in (tmp_path / "slip.html").read_text()


@pytest.mark.postgres
async def test_form_05_is_loaded_from_a_lapsed_supplement_request(db_session: AsyncSession) -> None:
    # A birth bundle whose completeness check asks for papers nobody brings: played in the
    # dossier core, its registry rows written as registry.sync writes them.
    at = vn(2026, 3, 2, 9, 0)
    request = DossierInput(
        dossier_code="DONGDA-260302-0042",
        desk_code="DONGDA",
        procedure_code="birth-residence-insurance",
        received_at=at,
    )
    clock = LegalClock(default_calendar())
    snapshot = snapshot_of(clock, *calendar_window(at))
    core = DossierCore(request)
    plan = plan_dossier(CATALOG, snapshot.clock(), "birth-residence-insurance", at)
    [check] = [e for e in core.receive(plan, snapshot, at) if isinstance(e, RunCheck)]
    missing = AutomatedCheckResult(
        passed=False, summary_vi="Thiếu giấy chứng sinh", missing_documents=["Giấy chứng sinh"]
    )
    core.check_done(check.key, check.run, missing, at)
    answer_by = core.state.supplements[0].answer_by
    assert answer_by is not None
    core.tick(answer_by)
    assert core.state.status is DossierStatus.STOPPED
    await apply_snapshot(db_session, registry_rows(core))

    notice = await forms_data.stop_notice(db_session, request.dossier_code, None, CATALOG)
    assert (notice.number, notice.sequence) == ("05", 1)
    assert notice.missing_documents == ("Giấy chứng sinh",)
    assert notice.answer_by == notice.stopped_at == answer_by
    assert notice.agency_name_vi == "Bộ phận Một cửa"
    assert "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ" in render_html(notice)
