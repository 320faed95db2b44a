"""Rendering of the official forms: HTML from Jinja2 templates, PDF with fpdf2.

The wording of each form lives in its template files under ``forms/templates/`` (an officer can
correct a sentence without touching code); this module only fills them in. Rendering is a pure
function of the form's fields: no clock, no randomness, fixed PDF metadata, so rendering a letter
again after a crash gives the same document, byte for byte.

The PDF needs a TrueType font that covers Vietnamese (the PDF core fonts do not): DejaVu Sans,
from Debian's ``fonts-dejavu-core``, found in the usual places or named by ``LIENTHONG_PDF_FONT``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict

from domain.clock import VN_TZ
from forms.editions import FormKind, edition_on, title_of
from forms.qr import png_data_uri, qr_png

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

FONT_SETTING = "LIENTHONG_PDF_FONT"
FONT_PACKAGE = "fonts-dejavu-core"
# Where the usual systems install DejaVu Sans: Debian/Ubuntu (fonts-dejavu-core), Fedora and
# Alpine, Arch, a manual install, macOS (Homebrew cask).
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
    Path("/Library/Fonts/DejaVuSans.ttf"),
)
_FAMILY = "DejaVu"
# fontTools logs every step of subsetting the font into each PDF at INFO: a hundred lines a letter.
logging.getLogger("fontTools").setLevel(logging.WARNING)


class FontNotFound(RuntimeError):
    """No TrueType font for the PDF; the message names the setting and the package to install."""


@dataclass(frozen=True)
class PdfFont:
    """The regular and bold files of the PDF's font (bold falls back to regular if absent)."""

    regular: Path
    bold: Path


def _bold_of(regular: Path) -> Path:
    bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
    return bold if bold.is_file() else regular


def find_font(override: Path | None = None) -> PdfFont:
    """The font the PDFs are set in.

    Args:
        override: a ``.ttf`` file (setting ``LIENTHONG_PDF_FONT``); its ``-Bold`` sibling is the
            bold face when it exists. Without it, the first of `FONT_CANDIDATES` that exists.

    Raises:
        FontNotFound: the override does not exist, or none of the candidates does.
    """
    if override is not None:
        if not override.is_file():
            raise FontNotFound(
                f"{FONT_SETTING}={override}: no such font file; name a TrueType (.ttf) font "
                f"that covers Vietnamese, e.g. {FONT_CANDIDATES[0]}"
            )
        return PdfFont(override, _bold_of(override))
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            return PdfFont(candidate, _bold_of(candidate))
    raise FontNotFound(
        "no TrueType font for Vietnamese PDFs: install DejaVu Sans "
        f"(apt-get install {FONT_PACKAGE}) or set {FONT_SETTING} to a .ttf file; looked in "
        + ", ".join(str(path) for path in FONT_CANDIDATES)
    )


# -- formatting ----------------------------------------------------------------------------------


def vn_datetime(moment: datetime) -> str:
    """``05/07/2025 14:30``, in Viet Nam's time zone, as the forms print a moment."""
    return f"{moment.astimezone(VN_TZ):%d/%m/%Y %H:%M}"


def vn_moment(moment: datetime) -> str:
    """``14:30, ngày 05/07/2025``, in Viet Nam's time zone: a moment on forms 01-06."""
    return f"{moment.astimezone(VN_TZ):%H:%M, ngày %d/%m/%Y}"


def vn_date(day: date) -> str:
    """``05/07/2025``: a calendar day (the range of the register, form 06)."""
    return f"{day:%d/%m/%Y}"


def vn_date_words(moment: datetime) -> str:
    """``ngày 05 tháng 07 năm 2025``: the date line of an official document."""
    local = moment.astimezone(VN_TZ)
    return f"ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def vn_hours(hours: float) -> str:
    """Working hours with a decimal comma: ``6,5``, ``16``."""
    return f"{round(hours, 2):g}".replace(".", ",")


def vn_upper(text: str) -> str:
    """Upper case for Vietnamese headings (``str.upper`` keeps the tone marks)."""
    return text.upper()


@functools.cache
def environment() -> jinja2.Environment:
    """The forms' Jinja2 environment: HTML templates autoescaped, a missing field an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["vn_datetime"] = vn_datetime
    env.filters["vn_date_words"] = vn_date_words
    env.filters["vn_upper"] = vn_upper
    env.filters["vn_hours"] = vn_hours
    env.filters["vn_moment"] = vn_moment
    env.filters["vn_date"] = vn_date
    return env


def render_text(template: str, **context: Any) -> str:
    """Render one template of ``forms/templates`` with ``context``."""
    return environment().get_template(template).render(**context)


# -- form 04: apology and new appointment date ------------------------------------------------


class ApologyLetter(BaseModel):
    """Every field of form 04 (phiếu xin lỗi và hẹn lại ngày trả kết quả), ready to print.

    Attributes:
        letter_id: ``{dossier_code}-apology-{sequence}``.
        sequence: 1 for the dossier's first missed appointment, 2 for the next, ...
        addressee_vi: ``Ông/Bà Nguyễn Văn A``, or ``Ông/Bà (người nộp hồ sơ)`` when the
            registry has no contact for the dossier.
        agency_name_vi: The agency that missed the appointment; it issues and signs the letter.
        signer_title_vi: Its head's title (the catalog's ``head_title_vi``).
        issued_at: The letter's date; fixed when the letter is first recorded.
        place_vi: The place printed before the date (``Hà Nội``).
        tracking_url: Where the applicant follows the dossier (the QR code).
    """

    model_config = ConfigDict(frozen=True)

    letter_id: str
    sequence: int
    dossier_code: str
    procedure_name_vi: str
    received_at: datetime
    original_appointment: datetime
    new_appointment: datetime
    agency_name_vi: str
    signer_title_vi: str
    reason_vi: str
    addressee_vi: str
    issued_at: datetime
    place_vi: str
    tracking_url: str

    @property
    def title_vi(self) -> str:
        """Form 04's title in the forms of the receipt day: "Phiếu xin lỗi và hẹn lại ngày trả
        kết quả" (2018), "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết" (2025)."""
        return title_of(FormKind.APOLOGY, edition_on(self.received_at))

    @property
    def number_vi(self) -> str:
        """The letter's number as printed after ``Số:``."""
        return f"{self.sequence:02d}/PXL"


def _apology_context(letter: ApologyLetter, qr_src: str) -> dict[str, Any]:
    return {"letter": letter, "qr_src": qr_src}


def render_apology_html(letter: ApologyLetter) -> str:
    """Form 04 as a self-contained HTML page (the QR code is embedded as a PNG data URI)."""
    qr = png_data_uri(qr_png(letter.tracking_url))
    return render_text("apology_04.html.j2", **_apology_context(letter, qr))


def _pdf(font: PdfFont, created: datetime, *, landscape: bool = False) -> Any:
    """An A4 page in the font of the forms, with fixed metadata so output is reproducible.

    fpdf2 (with fontTools and numpy, a third of a second) is imported on the first PDF, not
    with the module: the workers and the simulations import the letters without always
    typesetting one.
    """
    from fpdf import FPDF

    pdf = FPDF(orientation="L" if landscape else "P", format="A4", unit="mm")
    pdf.add_font(_FAMILY, "", str(font.regular))
    pdf.add_font(_FAMILY, "B", str(font.bold))
    # DejaVu's core package has no oblique face; italics are set upright rather than failing.
    pdf.add_font(_FAMILY, "I", str(font.regular))
    pdf.add_font(_FAMILY, "BI", str(font.bold))
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_creation_date(created.astimezone(UTC))
    pdf.set_producer("lienthong forms")
    pdf.set_lang("vi")
    return pdf


# The characters Vietnamese documents are written in: Latin with its supplements and the
# Vietnamese letters (Latin Extended Additional), combining tone marks, punctuation, the đồng
# sign and a few symbols. Parsing all of DejaVu Sans (6,000 glyphs) for every PDF cost ~0.1 s a
# face; a face cut down to these parses about five times faster. A document with any other
# character is set in the whole font.
_COMMON_CHARACTERS: tuple[range, ...] = (
    range(0x20, 0x7F),
    range(0xA0, 0x250),
    range(0x300, 0x370),
    range(0x1E00, 0x1F00),
    range(0x2000, 0x2070),
    range(0x20A0, 0x20C0),
    range(0x2100, 0x2200),
    range(0x25A0, 0x2600),
)
_SUBSET_LOCK = threading.Lock()


@dataclass(frozen=True)
class _CutFont:
    font: PdfFont
    covers: frozenset[int]


@functools.cache
def _cut_font(font: PdfFont) -> _CutFont:
    """``font`` cut down to `_COMMON_CHARACTERS`, made once and kept in the temp directory."""
    with _SUBSET_LOCK:
        regular, covers = _cut_face(font.regular)
        bold = regular if font.bold == font.regular else _cut_face(font.bold)[0]
    return _CutFont(PdfFont(regular, bold), covers)


def _cut_face(path: Path) -> tuple[Path, frozenset[int]]:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    wanted = [code for block in _COMMON_CHARACTERS for code in block]
    source = path.read_bytes()
    key = hashlib.sha256(source + repr(_COMMON_CHARACTERS).encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "lienthong-fonts" / f"{path.stem}-{key}.ttf"
    if not target.is_file():
        face = TTFont(path)
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.drop_tables += ["FFTM"]  # a font-forge timestamp fontTools cannot cut
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=wanted)
        cutter.subset(face)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        face.save(partial)
        os.replace(partial, target)  # atomic: another process never reads half a font
    with TTFont(target, lazy=True) as face:
        covers = frozenset(face.getBestCmap())
    return target, covers


def _font_for(text: str, font: PdfFont) -> PdfFont:
    """The cut-down font when it has every character of ``text``, else the whole font."""
    cut = _cut_font(font)
    return cut.font if {ord(c) for c in text} <= cut.covers else font


def html_to_pdf(
    html: str,
    font: PdfFont,
    *,
    created: datetime,
    title: str,
    author: str,
    subject: str,
    font_size: float = 11,
    landscape: bool = False,
) -> bytes:
    """Lay out HTML (the subset fpdf2's ``write_html`` knows) as an A4 PDF.

    Args:
        html: The rendered ``*.pdf.html.j2`` template of a form.
        font: The font the PDF is set in.
        created: The document's own date, written as the PDF's creation date (never "now", so
            the same form gives the same bytes).
        title: The PDF's title metadata.
        author: The issuing agency or desk.
        subject: The form's business reference.
        font_size: The body text size in points.
        landscape: A4 landscape, for wide tables (forms 05 and 06).
    """
    pdf = _pdf(_font_for(html + title + author + subject, font), created, landscape=landscape)
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_subject(subject)
    pdf.add_page()
    pdf.set_font(_FAMILY, size=font_size)
    pdf.write_html(html, font_family=_FAMILY)
    return bytes(pdf.output())


def render_apology_pdf(letter: ApologyLetter, font: PdfFont) -> bytes:
    """Form 04 as an A4 PDF whose text (Vietnamese included) can be extracted and searched."""
    qr = png_data_uri(qr_png(letter.tracking_url))
    return html_to_pdf(
        render_text("apology_04.pdf.html.j2", **_apology_context(letter, qr)),
        font,
        created=letter.issued_at,
        title=f"{letter.title_vi} - {letter.dossier_code}",
        author=letter.agency_name_vi,
        subject=letter.letter_id,
    )
