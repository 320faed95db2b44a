"""No secret and no personal value in any log the stack writes (issue 19).

The stack runs as a user runs it, each process logging to its own file at debug level: a worker
(`worker.py`), the HTTP API (`python -m api`, with uvicorn's access log) and the codec server,
on the Temporal dev server and PostgreSQL. A citizen files two dossiers, tracks them with every
factor (and once with factors in the URL, against the API's advice), asks for a one-time code
and withdraws one with it; officers decide the other to its end with their tokens; an operator
decodes the whole history through the codec server. Then every log is searched for every secret
and personal value used.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.testing import WorkflowEnvironment

from api.auth import issue_token
from engine.settings import REPO_ROOT
from store.migrate import upgrade
from tests.api.test_api import PDF
from tests.clients.test_processes import free_port, project_env

pytestmark = [pytest.mark.postgres, pytest.mark.devserver]

TOKEN_SECRET = "log-test-api-secret-" + uuid.uuid4().hex
WEBHOOK_SECRET = "log-test-webhook-secret-" + uuid.uuid4().hex
CODEC_TOKEN = "log-test-codec-token-" + uuid.uuid4().hex
APPLICANT = {
    "full_name": "Lê Hoàng Phương Thảo",
    "national_id": "036195007788",
    "phone": "0976 123 908",
    "email": "phuongthao.le@example.vn",
    "address": "Số 21 ngõ 102 Trường Chinh, phường Kim Liên, Đống Đa, Hà Nội",
}
CERTIFIED_ORIGINAL = "Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao"


class Stack:
    """The processes' logs and addresses."""

    def __init__(self, tmp_path: Path, api: str, codec: str, address: str) -> None:
        self.tmp_path, self.api, self.codec, self.address = tmp_path, api, codec, address

    @property
    def logs(self) -> list[Path]:
        return sorted(self.tmp_path.glob("*.log"))


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within 60 s")


def _wait_log(event: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        if f'"event": "{event}"' in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    pytest.fail(f"no {event} in {log} within 60 s")


@pytest.fixture
def stack(dev_env: WorkflowEnvironment, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    upgrade(pg_url)
    address = dev_env.client.service_client.config.target_host
    env = project_env(
        tmp_path,
        DATABASE_URL=pg_url,
        LIENTHONG_LOG_LEVEL="debug",
        LIENTHONG_DESK_CODE=f"L{uuid.uuid4().hex[:8].upper()}",
        LIENTHONG_API_TOKEN_SECRET=TOKEN_SECRET,
        LIENTHONG_PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LIENTHONG_CODEC_TOKEN=CODEC_TOKEN,
    )
    api_port, codec_port = free_port(), free_port()
    commands = {
        "worker": [sys.executable, "worker.py", "--address", address],
        "api": [sys.executable, "-m", "api", "--port", str(api_port), "--temporal", address],
        "codec": [sys.executable, "-m", "engine.codec_server", "--port", str(codec_port)],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            log = (tmp_path / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        _wait_log("worker_started", processes["worker"], tmp_path / "worker.log")
        api, codec = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{codec_port}"
        _wait_http(f"{api}/api/v1/procedures", processes["api"], tmp_path / "api.log")
        _wait_http(f"{codec}/health", processes["codec"], tmp_path / "codec.log")
        yield Stack(tmp_path, api, codec, address)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def officer(agency: str) -> dict[str, str]:
    value = issue_token(
        TOKEN_SECRET, agency=agency, officer="can-bo-1", valid_for=timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {value}"}


async def file_one(client: httpx.AsyncClient) -> dict[str, Any]:
    upload = await client.post(
        "/api/v1/uploads",
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data={"name": CERTIFIED_ORIGINAL},
    )
    assert upload.status_code == 201, upload.text
    body = {
        "procedure": "certified-copy",
        "applicant": APPLICANT,
        "documents": [upload.json()["id"]],
        "delivery": {"method": "home", "address": APPLICANT["address"]},
    }
    created = await client.post(
        "/api/v1/dossiers", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def decide_to_the_end(client: httpx.AsyncClient, code: str, secret: str) -> str:
    headers = {"X-Tracking-Secret": secret}
    for _ in range(600):
        view = (await client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
        if view["status"] in ("returned", "refused", "withdrawn", "stopped"):
            return str(view["status"])
        for agency in {step["agency"] for step in view["open_steps"]}:
            inbox = await client.get(f"/api/v1/agencies/{agency}/inbox", headers=officer(agency))
            for item in inbox.json()["items"]:
                if item["dossier_code"] == code and item["officer_action"]:
                    await client.post(
                        f"/api/v1/agencies/{agency}/steps/{code}/{item['step_key']}/decision",
                        json={"action": "approve", "reason": "đủ điều kiện"},
                        headers=officer(agency),
                    )
        await asyncio.sleep(0.2)
    raise AssertionError("the dossier did not end within 120 s")


def payloads_of(node: Any) -> list[dict[str, Any]]:
    """Every payload (``{"metadata": ..., "data": ...}``) in a history as protobuf JSON."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            return [node]
        return [found for value in node.values() for found in payloads_of(value)]
    if isinstance(node, list):
        return [found for value in node for found in payloads_of(value)]
    return []


async def test_no_secret_and_no_personal_value_in_any_log(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    used: dict[str, str] = {
        "api token secret": TOKEN_SECRET,
        "webhook secret": WEBHOOK_SECRET,
        "codec token": CODEC_TOKEN,
        "phone digits": re.sub(r"\D", "", APPLICANT["phone"]).lstrip("0"),
        **{f"applicant {name}": value for name, value in APPLICANT.items()},
        "a name alone": "Phương Thảo",
        "a street": "Trường Chinh",
    }
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        first, second = await file_one(client), await file_one(client)
        used["tracking secret 1"] = first["tracking_secret"]
        used["tracking secret 2"] = second["tracking_secret"]
        used["officer token"] = officer("commune-committee")["Authorization"].split()[1]
        code = second["dossier_code"]
        phone = {"X-Phone-Last4": re.sub(r"\D", "", APPLICANT["phone"])[-4:]}
        assert (await client.get(f"/api/v1/dossiers/{code}", headers=phone)).status_code == 200
        # Against the API's advice, factors in the URL: refused, and the log keeps the path.
        for name, value in (("secret", second["tracking_secret"]), ("phone_last4", "3908")):
            misused = await client.get(f"/api/v1/dossiers/{code}", params={name: value})
            assert misused.status_code == 400
        sent = await client.post(f"/api/v1/dossiers/{code}/one-time-code", headers=phone)
        assert sent.status_code == 202, sent.text
        (eml,) = (stack.tmp_path / "outbox").glob(f"*{code}-otp*.eml")
        text = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        found = re.search(r": (\d{6})\b", str(text.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
        assert found is not None
        used["one-time code"] = found.group(1)
        withdrawn = await client.post(
            f"/api/v1/dossiers/{code}/withdraw",
            json={"reason": "nộp nhầm"},
            headers={"X-One-Time-Code": used["one-time code"]},
        )
        assert withdrawn.json()["status"] == "withdrawn", withdrawn.text
        status = await asyncio.wait_for(
            decide_to_the_end(client, first["dossier_code"], first["tracking_secret"]), 150
        )
        assert status == "returned"

    # An operator reads the first dossier's history through the codec server.
    raw = await dev_env.client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=dev_env.client.namespace,
            execution={"workflow_id": first["dossier_code"]},  # type: ignore[arg-type]
        )
    )
    payloads = payloads_of(json_format.MessageToDict(raw.history))
    assert payloads
    async with httpx.AsyncClient(base_url=stack.codec, timeout=30) as client:
        decoded = await client.post(
            "/default/decode",
            json={"payloads": payloads},
            headers={"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "default"},
        )
    assert decoded.status_code == 200, decoded.text

    await asyncio.sleep(1)  # the processes flush what they logged
    texts = {path.name: path.read_text(errors="replace") for path in stack.logs}
    assert set(texts) == {"api.log", "codec.log", "worker.log"}
    # The logs did record the run: the access log's paths, the codec's request.
    assert f"GET /api/v1/dossiers/{code} HTTP" in texts["api.log"]
    assert "codec_request" in texts["codec.log"]
    leaks = [
        f"{what} in {name}"
        for name, text in texts.items()
        for what, value in used.items()
        for form in {unicodedata.normalize("NFC", value), unicodedata.normalize("NFD", value)}
        if re.search(rf"(?<![0-9A-Za-z]){re.escape(form)}(?![0-9A-Za-z])", text)
    ]
    assert leaks == []
