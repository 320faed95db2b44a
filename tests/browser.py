"""Browser-test fixtures: the live stack served over HTTP, and a real Chromium driven by Selenium.

- ``live_stack`` (per module): the API and its pages served by uvicorn on a free port of
  127.0.0.1, against the Temporal dev server of ``dev_env``, every agency's worker and the
  orchestration worker on a task queue of its own, and the session's PostgreSQL. It all runs in
  a thread with its own event loop, so a test can block on the browser while the stack runs.
  Its ``public_base_url`` is the server's address, so the QR codes it prints open it.
- ``browser`` (per module): Debian's Chromium (``/usr/bin/chromium``) through Debian's
  chromedriver, headless, with a fresh profile (`chromium`, also used on its own by the desk's
  tests); nothing is downloaded (the driver's path is given, so Selenium Manager is not asked
  for one). ``browser.shot(name)`` saves a full-page screenshot to `screenshot_dir()`:
  a scratch folder, or ``docs/screenshots`` with ``make screenshots``, which sets
  ``LIENTHONG_SCREENSHOTS`` (a test run leaves the committed pictures alone);
  ``browser.phone()`` and ``browser.desktop()``
  set the viewport; ``browser.axe()`` runs axe-core (vendored from its npm package in
  ``tests/vendor/axe-core``) on the page and returns the violations.

Imported by ``tests/api/conftest.py``, for the tests of the pages in a browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from api.payments import FakePaymentProvider
from engine.crypto import KeyRing
from engine.settings import Settings
from engine.temporal import data_converter
from store.db import async_engine, session_factory
from tests.harness import running_engine

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
TOKEN_SECRET = "browser-test-token-secret-0123456789"
WEBHOOK_SECRET = "browser-test-webhook-secret-0123456789"
PHONE = (390, 844)  # a common phone's CSS viewport
DESKTOP = (1280, 900)


def screenshot_dir() -> Path:
    """Where the suite's screenshots go: ``$LIENTHONG_SCREENSHOTS`` (``make screenshots`` sets
    it to docs/screenshots), else a scratch folder."""
    configured = os.environ.get("LIENTHONG_SCREENSHOTS")
    folder = (
        Path(configured) if configured else Path(tempfile.gettempdir()) / "lienthong-screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveStack:
    """The served stack: its address, settings and what a test needs to act as an officer."""

    base_url: str
    settings: Settings
    task_queue: str

    def officer(self, agency: str, officer: str = "officer-1") -> dict[str, str]:
        """The Authorization header of an officer of ``agency``."""
        token = issue_token(
            TOKEN_SECRET, agency=agency, officer=officer, valid_for=timedelta(hours=1)
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def live_stack(
    dev_env: WorkflowEnvironment, pg_url: str, data_key_ring: KeyRing
) -> Iterator[LiveStack]:
    """The API and pages on a free port, with workers, the dev server and PostgreSQL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="lienthong-browser-"))
    settings = Settings(
        data_dir=scratch,
        desk_code=f"B{uuid.uuid4().hex[:7].upper()}",
        api_token_secret=SecretStr(TOKEN_SECRET),
        payment_webhook_secret=SecretStr(WEBHOOK_SECRET),
        public_base_url=base_url,
    )
    task_queue = f"browser-{uuid.uuid4()}"
    target = dev_env.client.service_client.config.target_host
    namespace = dev_env.client.namespace
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def serve() -> None:
        import uvicorn

        client = await Client.connect(
            target, namespace=namespace, data_converter=data_converter(data_key_ring)
        )
        engine = async_engine(pg_url)
        payments = FakePaymentProvider(
            secret=WEBHOOK_SECRET,
            callback_url=f"{base_url}/api/v1/payments/callback",
            delay_seconds=0.2,
        )
        app = create_app(
            temporal=client,
            sessions=session_factory(engine),
            settings=settings,
            payments=payments,
            task_queue=task_queue,
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        holder["server"], holder["loop"] = server, asyncio.get_running_loop()
        try:
            async with running_engine(client, task_queue, pg_url, settings=settings):
                serving = asyncio.create_task(server.serve())
                # uvicorn tells it has started by a flag only, not an event.
                while not server.started and not serving.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                started.set()
                await serving
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="live-stack", daemon=True)
    thread.start()
    started.wait(60)
    if failure or "server" not in holder or not holder["server"].started:
        raise RuntimeError(f"the live stack did not start: {failure}")
    try:
        yield LiveStack(base_url=base_url, settings=settings, task_queue=task_queue)
    finally:
        holder["server"].should_exit = True
        thread.join(30)
        shutil.rmtree(scratch, ignore_errors=True)


class Browser:
    """A Chromium session and the helpers the page tests share."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def phone(self) -> None:
        """A phone's viewport (mobile layout), as a citizen scanning a QR code has."""
        width, height = PHONE
        # 1 device pixel per CSS pixel keeps the committed screenshots small.
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )

    def desktop(self) -> None:
        """A desktop viewport."""
        width, height = DESKTOP
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def shot(self, name: str) -> Path:
        """Save the whole page (beyond the viewport) as ``NAME.png`` in `screenshot_dir()`."""
        data = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )["data"]
        target = screenshot_dir() / f"{name}.png"
        target.write_bytes(base64.b64decode(data))
        return target

    def axe(self, *, tags: tuple[str, ...] = ("wcag2a", "wcag2aa")) -> list[dict[str, Any]]:
        """Run axe-core on the current page; the violations (empty when it passes)."""
        self.driver.execute_script(AXE.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
            ".then(r => done(r.violations.map(v => ({id: v.id, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))))"
            ".catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));",
            list(tags),
        )
        violations: list[dict[str, Any]] = result
        return violations


@contextlib.contextmanager
def chromium(width: int = DESKTOP[0], height: int = DESKTOP[1]) -> Iterator[Any]:
    """Debian's Chromium through its chromedriver, headless, with a fresh profile; the driver.

    The flags keep it off the network (this machine has none) and its profile its own.
    """
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: "
            "apt-get install -y chromium chromium-driver (.ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download
    profile = tempfile.mkdtemp(prefix="lienthong-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--lang=vi-VN",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian, a fresh profile, no network beyond the test's server."""
    with chromium() as driver:
        driver.set_script_timeout(30)
        # A click that submits a form returns before the next page is there: finding an element
        # waits for it (up to 10 s) rather than failing on the page being left.
        driver.implicitly_wait(10)
        yield Browser(driver)
