"""``make demo``: Temporal dev server + migrations + workers + sample dossiers, Ctrl-C stops all.

State lives under ``.data/`` (Temporal's history in ``temporal.db``, the registry in
``lienthong.db`` unless DATABASE_URL names PostgreSQL), so a second run continues the first.
Payloads in Temporal are encrypted (engine.codec); the demo's codec server lets the Web UI show
them to whoever signs in with the token in ``.data/keys/codec-token``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from domain.clock import VN_TZ
from engine.keys import DEMO_KEY_FILE
from engine.names import search_attribute_flags
from engine.settings import (
    CODEC_TOKEN_MIN_LENGTH,
    REPO_ROOT,
    Settings,
    SettingsError,
    get_settings,
    mask_url,
)
from engine.temporal import connect, dev_server_path, exit_process, register_search_attributes
from store.db import StoreUnavailable
from store.migrate import MigrationRefused, upgrade

# What the demo submits: the source article's combined dossier and everyday ward procedures.
SAMPLE_PROCEDURES = (
    "land-and-permit",
    "birth-residence-insurance",
    "certified-copy",
)


class DemoError(RuntimeError):
    """A reason the demo cannot start; printed as is."""


def say(message: str) -> None:
    """One line of the demo's own narration (logs of the children go to files)."""
    print(f"[demo] {message}", flush=True)


@contextlib.contextmanager
def single_instance(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for the demo's lifetime; refuse if another demo holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DemoError(
            f"another demo is already running ({holder}); stop it with Ctrl-C in its terminal "
            "first — nothing of it was touched"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def ensure_port_free(port: int, what: str) -> None:
    """Fail with advice when a port is taken, instead of letting a server hang or die later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"port {port} ({what}) is already in use; choose free ports with "
                "make demo ARGS='--port 7300 --ui-port 8300 --codec-port 8381 --api-port 8380'"
            ) from None


def start_process(
    command: list[str], log_path: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start a child in its own session, so the terminal's Ctrl-C reaches only the demo."""
    log: IO[bytes] = log_path.open("ab")
    return subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen[bytes], name: str, grace: float) -> None:
    """SIGTERM, wait ``grace`` seconds, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        say(f"{name} did not stop within {grace:.0f} s; killing it")
        process.kill()
        process.wait()


async def seed_registers(database_url: str) -> None:
    """The agencies' reference registers (land parcels, prices) the sample dossiers need."""
    from store.db import async_engine, session_factory
    from store.seed import seed_reference_data

    engine = async_engine(database_url)
    try:
        await seed_reference_data(session_factory(engine))
    finally:
        await engine.dispose()


def print_todays_report(database_url: str) -> None:
    """The on-time report of today's dossiers, from the registry (as starter.py report)."""
    from domain.catalog import default_catalog
    from store.db import sync_engine
    from store.reports import format_report, report_input, run_report

    today = datetime.now(VN_TZ).date()
    engine = sync_engine(database_url)
    try:
        with engine.connect() as connection:
            result = run_report(
                connection, report_input(today, today, catalog=default_catalog(), by="procedure")
            )
    finally:
        engine.dispose()
    say(f"today's on-time report (starter.py report --from {today} --to {today} --by procedure):")
    print(format_report(result, "table"), flush=True)


def codec_token(settings: Settings) -> tuple[str, str]:
    """The codec server's token and where the operator finds it.

    ``LIENTHONG_CODEC_TOKEN`` if set; otherwise ``<data_dir>/keys/codec-token``, made once
    (0600) and kept, so a browser signed in to the codec server stays signed in across runs.
    """
    return demo_secret(settings, "codec_token", "codec-token")


def demo_secret(settings: Settings, field: str, file_name: str) -> tuple[str, str]:
    """A secret of the settings (``LIENTHONG_<FIELD>``), or the demo's own, made once (0600)
    under ``<data_dir>/keys/`` and kept; with where the operator finds it."""
    configured = getattr(settings, field).get_secret_value()
    if configured:
        return configured, f"LIENTHONG_{field.upper()}"
    path = settings.data_dir / "keys" / file_name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        token = path.read_text("utf-8").strip()
        if len(token) >= CODEC_TOKEN_MIN_LENGTH:
            return token, str(path)
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, str(path)


async def wait_for_codec_server(
    port: int,
    server: subprocess.Popen[bytes],
    log: Path,
    path: str = "/health",
    name: str = "the codec server",
) -> None:
    """Wait until the server answers ``GET path`` with 200, or fail if it exits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoError(f"{name} exited (code {server.returncode}); see {log}")
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            # HTTP/1.1 keeps the connection open, so this side closes first and the TIME_WAIT
            # stays on our ephemeral port, not on the codec server's (free again at the end).
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            status = await reader.readline()
            writer.close()
            await writer.wait_closed()
            if b" 200 " in status:
                return
        await asyncio.sleep(0.2)
    raise DemoError(f"{name} did not answer within 30 s; see {log}")


async def wait_for_temporal(address: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the dev server answers, or fail if it exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoError(f"the Temporal dev server exited (code {server.returncode}); see {log}")
        try:
            await connect(address)
            return
        except RuntimeError:
            await asyncio.sleep(0.5)
    raise DemoError(f"the Temporal dev server did not answer within 60 s; see {log}")


async def submit_and_follow(
    address: str,
    desk_code: str,
    database_url: str,
    worker: subprocess.Popen[bytes],
    log: Path,
    tracking: Callable[[str], str] | None = None,
    desk_base: str | None = None,
) -> None:
    """Submit the sample dossiers, let the demo officers move them, print every hand-over.

    ``tracking`` gives what to print for a dossier's tracking page (its link and secret);
    ``desk_base``, the officers' desk the Web UI links each dossier to.
    """
    from clients.dossiers import allocate_code, start_dossier, wait_for_receipt
    from demo.officers import follow_dossier
    from domain.catalog import default_catalog
    from domain.dossier import DossierFacts, SubmittedDocument
    from store.seed import DEMO_PARCEL

    client = await connect(address)
    catalog = default_catalog()
    codes = []
    for procedure in SAMPLE_PROCEDURES:
        received = datetime.now().astimezone()
        versions = (
            catalog.components_on(procedure, received.date())
            if catalog.is_combined(procedure)
            else (catalog.version_on(procedure, received.date()),)
        )
        documents = [
            SubmittedDocument(name_vi=d.name_vi)
            for v in versions
            for d in v.required_documents
            if not d.optional
        ]
        code = await allocate_code(database_url, desk_code, received)
        handle = await start_dossier(
            client,
            code=code,
            desk_code=desk_code,
            procedure_code=procedure,
            received_at=received,
            facts=DossierFacts(parcel=DEMO_PARCEL, documents=documents),
            desk_url=f"{desk_base}/desk/dossiers/{code}" if desk_base else None,
        )
        receipt = await wait_for_receipt(handle)
        assert receipt.appointment is not None
        say(f"received {code} ({procedure}); appointment {receipt.appointment:%Y-%m-%d %H:%M}")
        if tracking is not None:
            say(f"  its receipt's QR code: {tracking(code)}")
        codes.append(code)
    follow = asyncio.ensure_future(
        asyncio.gather(*(follow_dossier(client, code, say) for code in codes))
    )
    while not follow.done():
        await asyncio.wait([follow], timeout=0.5)
        if worker.poll() is not None and not follow.done():
            follow.cancel()
            raise DemoError(f"the worker exited (code {worker.returncode}); see {log}")
    for state in follow.result():
        say(f"{state.dossier_code} ended the demo run as {state.status}")


# The demo dossier that pays its fee online: its fee blocks the clock (the catalog says so).
FEE_PROCEDURE = "birth-re-registration"
_DEMO_PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def pay_a_fee_and_show_its_receipt(api_base: str, public_url: str) -> None:
    """File one dossier online through the HTTP API, pay its fee through the (fake) payment
    provider, and print where its electronic receipt is (docs/integrations.md)."""
    import httpx

    async with httpx.AsyncClient(base_url=api_base, timeout=30.0) as http:
        detail = (await http.get(f"/api/v1/procedures/{FEE_PROCEDURE}")).json()
        uploads = []
        for document in detail["required_documents"]:
            if not document["optional"]:
                stored = await http.post(
                    "/api/v1/uploads",
                    files={"file": ("giay-to.pdf", _DEMO_PDF, "application/pdf")},
                    data={"name": document["name_vi"]},
                )
                uploads.append(stored.json()["id"])
        body = {
            "procedure": FEE_PROCEDURE,
            "applicant": {
                "full_name": "Trần Văn Minh",
                "national_id": "001090004321",
                "phone": "0987 654 321",
                "address": "Số 3 ngõ 8 Tôn Đức Thắng, Đống Đa, Hà Nội",
            },
            "documents": uploads,
            "delivery": {"method": "desk"},
        }
        created = await http.post(
            "/api/v1/dossiers", json=body, headers={"Idempotency-Key": secrets.token_hex(16)}
        )
        answer = created.json()
        if created.status_code != 202:
            raise DemoError(f"filing {FEE_PROCEDURE} online: {created.status_code} {answer}")
        code, secret = answer["dossier_code"], answer["tracking_secret"]
        fee = answer["fee"]
        say(f"filed {code} ({FEE_PROCEDURE}) online: held until its fee is paid")
        say(f"  {fee['name_vi']}: {fee['amount_vnd']} VND; paying online")
        headers = {"X-Tracking-Secret": secret}
        paid = await http.post(f"/api/v1/dossiers/{code}/fees/payments", headers=headers)
        if paid.status_code != 202:
            raise DemoError(f"paying the fee of {code}: {paid.status_code} {paid.text}")
        for _ in range(120):
            view = (await http.get(f"/api/v1/dossiers/{code}/fees", headers=headers)).json()
            if view["status"] == "paid" and not view["held"]:
                break
            await asyncio.sleep(0.25)
        else:
            raise DemoError(f"the fee of {code} was not recorded in 30 s; see the API's log")
        receipt = view["receipts"][0]
        say(f"  paid; received now. Electronic receipt {receipt['reference']}:")
        say(f"    {public_url}{receipt['html']}  and  {public_url}{receipt['pdf']}")
        say(f"    (header X-Tracking-Secret: {secret}; or starter.py fees receipts {code})")


async def start_relays(address: str) -> None:
    """The outside systems' relays run for as long as the engine does."""
    from clients.dossiers import ensure_relay
    from engine.names import OUTSIDE_SYSTEMS

    client = await connect(address)
    for system in OUTSIDE_SYSTEMS:
        await ensure_relay(client, system)
    say("outside systems' relays running: " + ", ".join(f"{s}-relay" for s in OUTSIDE_SYSTEMS))


async def print_portal_sync(address: str, database_url: str) -> None:
    """Ask the relay to send what waits, then say what the (simulated) portal holds."""
    from store import outbox
    from store.db import async_engine, session_factory
    from workflows.relay import OutboxRelayWorkflow, relay_id

    relay = (await connect(address)).get_workflow_handle(relay_id("portal"))
    await relay.signal(OutboxRelayWorkflow.nudge)
    engine = async_engine(database_url)
    try:
        for _ in range(40):
            async with session_factory(engine)() as session:
                backlog = await outbox.backlog(session, outbox.OUTBOXES["portal"])
            if backlog.waiting == 0:
                break
            await asyncio.sleep(0.25)
    finally:
        await engine.dispose()
    status = await relay.query(OutboxRelayWorkflow.status)
    say(
        f"national portal: {status.pushed_total} status reports delivered, "
        f"{backlog.waiting} waiting (starter.py outside status)"
    )


# The dossier workflow's data version (docs/versioning.md): a .data/ of another major version
# holds Temporal histories this build cannot replay.
DATA_VERSION = "1.0"


def check_data_version(data_dir: Path) -> None:
    """Refuse, in one line, a ``.data/`` whose dossiers this build cannot replay; mark a new one.

    Raises:
        DemoError: the folder was made by a build of another major data version (or before 1.0).
    """
    marker, history = data_dir / "VERSION", data_dir / "temporal.db"
    fresh = "start fresh with `make clean-data` (it deletes them)"
    if marker.exists():
        found = marker.read_text(encoding="utf-8").strip()
        if found.split(".")[0] != DATA_VERSION.split(".")[0]:
            raise DemoError(
                f"{data_dir} holds dossiers of engine data version {found}, which this build "
                f"({DATA_VERSION}) cannot replay; {fresh}"
            )
        return
    if history.exists():
        raise DemoError(
            f"{data_dir} holds dossiers of a build before {DATA_VERSION}, which this build "
            f"cannot replay; {fresh}"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(DATA_VERSION + "\n", encoding="utf-8")


async def run(args: argparse.Namespace) -> None:
    """Start everything, run the sample, wait for Ctrl-C (or not, with --once), stop everything."""
    settings = get_settings()
    # Ctrl-C and SIGTERM cancel this coroutine, so the finally below stops what was started.
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    address = f"127.0.0.1:{args.port}"
    ensure_port_free(args.port, "Temporal frontend")
    ensure_port_free(args.ui_port, "Temporal Web UI")
    ensure_port_free(args.codec_port, "codec server")
    ensure_port_free(args.api_port, "HTTP API")
    check_data_version(settings.data_dir)
    say(f"registry: {mask_url(settings.database_url)}")
    if not settings.data_keys.get_secret_value():
        # Said once here, in the narration, rather than as a stray log line of this process.
        logging.getLogger("engine.keys").setLevel(logging.ERROR)
        say(
            f"data keys: {settings.data_dir / DEMO_KEY_FILE} "
            "(demo only; production sets LIENTHONG_DATA_KEYS)"
        )
    say(f"database at revision {upgrade(settings.database_url)}")
    await seed_registers(settings.database_url)

    data_dir = settings.data_dir
    temporal_log = data_dir / "temporal.log"
    worker_log = data_dir / "worker.log"
    codec_log = data_dir / "codec-server.log"
    codec_url = f"http://127.0.0.1:{args.codec_port}"
    ui_url = f"http://127.0.0.1:{args.ui_port}"
    token, token_source = codec_token(settings)
    # The UI on either host name may call it; the sign-in cookie works on the same one only.
    origins = {ui_url, f"http://localhost:{args.ui_port}", *settings.codec_cors_origin_list}
    codec = start_process(
        [sys.executable, "-m", "engine.codec_server", "--port", str(args.codec_port)],
        codec_log,
        dict(
            os.environ,
            LIENTHONG_CODEC_TOKEN=token,
            LIENTHONG_CODEC_CORS_ORIGINS=",".join(sorted(origins)),
            LIENTHONG_LOG_FORMAT="json",
        ),
    )
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    try:
        await wait_for_codec_server(args.codec_port, codec, codec_log)
        server = start_process(
            [
                dev_server_path(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--ui-port",
                str(args.ui_port),
                "--ui-codec-endpoint",
                codec_url,
                "--db-filename",
                str(data_dir / "temporal.db"),
                "--log-level",
                "warn",
                "--dynamic-config-value",
                "history.transferProcessorMaxPollRPS=1000",
                "--dynamic-config-value",
                "history.timerProcessorMaxPollRPS=1000",
                *search_attribute_flags(),
            ],
            temporal_log,
            dict(os.environ),
        )
        await wait_for_temporal(address, server, temporal_log)
        added = await register_search_attributes(await connect(address))
        if added:
            say(f"registered search attributes: {', '.join(added)}")
        say(f"Temporal is up at {address}; Web UI: {ui_url}")
        say(f"codec server: {codec_url} (log: {codec_log}); payloads in Temporal are encrypted")
        say(
            f"to read them in the Web UI, sign in once at {codec_url}/login with the token from "
            f"{token_source}; then in the UI click 'Codec Server could not connect', choose 'Use "
            f"my browser setting and ignore Cluster-level setting', endpoint {codec_url}, turn "
            "on 'Include cross-origin credentials', Apply (README: Reading encrypted histories)"
        )
        # The QR codes on receipts and letters open the pages the API serves, unless the
        # operator has set a public address of their own.
        public_url = os.environ.get("LIENTHONG_PUBLIC_BASE_URL") or (
            f"http://127.0.0.1:{args.api_port}"
        )
        env = dict(
            os.environ,
            TEMPORAL_ADDRESS=address,
            LIENTHONG_LOG_FORMAT="json",
            LIENTHONG_PUBLIC_BASE_URL=public_url,
        )
        worker = start_process([sys.executable, "worker.py"], worker_log, env)
        say(f"workers started (log: {worker_log})")
        await start_relays(address)
        api_secret, api_secret_source = demo_secret(settings, "api_token_secret", "api-secret")
        webhook_secret, _ = demo_secret(settings, "payment_webhook_secret", "payment-secret")
        api_log = data_dir / "api.log"
        api = start_process(
            [sys.executable, "-m", "api", "--port", str(args.api_port)],
            api_log,
            dict(
                env,
                LIENTHONG_API_TOKEN_SECRET=api_secret,
                LIENTHONG_PAYMENT_WEBHOOK_SECRET=webhook_secret,
                LIENTHONG_TEMPORAL_UI_URL=ui_url,  # the desk's links to the dossiers
            ),
        )
        await wait_for_codec_server(
            args.api_port, api, api_log, path="/openapi.json", name="the HTTP API"
        )
        say(f"HTTP API: http://127.0.0.1:{args.api_port}/docs (log: {api_log})")
        say(
            f"pages: {public_url}/ (procedures, filing online), the desk's QR poster: "
            f"{public_url}/desks/{settings.desk_code}/poster"
        )
        say(
            "an officer's token: LIENTHONG_API_TOKEN_SECRET=<the secret in "
            f"{api_secret_source}> .venv/bin/python -m api issue-token --agency one-stop "
            "--officer demo"
        )
        from api.auth import tracking_secret

        desk_base = f"http://127.0.0.1:{args.api_port}"
        say(
            f"officers' desk: {desk_base}/desk — sign in with a token from LIENTHONG_API_TOKEN_"
            f"SECRET=<the secret in {api_secret_source}> .venv/bin/python -m api issue-token "
            "--agency commune-committee --officer demo"
        )
        await submit_and_follow(
            address,
            settings.desk_code,
            settings.database_url,
            worker,
            worker_log,
            lambda code: (
                f"{public_url}/track/{code} (mã tra cứu / tracking secret: "
                f"{tracking_secret(api_secret, code)})"
            ),
            desk_base,
        )
        await pay_a_fee_and_show_its_receipt(desk_base, public_url)
        await print_portal_sync(address, settings.database_url)
        print_todays_report(settings.database_url)
        if not args.once:
            say(f"browse the dossiers at {ui_url} — Ctrl-C stops everything")
            await asyncio.Event().wait()
    finally:
        say("stopping")
        if api is not None:
            stop_process(api, "the HTTP API", grace=10)
        if worker is not None:
            stop_process(worker, "the worker", grace=35)
        if server is not None:
            stop_process(server, "the Temporal dev server", grace=15)
        stop_process(codec, "the codec server", grace=10)
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m demo``."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--port", type=int, default=7233, help="Temporal frontend port")
    parser.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    parser.add_argument(
        "--codec-port", type=int, default=8081, help="codec server port (decrypts for the UI)"
    )
    parser.add_argument("--api-port", type=int, default=8080, help="HTTP API port")
    parser.add_argument(
        "--once", action="store_true", help="stop as soon as the sample dossiers are done"
    )
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        with single_instance(settings.data_dir / "demo.lock"):
            asyncio.run(run(args))
    except (DemoError, SettingsError, StoreUnavailable, MigrationRefused) as exc:
        print(f"[demo] {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0  # Ctrl-C is how the demo is meant to stop; everything was stopped above
    return 0


if __name__ == "__main__":
    exit_process(main())
