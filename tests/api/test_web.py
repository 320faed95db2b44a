"""The pages over HTTP (httpx on the app's ASGI transport): the filing form's errors, the second
factor of the tracking page, and the applicant's acts (supplement, payment, withdrawal, rating)
going through the API's own checks, on the time-skipping server with the real workers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from api import schemas as s
from api.auth import tracking_secret
from domain.catalog import default_catalog
from domain.dossier import DossierStatus
from store.models import OnlineSubmission, UploadRecord

# The API tests' fixtures: ``stack`` (the app, the workers, the time-skipping server) and
# ``bare`` (the app alone), re-exported so that pytest finds them here.
from tests.api.test_api import PDF, TOKEN_SECRET, Stack, bare, count, eventually, stack, token
from web.views import timeline

pytestmark = pytest.mark.postgres

__all__ = ["bare", "stack"]

APPLICANT = {
    "full_name": "Nguyễn Thị Hồng Nhung",
    "national_id": "001190012345",
    "phone": "0912 345 678",
    "email": "nhung@example.vn",
    "address": "Số 12 ngõ 5 Phương Liên, Đống Đa, Hà Nội",
}


def _documents(code: str) -> list[tuple[str, bool]]:
    catalog, day = default_catalog(), date.today()
    versions = (
        catalog.components_on(code, day)
        if catalog.is_combined(code)
        else (catalog.version_on(code, day),)
    )
    return [(doc.name_vi, doc.optional) for v in versions for doc in v.required_documents]


def _files(code: str) -> dict[str, tuple[str, bytes, str]]:
    return {
        f"doc_{index}": ("giay-to.pdf", PDF, "application/pdf")
        for index, (_, optional) in enumerate(_documents(code))
        if not optional
    }


def _text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, f"no element {element_id}"
    return match.group(1).strip()


async def test_the_filing_form_asks_for_what_the_procedure_needs(bare: Stack) -> None:
    land = await bare.client.get("/procedures/land-first-certificate/file")
    copy = await bare.client.get("/procedures/certified-copy/file")
    assert land.status_code == copy.status_code == 200
    assert 'name="parcel_commune"' in land.text and 'name="parcel_commune"' not in copy.text
    for name, _ in _documents("certified-copy"):
        assert name in copy.text
    unknown = await bare.client.get("/procedures/no-such-thing")
    assert unknown.status_code == 404 and "<h1>Có lỗi</h1>" in unknown.text


async def test_a_bad_form_is_answered_in_vietnamese_next_to_each_field_and_nothing_is_stored(
    bare: Stack,
) -> None:
    uploads_before = await count(bare.sessions, UploadRecord)
    submissions_before = await count(bare.sessions, OnlineSubmission)
    answer = await bare.client.post(
        "/procedures/land-first-certificate/file",
        data={**APPLICANT, "national_id": "12345", "phone": "12", "key": uuid.uuid4().hex},
        files=_files("land-first-certificate"),
    )
    assert answer.status_code == 422
    assert _text_of(answer.text, "e-national_id") == (
        "Số căn cước công dân (CCCD) phải gồm đúng 12 chữ số"
    )
    assert _text_of(answer.text, "e-phone").startswith("Số điện thoại di động Việt Nam")
    assert _text_of(answer.text, "e-parcel").startswith("Thủ tục này cần thông tin thửa đất")
    # What the citizen typed is kept for the correction.
    assert 'value="Nguyễn Thị Hồng Nhung"' in answer.text
    empty_sheet = await bare.client.post(
        "/procedures/land-first-certificate/file",
        data={**APPLICANT, "parcel_commune": "phuong-lien", "map_sheet": "", "parcel_number": "7"},
    )
    assert _text_of(empty_sheet.text, "e-map_sheet") == "Vui lòng điền mục này"
    english = await bare.client.post(
        "/procedures/certified-copy/file?lang=en",
        data={**APPLICANT, "email": "not-an-address"},
    )
    assert _text_of(english.text, "e-email") == "must be an e-mail address"
    assert _text_of(english.text, "e-doc_0") == "Attach this document"
    # A file that is no PDF, JPEG or PNG is named next to its field; none of the good is kept.
    files = _files("certified-copy")
    files["doc_0"] = ("ghi-chu.txt", b"not a document", "text/plain")
    wrong_type = await bare.client.post(
        "/procedures/certified-copy/file?lang=vi", data={**APPLICANT}, files=files
    )
    assert wrong_type.status_code == 422
    assert _text_of(wrong_type.text, "e-doc_0") == (
        "Loại tệp không được chấp nhận (chỉ nhận PDF, JPEG, PNG)"
    )
    assert await count(bare.sessions, UploadRecord) == uploads_before
    assert await count(bare.sessions, OnlineSubmission) == submissions_before


async def test_the_tracking_page_takes_the_second_factor_from_the_body_only(bare: Stack) -> None:
    code = f"{bare.settings.desk_code}-261204-0001"
    asked = await bare.client.get(f"/track/{code}")
    assert asked.status_code == 200 and 'name="secret"' in asked.text
    secret = tracking_secret(TOKEN_SECRET, code)
    # A secret in the URL is not read (it would stay in histories and logs).
    in_url = await bare.client.post(f"/track/{code}?secret={secret}", data={})
    assert in_url.status_code == 404 and "Không tìm thấy hồ sơ" in in_url.text
    wrong = await bare.client.post(f"/track/{code}", data={"secret": "A" * 16})
    assert wrong.status_code == 404 and "Không tìm thấy hồ sơ" in wrong.text


async def _file(app: Stack, code: str) -> tuple[str, str]:
    answer = await app.client.post(
        f"/procedures/{code}/file",
        data={**APPLICANT, "key": uuid.uuid4().hex, "delivery": "desk"},
        files=_files(code),
    )
    assert answer.status_code == 201, answer.text
    return _text_of(answer.text, "dossier-code"), _text_of(answer.text, "tracking-secret")


async def _page(app: Stack, path: str, secret: str, **data: Any) -> httpx.Response:
    return await app.client.post(path, data={"secret": secret, **data})


async def test_the_applicant_supplements_pays_withdraws_and_rates_through_the_pages(
    stack: Stack,
) -> None:
    code, secret = await _file(stack, "house-building-permit")
    headers = {"X-Tracking-Secret": secret}

    async def receipt_ready() -> httpx.Response | None:
        # On a loaded machine the new workflow may not answer its first query yet: the page
        # then says so, and the applicant (like this test) asks again.
        answer = await _page(stack, f"/track/{code}/receipt.pdf", secret)
        return answer if answer.headers["content-type"] == "application/pdf" else None

    receipt = await eventually(receipt_ready, within=60, every=0.5)
    assert receipt.content.startswith(b"%PDF")
    key = "house-building-permit:appraise"

    async def appraise_open() -> dict[str, Any] | None:
        view = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
        for step in view["open_steps"]:
            if step["key"] == key and step["due"]:
                return dict(step)
        return None

    appraise = await eventually(appraise_open, within=60)
    asked = await stack.client.post(
        f"/api/v1/agencies/{appraise['agency']}/steps/{code}/{key}/decision",
        json={
            "action": "request_supplement",
            "reason": "thiếu bản vẽ mặt cắt",
            "missing_documents": ["Bản vẽ mặt cắt"],
        },
        headers=token(appraise["agency"]),
    )
    assert asked.status_code == 200, asked.text
    page = await _page(stack, f"/track/{code}", secret)
    assert "Yêu cầu bổ sung hồ sơ" in page.text and "thiếu bản vẽ mặt cắt" in page.text
    assert _text_of(page.text, "status") == "Chờ bổ sung hồ sơ"
    assert 'value="Bản vẽ mặt cắt"' in page.text

    answered = await stack.client.post(
        f"/track/{code}/supplement",
        data={"secret": secret, "name_0": "Bản vẽ mặt cắt"},
        files={"file_0": ("ban-ve.pdf", PDF, "application/pdf")},
    )
    assert "Đã ghi nhận." in answered.text
    assert _text_of(answered.text, "status") == "Đang giải quyết"
    # The API's own refusals reach the page: nothing is due, nothing is asked any more.
    nothing_due = await _page(stack, f"/track/{code}/pay", secret)
    assert "Không thực hiện được" in nothing_due.text and "nothing to pay" in nothing_due.text
    assert "không có khoản nghĩa vụ tài chính phải nộp" in nothing_due.text
    again = await stack.client.post(
        f"/track/{code}/supplement",
        data={"secret": secret, "name_0": "Bản vẽ mặt cắt"},
        files={"file_0": ("ban-ve.pdf", PDF, "application/pdf")},
    )
    assert "Không thực hiện được" in again.text
    too_early = await _page(stack, f"/track/{code}/rating", secret, score="5")
    assert "Không thực hiện được" in too_early.text

    # The phone's digits open the page but change nothing (the API's rule, in the shared
    # functions the pages call).
    by_phone = await stack.client.post(
        f"/track/{code}/withdraw", data={"phone_last4": "5678", "reason": "x", "confirm": "yes"}
    )
    assert "cần mã bí mật" in by_phone.text
    assert _text_of(by_phone.text, "status") == "Đang giải quyết"
    unconfirmed = await _page(stack, f"/track/{code}/withdraw", secret, reason="đổi ý")
    assert "Không thực hiện được" in unconfirmed.text
    assert _text_of(unconfirmed.text, "status") == "Đang giải quyết"
    withdrawn = await _page(stack, f"/track/{code}/withdraw", secret, reason="đổi ý", confirm="yes")
    assert _text_of(withdrawn.text, "status") == "Người nộp rút hồ sơ"
    rated = await _page(stack, f"/track/{code}/rating", secret, score="4", comment="nhanh")
    assert "Đã ghi nhận." in rated.text
    twice = await _page(stack, f"/track/{code}/rating", secret, score="5")
    assert "Chỉ đánh giá được một lần" in twice.text and "already been rated" in twice.text
    # The phone's last 4 digits open the page too.
    opened = await stack.client.post(f"/track/{code}", data={"phone_last4": "5678"})
    assert opened.status_code == 200 and code in opened.text


async def test_an_apology_letter_is_shown_and_downloaded_from_the_tracking_page(
    stack: Stack,
) -> None:
    code, secret = await _file(stack, "certified-copy")
    headers = {"X-Tracking-Secret": secret}

    async def planned() -> dict[str, Any] | None:
        view: dict[str, Any] = (
            await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)
        ).json()
        due = [step for step in view["open_steps"] if step["kind"] == "signature" and step["due"]]
        return view if view["appointment"] and due else None

    view = await eventually(planned, within=60)
    appointment = datetime.fromisoformat(view["appointment"])
    # Nobody signs: the appointment passes and the commune apologises (form 04).
    await stack.env.sleep(appointment - await stack.env.get_current_time() + timedelta(minutes=1))

    async def letter_ready() -> httpx.Response | None:
        page = await _page(stack, f"/track/{code}", secret)
        return page if f"/track/{code}/letters/1.pdf" in page.text else None

    page = await eventually(letter_ready, within=60)
    assert "Thư xin lỗi và hẹn lại" in page.text and "Ngày hẹn mới" in page.text
    letter = await _page(stack, f"/track/{code}/letters/1.pdf", secret)
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    assert f"{code}-form-04-1.pdf" in letter.headers["content-disposition"]
    stranger = await _page(stack, f"/track/{code}/letters/1.pdf", "A" * 16)
    assert stranger.status_code == 404 and not stranger.content.startswith(b"%PDF")
    await _page(stack, f"/track/{code}/withdraw", secret, confirm="yes")


def test_the_timeline_follows_the_version_in_force_on_the_receipt_day_in_viet_nam() -> None:
    # 18:00 UTC on 30 June 2025 is 01:00 on 1 July in Viet Nam: the reformed procedure, signed
    # by the commune, not the district office that ceased to exist that night.
    view = s.TrackingView(
        dossier_code="DONGDA-250701-0001",
        procedure_code="land-first-certificate",
        status=DossierStatus.IN_PROGRESS,
        received_at=datetime(2025, 6, 30, 18, tzinfo=UTC),
        appointment=None,
        open_steps=[],
        handovers=[],
        documents=[],
        supplements=[],
        apologies=[],
        amount_due_vnd=0,
        amount_paid_vnd=0,
        home_delivery=False,
        deliveries=[],
        payments=[],
    )
    agencies = {step.agency_vi for step in timeline(default_catalog(), view).steps}
    assert "Ủy ban nhân dân cấp xã" in agencies
    assert "Ủy ban nhân dân quận" not in agencies
