"""No personal data where operators look: a dossier filed online, run to its end, then searched.

The applicant's name, national ID number, phone, e-mail and address go in through the HTTP API;
afterwards none of them may appear in the raw workflow history (as the server stores it, read
without the codec), in what the server's visibility and describe calls return (search
attributes, summaries, current details), in anything logged while it ran, or in the report.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

from domain.catalog import default_catalog
from domain.clock import VN_TZ
from store.db import sync_engine
from store.letters import get_contact
from store.reports import format_report, report_input, run_report
from tests.api.test_api import (
    CERTIFIED_ORIGINAL,
    Stack,
    stack,  # noqa: F401  (the fixture, requested by name below)
    submission,
    token,
)

pytestmark = pytest.mark.postgres

APPLICANT = {
    "full_name": "Phạm Thị Thu Trang",
    "national_id": "079301004567",
    "phone": "0987 654 321",
    "email": "thutrang.pham@example.vn",
    "address": "Số 48 ngách 7 ngõ Thịnh Hào 1, phường Hàng Bột, Đống Đa, Hà Nội",
}


def needles() -> list[bytes]:
    """Every applicant value, as bytes in both Unicode forms, and the phone's bare digits."""
    values = [*APPLICANT.values(), "987654321", "Thu Trang", "Thịnh Hào"]
    forms = {unicodedata.normalize(form, value) for value in values for form in ("NFC", "NFD")}
    return sorted(value.encode("utf-8") for value in forms)


def leaks(blob: bytes) -> list[str]:
    """The applicant's values found in ``blob``."""
    return [needle.decode("utf-8") for needle in needles() if needle in blob]


async def run_to_the_end(api: Stack, code: str, headers: dict[str, str]) -> dict[str, Any]:
    """Officers approve from their inboxes until the dossier is returned."""
    while True:
        view: dict[str, Any] = (
            await api.client.get(f"/api/v1/dossiers/{code}", headers=headers)
        ).json()
        if view["status"] in ("returned", "refused", "withdrawn", "stopped"):
            return view
        for agency in {step["agency"] for step in view["open_steps"]}:
            inbox = await api.client.get(f"/api/v1/agencies/{agency}/inbox", headers=token(agency))
            for item in inbox.json()["items"]:
                if item["dossier_code"] == code and item["officer_action"]:
                    await api.client.post(
                        f"/api/v1/agencies/{agency}/steps/{code}/{item['step_key']}/decision",
                        json={"action": "approve", "reason": "đủ điều kiện"},
                        headers=token(agency),
                    )
        await asyncio.sleep(0.1)


async def test_no_personal_data_in_history_visibility_logs_or_reports(
    stack: Stack,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    pg_url: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    document = await stack.upload(CERTIFIED_ORIGINAL)
    body = submission("certified-copy", [document])
    body["applicant"] = dict(APPLICANT)
    created = await stack.submit(body)
    assert created.status_code == 201, created.text
    code = created.json()["dossier_code"]
    headers = {"X-Tracking-Secret": created.json()["tracking_secret"]}
    final = await asyncio.wait_for(run_to_the_end(stack, code, headers), 120)
    assert final["status"] == "returned"

    # The raw history, as the server keeps it and as the Web UI gets it before decoding.
    client = stack.env.client
    raw = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution={"workflow_id": code},  # type: ignore[arg-type]
        )
    )
    history = raw.history.SerializeToString()
    assert b"registry.sync" in history and code.encode() in history  # we read the right one
    assert leaks(history) == []

    # What visibility and describe return: search attributes, summary, current details.
    described = await client.get_workflow_handle(code).describe()
    visible = described.raw_description.SerializeToString()
    assert code.encode() in visible
    assert leaks(visible) == []

    # Everything logged in this process while the dossier ran (API, workers, activities).
    assert leaks(caplog.text.encode("utf-8")) == []

    # The report over the day.
    today = (await stack.env.get_current_time()).astimezone(VN_TZ).date()
    engine = sync_engine(pg_url)
    try:
        with engine.connect() as connection:
            report = run_report(
                connection,
                report_input(today - timedelta(days=1), today, catalog=default_catalog()),
            )
    finally:
        engine.dispose()
    for format_ in ("table", "csv", "json"):
        assert leaks(format_report(report, format_).encode("utf-8")) == []

    # The values did go in (the scan would have seen them): the registry holds them, encrypted.
    async with stack.sessions() as session:
        contact = await get_contact(session, code)
    assert contact is not None and contact.full_name == APPLICANT["full_name"]
    assert leaks(str(contact.national_id).encode()) == [APPLICANT["national_id"]]
