"""The officer's desk (`web.desk`) against the real stack: the app served by uvicorn on a local
port, Temporal's time-skipping server with every agency's worker, PostgreSQL, and Debian's
Chromium driven by Selenium (nothing downloaded). Screenshots: ``desk-*.png`` in
`tests.browser.screenshot_dir()`.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pypdf
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from api.payments import FakePaymentProvider
from domain.catalog import default_catalog
from engine.settings import Settings
from forms.qr import qr_png
from store.db import async_engine, session_factory
from store.models import NotificationRecord, StepRecord
from store.outbox import OUTBOXES, backlog
from store.reports import report_input, row_values, run_report
from tests.api.test_api import a_client_address
from tests.browser import chromium, free_port, screenshot_dir
from tests.harness import running_engine
from workflows.dossier import DossierResult, DossierWorkflow

pytestmark = pytest.mark.postgres

TOKEN_SECRET = "test-desk-token-secret-0123456789"
WEBHOOK_SECRET = "test-desk-webhook-secret-0123456789"
CERTIFIED_ORIGINAL = "Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao"
T = TypeVar("T")
# The report's figures in the order `starter.py report` prints them.
FIGURES = (
    "received",
    "decided",
    "early",
    "on_time",
    "late",
    "not_counted",
    "on_time_rate_pct",
    "apology_letters",
    "avg_working_days",
    "p90_working_days",
)


def officer_token(agency: str, officer: str, role: str = "officer") -> str:
    return issue_token(
        TOKEN_SECRET,
        agency=agency,
        officer=officer,
        valid_for=timedelta(hours=2),
        role="head" if role == "head" else "officer",
    )


@dataclass
class Site:
    """The app on a real port, and a client that speaks to it."""

    base: str
    http: httpx.AsyncClient
    env: WorkflowEnvironment
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    # The app's clock: the wall clock until a test skips time on the server and sets it.
    clock: list[datetime]

    async def skip(self, span: timedelta) -> None:
        """Skip the time-skipping server ahead, and the app's clock with it."""
        await self.env.sleep(span)
        self.clock[:] = [await self.env.get_current_time()]

    async def file_certified_copy(self) -> str:
        """Upload a real PNG and submit a certified copy; the dossier's code."""
        upload = await self.http.post(
            "/api/v1/uploads",
            files={"file": ("original.png", qr_png("bản chính", scale=8), "image/png")},
            data={"name": CERTIFIED_ORIGINAL},
        )
        assert upload.status_code == 201, upload.text
        answer = await self.http.post(
            "/api/v1/dossiers",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "procedure": "certified-copy",
                "applicant": {
                    "full_name": "Trần Văn Bình",
                    "national_id": "001190054321",
                    "phone": "0987 654 321",
                    "address": "Số 3 ngõ 12 Phương Liên, Đống Đa, Hà Nội",
                },
                "documents": [upload.json()["id"]],
                "delivery": {"method": "desk"},
            },
        )
        assert answer.status_code == 201, answer.text
        code: str = answer.json()["dossier_code"]
        return code

    async def step_open(self, code: str, step: str, within: float = 60.0) -> None:
        """Wait until the registry lists the step as open (the inbox reads the registry)."""
        token = officer_token("commune-committee", "probe")
        deadline = asyncio.get_running_loop().time() + within
        while True:
            inbox = await self.http.get(
                "/api/v1/agencies/commune-committee/inbox",
                headers={"Authorization": f"Bearer {token}"},
            )
            keys = {(i["dossier_code"], i["step_key"]) for i in inbox.json()["items"]}
            if (code, step) in keys:
                return
            assert asyncio.get_running_loop().time() < deadline, f"{step} of {code} never opened"
            await asyncio.sleep(0.3)

    async def step_done(
        self, code: str, step: str, within: float = 60.0, *, opened: bool = False
    ) -> None:
        """Wait until the registry has the step's verdict (what the report counts), or only its
        opening with ``opened``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            async with self.sessions() as session:
                row = await session.get(StepRecord, (code, step))
                if row is not None and (row.opened_at if opened else row.verdict) is not None:
                    return
            assert asyncio.get_running_loop().time() < deadline, f"{step} of {code} never done"
            await asyncio.sleep(0.3)


@pytest.fixture
async def site(
    env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> AsyncIterator[Site]:
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path,
        desk_code=f"D{uuid.uuid4().hex[:8].upper()}",
        api_token_secret=SecretStr(TOKEN_SECRET),
        payment_webhook_secret=SecretStr(WEBHOOK_SECRET),
        public_base_url=base,
        temporal_ui_url="http://127.0.0.1:8233",
    )
    provider = FakePaymentProvider(
        secret=WEBHOOK_SECRET, callback_url=f"{base}/api/v1/payments/callback", delay_seconds=0.1
    )
    clock: list[datetime] = []
    app = create_app(
        temporal=env.client,
        sessions=sessions,
        settings=settings,
        payments=provider,
        task_queue=task_queue,
        now=lambda: clock[0] if clock else datetime.now(UTC),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.05)
        async with (
            running_engine(env.client, task_queue, pg_url),
            httpx.AsyncClient(
                base_url=base,
                timeout=60,
                # An address of its own on the loopback: the API's quotas count per address.
                transport=httpx.AsyncHTTPTransport(
                    local_address="127." + a_client_address()[0].partition(".")[2]
                ),
            ) as http,
        ):
            provider.connect(http)
            yield Site(base, http, env, sessions, settings, clock)
    finally:
        server.should_exit = True
        await serving
        await engine.dispose()


# ---- without a browser ---------------------------------------------------------------------------


async def test_pages_need_a_valid_token_and_say_why_one_is_refused(site: Site) -> None:
    inbox = await site.http.get("/desk/inbox", follow_redirects=False)
    assert inbox.status_code == 303
    assert inbox.headers["location"].startswith("/desk/sign-in?next=%2Fdesk%2Finbox")
    expired = issue_token(TOKEN_SECRET, agency="tax", officer="a", valid_for=timedelta(seconds=-1))
    refused = await site.http.post("/desk/sign-in", data={"token": expired, "next": "/desk/inbox"})
    assert refused.status_code == 401
    assert "Mã đăng nhập đã hết hạn." in refused.text
    forged = officer_token("tax", "a")[:-4] + "AAAA"
    refused = await site.http.post("/desk/sign-in", data={"token": forged})
    assert "Mã đăng nhập không hợp lệ." in refused.text
    english = await site.http.post("/desk/sign-in?lang=en", data={"token": "nonsense"})
    assert "The token is malformed." in english.text
    # An address elsewhere is no place to go after signing in.
    signed = await site.http.post(
        "/desk/sign-in",
        data={"token": officer_token("tax", "a"), "next": "https://elsewhere.example/desk/x"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/desk/inbox"
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()


async def test_the_dashboard_prints_the_figures_of_starter_report(site: Site) -> None:
    code = await site.file_certified_copy()
    await site.step_open(code, "certified-copy:certify")
    site.http.cookies.set("lienthong_desk", officer_token("commune-committee", "le.thi.c"))
    decided = await site.http.post(
        f"/desk/dossiers/{code}/steps/certified-copy:certify/decision",
        data={"action": "approve", "reason": ""},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert decided.headers["location"].endswith("?done=approve")
    await site.step_done(code, "certified-copy:certify")
    await site.step_done(code, "certified-copy:return", opened=True)  # then nothing moves
    dashboard = await site.http.get("/desk/dashboard", params={"by": "agency"})
    assert dashboard.status_code == 200
    start, end = _period_of(dashboard.text)
    params = report_input(start, end, catalog=default_catalog(), by="agency")
    async with site.sessions() as session:
        connection = await session.connection()
        expected = await connection.run_sync(lambda sync: run_report(sync, params))
    for row in [*expected.rows, expected.total]:
        values = row_values(row)
        group = row.group or "TOTAL"
        printed = _cells(dashboard.text, group)
        figures = [values[key] for key in FIGURES]
        assert printed == ["—" if v is None else str(v).replace(".", ",") for v in figures]
    assert any(row.group == "commune-committee" and row.decided >= 1 for row in expected.rows)
    assert "Ủy ban nhân dân" in dashboard.text or "UBND" in dashboard.text
    # The outside systems' backlogs, as the registry's outboxes hold them.
    async with site.sessions() as session:
        waiting = {s: (await backlog(session, m)).waiting for s, m in OUTBOXES.items()}
    for system, count in waiting.items():
        cell = re.search(rf'<tr data-system="{system}"><td>[^<]+</td><td class="n">(\d+)</td>',
                         dashboard.text)  # fmt: skip
        assert cell is not None and int(cell.group(1)) == count, system
    assert "Cổng dịch vụ công quốc gia" in dashboard.text and "Tổng đài SMS" in dashboard.text
    pdf = await site.http.get("/desk/report.pdf", params={"by": "agency"})
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ ĐÚNG HẠN" in text
    assert "Ủy ban nhân dân cấp xã" in text and "Tổng cộng" in text
    printable = await site.http.get("/desk/report.html", params={"by": "agency"})
    assert "BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ ĐÚNG HẠN" in printable.text
    assert "Tỷ lệ đúng hạn (%)" in printable.text


def _period_of(html: str) -> tuple[date, date]:
    start = html.split('id="from" name="from" value="')[1].split('"')[0]
    end = html.split('id="to" name="to" value="')[1].split('"')[0]
    return date.fromisoformat(start), date.fromisoformat(end)


def _cells(html: str, group: str) -> list[str]:
    """The figures the dashboard's table prints on a group's row."""
    row = html.split(f'data-group="{group}">')[1].split("</tr>")[0]
    return re.findall(r'<td class="n">(?:<b>)?([^<]*)', row)


async def test_the_api_docs_render_in_a_browser_without_internet(site: Site) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:

        def operations() -> list[str]:
            driver.get(f"{site.base}/docs")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                paths = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
                if paths:
                    return [path.text for path in paths]
                time.sleep(0.2)
            return []

        paths = await in_browser(operations)
    assert "/api/v1/procedures" in paths
    assert "/api/v1/agencies/{agency}/inbox" in paths


async def test_the_api_docs_load_swagger_ui_from_this_server(site: Site) -> None:
    docs = await site.http.get("/docs")
    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static-offline-docs/{asset}" in docs.text
        served = await site.http.get(f"/static-offline-docs/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000


# ---- in a browser --------------------------------------------------------------------------------


async def in_browser(call: Callable[[], T]) -> T:
    """Run a blocking Selenium call off the event loop that serves the app."""
    return await asyncio.to_thread(call)


def shoot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(screenshot_dir() / f"desk-{name}.png"))


def sign_in(driver: Any, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/desk/inbox")
    assert "/desk/sign-in" in driver.current_url
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()


async def test_an_officer_signs_in_previews_the_document_and_approves_the_step(
    site: Site,
) -> None:
    from selenium.webdriver.common.by import By

    code = await site.file_certified_copy()
    await site.step_open(code, "certified-copy:certify")
    token = officer_token("commune-committee", "nguyen.van.a")
    with chromium() as driver:

        def sign_in_and_find() -> None:
            driver.get(f"{site.base}/desk/sign-in")
            shoot(driver, "sign-in")
            sign_in(driver, site.base, token)
            assert driver.current_url.endswith("/desk/inbox")
            row = driver.find_element(
                By.CSS_SELECTOR, f'tr[data-dossier="{code}"][data-step="certified-copy:certify"]'
            )
            assert "Chứng thực" in row.text or "chứng thực" in row.text
            assert "giờ làm việc" in row.text  # what is left, in working hours
            shoot(driver, "inbox")
            row.find_element(By.LINK_TEXT, code).click()

        await in_browser(sign_in_and_find)

        def preview() -> None:
            assert driver.current_url.endswith(f"/desk/dossiers/{code}")
            image = driver.find_element(By.CSS_SELECTOR, "#documents img.preview")
            loaded = driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", image
            )
            assert loaded and loaded > 50, "the document's image did not load"
            link = driver.find_element(By.ID, "temporal-link").get_attribute("href")
            assert link == f"http://127.0.0.1:8233/namespaces/default/workflows/{code}"
            shoot(driver, "dossier")
            form = driver.find_element(
                By.CSS_SELECTOR, 'form.decision[data-step="certified-copy:certify"]'
            )
            form.find_element(By.CSS_SELECTOR, "textarea[name=reason]").send_keys(
                "Bản sao đúng với bản chính"
            )
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        await in_browser(preview)

        def approved() -> str:
            done: str = driver.find_element(By.ID, "decision-done").text
            return done

        assert "Đã đồng ý" in await in_browser(approved)

        def ledger() -> str:
            # The registry follows the workflow a moment later (registry.sync): reload.
            driver.refresh()
            text: str = driver.find_element(By.ID, "handovers").text
            return text

        for _ in range(100):
            if "Bản sao đúng với bản chính" in await in_browser(ledger):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the approval never reached form 05 on the page")
        await in_browser(lambda: shoot(driver, "approved"))
    handle: WorkflowHandle[DossierWorkflow, DossierResult]
    handle = site.env.client.get_workflow_handle_for(DossierWorkflow.run, code)
    state = await handle.query(DossierWorkflow.tracking)
    assert any(
        row.step == "certify" and row.officer_id == "nguyen.van.a" for row in state.ledger
    ), state.ledger
    # ... and back: the Web UI shows the procedure by name and links to the desk's page.
    described = await handle.describe()
    assert await described.static_summary() == (
        f"Hồ sơ {code}: Chứng thực bản sao từ bản chính giấy tờ, văn bản"
    )
    assert f"({site.base}/desk/dossiers/{code})" in (await described.static_details() or "")


async def test_another_agencys_officer_sees_neither_the_inbox_nor_the_dossier(
    site: Site,
) -> None:
    from selenium.webdriver.common.by import By

    code = await site.file_certified_copy()
    await site.step_open(code, "certified-copy:certify")
    with chromium() as driver:

        def look() -> tuple[str, str]:
            sign_in(driver, site.base, officer_token("tax", "tran.thi.b"))
            inbox = driver.find_element(By.TAG_NAME, "main").text
            driver.get(f"{site.base}/desk/dossiers/{code}")
            refused = driver.find_element(By.TAG_NAME, "body").text
            driver.get(f"{site.base}/desk/dossiers/{code}/documents/1")
            return inbox, refused + driver.find_element(By.TAG_NAME, "body").text

        inbox, refused = await in_browser(look)
    assert code not in inbox
    assert "Không có hồ sơ nào" in inbox
    assert refused.count("tax holds no step") == 2
    assert refused.count("Cơ quan của anh/chị không được xem trang này") == 2
    site.http.cookies.set("lienthong_desk", officer_token("tax", "tran.thi.b"))
    page = await site.http.get(f"/desk/dossiers/{code}")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    # The API says the same to the same officer.
    answer = await site.http.get(
        "/api/v1/agencies/commune-committee/inbox",
        headers={"Authorization": f"Bearer {officer_token('tax', 'tran.thi.b')}"},
    )
    assert answer.status_code == 403


# What a page must pass to be usable without a mouse or good eyes: every form field labelled,
# every image described, the language declared, text contrast at least 4.5:1 (WCAG AA). axe-core
# is not packaged for this machine; this small check runs in the page instead.
A11Y_CHECK = """
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
for (const field of document.querySelectorAll('input, select, textarea')) {
  if (field.type === 'hidden') continue;
  const labelled = (field.id && document.querySelector(`label[for="${field.id}"]`))
    || field.getAttribute('aria-label') || field.closest('label');
  if (!labelled) problems.push('unlabelled ' + field.outerHTML.slice(0, 80));
}
for (const img of document.querySelectorAll('img')) {
  if (!img.hasAttribute('alt')) problems.push('no alt ' + img.outerHTML.slice(0, 80));
}
function rgb(text) { return text.match(/[\\d.]+/g).map(Number); }
function luminance([r, g, b]) {
  const c = [r, g, b].map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(element) {
  for (let e = element; e; e = e.parentElement) {
    const color = rgb(getComputedStyle(e).backgroundColor);
    if (color.length < 4 || color[3] > 0.5) return color;
  }
  return [255, 255, 255];
}
for (const element of document.body.querySelectorAll('*')) {
  if (element.closest('svg')) continue;
  const own = [...element.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || !element.offsetParent) continue;
  const fore = luminance(rgb(getComputedStyle(element).color));
  const back = luminance(background(element));
  const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} ` + element.outerHTML.slice(0, 80));
}
return problems;
"""


def accessible(driver: Any) -> list[str]:
    """What the page's basic accessibility check finds wrong (empty: nothing)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    problems: list[str] = list(driver.execute_script(A11Y_CHECK))
    # Keyboard: Tab from the top reaches a link or button, and it shows focus.
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    focused = driver.switch_to.active_element
    if focused.tag_name not in ("a", "button", "input"):
        problems.append(f"Tab lands on <{focused.tag_name}>")
    return problems


async def test_the_head_the_dashboard_and_english_pages_pass_basic_accessibility_checks(
    site: Site,
) -> None:
    from selenium.webdriver.common.by import By

    code = await site.file_certified_copy()
    await site.step_open(code, "certified-copy:certify")
    site.http.cookies.set("lienthong_desk", officer_token("commune-committee", "le.thi.c"))
    await site.http.post(
        f"/desk/dossiers/{code}/steps/certified-copy:certify/decision",
        data={"action": "approve"},
    )
    await site.step_done(code, "certified-copy:certify")
    second = await site.file_certified_copy()
    await site.step_open(second, "certified-copy:certify")
    with chromium() as driver:

        def tour() -> dict[str, str]:
            sign_in(driver, site.base, officer_token("commune-committee", "pham.van.d", "head"))
            seen: dict[str, str] = {}
            for name, path in (
                ("inbox", "/desk/inbox"),
                ("dossier", f"/desk/dossiers/{second}"),
                ("head", "/desk/head"),
                ("dashboard", "/desk/dashboard?by=agency"),
                ("sign-in", "/desk/sign-in"),
            ):
                driver.get(f"{site.base}{path}")
                assert accessible(driver) == [], (name, accessible(driver))
                seen[name] = driver.find_element(By.TAG_NAME, "body").text
                if name == "dashboard":
                    shoot(driver, name)
            driver.get(f"{site.base}/desk/inbox?lang=en")
            seen["english"] = driver.find_element(By.TAG_NAME, "body").text
            driver.get(f"{site.base}/desk/head")  # the choice is kept in a cookie
            seen["english-head"] = driver.find_element(By.TAG_NAME, "body").text
            driver.get(f"{site.base}/desk/inbox?lang=vi")
            driver.set_window_size(390, 844)  # a phone
            shoot(driver, "inbox-phone")
            # The check can fail: a pale text and a field without a label are both caught.
            driver.execute_script(
                "document.querySelector('main').insertAdjacentHTML('beforeend',"
                ' \'<p style="color:#bbbbbb">nhạt</p><input id="bare">\')'
            )
            seen["broken"] = "\n".join(accessible(driver))
            return seen

        seen = await in_browser(tour)
    assert "le.thi.c" in seen["head"]  # the officer who decided, in the workload
    assert "Khối lượng công việc theo cán bộ" in seen["head"]
    assert "Tỷ lệ đúng hạn (%)" in seen["dashboard"]
    assert "Ủy ban nhân dân cấp xã" in seen["dashboard"]
    assert "Inbox: Commune-level People's Committee" in seen["english"]
    assert "working hours left" in seen["english"]
    assert "Workload per officer" in seen["english-head"]
    assert "contrast" in seen["broken"] and 'unlabelled <input id="bare">' in seen["broken"]


async def test_the_head_sees_the_overdue_step_and_its_escalation_in_working_hours(
    site: Site,
) -> None:
    code = await site.file_certified_copy()
    await site.step_open(code, "certified-copy:certify")
    await site.skip(timedelta(days=4))  # nobody certifies: overdue, escalated to the head

    async def escalated() -> bool:
        async with site.sessions() as session:
            count = (
                await session.execute(
                    select(func.count())
                    .select_from(NotificationRecord)
                    .where(
                        NotificationRecord.dossier_code == code,
                        NotificationRecord.kind == "escalation",
                    )
                )
            ).scalar_one()
        return bool(count)

    for _ in range(150):
        if await escalated():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("no escalation was recorded")
    site.http.cookies.set(
        "lienthong_desk", officer_token("commune-committee", "truong.ban", "head")
    )
    head = (await site.http.get("/desk/head")).text
    overdue = head.split('id="overdue"')[1].split("</table>")[0]
    assert code in overdue and "Đối chiếu bản sao với bản chính, ký chứng thực" in overdue
    assert "trễ " in overdue and " giờ làm việc" in overdue
    escalations = head.split('id="escalations"')[1].split("</table>")[0]
    assert code in escalations and "Đối chiếu bản sao với bản chính" in escalations
    inbox = (await site.http.get("/desk/inbox")).text
    assert "Quá hạn" in inbox
    with chromium() as driver:
        await in_browser(
            lambda: sign_in(
                driver, site.base, officer_token("commune-committee", "truong.ban", "head")
            )
        )
        await in_browser(lambda: driver.get(f"{site.base}/desk/head"))
        await in_browser(lambda: shoot(driver, "head"))
