"""Fees at receipt: what the catalog charges, and the electronic receipts' number series."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pypdf
import pytest
from pydantic import ValidationError

from domain.catalog import Catalog, Fee, load_catalog
from domain.fees import fee_due
from forms.receipt import ReceiptDocument, receipt_pdf, render_receipt_html, vnd_in_words
from forms.render import find_font
from store import receipts
from store.db import async_engine, session_factory
from tests.forms.test_forms import flat, pdf_text

ISSUED = datetime(2026, 3, 2, 3, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def document(code: str = "DONGDA-260302-0001", amount: int = 5000) -> ReceiptDocument:
    return ReceiptDocument(
        kind="receipt",
        agency_name_vi="UBND phường Đống Đa",
        agency_tax_code="0100000000",
        template_no="",
        symbol="",
        number=0,
        dossier_code=code,
        payer_name="Nguyễn Thị Hòa",
        fee_name_vi="Lệ phí đăng ký lại khai sinh",
        amount_vnd=amount,
        method="online",
        issued_at=ISSUED,
        collector_vi="Bộ phận một cửa",
    )


def test_the_birth_bundle_of_decree_63_is_exempt(catalog: Catalog) -> None:
    due = fee_due(catalog.version_on("birth-residence-insurance", date(2026, 3, 2)))
    assert due.exempt and due.amount_vnd == 0 and not due.blocks_clock


def test_a_re_registration_fee_blocks_the_clock_with_its_basis(catalog: Catalog) -> None:
    due = fee_due(catalog.version_on("birth-re-registration", date(2026, 3, 2)))
    assert (due.amount_vnd, due.exempt, due.blocks_clock) == (5000, False, True)
    assert due.items[0].blocks_clock_basis


def test_a_blocking_fee_without_its_basis_is_refused() -> None:
    with pytest.raises(ValidationError, match="names its legal basis"):
        Fee(name_vi="Lệ phí", amount_vnd=1000, blocks_clock=True)


def test_a_receipt_prints_its_legal_fields_in_html_and_pdf() -> None:
    numbered = replace(document(), template_no="01BLP0-001", symbol="BL/26E", number=7)
    html = render_receipt_html(numbered)
    pdf = receipt_pdf(
        html, reference=numbered.reference, issued_at=ISSUED, author="UBND", font=find_font()
    )
    assert pdf == receipt_pdf(
        html, reference=numbered.reference, issued_at=ISSUED, author="UBND", font=find_font()
    )
    text = pdf_text(pdf)
    for needle in (
        "BIÊN LAI THU PHÍ, LỆ PHÍ",
        "01BLP0-001",
        "BL/26E",
        "0000007",
        "Mã số thuế: 0100000000",
        "Nguyễn Thị Hòa",
        "Lệ phí đăng ký lại khai sinh",
        "5.000 đồng",
        "Bằng chữ: Năm nghìn đồng",
        "ngày 02 tháng 03 năm 2026",
    ):
        assert flat(needle) in text, needle
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (0, "Không đồng"),
        (15, "Mười lăm đồng"),
        (21, "Hai mươi mốt đồng"),
        (105, "Một trăm linh năm đồng"),
        (1001, "Một nghìn không trăm linh một đồng"),
        (25_000, "Hai mươi lăm nghìn đồng"),
        (101_000, "Một trăm linh một nghìn đồng"),
        (150_000, "Một trăm năm mươi nghìn đồng"),
        (1_050_000, "Một triệu không trăm năm mươi nghìn đồng"),
        (1_000_500, "Một triệu năm trăm đồng"),
        (21_000_000, "Hai mươi mốt triệu đồng"),
        (1_000_000_000_000, "Một nghìn tỷ đồng"),
        (
            1_234_567_890_123,
            "Một nghìn hai trăm ba mươi bốn tỷ năm trăm sáu mươi bảy triệu tám trăm chín mươi"
            " nghìn một trăm hai mươi ba đồng",
        ),
    ],
)
def test_an_amount_is_printed_in_words_as_vietnamese_reads_it(amount: int, words: str) -> None:
    assert vnd_in_words(amount) == words


def test_a_negative_amount_has_no_words() -> None:
    with pytest.raises(ValueError, match="never negative"):
        vnd_in_words(-1)


@pytest.mark.postgres
async def test_concurrent_issuers_never_repeat_or_skip_a_number(pg_url: str) -> None:
    desk = f"R{uuid.uuid4().hex[:8].upper()}"
    other = f"S{uuid.uuid4().hex[:8].upper()}"
    engine = async_engine(pg_url)
    sessions = session_factory(engine)

    async def issue(n: int, where: str) -> int | None:
        async with sessions() as session:
            row = await receipts.issue(session, f"{where}-{n}", where, document(f"{where}-{n}"))
            if n % 7 == 3:  # a payment whose recording fails after its number was taken
                await session.rollback()
                return None
            await session.commit()
            return row.number

    try:
        results = await asyncio.gather(
            *(issue(n, desk) for n in range(50)), *(issue(n, other) for n in range(10))
        )
        async with sessions() as session:  # a retried callback gets the receipt it has
            again = await receipts.issue(session, f"{desk}-0", desk, document())
            await session.commit()
    finally:
        await engine.dispose()
    mine = sorted(n for n in results[:50] if n is not None)
    assert mine == list(range(1, len(mine) + 1))  # unique, and no hole left by the rollbacks
    assert len(mine) == 50 - len([n for n in range(50) if n % 7 == 3])
    theirs = sorted(n for n in results[50:] if n is not None)
    assert theirs == list(range(1, len(theirs) + 1))  # a series per desk
    assert again.number == results[0]
