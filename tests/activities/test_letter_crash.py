"""A worker killed between rendering a letter and sending it sends the letter once, not twice.

Real processes, no mocks: a local SMTP server (aiosmtpd) that holds back its reply to the first
message it receives; ``worker.py --agency one-stop`` as a subprocess on the real dev server and
the test's PostgreSQL database; a small workflow (`tests.letter_workflow`) that issues one
letter with a 2-second heartbeat timeout. The first worker is SIGKILLed while the mail server is
still holding its message unacknowledged (the row is rendered, not sent); a second worker takes
the retry and finishes.

A message counts as delivered only when the server acknowledges it (250 after DATA). The
killed connection's message is never acknowledged: aiosmtpd cancels the handler when the
client goes away, as a real mail server drops an unacknowledged transaction.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.letters import ApologyInput
from domain.clock import VN_TZ
from engine.settings import REPO_ROOT
from store.db import async_engine, session_factory
from store.letters import get_apology, save_contact
from store.models import ApologyLetterRecord
from tests.letter_workflow import IssueApologyForTest

_T = TypeVar("_T")
APPLICANT, APPLICANT_EMAIL = "Lê Thị Cúc", "cuc.le@example.vn"
# Contacts at rest and workflow payloads are encrypted: the test and its worker processes share
# the session's data keys (tests/conftest.py `data_key_ring`, LIENTHONG_DATA_KEYS).


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SlowFirstReply:
    """SMTP handler: holds the reply to the first message about ``reference`` for ``delay`` s.

    ``received`` is every such message whose DATA arrived; ``delivered`` those acknowledged
    with 250; ``cut_off`` those whose client vanished while waiting for the reply. Mail about
    anything else (a dossier another test left running on the shared dev server) is accepted
    and ignored.
    """

    reference: str
    delay: float
    received: list[bytes] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)
    cut_off: list[bytes] = field(default_factory=list)
    first_data: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        if self.reference.encode() not in envelope.content:
            return "250 Message accepted for delivery"
        self.received.append(envelope.content)
        if len(self.received) == 1:
            self.first_data.set()
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:  # the client is gone: nothing was acknowledged
                self.cut_off.append(envelope.content)
                raise
        self.delivered.append(envelope.content)
        return "250 Message accepted for delivery"


class WorkerProcess:
    """``python worker.py --agency one-stop`` with its JSON log collected by a thread."""

    def __init__(self, address: str, env: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.started = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "worker.py", "--agency", "one-stop", "--address", address],
            cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.raw.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.events.append(event)
            if event.get("event") == "worker_started":
                self.started.set()

    async def wait_started(self, within: float = 20.0) -> None:
        if not await asyncio.to_thread(self.started.wait, within):
            self.kill()
            pytest.fail("the worker did not start:\n" + "".join(self.raw[-20:]))

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, the way a machine dies."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def worker_env(tmp_path: Path, pg_url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "TEMPORAL_"))}
    env.update(
        DATABASE_URL=pg_url,
        LIENTHONG_DATA_DIR=str(tmp_path),
        LIENTHONG_LOG_FORMAT="json",
        LIENTHONG_SMTP_HOST="127.0.0.1",
        LIENTHONG_SMTP_PORT=str(smtp_port),
        LIENTHONG_DESK_CODE="DONGDA",
        LIENTHONG_DATA_KEYS=os.environ["LIENTHONG_DATA_KEYS"],
    )
    return env


async def eventually(check: Callable[[], Awaitable[_T | None]], within: float, what: str) -> _T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def is_file(path: str) -> bool:
    return Path(path).is_file()


def bytes_of(path: str) -> bytes:
    return Path(path).read_bytes()


def parse(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, _class=EmailMessage, policy=email.policy.default)


@pytest.mark.devserver
@pytest.mark.postgres
async def test_a_worker_killed_after_rendering_and_before_sending_sends_the_letter_once(
    dev_env: WorkflowEnvironment, pg_url: str, task_queue: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    code = f"T{uuid.uuid4().hex[:8].upper()}-251201-0001"
    smtp = SlowFirstReply(reference=f"{code}-apology-1", delay=25.0)
    port = free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    engine = async_engine(pg_url)
    sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
    async with sessions() as session:
        await save_contact(session, code, full_name=APPLICANT, email=APPLICANT_EMAIL)
        await session.commit()

    async def letter() -> ApologyLetterRecord | None:
        async with sessions() as session:
            return await get_apology(session, code, 1)

    address = dev_env.client.service_client.config.target_host
    env = worker_env(tmp_path, pg_url, port)
    workers = [WorkerProcess(address, env)]
    try:
        await workers[0].wait_started()
        async with Worker(dev_env.client, task_queue=task_queue, workflows=[IssueApologyForTest]):
            handle = await dev_env.client.start_workflow(
                IssueApologyForTest.run,
                ApologyInput(
                    dossier_code=code,
                    sequence=1,
                    procedure_code="land-first-certificate",
                    procedure_name_vi="Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
                    received_at=datetime(2025, 12, 1, 9, 15, tzinfo=VN_TZ),
                    original_appointment=datetime(2026, 1, 5, 17, 0, tzinfo=VN_TZ),
                    new_appointment=datetime(2026, 1, 9, 16, 30, tzinfo=VN_TZ),
                    agency="land-registration",
                    reason_vi="Chờ xác minh nguồn gốc sử dụng đất.",
                ),
                id=f"letter-crash-{code}",
                task_queue=task_queue,
            )

            # The first worker rendered the letter, committed that, and is now inside the send:
            # the server has the message and is holding back its reply.
            async def rendered_not_sent() -> ApologyLetterRecord | None:
                row = await letter()
                ready = row is not None and row.rendered_at is not None and smtp.first_data.is_set()
                return row if ready else None

            before = await eventually(rendered_not_sent, 20, "the first worker to start sending")
            assert before.sent_at is None
            assert before.pdf_path and is_file(before.pdf_path)
            workers[0].kill()
            assert smtp.delivered == []

            workers.append(WorkerProcess(address, env))
            await workers[1].wait_started()
            result = await asyncio.wait_for(handle.result(), 30)
            history = await handle.fetch_history()
    finally:
        for worker in workers:
            worker.kill()
        controller.stop()
    after = await letter()
    await engine.dispose()
    elapsed = time.monotonic() - began

    # The workflow finished, through a retry on the second worker.
    assert result.sent and result.channel == "smtp"
    assert result.letter_id == f"{code}-apology-1"
    assert result.recipient == "c***@example.vn"
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [2]
    # One row, sent; rendered once, by the first worker (the second did not render again).
    assert after is not None and after.sent_at is not None
    assert (after.rendered_at, after.pdf_sha256) == (before.rendered_at, before.pdf_sha256)
    # Exactly one complete message: the killed worker's was never acknowledged, and the retry
    # sent the very same bytes (same Message-ID, so a receiver could also deduplicate).
    assert len(smtp.delivered) == 1
    assert len(smtp.cut_off) == 1 and smtp.cut_off[0] == smtp.delivered[0]
    message = parse(smtp.delivered[0])
    assert message["Message-ID"] == f"<{code}-apology-1@dongda.lienthong>" == after.message_id
    (pdf,) = message.iter_attachments()
    assert pdf.get_content() == bytes_of(result.pdf_path)
    # Personal data stayed out of both workers' logs.
    logs = "".join(workers[0].raw + workers[1].raw)
    assert '"event": "apology_sent' in logs
    assert APPLICANT not in logs and APPLICANT_EMAIL not in logs
    assert elapsed < 45, f"the crash test took {elapsed:.1f} s"
