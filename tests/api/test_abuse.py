"""The API's abuse limits and the rights of each factor (api.limits, api.citizens).

Found by trying the API as an attacker would (issue 19): 200 wrong guesses of a dossier's phone
digits were all answered at once, the right digits worked straight afterwards, and the same 4
digits withdrew the dossier. Counters live in the registry (PostgreSQL here), so the last test
runs two API processes on one database behind one client address.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.auth import tracking_secret
from engine.settings import REPO_ROOT, Settings
from store.db import async_engine, session_factory
from store.letters import get_contact, save_contact
from store.migrate import upgrade
from store.models import AuditRecord, OnlineSubmission, PaymentRecord, UploadRecord
from tests.api.test_api import (
    BASE,
    CERTIFIED_ORIGINAL,
    PDF,
    TOKEN_SECRET,
    WEBHOOK_SECRET,
    Stack,
    a_client_address,
    app_for,
    count,
    make_settings,
    new_provider,
    stack,  # noqa: F401  (the fixture, requested by name below)
    submission,
)
from tests.clients.test_processes import free_port, project_env

pytestmark = pytest.mark.postgres

PHONE = "0912 345 678"


def limited(tmp_path: Path, **limits: Any) -> Settings:
    """The test settings with some limits changed."""
    return make_settings(tmp_path).model_copy(update=limits)


async def a_dossier_on_file(sessions: async_sessionmaker[AsyncSession], desk: str) -> str:
    """A dossier code whose applicant's contact is in the registry, with a pending payment
    ``PAY-<code>`` to read (a route that needs nothing but the registry once authorised)."""
    code = f"{desk}-261204-{uuid.uuid4().int % 10000:04d}"
    async with sessions() as session:
        await save_contact(session, code, full_name="Trần Văn Bình", phone=PHONE)
        session.add(
            PaymentRecord(
                payment_id=f"PAY-{code}", dossier_code=code, amount_vnd=1000, status="pending"
            )
        )
        await session.commit()
    return code


class Api:
    """The app on a registry alone (no Temporal), with its own client address."""

    def __init__(
        self, client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], desk: str
    ) -> None:
        self.client, self.sessions, self.desk = client, sessions, desk

    async def read(self, code: str, **headers: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/dossiers/{code}/payments/PAY-{code}", headers=headers
        )


async def api_with(pg_url: str, settings: Settings) -> AsyncIterator[Api]:
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    app = app_for(None, sessions, settings, new_provider())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
        ) as client:
            yield Api(client, sessions, settings.desk_code)
    finally:
        await engine.dispose()


@pytest.fixture
async def api(pg_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    settings = limited(tmp_path, api_factor_base_delay_seconds=1.0, api_factor_lock_after=5)
    async for value in api_with(pg_url, settings):
        yield value


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    """Status, the error's field and its Vietnamese message, of a 429."""
    assert response.status_code == 429, response.text
    (error,) = response.json()["errors"]
    assert error["message_en"] and error["message_vi"]
    return response.status_code, error["field"], error["message_vi"]


async def audit_actions(sessions: async_sessionmaker[AsyncSession], code: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditRecord.action).where(AuditRecord.dossier_code == code)
        )
        return sorted(rows.scalars())


async def test_wrong_phone_digits_wait_longer_each_time_then_lock_until_the_secret(
    api: Api,
) -> None:
    code = await a_dossier_on_file(api.sessions, api.desk)
    wrong = {"X-Phone-Last4": "0000"}
    for _ in range(3):  # the free attempts
        assert (await api.read(code, **wrong)).status_code == 404
    waiting = await api.read(code, **wrong)
    assert refusal(waiting)[1] == "dossier" and waiting.headers["Retry-After"] == "1"
    # While it waits, not even the right digits are checked.
    assert (await api.read(code, **{"X-Phone-Last4": "5678"})).status_code == 429
    await asyncio.sleep(1.1)
    assert (await api.read(code, **wrong)).status_code == 404  # the 4th failure
    assert (await api.read(code, **wrong)).headers["Retry-After"] == "2"  # the delay doubled
    await asyncio.sleep(2.1)
    assert (await api.read(code, **wrong)).status_code == 404  # the 5th: locked now
    locked = await api.read(code, **{"X-Phone-Last4": "5678"})
    assert "mã bí mật" in refusal(locked)[2]
    assert int(locked.headers["Retry-After"]) > 3600
    assert await audit_actions(api.sessions, code) == ["dossier_locked"]
    # The receipt's secret opens it, lifts the lock (recorded) and the digits work again.
    secret = tracking_secret(TOKEN_SECRET, code)
    assert (await api.read(code, **{"X-Tracking-Secret": secret})).status_code == 200
    assert (await api.read(code, **{"X-Phone-Last4": "5678"})).status_code == 200
    assert await audit_actions(api.sessions, code) == ["dossier_locked", "lock_lifted"]


async def test_a_client_walking_dossier_codes_is_slowed_down_and_others_are_not(
    api: Api, pg_url: str, tmp_path: Path
) -> None:
    # The client's allowance is 4 times a dossier's (12 free failures): 3 per dossier on 4.
    codes = [await a_dossier_on_file(api.sessions, api.desk) for _ in range(5)]
    for code in codes[:4]:
        for digits in ("0000", "1111", "2222"):
            assert (await api.read(code, **{"X-Phone-Last4": digits})).status_code == 404
    assert refusal(await api.read(codes[4], **{"X-Phone-Last4": "0000"}))[1] == "client"
    # Its own dossier's secret opens that dossier but does not wash the client's failures.
    secret = tracking_secret(TOKEN_SECRET, codes[4])
    assert (await api.read(codes[4], **{"X-Tracking-Secret": secret})).status_code == 200
    assert (await api.read(codes[4], **{"X-Phone-Last4": "5678"})).status_code == 429
    # Another address is not held back by this one.
    settings = limited(tmp_path, desk_code=api.desk)
    async for other in api_with(pg_url, settings):
        assert (await other.read(codes[4], **{"X-Phone-Last4": "5678"})).status_code == 200


async def test_uploads_past_the_quota_are_429_with_retry_after_and_nothing_stored(
    pg_url: str, tmp_path: Path
) -> None:
    async for api in api_with(pg_url, limited(tmp_path, api_writes_per_minute=3)):

        async def upload(api: Api = api) -> httpx.Response:
            return await api.client.post(
                "/api/v1/uploads",
                files={"file": ("a.pdf", PDF, "application/pdf")},
                data={"name": CERTIFIED_ORIGINAL},
            )

        assert [(await upload()).status_code for _ in range(3)] == [201, 201, 201]
        before = await count(api.sessions, UploadRecord)
        refused = await upload()
        assert refusal(refused)[1] == "client"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert await count(api.sessions, UploadRecord) == before


async def test_a_factor_in_the_url_is_refused_before_anything_is_checked(api: Api) -> None:
    code = await a_dossier_on_file(api.sessions, api.desk)
    secret = tracking_secret(TOKEN_SECRET, code)
    for name, value in (("secret", secret), ("phone_last4", "5678")):
        response = await api.client.get(
            f"/api/v1/dossiers/{code}/payments/PAY-{code}", params={name: value}
        )
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["field"] == name and "header" in error["message_en"]


def _one_time_code(outbox: Path, code: str) -> str:
    (path,) = [p for p in outbox.glob("*.eml") if "otp" in p.name and code in p.name]
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r": (\d{6})\b", body.get_content())
    assert found is not None
    return found.group(1)


async def test_the_phone_digits_read_a_dossier_but_only_the_secret_or_a_code_changes_it(
    stack: Stack,  # noqa: F811
) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    created = (await stack.submit(submission("certified-copy", [document]))).json()
    code = created["dossier_code"]
    phone = {"X-Phone-Last4": "5678"}
    assert (await stack.client.get(f"/api/v1/dossiers/{code}", headers=phone)).status_code == 200
    for path, body in (("withdraw", {"reason": "x"}), ("supplements", {"documents": [document]})):
        refused = await stack.client.post(
            f"/api/v1/dossiers/{code}/{path}", json=body, headers=phone
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["field"] == "X-Tracking-Secret"
    paying = await stack.client.post(f"/api/v1/dossiers/{code}/payments", headers=phone)
    assert paying.status_code == 403
    view = (await stack.client.get(f"/api/v1/dossiers/{code}", headers=phone)).json()
    assert view["status"] not in ("withdrawn",)
    # A one-time code to the applicant's e-mail (the outbox here) opens it for one act.
    sent = await stack.client.post(f"/api/v1/dossiers/{code}/one-time-code", headers=phone)
    assert sent.status_code == 202, sent.text
    assert sent.json()["sent_to"] == "n***@example.vn"
    one_time = _one_time_code(stack.settings.outbox_path, code)
    wrong = f"{(int(one_time) + 1) % 10**6:06d}"
    guessed = await stack.client.post(
        f"/api/v1/dossiers/{code}/withdraw", json={}, headers={"X-One-Time-Code": wrong}
    )
    assert guessed.status_code == 404
    withdrawn = await stack.client.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "nộp nhầm"},
        headers={"X-One-Time-Code": one_time},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    again = await stack.client.get(
        f"/api/v1/dossiers/{code}", headers={"X-One-Time-Code": one_time}
    )
    assert again.status_code == 404  # used up


# -- two API processes, one database, one client address ---------------------------------------


@pytest.fixture
def two_apis(
    dev_env: WorkflowEnvironment, pg_url: str, tmp_path: Path
) -> Iterator[tuple[list[str], str]]:
    """Two ``python -m api`` processes on one PostgreSQL registry; their base URLs and desk."""
    upgrade(pg_url)
    address = dev_env.client.service_client.config.target_host
    desk = f"T{uuid.uuid4().hex[:8].upper()}"
    env = project_env(
        tmp_path,
        DATABASE_URL=pg_url,
        LIENTHONG_DESK_CODE=desk,
        LIENTHONG_API_TOKEN_SECRET=TOKEN_SECRET,
        LIENTHONG_PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LIENTHONG_API_FACTOR_BASE_DELAY_SECONDS="1",
        LIENTHONG_API_FACTOR_LOCK_AFTER="5",
        LIENTHONG_API_HEADER_TIMEOUT_SECONDS="2",
    )
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "api", "--port", str(port), "--temporal", address],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"api-{port}.log").open("wb"),
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                log = tmp_path / f"api-{url.rpartition(':')[2]}.log"
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/api/v1/procedures", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not start within 60 s"
                time.sleep(0.2)
        yield urls, desk
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.devserver
async def test_the_limits_hold_across_two_api_processes_behind_one_address(
    two_apis: tuple[list[str], str], pg_url: str
) -> None:
    urls, desk = two_apis
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    try:
        code = await a_dossier_on_file(sessions, desk)
        path = f"/api/v1/dossiers/{code}/payments/PAY-{code}"
        # One address of its own on the loopback (Linux answers all of 127/8), the same for
        # both processes: no other test's failures count against it.
        address = ".".join(["127", *(str(b % 250 + 1) for b in uuid.uuid4().bytes[:3])])
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(timeout=10, transport=transport) as client:

            async def guess(n: int, digits: str = "0000", **headers: str) -> httpx.Response:
                headers = headers or {"X-Phone-Last4": digits}
                return await client.get(urls[n % 2] + path, headers=headers)

            # Alternating processes: the third failure on one counts the other two.
            assert [(await guess(n)).status_code for n in range(3)] == [404, 404, 404]
            assert (await guess(3)).status_code == 429
            assert (await guess(4, "5678")).status_code == 429
            failures, n = 3, 5
            while failures < 5:  # the growing delays, then the lock, whichever process asks
                response = await guess(n)
                n += 1
                if response.status_code == 429:
                    await asyncio.sleep(int(response.headers["Retry-After"]) + 0.1)
                else:
                    assert response.status_code == 404
                    failures += 1
            for n in (0, 1):
                assert "mã bí mật" in refusal(await guess(n, "5678"))[2]
            secret = tracking_secret(TOKEN_SECRET, code)
            assert (await guess(0, **{"X-Tracking-Secret": secret})).status_code == 200
            assert (await guess(1, "5678")).status_code == 200
        assert await audit_actions(sessions, code) == ["dossier_locked", "lock_lifted"]
    finally:
        await engine.dispose()


async def test_a_burst_of_new_dossiers_is_cut_but_a_retry_of_one_is_not(
    stack: Stack,  # noqa: F811
) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    body = submission("certified-copy", [document])
    keys = [str(uuid.uuid4()) for _ in range(4)]
    accepted = [await stack.submit(body, key) for key in keys[:3]]
    assert [response.status_code for response in accepted] == [201, 201, 201]
    before = await count(stack.sessions, OnlineSubmission)
    fourth = await stack.submit(body, keys[3])
    assert refusal(fourth)[1] == "client" and int(fourth.headers["Retry-After"]) <= 60
    assert await count(stack.sessions, OnlineSubmission) == before  # no code taken
    retried = await stack.submit(body, keys[0])
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["dossier_code"] == accepted[0].json()["dossier_code"]


async def test_the_delivery_address_changes_with_the_secret_only_and_is_audited(
    stack: Stack,  # noqa: F811
) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    home = {"method": "home", "address": "Số 7 Đào Duy Anh, Đống Đa"}
    created = (await stack.submit(submission("certified-copy", [document], delivery=home))).json()
    code, secret = created["dossier_code"], created["tracking_secret"]
    url = f"/api/v1/dossiers/{code}/delivery-address"
    moved = {"address": "Số 9 Phạm Ngọc Thạch, Đống Đa"}
    by_phone = await stack.client.put(url, json=moved, headers={"X-Phone-Last4": "5678"})
    assert by_phone.status_code == 403
    changed = await stack.client.put(url, json=moved, headers={"X-Tracking-Secret": secret})
    assert changed.status_code == 200, changed.text
    async with stack.sessions() as session:
        contact = await get_contact(session, code)
    assert contact is not None and contact.address == moved["address"]
    assert await audit_actions(stack.sessions, code) == ["address_changed"]
    # A result collected at the desk has no address to change.
    desk = (await stack.submit(submission("certified-copy", [document]))).json()
    at_desk = await stack.client.put(
        f"/api/v1/dossiers/{desk['dossier_code']}/delivery-address",
        json=moved,
        headers={"X-Tracking-Secret": desk["tracking_secret"]},
    )
    assert at_desk.status_code == 409


async def _answer_before_close(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection. A close while our unread header
    lines sit in its buffer is a reset (TCP's RST), not an orderly end: closed all the same."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""


@pytest.mark.devserver
async def test_a_client_that_never_finishes_its_request_head_is_cut_off(
    two_apis: tuple[list[str], str],
) -> None:
    urls, _ = two_apis
    port = int(urls[0].rpartition(":")[2])
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/v1/procedures HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        slow.append((reader, writer))
    silent = await asyncio.open_connection("127.0.0.1", port)  # sends nothing at all
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:  # others are served meanwhile
        assert (await client.get(f"{urls[0]}/api/v1/procedures")).status_code == 200
    for reader, writer in [*slow, silent]:
        # A header line every half second keeps the client busy, not the server: closed at 2 s.
        for n in range(8 if writer is not silent[1] else 0):
            if reader.at_eof():
                break
            try:
                writer.write(f"X-Slow-{n}: 1\r\n".encode())
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.5)
        assert await _answer_before_close(reader) == b""  # closed, nothing answered
        writer.close()
    assert time.monotonic() - started < 8
