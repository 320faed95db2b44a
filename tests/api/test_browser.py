"""The pages in a real browser (Debian's Chromium through Selenium) against the live stack.

A citizen files the combined land-and-permit dossier on a phone, opens the receipt's QR link,
and watches the timeline move while an officer approves through the API; the poster's QR codes
open the right procedure pages; the pages pass axe-core's WCAG 2 A/AA rules and can be filled
in with the keyboard alone. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from domain.catalog import default_catalog
from forms.render import find_font
from tests.browser import Browser, LiveStack
from web.poster import poster_pdf, procedure_url

pytestmark = [pytest.mark.postgres, pytest.mark.devserver]

COMBINED = "land-and-permit"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
T = TypeVar("T")


def until(probe: Callable[[], T | None], *, within: float = 30.0, every: float = 0.2) -> T:
    """Call ``probe`` until it returns something truthy. A probe that read an element the page
    replaced meanwhile (a refresh re-renders the timeline; Chromium says "stale element" or
    "node does not belong to the document") looks again; the last such error is kept as the
    cause if time runs out."""
    deadline = time.monotonic() + within
    last: WebDriverException | None = None
    while True:
        try:
            value = probe()
        except WebDriverException as exc:
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time") from last
        time.sleep(every)


def no_violations(browser: Browser, page: str) -> None:
    violations = browser.axe()
    assert violations == [], f"{page}: {violations}"


def decode_qr_image(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def fill(field: WebElement, text: str) -> None:
    field.clear()
    field.send_keys(text)


def tab_order(browser: Browser, steps: int) -> list[str]:
    """The ids (or names) of the elements the Tab key reaches from the start of the content."""
    driver = browser.driver
    # From the start of the content (the skip link's target), as after "skip to the content".
    driver.execute_script("document.getElementById('main').focus(); window.scrollTo(0, 0);")
    reached = []
    for _ in range(steps):
        # Through the keyboard as such: a file input takes send_keys as a path to upload.
        ActionChains(driver).send_keys(Keys.TAB).perform()
        element = driver.switch_to.active_element
        reached.append(element.get_attribute("id") or element.get_attribute("name") or "")
    return reached


def officer_approves_the_first_open_decision(
    stack: LiveStack, code: str, secret: str
) -> tuple[str, str]:
    """Through the API, as the officer of the step's agency: the step's key and its name."""
    with httpx.Client(base_url=stack.base_url, timeout=20) as client:

        def open_decision() -> dict[str, Any] | None:
            view = client.get(f"/api/v1/dossiers/{code}", headers={"X-Tracking-Secret": secret})
            assert view.status_code == 200, view.text
            for step in view.json()["open_steps"]:
                if step["kind"] in ("officer_decision", "signature") and step["due"]:
                    return dict(step)
            return None

        step = until(open_decision, within=40)
        answer = client.post(
            f"/api/v1/agencies/{step['agency']}/steps/{code}/{step['key']}/decision",
            json={"action": "approve", "reason": "đủ điều kiện"},
            headers=stack.officer(step["agency"]),
        )
        assert answer.status_code == 200, answer.text
        return step["key"], step["name_vi"]


def test_a_citizen_files_a_combined_dossier_on_a_phone_and_follows_it_by_its_qr_code(
    live_stack: LiveStack, browser: Browser, tmp_path: Path
) -> None:
    driver = browser.driver
    browser.phone()
    catalog = default_catalog()
    entry = catalog.combined_on(COMBINED, date.today())

    driver.get(live_stack.base_url + "/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Danh mục thủ tục hành chính"
    browser.shot("01-catalogue-phone")
    no_violations(browser, "catalogue")
    driver.find_element(By.LINK_TEXT, entry.name_vi).click()
    assert driver.find_element(By.TAG_NAME, "h1").text == entry.name_vi
    assert "24 ngày làm việc" in driver.page_source
    browser.shot("02-procedure-phone")
    no_violations(browser, "procedure page")
    driver.find_elements(By.LINK_TEXT, "Nộp hồ sơ trực tuyến")[0].click()

    # Sent with a short CCCD and nothing else: each error is in Vietnamese, next to its field.
    driver.find_element(By.ID, "f-national_id").send_keys("00119")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "Hồ sơ chưa được nộp" in driver.find_element(By.CSS_SELECTOR, ".alert").text
    assert driver.find_element(By.ID, "e-national_id").text == (
        "Số căn cước công dân (CCCD) phải gồm đúng 12 chữ số"
    )
    assert driver.find_element(By.ID, "e-full_name").text == "Vui lòng điền mục này"
    assert "thửa đất" in driver.find_element(By.ID, "e-parcel").text
    assert driver.find_element(By.ID, "f-national_id").get_attribute("aria-invalid") == "true"
    browser.shot("03-filing-errors-phone")
    no_violations(browser, "filing form with errors")
    reached = tab_order(browser, 12)
    for field in ("f-full_name", "f-national_id", "f-phone", "f-email", "f-address"):
        assert field in reached, f"{field} is not reached by the keyboard: {reached}"

    paper = tmp_path / "giay-to.pdf"
    paper.write_bytes(PDF)
    fill(driver.find_element(By.ID, "f-full_name"), "Nguyễn Thị Hồng Nhung")
    fill(driver.find_element(By.ID, "f-national_id"), "001190012345")
    fill(driver.find_element(By.ID, "f-phone"), "0912 345 678")
    fill(driver.find_element(By.ID, "f-email"), "nhung@example.vn")
    fill(driver.find_element(By.ID, "f-address"), "Số 12 ngõ 5 Phương Liên, Đống Đa, Hà Nội")
    fill(driver.find_element(By.ID, "f-parcel_commune"), "phuong-lien")
    fill(driver.find_element(By.ID, "f-map_sheet"), "12")
    fill(driver.find_element(By.ID, "f-parcel_number"), "345")
    for upload in driver.find_elements(By.CSS_SELECTOR, "input[type=file][aria-required=true]"):
        upload.send_keys(str(paper))
    driver.find_element(By.ID, "d-home").click()
    fill(driver.find_element(By.ID, "f-delivery_address"), "Số 12 ngõ 5 Phương Liên, Hà Nội")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").send_keys(Keys.ENTER)

    code = until(lambda: driver.find_elements(By.ID, "dossier-code"), within=40)[0].text
    secret = driver.find_element(By.ID, "tracking-secret").text
    assert code.startswith(live_stack.settings.desk_code + "-")
    source = driver.find_element(By.ID, "receipt-qr").get_attribute("src") or ""
    scanned = decode_qr_image(base64.b64decode(source.split(",", 1)[1]))
    assert scanned == [f"{live_stack.base_url}/track/{code}"]
    browser.shot("04-receipt-phone")
    no_violations(browser, "receipt")

    # The citizen scans the code: the page asks for the secret, which never enters the URL.
    driver.get(scanned[0])
    assert driver.find_element(By.TAG_NAME, "h1").text == "Tra cứu hồ sơ"
    no_violations(browser, "tracking form")
    fill(driver.find_element(By.ID, "f-secret"), "WRONGSECRET00000")
    driver.find_element(By.CSS_SELECTOR, "form.stack button").click()
    assert "Không tìm thấy hồ sơ" in driver.find_element(By.CSS_SELECTOR, ".alert").text
    fill(driver.find_element(By.ID, "f-secret"), secret.lower())
    driver.find_element(By.CSS_SELECTOR, "form.stack button").click()
    assert secret not in driver.current_url
    assert driver.find_element(By.ID, "status").text == "Đang giải quyết"
    steps = driver.find_elements(By.CSS_SELECTOR, "[data-timeline] li")
    assert len(steps) == sum(len(v.steps) for v in catalog.components_on(COMBINED, date.today()))

    def states() -> list[str]:
        # One script reads them all at once: element by element, a refresh re-rendering the
        # timeline in between leaves the test holding nodes no longer in the document.
        found: list[str] = driver.execute_script(
            "return Array.from(document.querySelectorAll('[data-timeline] li'))"
            ".map(li => li.getAttribute('data-state') || '')"
        )
        return found

    before = states()
    browser.shot("05-tracking-phone")
    no_violations(browser, "tracking page")

    key, name_vi = officer_approves_the_first_open_decision(live_stack, code, secret)

    def moved() -> bool:
        driver.find_element(By.XPATH, "//button[normalize-space()='Cập nhật']").click()
        now = states()
        return now.count("done") > before.count("done") and name_vi in driver.page_source

    until(moved, within=40, every=0.5)

    def approval_shown() -> bool:
        # Read in one script: the last refresh may still be replacing the page.
        done: list[str] = driver.execute_script(
            "return Array.from(document.querySelectorAll('[data-timeline] li[data-state=done]'))"
            ".map(li => li.innerText)"
        )
        return any(name_vi in text and "Đồng ý" in text for text in done)

    assert until(approval_shown, within=10), key
    browser.shot("06-tracking-moved-phone")


def test_the_posters_qr_codes_open_each_procedures_page(
    live_stack: LiveStack, browser: Browser
) -> None:
    catalog, today = default_catalog(), date.today()
    desk = live_stack.settings.desk_code
    pdf = poster_pdf(catalog, today, desk, live_stack.base_url, find_font())
    images = [image.data for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images]
    # A page of a long poster lists the images of the pages before it too (shared resources).
    scanned = list(dict.fromkeys(text for png in images for text in decode_qr_image(png)))
    entries = catalog.list_in_force(today)
    assert scanned == [procedure_url(live_stack.base_url, entry.code) for entry in entries]
    browser.desktop()
    for entry, url in zip(entries, scanned, strict=True):
        browser.driver.get(url)
        assert browser.driver.find_element(By.TAG_NAME, "h1").text == entry.name_vi
    browser.driver.get(f"{live_stack.base_url}/desks/{desk}/poster")
    browser.shot("07-poster-desktop")
    no_violations(browser, "poster page")
    browser.driver.get(f"{live_stack.base_url}/procedures/{COMBINED}?lang=en")
    assert browser.driver.find_element(By.CSS_SELECTOR, "html").get_attribute("lang") == "en"
    assert "Papers to bring" in browser.driver.page_source
    assert "24 working days" in browser.driver.page_source
    browser.shot("08-procedure-english-desktop")
    no_violations(browser, "English procedure page")
    browser.driver.get(f"{live_stack.base_url}/?lang=vi")
