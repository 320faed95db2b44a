"""The payload codec and the codec server: histories in Temporal hold no readable dossier data.

- `engine.codec.EncryptionCodec`: round trip, clear payloads pass through, key rotation, and
  tampered or misplaced ciphertexts refused with errors that name key ids only;
- a dossier run on the time-skipping server whose history, read without the codec, holds the
  applicant's marker nowhere, while a client with the codec reads it and a replayer replays it;
- `engine.codec_server`: token or sign-in cookie required, CORS for the Web UI, 400 on garbage;
  the real process, and the operator's CLI path (``temporal workflow show --codec-auth``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.dossier import DossierFacts, DossierStatus, SubmittedDocument
from engine.codec import ASSOCIATED_DATA, ENCODING, KEY_ID_METADATA, EncryptionCodec
from engine.codec_server import SESSION_COOKIE, create_app, session_cookie_value
from engine.crypto import DecryptionError, KeyRing, UnknownKeyError
from engine.settings import REPO_ROOT, SettingsError, load_settings
from engine.temporal import data_converter, dev_server_path
from store.migrate import upgrade
from store.seed import DEMO_PARCEL
from tests.harness import all_documents, ended, officers_until, running_engine, submit
from workflows import WORKFLOWS
from workflows.dossier import DossierInput, DossierResult

TOKEN = "codec-test-token-" + secrets.token_hex(8)
UI_ORIGIN = "http://localhost:8233"


def marker() -> str:
    """A name-like value unique to one test (UTF-8 with Vietnamese letters, as real names are)."""
    return f"Nguyễn Thị Mẫu {uuid.uuid4().hex[:12]}"


def clear_payload(value: Any) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


def payloads_json(payloads: list[Payload]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def payloads_from(response: httpx.Response) -> list[Payload]:
    return list(json_format.Parse(response.text, Payloads()).payloads)


# ---- the codec ---------------------------------------------------------------------------------


async def test_a_payload_round_trips_and_its_ciphertext_holds_nothing_readable() -> None:
    ring = KeyRing.generate("k1")
    secret = marker()
    original = clear_payload({"subject_ref": secret, "documents": ["Giấy ủy quyền"]})
    codec = EncryptionCodec(ring)

    [encoded] = await codec.encode([original])

    assert encoded.metadata["encoding"] == ENCODING == b"binary/encrypted"
    assert encoded.metadata[KEY_ID_METADATA] == b"k1"
    assert secret.encode() not in encoded.SerializeToString()
    assert b"json/plain" not in encoded.SerializeToString()  # the inner metadata is hidden too
    [decoded] = await codec.decode([encoded])
    assert decoded == original
    # Each encryption uses a fresh nonce: equal inputs do not give equal payloads.
    [again] = await codec.encode([original])
    assert again.data != encoded.data


async def test_the_project_converter_round_trips_pydantic_models() -> None:
    converter = data_converter(KeyRing.generate("k1"))
    facts = DossierFacts(
        documents=[SubmittedDocument(name_vi=f"Giấy ủy quyền {marker()}")], subject_ref=marker()
    )
    encoded = await converter.encode([facts])
    assert all(payload.metadata["encoding"] == ENCODING for payload in encoded)
    assert await converter.decode(encoded, [DossierFacts]) == [facts]


async def test_payloads_that_are_not_encrypted_pass_through_unchanged() -> None:
    codec = EncryptionCodec(KeyRing.generate("k1"))
    clear = [clear_payload({"a": 1}), clear_payload("text"), clear_payload(None)]
    [encrypted] = await codec.encode([clear_payload("secret")])

    decoded = await codec.decode([clear[0], encrypted, clear[1], clear[2]])

    assert decoded[0] == clear[0] and decoded[2] == clear[1] and decoded[3] == clear[2]
    assert decoded[1] == clear_payload("secret")


async def test_rotation_old_payloads_decode_new_ones_name_the_new_key() -> None:
    first = KeyRing.generate("k1")
    rotated = first.rotated("k2", secrets.token_bytes(32))
    [old] = await EncryptionCodec(first).encode([clear_payload("before the rotation")])

    codec = EncryptionCodec(rotated)
    [new] = await codec.encode([clear_payload("after the rotation")])

    assert await codec.decode([old]) == [clear_payload("before the rotation")]
    assert new.metadata[KEY_ID_METADATA] == b"k2" and new.data.startswith(b"v1:k2:")
    assert await EncryptionCodec(rotated.without("k1")).decode([new]) == [
        clear_payload("after the rotation")
    ]
    with pytest.raises(UnknownKeyError) as error:
        await EncryptionCodec(rotated.without("k1")).decode([old])
    assert error.value.kid == "k1"
    assert "'k1'" in str(error.value) and "LIENTHONG_DATA_KEYS" in str(error.value)


async def test_altered_or_misplaced_ciphertexts_are_refused_naming_only_the_key() -> None:
    ring = KeyRing.generate("k1")
    codec = EncryptionCodec(ring)
    secret = marker()
    [encoded] = await codec.encode([clear_payload(secret)])

    altered = Payload()
    altered.CopyFrom(encoded)
    altered.data = encoded.data[:-1] + bytes([encoded.data[-1] ^ 1])
    relabelled = Payload()
    relabelled.CopyFrom(encoded)
    relabelled.metadata[KEY_ID_METADATA] = b"k9"
    # A registry column's ciphertext (other associated data) is not a payload.
    column = Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"},
        data=ring.encrypt(clear_payload(secret).SerializeToString(), b"applicant_contacts.name"),
    )
    garbage = Payload(metadata={"encoding": ENCODING}, data=b"not a ciphertext")
    not_a_payload = Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"},
        data=ring.encrypt(b"\xff\xff\xff", ASSOCIATED_DATA),
    )

    for bad in (altered, relabelled, column, garbage, not_a_payload):
        with pytest.raises(DecryptionError) as error:
            await codec.decode([bad])
        assert secret not in str(error.value)


# ---- a dossier's history -----------------------------------------------------------------------


# The SDK's own bookkeeping in marker events (local activity sequence numbers and times, patch
# ids) is written by its core in clear; it holds no data of ours.
SDK_MARKER_DETAILS = {"data", "patch-data"}


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload in ``message``, but search attributes and the SDK's marker bookkeeping."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.full_name == "temporal.api.common.v1.SearchAttributes":
            continue  # indexed in clear by design: codes, statuses, dates (engine/names.py)
        if field.message_type.GetOptions().map_entry:
            sdk_owned = (
                message.DESCRIPTOR.name == "MarkerRecordedEventAttributes"
                and field.name == "details"
            )
            items = [
                item
                for key, item in value.items()
                if isinstance(item, Message) and not (sdk_owned and key in SDK_MARKER_DETAILS)
            ]
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            else:
                yield from payloads_in(item)


async def test_a_dossier_history_read_without_the_codec_holds_no_applicant_data(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path, data_key_ring: KeyRing
) -> None:
    secret = marker()
    received = await env.get_current_time()
    facts = DossierFacts(
        parcel=DEMO_PARCEL,
        documents=[
            *all_documents("certified-copy", received),
            SubmittedDocument(name_vi=f"Giấy ủy quyền của {secret}"),
        ],
        subject_ref=secret,
    )
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(url)
    async with running_engine(env.client, task_queue, url):
        handle = await submit(env, task_queue, "certified-copy", received=received, facts=facts)
        await officers_until(env, handle, lambda state: False)
        result: DossierResult = await ended(env, handle)
    assert result.status == DossierStatus.RETURNED

    # Whoever reads the history without the keys (the Web UI, the CLI, Temporal's database).
    plain = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    history = await plain.get_workflow_handle(handle.id).fetch_history()
    raw = History(events=history.events).SerializeToString()
    assert secret.encode() not in raw
    payloads = [p for event in history.events for p in payloads_in(event)]
    assert len(payloads) > 10
    unencrypted = [
        p.metadata.get("encoding") for p in payloads if p.metadata["encoding"] != ENCODING
    ]
    assert not unencrypted, f"payloads in clear: {unencrypted}"
    assert {p.metadata[KEY_ID_METADATA] for p in payloads} == {data_key_ring.active_kid.encode()}

    # With the codec the same payloads are the dossier's: the marker is really in them.
    codec = EncryptionCodec(data_key_ring)
    decoded = [p.data for p in await codec.decode(payloads)]
    assert any(secret.encode() in data for data in decoded)
    started = history.events[0].workflow_execution_started_event_attributes
    [dossier_input] = await env.client.data_converter.decode(started.input.payloads, [DossierInput])
    assert dossier_input.facts == facts
    # The encrypted history replays with the workers' converter.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(data_key_ring))
    await replayer.replay_workflow(WorkflowHistory.from_json(handle.id, history.to_json()))


# ---- the codec server --------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[httpx.AsyncClient, KeyRing]]:
    ring = KeyRing.generate("k1")
    app = create_app(token=TOKEN, key_ring=ring, cors_origins=[UI_ORIGIN])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as client:
        yield client, ring


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": "default"}


async def encrypted(ring: KeyRing, *values: Any) -> list[Payload]:
    return await EncryptionCodec(ring).encode([clear_payload(value) for value in values])


async def test_the_codec_server_decodes_nothing_without_the_token(
    server: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    client, ring = server
    secret = marker()
    body = payloads_json(await encrypted(ring, secret))
    for headers in ({}, bearer("wrong-token-of-some-length"), {"Authorization": TOKEN}):
        for path in ("/decode", "/encode", "/default/decode"):
            response = await client.post(path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert secret not in response.text and "payloads" not in response.json()


async def test_the_codec_server_decodes_and_encodes_with_the_token(
    server: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    client, ring = server
    secret = marker()
    clear = clear_payload({"note": "đã nhận"})
    body = payloads_json([*await encrypted(ring, secret), clear])

    for path in ("/decode", "/default/decode"):  # only the last path segment counts
        response = await client.post(path, json=body, headers=bearer())
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        decoded = payloads_from(response)
        assert decoded == [clear_payload(secret), clear]
        assert json.loads(base64.b64decode(response.json()["payloads"][0]["data"])) == secret

    response = await client.post("/encode", json=payloads_json([clear]), headers=bearer())
    assert response.status_code == 200
    [encoded] = payloads_from(response)
    assert encoded.metadata[KEY_ID_METADATA] == b"k1"
    assert await EncryptionCodec(ring).decode([encoded]) == [clear]

    empty = await client.post("/decode", json={"payloads": []}, headers=bearer())
    assert empty.status_code == 200 and empty.json() == {"payloads": []}


async def test_the_codec_server_answers_the_ui_preflight_and_allows_credentials(
    server: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    client, ring = server
    preflight = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    response = await client.options("/decode", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "x-namespace", "content-type"} <= set(
        allowed.replace(" ", "").split(",")
    )
    assert "POST" in response.headers["access-control-allow-methods"]

    stranger = await client.options(
        "/decode", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers

    body = payloads_json(await encrypted(ring, "x"))
    actual = await client.post("/decode", json=body, headers={**bearer(), "Origin": UI_ORIGIN})
    assert actual.status_code == 200
    assert actual.headers["access-control-allow-origin"] == UI_ORIGIN
    assert actual.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"payloads": 3}', b'{"payloads": [{"data": 5}]}', b"\xff\xfe{", b"[]"],
    ids=["text", "not-a-list", "data-not-a-string", "not-utf8", "array"],
)
async def test_the_codec_server_answers_garbage_with_400_and_a_message(
    server: tuple[httpx.AsyncClient, KeyRing], body: bytes
) -> None:
    client, _ = server
    response = await client.post(
        "/decode", content=body, headers={**bearer(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the body is not Temporal Payloads JSON")


async def test_the_codec_server_names_an_unknown_key_and_nothing_else(
    server: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    client, _ = server
    secret = marker()
    elsewhere = await encrypted(KeyRing.generate("k-retired"), secret)
    response = await client.post("/decode", json=payloads_json(elsewhere), headers=bearer())
    assert response.status_code == 400
    assert "'k-retired'" in response.json()["detail"] and secret not in response.text


async def test_the_codec_server_sign_in_cookie_stands_in_for_the_token(
    server: tuple[httpx.AsyncClient, KeyRing],
) -> None:
    client, ring = server
    body = payloads_json(await encrypted(ring, "cookie"))

    page = await client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    refused = await client.post("/login", data={"token": "wrong-token-of-some-length"})
    assert refused.status_code == 401 and SESSION_COOKIE not in client.cookies
    assert (await client.post("/decode", json=body)).status_code == 401

    signed_in = await client.post("/login", data={"token": TOKEN})
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert TOKEN.lower() not in cookie  # the cookie is a MAC, never the token
    decoded = await client.post("/decode", json=body, headers={"Origin": UI_ORIGIN})
    assert decoded.status_code == 200 and payloads_from(decoded) == [clear_payload("cookie")]

    await client.post("/logout")
    assert (await client.post("/decode", json=body)).status_code == 401

    now = int(time.time())
    for forged in (
        session_cookie_value(TOKEN, now - 1),  # expired
        session_cookie_value("another-token-0123456789", now + 3600),  # another server's
        f"{now + 3600}.AAAA",
    ):
        client.cookies.set(SESSION_COOKIE, forged)
        assert (await client.post("/decode", json=body)).status_code == 401


def test_codec_settings_are_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_CODEC_TOKEN", "short")
    monkeypatch.setenv("LIENTHONG_CODEC_CORS_ORIGINS", "http://localhost:8233/ui,*")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "LIENTHONG_CODEC_TOKEN: must be at least 16 characters" in message
    assert "short" not in message  # a secret is never echoed
    assert "LIENTHONG_CODEC_CORS_ORIGINS: 'http://localhost:8233/ui' is not an origin" in message

    monkeypatch.setenv("LIENTHONG_CODEC_TOKEN", TOKEN)
    monkeypatch.setenv(
        "LIENTHONG_CODEC_CORS_ORIGINS", " https://ui.example.vn/ , http://[::1]:8233"
    )
    settings = load_settings()
    assert settings.codec_token.get_secret_value() == TOKEN and TOKEN not in repr(settings)
    assert settings.codec_cors_origin_list == ["https://ui.example.vn", "http://[::1]:8233"]


def test_the_codec_server_needs_a_token() -> None:
    with pytest.raises(ValueError, match="LIENTHONG_CODEC_TOKEN"):
        create_app(token="", key_ring=KeyRing.generate("k1"))


# ---- the process and the operator's CLI --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def codec_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "TEMPORAL_"))}
    env.update(LIENTHONG_DATA_KEYS=os.environ["LIENTHONG_DATA_KEYS"], **extra)
    return env


def test_the_codec_server_process_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine.codec_server", "--port", str(free_port())],
        cwd=REPO_ROOT, env=codec_env(LIENTHONG_DATA_DIR=str(tmp_path)), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "LIENTHONG_CODEC_TOKEN is not set" in result.stderr


@pytest.fixture
def codec_process(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.codec_server", "--port", str(port)],
        cwd=REPO_ROOT,
        env=codec_env(LIENTHONG_CODEC_TOKEN=TOKEN, LIENTHONG_DATA_DIR=str(tmp_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            assert process.poll() is None, f"the codec server exited: {process.communicate()[1]}"
            assert time.monotonic() < deadline, "the codec server did not start within 30 s"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as health:
                    if health.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    # uvicorn stops gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "codec_request" in stderr and TOKEN not in stderr  # its log never shows the token


async def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)


@pytest.mark.devserver
async def test_an_operator_reads_a_history_with_the_cli_and_the_codec_server(
    dev_env: WorkflowEnvironment, codec_process: str
) -> None:
    secret = marker()
    workflow_id = f"codec-cli-{uuid.uuid4()}"
    # No worker: the started event alone holds the input, encrypted.
    handle = await dev_env.client.start_workflow(
        "CodecCliProbe", {"subject_ref": secret}, id=workflow_id, task_queue=f"none-{uuid.uuid4()}"
    )
    try:
        show = [
            dev_server_path(), "workflow", "show", "--workflow-id", workflow_id,
            "--address", dev_env.client.service_client.config.target_host, "--output", "json",
        ]  # fmt: skip
        without = await run(show)
        assert without.returncode == 0, without.stderr
        assert secret not in without.stdout
        started = json.loads(without.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
        metadata = started["input"]["payloads"][0]["metadata"]
        assert base64.b64decode(metadata["encoding"]) == ENCODING

        wrong = await run(
            [*show, "--codec-endpoint", codec_process, "--codec-auth", "Bearer not-the-token"]
        )
        assert secret not in wrong.stdout + wrong.stderr

        with_codec = await run(
            [*show, "--codec-endpoint", codec_process, "--codec-auth", f"Bearer {TOKEN}"]
        )
        assert with_codec.returncode == 0, with_codec.stderr
        started = json.loads(with_codec.stdout)["events"][0][
            "workflowExecutionStartedEventAttributes"
        ]
        [payload] = started["input"]["payloads"]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
        assert json.loads(base64.b64decode(payload["data"])) == {"subject_ref": secret}
    finally:
        await handle.terminate()
