"""The on-time report (`store.reports`) as a printable Vietnamese document, HTML and PDF.

The figures are `store.reports.row_values` of the same `ReportResult` that ``starter.py report``
prints; only the words change: agencies and procedures by their catalog names, months as
``Tháng 11/2026``, Vietnamese column headings, decimal commas.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.catalog import Catalog, UnknownAgency, UnknownProcedure
from forms.render import find_font, html_to_pdf, render_text
from store.reports import ReportBy, ReportLevel, ReportResult, ReportRow, row_values

# The columns of the printed report, in the order of ``starter.py report``.
COLUMNS_VI: tuple[tuple[str, str], ...] = (
    ("received", "Tiếp nhận"),
    ("decided", "Đã giải quyết"),
    ("early", "Trước hạn"),
    ("on_time", "Đúng hạn"),
    ("late", "Quá hạn"),
    ("not_counted", "Không tính hạn"),
    ("on_time_rate_pct", "Tỷ lệ đúng hạn (%)"),
    ("apology_letters", "Phiếu xin lỗi"),
    ("avg_working_days", "Số ngày làm việc bình quân"),
    ("p90_working_days", "90% hồ sơ xong trong (ngày)"),
)
_GROUP_VI = {
    ReportBy.AGENCY: "Cơ quan",
    ReportBy.PROCEDURE: "Thủ tục hành chính",
    ReportBy.DESK: "Bộ phận một cửa",
    ReportBy.MONTH: "Tháng",
}


class ReportLine(BaseModel):
    """One printed row: its label in words and its figures as printed."""

    model_config = ConfigDict(frozen=True)

    label: str
    code: str | None  # the group's code (None on the totals row)
    cells: tuple[str, ...]
    on_time_rate: float | None
    early: int
    on_time: int
    late: int


class VietnameseReport(BaseModel):
    """A `ReportResult` in Vietnamese words, ready for the templates."""

    model_config = ConfigDict(frozen=True)

    title: str
    period: str
    unit: str
    filters: tuple[str, ...]
    group_heading: str
    columns: tuple[str, ...]
    lines: tuple[ReportLine, ...]
    total: ReportLine
    command: str  # the ``starter.py report`` command with the same figures


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return f"{value}".replace(".", ",")
    return str(value)


def _name(catalog: Catalog, by: ReportBy | None, code: str) -> str:
    if by is ReportBy.AGENCY:
        try:
            return catalog.agency(code).name_vi
        except UnknownAgency:
            return code
    if by is ReportBy.PROCEDURE:
        try:
            versions = (
                catalog.combined_versions(code)
                if catalog.is_combined(code)
                else catalog.versions(code)
            )
        except UnknownProcedure:
            return code
        return versions[-1].name_vi if versions else code
    if by is ReportBy.MONTH and len(code) == 7:
        return f"Tháng {code[5:]}/{code[:4]}"
    return code


def _line(row: ReportRow, label: str) -> ReportLine:
    values = row_values(row)
    rate = row.on_time_rate
    return ReportLine(
        label=label,
        code=row.group,
        cells=tuple(_number(values[key]) for key, _ in COLUMNS_VI),
        on_time_rate=None if rate is None else float(rate),
        early=row.early,
        on_time=row.on_time,
        late=row.late,
    )


def vietnamese_report(result: ReportResult, catalog: Catalog) -> VietnameseReport:
    """The report's rows named in Vietnamese, with the same figures."""
    params = result.params
    by = params.by
    filters = []
    if params.desk:
        filters.append(f"Bộ phận một cửa: {params.desk}")
    if params.agency:
        filters.append(f"Cơ quan: {_name(catalog, ReportBy.AGENCY, params.agency)}")
    if params.procedure:
        filters.append(f"Thủ tục: {_name(catalog, ReportBy.PROCEDURE, params.procedure)}")
    command = [
        "starter.py report",
        f"--from {params.start}",
        f"--to {params.end}",
        *([f"--by {by.value}"] if by else []),
        *([f"--desk {params.desk}"] if params.desk else []),
        *([f"--agency {params.agency}"] if params.agency else []),
        *([f"--procedure {params.procedure}"] if params.procedure else []),
    ]
    return VietnameseReport(
        title="Báo cáo tình hình giải quyết hồ sơ đúng hạn",
        period=f"Từ ngày {params.start:%d/%m/%Y} đến ngày {params.end:%d/%m/%Y} (giờ Việt Nam)",
        unit=(
            "Đơn vị tính: bước xử lý của từng cơ quan (phiếu kiểm soát, mẫu 05)"
            if params.level is ReportLevel.AGENCY
            else "Đơn vị tính: hồ sơ"
        ),
        filters=tuple(filters),
        group_heading=_GROUP_VI[by] if by else "",
        columns=tuple(title for _, title in COLUMNS_VI),
        lines=tuple(_line(row, _name(catalog, by, row.group or "")) for row in result.rows),
        total=_line(result.total, "Tổng cộng"),
        command=" ".join(command),
    )


def report_html(report: VietnameseReport, *, issuer_vi: str) -> str:
    """The report as a self-contained, printable HTML page (A4 landscape)."""
    return render_text("report_ontime.html.j2", report=report, issuer_vi=issuer_vi)


def report_pdf(
    report: VietnameseReport,
    *,
    issuer_vi: str,
    created: datetime,
    font_path: Path | None = None,
) -> bytes:
    """The report as an A4 landscape PDF with extractable Vietnamese text."""
    return html_to_pdf(
        render_text("report_ontime.pdf.html.j2", report=report, issuer_vi=issuer_vi),
        find_font(font_path),
        created=created,
        title=report.title,
        author=issuer_vi,
        subject=report.period,
        font_size=9,
        landscape=True,
    )
