"""The electronic receipt (biên lai điện tử) of a fee, and the document of its refund.

One template, ``receipt.pdf.html.j2``, in the HTML subset fpdf2 lays out: the same text is
served as HTML and as PDF (`forms.render.html_to_pdf`, the forms' fonts). Rendering is pure,
so a receipt rendered again is the same document. The fields and their sources are listed in
docs/integrations.md, "Fees and electronic receipts": every field is `[unverified]` (taken from
memory of Decree 123/2020 art. 32; no primary text was found to check them against).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forms.render import PdfFont, html_to_pdf, render_text

RECEIPT_TITLE_VI = "BIÊN LAI THU PHÍ, LỆ PHÍ"
REFUND_TITLE_VI = "CHỨNG TỪ HOÀN TRẢ PHÍ, LỆ PHÍ"
METHODS_VI = {"online": "Thanh toán trực tuyến", "desk": "Nộp tiền mặt tại bộ phận một cửa"}


def vnd(amount: int) -> str:
    """``150.000``: đồng with the dot grouping Vietnamese documents use."""
    return f"{amount:,}".replace(",", ".")


_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_SCALES = ("tỷ", "nghìn", "triệu")  # by the group's index modulo 3 (index 0: none)


def _three_digits(n: int, leading: bool) -> list[str]:
    """0 < ``n`` < 1000 read as Vietnamese does. A group after a higher one says its hundreds
    even when they are none (``không trăm``) and joins a lone unit with ``linh``."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if hundreds or not leading:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words.append("linh")
    elif tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units == 0:
        return words
    if units == 1 and tens >= 2:
        words.append("mốt")  # hai mươi mốt, not hai mươi một
    elif units == 5 and tens >= 1:
        words.append("lăm")  # mười lăm, hai mươi lăm
    else:
        words.append(_DIGITS[units])
    return words


def vnd_in_words(amount: int) -> str:
    """``Một trăm năm mươi nghìn đồng``: the amount in words, as receipts and invoices print
    it under the figure. Groups of three digits take nghìn, triệu, tỷ; past a thousand tỷ the
    scale starts again (``một nghìn tỷ``). A group of zeros is not read."""
    if amount < 0:
        raise ValueError(f"an amount in words is never negative: {amount}")
    if amount == 0:
        return "Không đồng"
    groups: list[int] = []
    rest = amount
    while rest:
        groups.append(rest % 1000)
        rest //= 1000
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            if index % 3 == 0 and index and words and words[-1] != "tỷ":
                words.append("tỷ")  # 1.000.000.000.000: một nghìn tỷ
            continue
        words += _three_digits(group, leading=not words)
        if index:
            words.append(_SCALES[index % 3])
    text = " ".join(words)
    return f"{text[0].upper()}{text[1:]} đồng"


def reference(template_no: str, symbol: str, number: int) -> str:
    """``01BLP0-001 BL/26E số 0000007``: ký hiệu mẫu số, ký hiệu and số, as printed."""
    return f"{template_no} {symbol} số {number:07d}"


@dataclass(frozen=True)
class ReceiptDocument:
    """What a receipt (or a refund document) prints."""

    kind: str  # "receipt" | "refund"
    agency_name_vi: str
    agency_tax_code: str
    template_no: str
    symbol: str
    number: int
    dossier_code: str
    payer_name: str
    fee_name_vi: str
    amount_vnd: int
    method: str
    issued_at: datetime
    collector_vi: str
    refunds: str = ""  # the receipt a refund gives back: "01BLP0-001 BL/26E số 0000007"
    reason_vi: str = ""

    @property
    def reference(self) -> str:
        """Ký hiệu mẫu số, ký hiệu and số together: the receipt's unique name."""
        return reference(self.template_no, self.symbol, self.number)


def render_receipt_html(receipt: ReceiptDocument) -> str:
    """The receipt as HTML (what the tracking API serves and the registry stores)."""
    return render_text(
        "receipt.pdf.html.j2",
        title_vi=RECEIPT_TITLE_VI if receipt.kind == "receipt" else REFUND_TITLE_VI,
        agency_name_vi=receipt.agency_name_vi,
        agency_tax_code=receipt.agency_tax_code,
        template_no=receipt.template_no,
        symbol=receipt.symbol,
        number_text=f"{receipt.number:07d}",
        payer_name=receipt.payer_name,
        dossier_code=receipt.dossier_code,
        refunds=receipt.refunds,
        reason_vi=receipt.reason_vi,
        fee_name_vi=receipt.fee_name_vi,
        amount_text=vnd(receipt.amount_vnd),
        amount_words=vnd_in_words(receipt.amount_vnd),
        method_vi=METHODS_VI[receipt.method],
        issued_at=receipt.issued_at,
        collector_vi=receipt.collector_vi,
    )


def receipt_pdf(
    html: str, *, reference: str, issued_at: datetime, author: str, font: PdfFont
) -> bytes:
    """A stored receipt's HTML as an A4 PDF, dated by the receipt (same HTML, same bytes)."""
    return html_to_pdf(
        html,
        font,
        created=issued_at,
        title=f"Biên lai {reference}",
        author=author,
        subject=reference,
    )
