"""The HTTP API against the real app: Temporal's time-skipping server, the real workers and
PostgreSQL; requests go through httpx's ASGI transport, the payment provider calls back over it.
"""

from __future__ import annotations

import asyncio
import unicodedata
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token, tracking_secret
from api.payments import DECLINED_METHOD, FakePaymentProvider, sign
from domain.catalog import default_catalog
from domain.dossier import DossierStatus
from engine.crypto import KeyRing
from engine.settings import Settings
from engine.temporal import data_converter
from engine.temporal import test_server_path as server_binary
from store.db import async_engine, session_factory
from store.letters import get_contact, subject_ref
from store.models import (
    CivilRegistration,
    CivilRegistrationKind,
    DeliveryAttemptRecord,
    DeliveryRecord,
    DossierCodeCounter,
    OnlineSubmission,
    UploadRecord,
)
from tests.harness import officers_until, running_engine
from workflows.dossier import TERMINAL, DossierResult, DossierWorkflow, TrackingState

pytestmark = pytest.mark.postgres

TOKEN_SECRET = "test-api-token-secret-0123456789"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
BASE = "http://api.test"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LAND_FORM = "Đơn đăng ký đất đai, tài sản gắn liền với đất"
CERTIFIED_ORIGINAL = "Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao"
NAME = "Nguyễn Thị Hồng Nhung"
PHONE = "0912 345 678"
PARCEL = {"commune": "phuong-lien", "map_sheet": 12, "parcel_number": 345}


def make_settings(data_dir: Path) -> Settings:
    """Settings with the API's secrets and a desk of its own (fresh dossier-code counter)."""
    return Settings(
        data_dir=data_dir,
        desk_code=f"T{uuid.uuid4().hex[:8].upper()}",
        api_token_secret=SecretStr(TOKEN_SECRET),
        payment_webhook_secret=SecretStr(WEBHOOK_SECRET),
        public_base_url="https://dichvucong.example.vn",
    )


def token(agency: str, officer: str = "officer-1") -> dict[str, str]:
    """The Authorization header of an officer of ``agency``."""
    value = issue_token(TOKEN_SECRET, agency=agency, officer=officer, valid_for=timedelta(hours=1))
    return {"Authorization": f"Bearer {value}"}


def submission(procedure: str, documents: list[str], **changes: Any) -> dict[str, Any]:
    """A valid submission body."""
    body: dict[str, Any] = {
        "procedure": procedure,
        "applicant": {
            "full_name": NAME,
            "national_id": "001190012345",
            "phone": PHONE,
            "email": "nhung@example.vn",
            "address": "Số 12 ngõ 5 Phương Liên, Đống Đa, Hà Nội",
        },
        "documents": documents,
        "delivery": {"method": "desk"},
    }
    body.update(changes)
    return body


@dataclass
class Stack:
    """The app, its client, the provider and what they run on."""

    client: httpx.AsyncClient
    provider: FakePaymentProvider
    env: WorkflowEnvironment
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings

    async def upload(self, name: str, content: bytes = PDF, filename: str = "a.pdf") -> str:
        response = await self.client.post(
            "/api/v1/uploads",
            files={"file": (filename, content, "application/pdf")},
            data={"name": name},
        )
        assert response.status_code == 201, response.text
        upload_id: str = response.json()["id"]
        return upload_id

    async def submit(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.client.post(
            "/api/v1/dossiers", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())}
        )


def app_for(
    env_client: Any,
    sessions: async_sessionmaker[AsyncSession],
    config: Settings,
    provider: FakePaymentProvider,
    task_queue: str = "unused",
    receipt_wait_seconds: float = 20.0,
) -> Any:
    return create_app(
        temporal=env_client,
        sessions=sessions,
        settings=config,
        payments=provider,
        task_queue=task_queue,
        receipt_wait_seconds=receipt_wait_seconds,
    )


def a_client_address() -> tuple[str, int]:
    """An address of its own for each test's client: the API's limits count per address."""
    octets = uuid.uuid4().bytes[:3]
    return (f"10.{octets[0]}.{octets[1]}.{octets[2]}", 40000)


def new_provider() -> FakePaymentProvider:
    return FakePaymentProvider(
        secret=WEBHOOK_SECRET, callback_url=f"{BASE}/api/v1/payments/callback", delay_seconds=0.1
    )


@pytest.fixture
async def stack(
    env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    config = make_settings(tmp_path)
    provider = new_provider()
    app = app_for(env.client, sessions, config, provider, task_queue)
    try:
        async with (
            running_engine(env.client, task_queue, pg_url),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
            ) as client,
        ):
            provider.connect(client)
            yield Stack(client, provider, env, sessions, config)
            await provider.aclose()
    finally:
        await engine.dispose()


@pytest.fixture
async def bare(pg_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """The app without Temporal: for requests refused before any dossier is touched."""
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    config = make_settings(tmp_path)
    provider = new_provider()
    app = app_for(None, sessions, config, provider)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
        ) as client:
            yield Stack(client, provider, None, sessions, config)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def count(sessions: async_sessionmaker[AsyncSession], model: Any, **where: Any) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int((await session.execute(query)).scalar_one())


async def eventually(probe: Callable[[], Any], *, within: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``probe`` (async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


# -- catalog, validation and bad input (no Temporal) ------------------------------------------


async def test_the_catalog_lists_procedures_and_an_unknown_one_names_the_catalog(
    bare: Stack,
) -> None:
    listed = (await bare.client.get("/api/v1/procedures")).json()
    assert "certified-copy" in {entry["code"] for entry in listed}
    detail = (await bare.client.get("/api/v1/procedures/land-and-permit")).json()
    assert detail["combined"] and len(detail["components"]) == 2
    assert any(doc["name_vi"] == LAND_FORM for doc in detail["required_documents"])
    missing = await bare.client.get("/api/v1/procedures/no-such-thing")
    assert missing.status_code == 404 and "/api/v1/procedures" in missing.json()["detail"]
    body = submission("no-such-thing", [])
    unknown = await bare.submit(body)
    assert unknown.status_code == 404 and "/api/v1/procedures" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value", "path", "words_vi"),
    [
        ("national_id", "00119001234", "applicant.national_id", "12 chữ số"),
        ("national_id", "00119001234a", "applicant.national_id", "12 chữ số"),
        ("phone", "0212345678", "applicant.phone", "Số điện thoại"),
        ("phone", "+8491234567", "applicant.phone", "Số điện thoại"),
    ],
)
async def test_a_bad_national_id_or_phone_is_a_422_in_vietnamese_and_english(
    bare: Stack, field: str, value: str, path: str, words_vi: str
) -> None:
    body = submission("certified-copy", [])
    body["applicant"][field] = value
    response = await bare.submit(body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [path]
    assert words_vi in errors[0]["message_vi"] and errors[0]["message_en"]


async def test_missing_fields_and_an_unknown_delivery_method_name_their_paths(bare: Stack) -> None:
    body = submission("certified-copy", ["not-an-upload-id"], delivery={"method": "drone"})
    del body["applicant"]["full_name"]
    response = await bare.client.post("/api/v1/dossiers", json=body)  # no Idempotency-Key
    assert response.status_code == 422
    fields = {error["field"]: error for error in response.json()["errors"]}
    assert {"Idempotency-Key", "applicant.full_name", "documents.0", "delivery"} <= set(fields)
    assert fields["applicant.full_name"]["message_vi"] == "Thiếu trường bắt buộc"


async def test_no_body_at_all_is_a_422_on_the_body(bare: Stack) -> None:
    response = await bare.client.post(
        "/api/v1/dossiers", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


async def test_an_upload_id_that_does_not_exist_is_a_422(bare: Stack) -> None:
    response = await bare.submit(submission("certified-copy", [uuid.uuid4().hex]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "documents.0"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"procedure": "certified-copy",', "application/json"),
        (b"procedure=certified-copy", "application/x-www-form-urlencoded"),
        (b"\xff\xfe not text", "text/plain"),
    ],
)
async def test_a_body_that_is_not_json_is_a_400_never_a_500(
    bare: Stack, content: bytes, content_type: str
) -> None:
    response = await bare.client.post(
        "/api/v1/dossiers",
        content=content,
        headers={"Content-Type": content_type, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message_vi"]


async def test_oversize_and_wrong_type_uploads_are_refused_and_nothing_is_stored(
    bare: Stack, pg_url: str
) -> None:
    store = bare.settings.data_dir / "uploads"
    before = await count(bare.sessions, UploadRecord)
    limit = bare.settings.upload_max_bytes
    too_big = await bare.client.post(
        "/api/v1/uploads",
        files={"file": ("big.pdf", PDF + b"0" * limit, "application/pdf")},
        data={"name": CERTIFIED_ORIGINAL},
    )
    assert too_big.status_code == 413
    # Declared a PDF, but the bytes are an executable: the declared type is not trusted.
    wrong = await bare.client.post(
        "/api/v1/uploads",
        files={"file": ("a.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
        data={"name": CERTIFIED_ORIGINAL},
    )
    assert wrong.status_code == 415
    assert "PDF" in wrong.json()["errors"][0]["message_vi"]
    assert await count(bare.sessions, UploadRecord) == before
    assert not store.exists() or not list(store.iterdir())
    accepted = await bare.upload(CERTIFIED_ORIGINAL, PNG, "scan.png")
    async with bare.sessions() as session:
        row = await session.get(UploadRecord, accepted)
    assert row is not None and row.content_type == "image/png" and row.size_bytes == len(PNG)
    assert (store / row.sha256).read_bytes() == PNG


@pytest.mark.parametrize("field", ["name", "comment"])
async def test_an_oversized_text_field_in_an_upload_form_is_an_error_naming_it(
    bare: Stack, field: str
) -> None:
    before = await count(bare.sessions, UploadRecord)
    data = {"name": CERTIFIED_ORIGINAL, field: "x" * 10_000_000}
    response = await bare.client.post(
        "/api/v1/uploads", files={"file": ("a.pdf", PDF, "application/pdf")}, data=data
    )
    assert response.status_code == 413, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert error["message_vi"] == "Nội dung trường này quá dài" and error["message_en"]
    assert await count(bare.sessions, UploadRecord) == before
    # A malformed form is a 400 in the same shape, not Starlette's {"detail": ...}.
    broken = await bare.client.post(
        "/api/v1/uploads",
        content=b"--x\r\nnot a part",
        headers={"Content-Type": "multipart/form-data"},  # no boundary
    )
    assert broken.status_code == 400, broken.text
    assert broken.json()["errors"][0]["field"] == "body"


async def test_every_agency_route_answers_401_without_valid_credentials(bare: Stack) -> None:
    schema = (await bare.client.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/agencies/")
        for method in operations
    ]
    assert len(routes) >= 2
    forged = issue_token(
        "another-secret-0123456789", agency="tax", officer="x", valid_for=timedelta(1)
    )
    expired = issue_token(
        TOKEN_SECRET, agency="tax", officer="x", valid_for=timedelta(hours=1),
        now=datetime.now(UTC) - timedelta(hours=2),
    )  # fmt: skip
    for method, path in routes:
        url = path.format(agency="tax", code="X-1", step_key="a:b")
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Basic dGF4OnRheA=="},
            {"Authorization": f"Bearer {forged}"},
            {"Authorization": f"Bearer {expired}"},
        ):
            response = await bare.client.request(method, url, headers=headers, content=b"{")
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"


# -- with the engine -------------------------------------------------------------------------


async def test_concurrent_identical_submissions_make_one_dossier_and_one_workflow(
    stack: Stack,
) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    body = submission("certified-copy", [document])
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*(stack.submit(body, key) for _ in range(5)))
    assert {response.status_code for response in responses} == {201}
    answers = [response.json() for response in responses]
    assert all(answer == answers[0] for answer in answers)
    code = answers[0]["dossier_code"]
    assert answers[0]["appointment"] is not None
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 4
    # One code allocated (no number lost to the four that lost the race), one workflow.
    assert await count(stack.sessions, OnlineSubmission, idempotency_key=key) == 1
    async with stack.sessions() as session:
        counters = (
            await session.execute(
                select(DossierCodeCounter.last_sequence).where(
                    DossierCodeCounter.desk_code == stack.settings.desk_code
                )
            )
        ).scalars()
        assert list(counters) == [1]
    history = await stack.env.client.get_workflow_handle(code).fetch_history()
    starts = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ]
    assert len(starts) == 1
    with pytest.raises(RPCError) as second:
        await stack.env.client.get_workflow_handle(code.replace("-0001", "-0002")).describe()
    assert second.value.status == RPCStatusCode.NOT_FOUND
    # The same key with another body is a conflict, not a second dossier.
    other = await stack.submit(submission("certified-copy", [document], parcel=PARCEL), key)
    assert other.status_code == 409


async def test_a_decomposed_name_is_stored_as_the_precomposed_one(stack: Stack) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    key = str(uuid.uuid4())
    decomposed = unicodedata.normalize("NFD", NAME)
    assert decomposed != NAME
    body = submission("certified-copy", [document])
    body["applicant"]["full_name"] = decomposed
    first = await stack.submit(body, key)
    assert first.status_code == 201, first.text
    # Typed precomposed, the same request: the same dossier, not a conflicting one.
    again = await stack.submit(submission("certified-copy", [document]), key)
    assert again.status_code == 201 and again.json() == first.json()
    code = first.json()["dossier_code"]
    async with stack.sessions() as session:
        contact = await get_contact(session, code)
    assert contact is not None and contact.full_name == NAME
    assert contact.phone == "+84912345678"
    await stack.client.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "thử nghiệm"},
        headers={"X-Tracking-Secret": first.json()["tracking_secret"]},
    )


async def test_tracking_needs_a_second_factor_and_a_stranger_learns_nothing(stack: Stack) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    body = submission(
        "certified-copy", [document], delivery={"method": "home", "address": "Số 7 Đào Duy Anh"}
    )
    created = (await stack.submit(body)).json()
    code, secret = created["dossier_code"], created["tracking_secret"]
    unknown_code = code.replace("-0001", "-0099")
    # Three wrong tries on the dossier (the fourth would wait: tests/api/test_abuse.py), the other
    # routes on codes that do not exist.
    others = [code.replace("-0001", f"-00{n}") for n in (97, 96, 95)]
    stranger = [
        await stack.client.get(f"/api/v1/dossiers/{code}"),
        await stack.client.get(f"/api/v1/dossiers/{code}", headers={"X-Tracking-Secret": "A" * 16}),
        await stack.client.get(f"/api/v1/dossiers/{code}", headers={"X-Phone-Last4": "0000"}),
        await stack.client.get(f"/api/v1/dossiers/{others[0]}/receipt"),
        await stack.client.get(f"/api/v1/dossiers/{others[1]}/qr.png"),
        await stack.client.post(f"/api/v1/dossiers/{others[2]}/withdraw", json={}),
        await stack.client.get(
            f"/api/v1/dossiers/{unknown_code}",
            headers={"X-Tracking-Secret": tracking_secret(TOKEN_SECRET, unknown_code)},
        ),
    ]
    assert {(r.status_code, r.text) for r in stranger} == {(404, stranger[0].text)}
    by_secret = await stack.client.get(
        f"/api/v1/dossiers/{code}", headers={"X-Tracking-Secret": secret.lower()}
    )
    by_phone = await stack.client.get(f"/api/v1/dossiers/{code}", headers={"X-Phone-Last4": "5678"})
    assert by_secret.status_code == by_phone.status_code == 200
    view = by_secret.json()
    assert view["status"] in ("accepted", "in_progress") and view["home_delivery"] is True
    assert view["deliveries"] == []
    # The post office's rows (written by the delivery side) show on tracking; the address only
    # to the holder of the receipt's secret.
    now = datetime.now(UTC)
    async with stack.sessions() as session:
        session.add(
            DeliveryRecord(
                dossier_code=code, step="certified-copy:return",
                tracking_number=f"EE{uuid.uuid4().hex[:9].upper()}VN", address="Số 7 Đào Duy Anh",
                status="dispatched", attempts=1, dispatched_at=now,
            )
        )  # fmt: skip
        await session.flush()
        shipment = await session.get(DeliveryRecord, (code, "certified-copy:return"))
        assert shipment is not None
        session.add(
            DeliveryAttemptRecord(
                tracking_number=shipment.tracking_number, attempt=1, at=now,
                outcome="recipient_absent", note_vi="Người nhận vắng nhà",
            )
        )  # fmt: skip
        await session.commit()
    with_secret = (
        await stack.client.get(f"/api/v1/dossiers/{code}", headers={"X-Tracking-Secret": secret})
    ).json()["deliveries"][0]
    with_phone = (
        await stack.client.get(f"/api/v1/dossiers/{code}", headers={"X-Phone-Last4": "5678"})
    ).json()["deliveries"][0]
    assert with_secret["address"] == "Số 7 Đào Duy Anh" and with_phone["address"] is None
    assert with_phone["attempt_log"][0]["outcome"] == "recipient_absent"
    assert "Đào Duy Anh" not in str(with_phone)
    # The receipt, as HTML and PDF, once the registry has recorded it; and the QR code.
    headers = {"X-Tracking-Secret": secret}

    async def receipt_html() -> httpx.Response | None:
        response = await stack.client.get(
            f"/api/v1/dossiers/{code}/receipt", headers=headers, params={"format": "html"}
        )
        return response if response.status_code == 200 else None

    html = (await eventually(receipt_html)).text
    assert code in html and NAME in html and "bưu chính" in html.lower()
    assert "Số 7 Đào Duy Anh" in html and "Số điện thoại: +84912345678" in html
    # Form 01 prints the applicant's address and contacts only to the receipt's secret.
    by_digits = await stack.client.get(
        f"/api/v1/dossiers/{code}/receipt",
        params={"format": "html"},
        headers={"X-Phone-Last4": "5678"},
    )
    assert by_digits.status_code == 200 and NAME in by_digits.text
    assert "Đào Duy Anh" not in by_digits.text and "+8491234" not in by_digits.text
    pdf = await stack.client.get(
        f"/api/v1/dossiers/{code}/receipt", headers={**headers, "Accept": "application/pdf"}
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    png = await stack.client.get(f"/api/v1/dossiers/{code}/qr.png", headers=headers)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    withdrawn = await stack.client.post(
        f"/api/v1/dossiers/{code}/withdraw", json={"reason": "đổi ý"}, headers=headers
    )
    assert withdrawn.json()["status"] == "withdrawn"
    rated = await stack.client.post(
        f"/api/v1/dossiers/{code}/rating", json={"score": 4, "comment": "Nhanh"}, headers=headers
    )
    assert rated.status_code == 201
    again = await stack.client.post(
        f"/api/v1/dossiers/{code}/rating", json={"score": 5}, headers=headers
    )
    assert again.status_code == 409


async def test_an_officer_of_another_agency_gets_403_and_nothing_is_written(stack: Stack) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    created = (await stack.submit(submission("certified-copy", [document]))).json()
    code, secret = created["dossier_code"], created["tracking_secret"]
    step = "certified-copy:certify"
    headers = {"X-Tracking-Secret": secret}

    async def certify_open() -> str | None:
        view = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
        return next((o["agency"] for o in view["open_steps"] if o["key"] == step), None)

    holder = await eventually(certify_open)  # the ward's (or since 2025 the commune's) committee

    async def in_inbox() -> dict[str, Any] | None:
        page = (
            await stack.client.get(f"/api/v1/agencies/{holder}/inbox", headers=token(holder))
        ).json()
        return next((i for i in page["items"] if i["dossier_code"] == code), None)

    item = await eventually(in_inbox)
    assert item["step_key"] == step and item["officer_action"] and item["due_at"]
    handle = stack.env.client.get_workflow_handle(code)
    before = len((await handle.fetch_history()).events)
    approve = {"action": "approve", "reason": "đúng bản chính"}
    # A's token on B's path, and A's own path with B's step: both 403.
    on_their_path = await stack.client.post(
        f"/api/v1/agencies/{holder}/steps/{code}/{step}/decision",
        json=approve,
        headers=token("tax"),
    )
    their_step = await stack.client.post(
        f"/api/v1/agencies/tax/steps/{code}/{step}/decision", json=approve, headers=token("tax")
    )
    tax_inbox = await stack.client.get(f"/api/v1/agencies/{holder}/inbox", headers=token("tax"))
    assert on_their_path.status_code == their_step.status_code == tax_inbox.status_code == 403
    events = (await handle.fetch_history()).events
    assert len(events) == before
    assert not [e for e in events if "UPDATE" in EventType.Name(e.event_type)]
    # The workflow's refusals keep their message: a refusal needs a reason.
    refuse = await stack.client.post(
        f"/api/v1/agencies/{holder}/steps/{code}/{step}/decision",
        json={"action": "refuse"},
        headers=token(holder),
    )
    assert refuse.status_code == 422 and "reason" in refuse.json()["detail"]["message"]
    decided = await stack.client.post(
        f"/api/v1/agencies/{holder}/steps/{code}/{step}/decision",
        json=approve,
        headers=token(holder),
    )
    assert decided.status_code == 200, decided.text
    twice = await stack.client.post(
        f"/api/v1/agencies/{holder}/steps/{code}/{step}/decision",
        json=approve,
        headers=token(holder),
    )
    assert twice.status_code == 409
    tracked = await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)
    assert tracked.json()["status"] in ("in_progress", "decided", "returned")


async def test_a_supplement_is_requested_and_answered_through_the_api(stack: Stack) -> None:
    detail = (await stack.client.get("/api/v1/procedures/house-building-permit")).json()
    uploads = [
        await stack.upload(doc["name_vi"])
        for doc in detail["required_documents"]
        if not doc["optional"]
    ]
    created = (await stack.submit(submission("house-building-permit", uploads))).json()
    code = created["dossier_code"]
    headers = {"X-Tracking-Secret": created["tracking_secret"]}
    key = "house-building-permit:appraise"

    async def appraise_open() -> dict[str, Any] | None:
        view = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
        for step in view["open_steps"]:
            if step["key"] == key and step["due"]:
                return dict(step)
            if step["kind"] in ("officer_decision", "signature") and step["key"] != key:
                await stack.client.post(
                    f"/api/v1/agencies/{step['agency']}/steps/{code}/{step['key']}/decision",
                    json={"action": "approve"},
                    headers=token(step["agency"]),
                )
        return None

    appraise = await eventually(appraise_open, within=60)
    url = f"/api/v1/agencies/{appraise['agency']}/steps/{code}/{key}/decision"
    no_list = await stack.client.post(
        url, json={"action": "request_supplement", "reason": "thiếu bản vẽ"},
        headers=token(appraise["agency"]),
    )  # fmt: skip
    assert no_list.status_code == 422 and "missing documents" in no_list.json()["detail"]["message"]
    asked = await stack.client.post(
        url,
        json={
            "action": "request_supplement", "reason": "thiếu bản vẽ",
            "missing_documents": ["Bản vẽ mặt cắt"],
        },
        headers=token(appraise["agency"]),
    )  # fmt: skip
    assert asked.status_code == 200 and asked.json()["status"] == "supplement_requested"
    view = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
    assert view["supplements"][0]["missing_documents"] == ["Bản vẽ mặt cắt"]
    drawing = await stack.upload("Bản vẽ mặt cắt")
    answered = await stack.client.post(
        f"/api/v1/dossiers/{code}/supplements", json={"documents": [drawing]}, headers=headers
    )
    assert answered.status_code == 200 and answered.json()["status"] == "in_progress"
    again = await stack.client.post(
        f"/api/v1/dossiers/{code}/supplements", json={"documents": [drawing]}, headers=headers
    )
    assert again.status_code == 409 and again.json()["detail"]["type"] == "NoSupplementRequested"
    await stack.client.post(f"/api/v1/dossiers/{code}/withdraw", json={}, headers=headers)


async def _pay(stack: Stack, code: str, headers: dict[str, str], method: str) -> dict[str, Any]:
    started = await stack.client.post(
        f"/api/v1/dossiers/{code}/payments", json={"method": method}, headers=headers
    )
    assert started.status_code == 202, started.text
    payment_id = started.json()["payment_id"]
    assert started.json()["redirect_url"].endswith(payment_id)

    async def settled() -> dict[str, Any] | None:
        view: dict[str, Any] = (
            await stack.client.get(
                f"/api/v1/dossiers/{code}/payments/{payment_id}", headers=headers
            )
        ).json()
        return view if view["status"] != "pending" else None

    result: dict[str, Any] = await eventually(settled)
    return result


async def test_a_land_dossier_filed_online_runs_to_its_return_through_the_api(
    stack: Stack,
) -> None:
    document = await stack.upload(LAND_FORM)
    created = await stack.submit(submission("land-first-certificate", [document], parcel=PARCEL))
    assert created.status_code == 201, created.text
    code = created.json()["dossier_code"]
    headers = {"X-Tracking-Secret": created.json()["tracking_secret"]}
    payments: list[dict[str, Any]] = []
    decided: set[str] = set()

    async def drive() -> dict[str, Any]:
        while True:
            view: dict[str, Any] = (
                await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)
            ).json()
            if view["status"] in ("returned", "refused", "withdrawn", "stopped"):
                return view
            acted = False
            if view["status"] == "financial_obligation":
                # The citizen's card is declined first; the second payment goes through.
                method = DECLINED_METHOD if not payments else "tok_visa"
                payments.append(await _pay(stack, code, headers, method))
                acted = True
            for agency in {s["agency"] for s in view["open_steps"]}:
                page = (
                    await stack.client.get(
                        f"/api/v1/agencies/{agency}/inbox", headers=token(agency)
                    )
                ).json()
                for item in page["items"]:
                    key = (item["dossier_code"], item["step_key"])
                    if item["dossier_code"] != code or not item["officer_action"]:
                        continue
                    if f"{key}" in decided:
                        continue
                    response = await stack.client.post(
                        f"/api/v1/agencies/{agency}/steps/{code}/{item['step_key']}/decision",
                        json={"action": "approve", "reason": "đủ điều kiện"},
                        headers=token(agency),
                    )
                    if response.status_code == 200:
                        decided.add(f"{key}")
                        acted = True
                    else:  # the registry lags behind: the step is not open in the dossier yet
                        assert response.status_code == 409, response.text
            kinds = {step["kind"] for step in view["open_steps"]}
            if not acted and kinds == {"public_notice"}:
                await stack.env.sleep(timedelta(days=1))
            elif not acted:
                await asyncio.sleep(0.1)

    final = await asyncio.wait_for(drive(), 180)
    assert final["status"] == "returned"
    assert [p["status"] for p in payments] == ["declined", "succeeded"]
    assert payments[0]["decline_reason"] == "card_declined"
    assert final["amount_due_vnd"] > 0 and final["amount_paid_vnd"] == final["amount_due_vnd"]
    assert [p["status"] for p in final["payments"]] == ["declined", "succeeded"]
    steps = [(row["procedure"], row["step"]) for row in final["handovers"]]
    assert ("land-first-certificate", "pay") in steps
    # A repeated callback (the provider retries) changes nothing.
    delivered = stack.provider.delivered[-1]
    body = delivered.model_dump_json().encode()
    repeat = await stack.client.post(
        "/api/v1/payments/callback",
        content=body,
        headers={"X-Signature": sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"},
    )
    assert repeat.json()["status"] == "succeeded"
    forged = await stack.client.post(
        "/api/v1/payments/callback", content=body, headers={"X-Signature": "0" * 64}
    )
    assert forged.status_code == 401
    after = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
    assert after["amount_paid_vnd"] == final["amount_paid_vnd"]


# -- every procedure offered online, filed as a citizen would --------------------------------

NATIONAL_ID = "001190012345"
# The steps that read the parcel, as the test knows them (the API derives it on its own).
LAND_ACTIVITIES = frozenset({"land.check-parcel", "tax.compute-obligation"})


def _offered_today() -> list[str]:
    return [entry.code for entry in default_catalog().list_in_force(date.today())]


def _reads_the_parcel(code: str) -> bool:
    catalog, day = default_catalog(), date.today()
    versions = (
        catalog.components_on(code, day)
        if catalog.is_combined(code)
        else (catalog.version_on(code, day),)
    )
    return any(step.activity in LAND_ACTIVITIES for version in versions for step in version.steps)


async def file_as_a_citizen(stack: Stack, code: str, national_id: str = NATIONAL_ID) -> str:
    """Submit ``code`` through the API: the documents its form asks for, a parcel if needed."""
    detail = (await stack.client.get(f"/api/v1/procedures/{code}")).json()
    uploads = [
        await stack.upload(doc["name_vi"])
        for doc in detail["required_documents"]
        if not doc["optional"]
    ]
    body = submission(code, uploads)
    body["applicant"]["national_id"] = national_id
    # The form asks for a parcel exactly where a step reads one (as the test knows the steps).
    assert ("parcel" in detail["required_fields"]) == _reads_the_parcel(code)
    if "parcel" in detail["required_fields"]:
        body["parcel"] = PARCEL
    created = await stack.submit(body)
    if created.status_code == 202:  # held until its fee is paid (api.fee_intake): pay online
        held = created.json()
        headers = {"X-Tracking-Secret": held["tracking_secret"]}
        paid = await stack.client.post(held["links"]["pay"], headers=headers)
        assert paid.status_code == 202, paid.text
        await eventually(lambda: fee_received(stack, held["links"]["fees"], headers), within=30)
        return str(held["dossier_code"])
    assert created.status_code == 201, created.text
    dossier_code: str = created.json()["dossier_code"]
    return dossier_code


async def fee_received(stack: Stack, fees_url: str, headers: dict[str, str]) -> bool:
    """The fee is paid and the dossier started (no longer held)."""
    view = (await stack.client.get(fees_url, headers=headers)).json()
    return bool(view["status"] == "paid" and not view["held"])


async def drive_to_the_end(stack: Stack, dossier_code: str) -> TrackingState:
    """The scripted officers approve and the payment side pays until the dossier ends."""
    handle: WorkflowHandle[DossierWorkflow, DossierResult]
    handle = stack.env.client.get_workflow_handle_for(DossierWorkflow.run, dossier_code)
    return await officers_until(
        stack.env, handle, lambda state: state.status in TERMINAL, within=180
    )


async def started_with(stack: Stack, dossier_code: str) -> str:
    """The facts (JSON) the dossier's workflow was started with, as the submission kept them."""
    async with stack.sessions() as session:
        facts: str = (
            await session.execute(
                select(OnlineSubmission.facts).where(OnlineSubmission.dossier_code == dossier_code)
            )
        ).scalar_one()
    return facts


def _ledger(state: TrackingState) -> str:
    return "\n".join(f"{row.procedure}:{row.step} {row.result}" for row in state.ledger)


@pytest.mark.parametrize("code", _offered_today())
async def test_every_procedure_offered_online_is_filed_and_returned_through_the_api(
    stack: Stack, code: str
) -> None:
    listed = {entry["code"] for entry in (await stack.client.get("/api/v1/procedures")).json()}
    assert code in listed
    dossier_code = await file_as_a_citizen(stack, code)
    final = await drive_to_the_end(stack, dossier_code)
    # Refused for want of a fact the form never asked for would end "refused" here.
    assert final.status == DossierStatus.RETURNED, _ledger(final)
    facts = await started_with(stack, dossier_code)
    assert NATIONAL_ID not in facts and NATIONAL_ID not in _ledger(final)


@pytest.mark.parametrize("code", ["land-first-certificate", "land-and-permit"])
async def test_a_land_procedure_without_a_parcel_is_a_422_naming_the_parcel(
    bare: Stack, code: str
) -> None:
    before = await count(bare.sessions, OnlineSubmission)
    response = await bare.submit(submission(code, []))
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "parcel"
    assert "thửa đất" in error["message_vi"] and "parcel" in error["message_en"]
    assert await count(bare.sessions, OnlineSubmission) == before  # no code was allocated


async def test_a_certified_copy_without_a_parcel_is_accepted(stack: Stack) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    created = await stack.submit(submission("certified-copy", [document]))
    assert created.status_code == 201, created.text
    assert '"parcel":null' in await started_with(stack, created.json()["dossier_code"])
    # A parcel given anyway is accepted, and kept out of a workflow that reads none.
    given = await stack.submit(submission("certified-copy", [document], parcel=PARCEL))
    assert given.status_code == 201, given.text
    assert '"parcel":null' in await started_with(stack, given.json()["dossier_code"])


async def test_marital_status_filed_online_looks_the_applicant_up_by_an_opaque_reference(
    stack: Stack,
) -> None:
    # A person the civil-status register knows as married, under the reference the API derives
    # from the CCCD (a keyed blind index, as the register would name persons).
    married = "001085054321"
    reference = subject_ref(married)
    assert married not in reference
    async with stack.sessions() as session:
        session.add(
            CivilRegistration(
                kind=CivilRegistrationKind.MARRIAGE.value,
                number=f"KH-API-{uuid.uuid4().hex[:8]}",
                subject_ref=reference,
                partner_ref=f"partner-{uuid.uuid4().hex[:8]}",
                registered_on=date(2016, 3, 12),
            )
        )
        await session.commit()
    dossier_code = await file_as_a_citizen(stack, "marital-status-confirmation", married)
    final = await drive_to_the_end(stack, dossier_code)
    assert final.status == DossierStatus.RETURNED, _ledger(final)
    check = next(row for row in final.ledger if row.step == "check-civil-status")
    assert "Đã đăng ký kết hôn từ ngày 12/03/2016" in check.result
    facts = await started_with(stack, dossier_code)
    assert reference in facts and married not in facts


# -- fuzzing the OpenAPI document -------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=40
)


def _from_schema(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """Values shaped like the schema, any node replaced by arbitrary JSON now and then."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _from_schema(spec["components"]["schemas"][name], spec, depth)
    if depth > 5:
        return _JSON
    shaped: Any
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        shaped = st.one_of(*(_from_schema(choice, spec, depth + 1) for choice in choices))
    elif "const" in schema:
        shaped = st.just(schema["const"])
    elif "enum" in schema:
        shaped = st.sampled_from(schema["enum"])
    elif schema.get("type") == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        shaped = st.fixed_dictionaries(
            {k: _from_schema(v, spec, depth + 1) for k, v in properties.items() if k in required},
            optional={
                k: _from_schema(v, spec, depth + 1)
                for k, v in properties.items()
                if k not in required
            },
        )
    elif schema.get("type") == "array":
        shaped = st.lists(_from_schema(schema.get("items", {}), spec, depth + 1), max_size=3)
    elif schema.get("type") == "string":
        shaped = st.text(max_size=30)
        if "pattern" in schema:
            shaped = shaped | st.from_regex(schema["pattern"], fullmatch=True)
    elif schema.get("type") == "integer":
        shaped = st.integers()
    elif schema.get("type") == "number":
        shaped = st.floats(allow_nan=False, allow_infinity=False)
    elif schema.get("type") == "boolean":
        shaped = st.booleans()
    else:
        return _JSON
    return st.one_of(shaped, shaped, shaped, _JSON)


@st.composite
def _request(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, Any]:
    path, operations = draw(st.sampled_from(sorted(spec["paths"].items())))
    method, operation = draw(st.sampled_from(sorted(operations.items())))
    url, query, headers = path, {}, {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            value = draw(
                st.sampled_from(["tax", "ward", "one-stop"]) | st.text(min_size=1, max_size=20)
            )
            url = url.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        elif where == "query" and draw(st.booleans()):
            query[name] = draw(st.text(max_size=20) | st.integers().map(str))
        elif where == "header" and draw(st.booleans()):
            headers[name] = draw(_HEADER_TEXT)
    if path.startswith("/api/v1/agencies/") and draw(st.booleans()):
        headers["Authorization"] = token(draw(st.sampled_from(["tax", "ward"])))["Authorization"]
    request: dict[str, Any] = {"method": method.upper(), "url": url, "params": query}
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        payload = draw(st.binary(max_size=64))
        prefix = draw(st.sampled_from([b"", b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]))
        request["files"] = {"file": ("f", prefix + payload, draw(_HEADER_TEXT))}
        request["data"] = {"name": draw(st.text(max_size=40))}
    elif "application/json" in content:
        if draw(st.integers(0, 9)) == 0:
            request["content"] = draw(st.binary(max_size=40))
            headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain"]))
        else:
            request["json"] = draw(_from_schema(content["application/json"]["schema"], spec))
    request["headers"] = headers
    return request


def test_fuzzing_the_openapi_document_finds_no_server_error(
    pg_url: str, tmp_path: Path, data_key_ring: KeyRing
) -> None:
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(
        WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter(data_key_ring),
            test_server_existing_path=server_binary(),
        )
    )
    engine = async_engine(pg_url)
    provider = new_provider()
    app = app_for(
        env.client, session_factory(engine), make_settings(tmp_path), provider,
        receipt_wait_seconds=0.5,
    )  # fmt: skip
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
    )
    try:
        spec = loop.run_until_complete(client.get("/openapi.json")).json()
        seen: dict[int, int] = {}

        @settings(
            max_examples=100,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(_request(spec))
        def no_server_error(request: dict[str, Any]) -> None:
            response = loop.run_until_complete(client.request(**request))
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (request, response.text)

        no_server_error()
        assert {401, 404, 422} <= set(seen), seen
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(provider.aclose())
        loop.run_until_complete(engine.dispose())
        loop.run_until_complete(env.shutdown())
        loop.close()


async def test_a_nul_byte_in_any_text_is_a_422_and_nothing_is_stored(bare: Stack) -> None:
    # Found by the fuzzing below: PostgreSQL cannot store NUL, which used to surface as a 500.
    before = await count(bare.sessions, UploadRecord)
    upload = await bare.client.post(
        "/api/v1/uploads",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data={"name": "Bản sao\x00"},
    )
    assert upload.status_code == 422
    assert upload.json()["errors"][0]["field"] == "name"
    assert await count(bare.sessions, UploadRecord) == before
    body = submission("certified-copy", [])
    body["applicant"]["full_name"] = "Nguyễn\x00Văn A"
    response = await bare.submit(body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "applicant.full_name" and "ký tự điều khiển" in error["message_vi"]


@pytest.mark.parametrize("control", ["%00", "%07", "%7F"])
async def test_a_control_character_in_a_path_or_query_parameter_is_a_422_naming_it(
    bare: Stack, control: str
) -> None:
    # Found by the fuzzing: GET /api/v1/dossiers/%00?phone_last4=0000 took the NUL to
    # PostgreSQL, a 500. Every route's path and query parameters are checked in api.app.
    officer = token("tax")
    upload_id = uuid.uuid4().hex
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", f"/api/v1/dossiers/{control}?phone_last4=0000", {}, "code"),
        ("GET", f"/api/v1/dossiers/HS-1?phone_last4=00{control}0", {}, "phone_last4"),
        ("GET", f"/api/v1/dossiers/HS-1?secret=AB{control}CD", {}, "secret"),
        ("GET", f"/api/v1/dossiers/{control}/receipt?phone_last4=0000", {}, "code"),
        ("GET", f"/api/v1/dossiers/{control}/qr.png?secret=ABCD", {}, "code"),
        ("GET", f"/api/v1/dossiers/HS-1/payments/PAY-{control}?phone_last4=0000", {}, "payment_id"),
        ("GET", f"/api/v1/procedures/{control}", {}, "code"),
        ("GET", f"/api/v1/procedures?on=2026-01-05{control}", {}, "on"),
        ("POST", f"/api/v1/dossiers/{control}/withdraw?phone_last4=0000", {"json": {}}, "code"),
        ("POST", f"/api/v1/dossiers/{control}/payments?phone_last4=0000", {"json": {}}, "code"),
        (
            "POST", f"/api/v1/dossiers/HS-1/rating?phone_last4={control}",
            {"json": {"score": 5}}, "phone_last4",
        ),
        (
            "POST", f"/api/v1/dossiers/HS-1/supplements?secret={control}",
            {"json": {"documents": [upload_id]}}, "secret",
        ),
        ("GET", f"/api/v1/agencies/{control}/inbox", {"headers": officer}, "agency"),
        ("GET", f"/api/v1/agencies/tax/inbox?page=1{control}", {"headers": officer}, "page"),
        (
            "POST", f"/api/v1/agencies/tax/steps/{control}/land:check/decision",
            {"headers": officer, "json": {"action": "approve"}}, "code",
        ),
        (
            "POST", f"/api/v1/agencies/tax/steps/HS-1/land{control}check/decision",
            {"headers": officer, "json": {"action": "approve"}}, "step_key",
        ),
    ]  # fmt: skip
    for method, url, extra, field in cases:
        response = await bare.client.request(method, url, **extra)
        assert response.status_code == 422, (method, url, response.text)
        (error,) = response.json()["errors"]
        assert error["field"] == field, (method, url, error)
        assert "ký tự điều khiển" in error["message_vi"] and "control" in error["message_en"]
    # Each offending parameter is named; the token is still checked first on agency routes.
    several = await bare.client.get(f"/api/v1/dossiers/{control}?phone_last4={control}&secret=A")
    assert [error["field"] for error in several.json()["errors"]] == ["code", "phone_last4"]
    anonymous = await bare.client.get(f"/api/v1/agencies/{control}/inbox")
    assert anonymous.status_code == 401


async def test_vietnamese_parameters_pass_and_junk_headers_are_no_server_error(
    bare: Stack,
) -> None:
    # Percent-encoded Vietnamese (and a tab) is ordinary text: the routes answer as usual.
    quoted = urllib.parse.quote("thủ-tục-Đống-Đa", safe="")
    unknown = await bare.client.get(f"/api/v1/procedures/{quoted}")
    assert unknown.status_code == 404 and "/api/v1/procedures" in unknown.json()["detail"]
    stranger = await bare.client.get(
        f"/api/v1/dossiers/{quoted}", headers={"X-Phone-Last4": "0000"}
    )
    assert stranger.status_code == 404
    # Headers are not parameters that reach SQL: a NUL (or a Latin-1 byte) in one is refused
    # as a wrong credential, never a 500.
    for authorization in ("Bearer \x00", f"{token('tax')['Authorization']}\x00", b"Bearer \xe9"):
        inbox = await bare.client.get(  # httpx sends a bytes value as it is, which is the point
            "/api/v1/agencies/tax/inbox",
            headers={"Authorization": authorization},  # type: ignore[arg-type]
        )
        assert inbox.status_code == 401, authorization
    secret = await bare.client.get("/api/v1/dossiers/HS-1", headers={"X-Tracking-Secret": "\x00"})
    assert secret.status_code == 404
    for signature in ("\x00", b"\xe9\x00"):
        callback = await bare.client.post(
            "/api/v1/payments/callback",
            content=b"{}",
            headers={"X-Signature": signature},  # type: ignore[arg-type]  # bytes on purpose
        )
        assert callback.status_code == 401, signature


def test_every_refusal_of_the_dossier_core_has_an_http_status() -> None:
    from api.workflow import STATUS
    from domain.dossier import RefusalKind

    assert set(STATUS) == set(RefusalKind)


async def test_a_house_that_needs_no_permit_gets_the_answer_instead_of_a_dossier(
    bare: Stack,
) -> None:
    url = "/api/v1/procedures/house-building-permit/exemption"
    small: dict[str, str | int | bool]
    small = {"floors": 3, "floor_area_m2": 240, "in_planned_urban_area": False}
    exempt = (await bare.client.get(url, params={**small, "on": "2026-07-01"})).json()
    assert exempt["exempt"] and exempt["version"] == "2026-07"
    assert exempt["exemption"] == "small-house-outside-urban-plan"
    assert "Không cần nộp hồ sơ" in exempt["answer_vi"]
    # The day before the Construction Law 2025, and a plot in a planned urban area: a permit.
    before = (await bare.client.get(url, params={**small, "on": "2026-06-30"})).json()
    urban = {**small, "in_planned_urban_area": True, "on": "2026-07-01"}
    for answer in (before, (await bare.client.get(url, params=urban)).json()):
        assert not answer["exempt"] and "phải làm thủ tục" in answer["answer_vi"]
    bundle = await bare.client.get(
        "/api/v1/procedures/land-and-permit/exemption", params={**small, "on": "2026-08-03"}
    )
    assert bundle.json()["procedure"] == "house-building-permit" and bundle.json()["exempt"]
    bad = await bare.client.get(url, params={**small, "floors": 0})
    assert bad.status_code == 422


async def test_the_listing_warns_a_month_before_a_procedure_ends_with_no_successor(
    bare: Stack,
) -> None:
    def land(listed: list[dict[str, object]]) -> dict[str, object]:
        return next(entry for entry in listed if entry["code"] == "land-first-certificate")

    early = land((await bare.client.get("/api/v1/procedures?on=2027-01-28")).json())
    assert early["in_force_until"] == "2027-02-28" and early["warning"] is None
    late = land((await bare.client.get("/api/v1/procedures?on=2027-01-29")).json())
    assert "28/02/2027" in str(late["warning"])
    gap = await bare.client.get("/api/v1/procedures/land-first-certificate?on=2027-03-01")
    assert gap.status_code == 422 and "28/02/2027" in gap.text
