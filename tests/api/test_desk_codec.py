"""The operator's step to read encrypted payloads in the Temporal Web UI, proved in Chromium.

The dev server (with its UI) and the codec server run as `make demo` runs them: the UI is told
the codec endpoint (``--ui-codec-endpoint``), the operator signs in at the codec server's
``/login``. With the UI's default codec setting ("use the cluster-level setting") the browser
sends no cookie and every decode is a 401; the README's step, "use my browser setting" with
"Include cross-origin credentials", makes the same page show the decrypted input, the
summary naming the procedure in Vietnamese, and the details' link back to the officers' desk.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from clients.dossiers import start_dossier
from domain.dossier import DossierFacts, SubmittedDocument
from engine.codec_server import create_app as codec_app
from engine.crypto import KeyRing
from engine.names import SEARCH_ATTRIBUTES
from engine.temporal import data_converter, dev_server_path
from tests.api.test_desk import in_browser
from tests.browser import chromium, free_port, screenshot_dir

CODEC_TOKEN = "test-codec-token-0123456789abcdef"
# Only in the encrypted input: the page shows it once the UI decodes through the codec server.
MARKER = "Giấy tờ đánh dấu giải mã"
DESK = "http://desk.example.vn"


@dataclass
class Operators:
    ui: str
    codec: str
    code: str


@pytest.fixture
async def operators(data_key_ring: KeyRing) -> AsyncIterator[Operators]:
    codec_port, ui_port = free_port(), free_port()
    ui, codec = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{codec_port}"
    server = uvicorn.Server(
        uvicorn.Config(
            codec_app(token=CODEC_TOKEN, key_ring=data_key_ring, cors_origins=[ui]),
            host="127.0.0.1",
            port=codec_port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "the codec server stopped before it started"
            await asyncio.sleep(0.05)
        async with await WorkflowEnvironment.start_local(
            data_converter=data_converter(data_key_ring),
            dev_server_existing_path=dev_server_path(),
            search_attributes=SEARCH_ATTRIBUTES,
            ui=True,
            ui_port=ui_port,
            dev_server_extra_args=["--ui-codec-endpoint", codec],
        ) as env:
            code = f"CODEC-{datetime.now(UTC):%y%m%d}-{uuid.uuid4().int % 10_000:04d}"
            # No worker: the dossier waits at its first task; its input is in the history,
            # encrypted, which is all the UI needs to show.
            await start_dossier(
                env.client,
                code=code,
                desk_code="CODEC",
                procedure_code="certified-copy",
                received_at=datetime.now(UTC),
                facts=DossierFacts(documents=[SubmittedDocument(name_vi=MARKER)]),
                task_queue=f"nobody-{uuid.uuid4()}",
                desk_url=f"{DESK}/desk/dossiers/{code}",
            )
            yield Operators(ui, codec, code)
    finally:
        server.should_exit = True
        await serving


def _page_text(driver: Any, url: str, until: tuple[str, ...], within: float = 30.0) -> str:
    """The workflow's page once one of ``until`` shows (its input decoded, or the error)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    driver.get(url)
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        try:
            text = str(driver.find_element(By.TAG_NAME, "body").text)
        except StaleElementReferenceException:  # the page re-rendered under us: read again
            continue
        if any(needle in text for needle in until):
            return text
        time.sleep(0.3)
    return text


def _links_in_frames(driver: Any) -> list[str]:
    """The desk links and the texts the page shows in the frames the UI renders markdown in."""
    from selenium.webdriver.common.by import By

    found: list[str] = []
    for frame in driver.find_elements(By.TAG_NAME, "iframe"):
        try:
            driver.switch_to.frame(frame)
            found += [
                href
                for href in driver.execute_script(
                    "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
                )
                if "/desk/dossiers/" in href
            ]
            found.append(str(driver.execute_script("return document.body.innerText")))
        except Exception:  # a frame that went away while we looked: look again next time
            pass
        finally:
            driver.switch_to.default_content()
    return found


def _visible(driver: Any, how: str, what: str) -> Any:
    """The one element matching that is shown (the UI keeps hidden copies of its dialogs)."""
    shown = [element for element in driver.find_elements(how, what) if element.is_displayed()]
    assert len(shown) == 1, (what, len(shown))
    return shown[0]


async def test_the_readme_codec_step_lets_the_web_ui_decode_after_signing_in(
    operators: Operators,
) -> None:
    from selenium.webdriver.common.by import By

    page = f"{operators.ui}/namespaces/default/workflows/{operators.code}"
    failed = "Codec Server could not connect"
    with chromium() as driver:

        def sign_in_then_open_the_dossier() -> str:
            driver.get(f"{operators.codec}/login")
            field = driver.find_element(By.ID, "token")
            field.send_keys(CODEC_TOKEN)
            field.submit()
            return _page_text(driver, page, (failed, MARKER))

        # Signed in, but the UI's default setting sends no cookie: every decode is a 401.
        assert failed in await in_browser(sign_in_then_open_the_dossier)

        def the_readme_step() -> str:
            driver.find_element(
                By.CSS_SELECTOR, '[data-testid="data-encoder-status-error"]'
            ).click()
            _visible(driver, By.XPATH, "//label[contains(., 'Use my browser setting')]").click()
            endpoint = _visible(driver, By.ID, "data-encoder-endpoint-input")
            endpoint.clear()
            endpoint.send_keys(operators.codec)
            _visible(
                driver, By.CSS_SELECTOR, 'label[data-testid="data-encoder-include-credentials"]'
            ).click()
            driver.save_screenshot(str(screenshot_dir() / "desk-temporal-codec-setting.png"))
            _visible(driver, By.CSS_SELECTOR, '[data-testid="confirm-modal-button"]').click()
            text = _page_text(driver, page, (MARKER,))
            driver.save_screenshot(str(screenshot_dir() / "desk-temporal-decoded.png"))
            # ... and back: the dossier's details link to its page on the officers' desk.
            _visible(
                driver, By.XPATH, "//*[self::a or self::button][contains(., 'User Metadata')]"
            ).click()
            deadline = time.monotonic() + 15
            links: list[str] = []
            while time.monotonic() < deadline and not links:
                links = _links_in_frames(driver)
                if not any("/desk/dossiers/" in link for link in links):
                    links = []
                time.sleep(0.3)
            driver.save_screenshot(str(screenshot_dir() / "desk-temporal-link-back.png"))
            return text + "\n" + "\n".join(links)

        decoded = await in_browser(the_readme_step)
    assert MARKER in decoded
    assert failed not in decoded
    assert f"{DESK}/desk/dossiers/{operators.code}" in decoded.splitlines()
    assert "Chứng thực bản sao từ bản chính giấy tờ, văn bản" in decoded  # the summary
