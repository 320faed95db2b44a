"""The desk's wall poster: its procedures, each with a QR code to the procedure's public page.

The format of the Đống Đa one-stop desk (2023): a numbered list of the procedures received at
the desk, each with its time limit, fee and a QR code a citizen scans to read the papers to
bring and to file online. ``starter.py catalog poster --desk CODE`` writes the A4 PDF; the same
list is a printable page at ``/desks/{CODE}/poster``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import jinja2

from domain.catalog import Catalog, CatalogEntry
from forms.official import labels
from forms.qr import png_data_uri, qr_png
from forms.render import PdfFont, html_to_pdf, vn_date
from web.i18n import TEXT, translator
from web.views import TimelineStep, versions_of, vnd

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The pages' Jinja2 environment: autoescaped, a missing variable an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_date"] = vn_date
    env.filters["vnd"] = vnd
    env.filters["groupby_procedure"] = _by_procedure
    return env


def _by_procedure(steps: list[TimelineStep]) -> list[tuple[str, list[TimelineStep]]]:
    """The timeline's steps grouped by procedure, in the plan's order (a bundle has several)."""
    groups: dict[str, list[TimelineStep]] = {}
    for step in steps:
        groups.setdefault(step.procedure_vi, []).append(step)
    return list(groups.items())


def procedure_url(public_base_url: str, code: str) -> str:
    """The public page of a procedure: what the poster's QR code opens."""
    return f"{public_base_url.rstrip('/')}/procedures/{code}"


@dataclass(frozen=True)
class PosterRow:
    """One procedure on the poster."""

    number: int
    code: str
    name_vi: str
    limit_vi: str
    fee_vi: str
    online_only: bool
    url: str
    qr_src: str


def _fee_vi(catalog: Catalog, entry: CatalogEntry, day: date) -> str:
    fees = [fee for version in versions_of(catalog, entry, day) for fee in version.fees]
    if not fees:
        return TEXT["no_fee"][0]
    if any(fee.amount_vnd is None for fee in fees):
        return "Theo quy định, tính theo hồ sơ"
    return "; ".join(
        vnd(fee.amount_vnd or 0) + (f"/{fee.per_vi}" if fee.per_vi else "") for fee in fees
    )


def poster_rows(catalog: Catalog, day: date, public_base_url: str) -> list[PosterRow]:
    """The procedures in force on ``day``, numbered, each with its QR code (a PNG data URI)."""
    rows = []
    for number, entry in enumerate(catalog.list_in_force(day), start=1):
        url = procedure_url(public_base_url, entry.code)
        rows.append(
            PosterRow(
                number=number,
                code=entry.code,
                name_vi=entry.name_vi,
                limit_vi=labels().time_limit(entry.limit.amount, entry.limit.unit),
                fee_vi=_fee_vi(catalog, entry, day),
                online_only=entry.online_only,
                url=url,
                qr_src=png_data_uri(qr_png(url, scale=3)),
            )
        )
    return rows


def _context(catalog: Catalog, day: date, desk: str, public_base_url: str) -> dict[str, object]:
    return {
        "rows": poster_rows(catalog, day, public_base_url),
        "desk": desk,
        "desk_name_vi": catalog.agency("one-stop").name_vi,
        "day": day,
        "t": translator("vi"),
    }


def poster_html(catalog: Catalog, day: date, desk: str, public_base_url: str) -> str:
    """The poster as a printable HTML page body (laid out by ``poster.html.j2``)."""
    return (
        environment()
        .get_template("poster_body.html.j2")
        .render(**_context(catalog, day, desk, public_base_url))
    )


def poster_pdf(
    catalog: Catalog, day: date, desk: str, public_base_url: str, font: PdfFont
) -> bytes:
    """The poster as an A4 PDF, the same bytes for the same day, desk and catalog."""
    html = (
        environment()
        .get_template("poster.pdf.html.j2")
        .render(**_context(catalog, day, desk, public_base_url))
    )
    return html_to_pdf(
        html,
        font,
        created=datetime.combine(day, time(), UTC),
        title=f"{TEXT['poster_title'][0]} - {desk}",
        author=catalog.agency("one-stop").name_vi,
        subject=f"{desk} {day.isoformat()}",
        font_size=10,
    )
