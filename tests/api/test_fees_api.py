"""Fees at receipt through the HTTP API: the real app, Temporal's time-skipping server, the real
workers, PostgreSQL, and the fake payment provider calling back over the app's transport."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from api.auth import issue_token
from starter import fees_desk_payment, fees_refund, main
from store.models import (
    AuditRecord,
    DossierFee,
    DossierRecord,
    ElectronicReceipt,
    OnlineSubmission,
)
from tests.api.test_api import (
    BASE,
    TOKEN_SECRET,
    Stack,
    count,
    eventually,
    stack,  # noqa: F401 - test_api's fixture, used by name below (hence F811 on each test)
    submission,
    token,
)
from tests.forms.test_forms import flat, pdf_text
from workflows.dossier import DossierResult, DossierWorkflow

pytestmark = pytest.mark.postgres

ONE_STOP = "one-stop"


def head_token(agency: str) -> dict[str, str]:
    value = issue_token(
        TOKEN_SECRET, agency=agency, officer="head-1", valid_for=timedelta(hours=1), role="head"
    )
    return {"Authorization": f"Bearer {value}"}


async def body_for(app: Stack, procedure: str) -> dict[str, Any]:
    """A submission of ``procedure`` with the documents its form asks for."""
    detail = (await app.client.get(f"/api/v1/procedures/{procedure}")).json()
    uploads = [
        await app.upload(doc["name_vi"])
        for doc in detail["required_documents"]
        if not doc["optional"]
    ]
    return submission(procedure, uploads)


async def file(app: Stack, procedure: str) -> Any:
    """Submit ``procedure`` once."""
    return await app.submit(await body_for(app, procedure))


async def started(app: Stack, code: str) -> bool:
    try:
        await app.env.client.get_workflow_handle(code).describe()
    except RPCError:
        return False
    return True


async def fee_when(app: Stack, code: str, headers: dict[str, str], status: str) -> Any:
    async def probe() -> dict[str, Any] | None:
        view: dict[str, Any] = (
            await app.client.get(f"/api/v1/dossiers/{code}/fees", headers=headers)
        ).json()
        return view if view["status"] == status and not view["held"] else None

    return await eventually(probe)


async def test_a_blocking_fee_holds_the_clock_until_paid_online_then_the_receipt_is_issued(
    stack: Stack,  # noqa: F811
) -> None:
    body, key = await body_for(stack, "birth-re-registration"), str(uuid.uuid4())
    held = await stack.submit(body, key=key)
    assert held.status_code == 202, held.text
    answer = held.json()
    code, headers = answer["dossier_code"], {"X-Tracking-Secret": answer["tracking_secret"]}
    assert answer["fee"]["amount_vnd"] == 5000 and answer["received_at"] is None
    assert not await started(stack, code)  # the clock has not started
    view = (await stack.client.get(f"/api/v1/dossiers/{code}/fees", headers=headers)).json()
    assert (view["status"], view["held"], view["receipts"]) == ("due", True, [])
    # The fee is the applicant's: the second factor is needed to read or pay it.
    assert (await stack.client.get(f"/api/v1/dossiers/{code}/fees")).status_code == 404
    paid = await stack.client.post(f"/api/v1/dossiers/{code}/fees/payments", headers=headers)
    assert paid.status_code == 202, paid.text
    assert paid.json()["payment_id"].startswith("FEE-")
    view = await fee_when(stack, code, headers, "paid")
    assert await started(stack, code)
    (receipt,) = view["receipts"]
    assert receipt["kind"] == "receipt" and receipt["amount_vnd"] == 5000
    assert receipt["reference"].startswith("01BLP0-001 BL/") and receipt["reference"].endswith(
        "số 0000001"
    )
    html = await stack.client.get(receipt["html"], headers=headers)
    assert html.status_code == 200
    for needle in ("BIÊN LAI THU PHÍ, LỆ PHÍ", "Lệ phí đăng ký lại khai sinh", "5.000", code):
        assert needle in html.text, needle
    pdf = await stack.client.get(receipt["pdf"], headers=headers)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert (await stack.client.get(receipt["html"])).status_code == 404  # no factor, no receipt
    # A retried submission now answers with the started dossier, received when it was paid.
    again = await stack.submit(body, key=key)
    assert again.status_code == 201, again.text
    assert again.json()["dossier_code"] == code
    async with stack.sessions() as session:
        fee = await session.get(DossierFee, code)
        received = (
            await session.execute(
                select(OnlineSubmission.received_at).where(OnlineSubmission.dossier_code == code)
            )
        ).scalar_one()
    assert fee is not None and fee.paid_at == received
    # The provider's repeated callback changes nothing: one receipt.
    assert await count(stack.sessions, ElectronicReceipt, dossier_code=code) == 1
    assert await count(stack.sessions, DossierFee, dossier_code=code) == 1


async def test_an_exempt_procedure_charges_nothing_and_starts_at_once(stack: Stack) -> None:  # noqa: F811
    created = await file(stack, "birth-registration")
    assert created.status_code == 201, created.text
    code = created.json()["dossier_code"]
    headers = {"X-Tracking-Secret": created.json()["tracking_secret"]}
    assert await started(stack, code)
    assert (
        await stack.client.get(f"/api/v1/dossiers/{code}/fees", headers=headers)
    ).status_code == 404
    pay = await stack.client.post(f"/api/v1/dossiers/{code}/fees/payments", headers=headers)
    assert pay.status_code == 409
    assert await count(stack.sessions, DossierFee, dossier_code=code) == 0
    assert await count(stack.sessions, ElectronicReceipt, dossier_code=code) == 0


async def test_a_fee_that_does_not_block_is_paid_at_the_desk_and_refunded_after_a_refusal(
    stack: Stack,  # noqa: F811
) -> None:
    created = await file(stack, "signature-certification")
    assert created.status_code == 201, created.text
    code = created.json()["dossier_code"]
    headers = {"X-Tracking-Secret": created.json()["tracking_secret"]}
    assert await started(stack, code)  # the clock runs while the fee is owed
    view = (await stack.client.get(f"/api/v1/dossiers/{code}/fees", headers=headers)).json()
    assert (view["status"], view["held"], view["blocks_clock"]) == ("due", False, False)
    # Only the one-stop desk collects fees; only its head refunds.
    other = await stack.client.post(
        f"/api/v1/agencies/tax/fees/{code}/desk-payment", headers=token("tax")
    )
    assert other.status_code == 403
    at_desk = await stack.client.post(
        f"/api/v1/agencies/{ONE_STOP}/fees/{code}/desk-payment", headers=token(ONE_STOP)
    )
    assert at_desk.status_code == 200, at_desk.text
    assert at_desk.json()["status"] == "paid" and at_desk.json()["method"] == "desk"
    refund_path = f"/api/v1/agencies/{ONE_STOP}/fees/{code}/refund"
    reason = {"reason": "Cơ quan tiếp nhận sai thẩm quyền"}
    not_head = await stack.client.post(refund_path, json=reason, headers=token(ONE_STOP))
    assert not_head.status_code == 403
    not_refused = await stack.client.post(refund_path, json=reason, headers=head_token(ONE_STOP))
    assert not_refused.status_code == 409, not_refused.text
    await refuse(stack, code, headers, "signature-certification:certify")
    refunded = await stack.client.post(refund_path, json=reason, headers=head_token(ONE_STOP))
    assert refunded.status_code == 200, refunded.text
    twice = await stack.client.post(refund_path, json=reason, headers=head_token(ONE_STOP))
    assert twice.json() == refunded.json()
    view = refunded.json()
    assert view["status"] == "refunded"
    kinds = [(r["kind"], r["amount_vnd"]) for r in view["receipts"]]
    assert kinds == [("receipt", 10000), ("refund", 10000)]
    document = await stack.client.get(view["receipts"][1]["html"], headers=headers)
    assert "HOÀN TRẢ" in document.text and view["receipts"][0]["reference"] in document.text
    assert "sai thẩm quyền" in document.text
    assert await count(stack.sessions, AuditRecord, dossier_code=code, action="fee_refunded") == 1


async def test_an_online_fee_is_refunded_through_the_provider_once_despite_a_timeout(
    stack: Stack,  # noqa: F811
    pg_url: str,
    tmp_path: Path,
) -> None:
    created = await file(stack, "signature-certification")
    code = created.json()["dossier_code"]
    headers = {"X-Tracking-Secret": created.json()["tracking_secret"]}
    paid = await stack.client.post(f"/api/v1/dossiers/{code}/fees/payments", headers=headers)
    assert paid.status_code == 202, paid.text
    await fee_when(stack, code, headers, "paid")
    await refuse(stack, code, headers, "signature-certification:certify")
    refund_path = f"/api/v1/agencies/{ONE_STOP}/fees/{code}/refund"
    reason = {"reason": "Cơ quan tiếp nhận sai thẩm quyền"}
    stack.provider.refund_outages = 1  # the provider's first answer times out
    timed_out = await stack.client.post(refund_path, json=reason, headers=head_token(ONE_STOP))
    assert timed_out.status_code == 502
    # The head repeats it from the command line (starter.py fees refund).
    bearer = head_token(ONE_STOP)["Authorization"].removeprefix("Bearer ")
    status, answer = await fees_refund(BASE, bearer, code, reason["reason"], http=stack.client)
    assert status == 200, answer
    assert answer["status"] == "refunded"
    assert list(stack.provider.refunds) == [f"REFUND-{code}"]
    assert stack.provider.refunds[f"REFUND-{code}"].amount_vnd == 10000
    # ... and prints the receipt and the refund document.
    printed = await asyncio.to_thread(
        main, ["fees", "receipts", code, "--out", str(tmp_path), "--database-url", pg_url]
    )
    assert printed == 0
    pdfs = printed_pdfs(tmp_path)
    assert sorted(pdfs) == [f"{code}-receipt-0000001.pdf", f"{code}-refund-0000002.pdf"]
    assert "HOÀN TRẢ" in pdfs[f"{code}-refund-0000002.pdf"]


def printed_pdfs(directory: Path) -> dict[str, str]:
    """The text of each PDF the command wrote, by file name."""
    return {path.name: flat(pdf_text(path.read_bytes())) for path in directory.glob("*.pdf")}


async def refuse(app: Stack, code: str, headers: dict[str, str], step: str) -> None:
    """The step's agency refuses the dossier, and the registry records it refused."""

    async def holder() -> str | None:
        view = (await app.client.get(f"/api/v1/dossiers/{code}", headers=headers)).json()
        return next((o["agency"] for o in view["open_steps"] if o["key"] == step), None)

    agency = await eventually(holder, within=60)
    decided = await app.client.post(
        f"/api/v1/agencies/{agency}/steps/{code}/{step}/decision",
        json={"action": "refuse", "reason": "Sai thẩm quyền chứng thực"},
        headers=token(agency),
    )
    assert decided.status_code == 200, decided.text

    async def refused() -> bool:
        async with app.sessions() as session:
            record = await session.get(DossierRecord, code)
        return record is not None and record.status == "refused"

    await eventually(refused, within=60)


async def test_a_dossier_filed_at_the_desk_waits_for_its_blocking_fee_paid_at_the_desk(
    stack: Stack,  # noqa: F811
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from engine.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("LIENTHONG_DESK_CODE", stack.settings.desk_code)
    get_settings.cache_clear()
    address = stack.env.client.service_client.config.target_host
    try:
        argv = [
            "submit", "--procedure", "birth-re-registration", "--all-documents",
            "--address", address,
        ]  # fmt: skip
        status = await asyncio.to_thread(main, argv)
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert status == 0, out
    held = re.search(r"dossier (\S+) held until its fee is paid: (.+), 5\.000 đ", out)
    assert held is not None, out
    code = held.group(1)
    assert "starter.py fees pay" in out
    assert not await started(stack, code)  # the counter does not start the clock either
    async with stack.sessions() as session:
        fee = await session.get(DossierFee, code)
    assert fee is not None and (fee.held, fee.status, fee.blocks_clock) == (True, "due", True)

    # The usual way: the officer records the cash at the desk, which starts the dossier.
    refused, _ = await fees_desk_payment(BASE, "not-a-token", code, http=stack.client)
    assert refused == 401 and not await started(stack, code)
    bearer = token(ONE_STOP)["Authorization"].removeprefix("Bearer ")
    status, view = await fees_desk_payment(BASE, bearer, code, http=stack.client)
    assert status == 200, view
    assert (view["status"], view["method"], view["held"]) == ("paid", "desk", False)
    (receipt,) = view["receipts"]
    assert receipt["method"] == "desk" and receipt["amount_vnd"] == 5000
    handle: WorkflowHandle[DossierWorkflow, DossierResult]
    handle = stack.env.client.get_workflow_handle_for(DossierWorkflow.run, code)
    state = await handle.query(DossierWorkflow.tracking)
    async with stack.sessions() as session:
        paid = await session.get(DossierFee, code, populate_existing=True)
    assert paid is not None and paid.paid_at is not None
    assert state.received_at == paid.paid_at  # received when paid, not when filed
    # Paid twice at the desk (a double click): one receipt, the dossier started once.
    again, _ = await fees_desk_payment(BASE, bearer, code, http=stack.client)
    assert again == 200
    assert await count(stack.sessions, ElectronicReceipt, dossier_code=code) == 1


def test_the_desk_fee_commands_name_the_token_they_need(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIENTHONG_OFFICER_TOKEN", raising=False)
    for argv, role in (
        (["fees", "pay", "DONGDA-260302-0001"], "an officer's token"),
        (["fees", "refund", "DONGDA-260302-0001", "--reason", "sai thẩm quyền"], "a head's"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"starter.py {' '.join(argv[:2])}: error: give --token" in err and role in err
