"""Official forms of the one-stop mechanism, rendered from template files.

- `forms.render`: form 04 (apology and new appointment date) as HTML and PDF, and the plain
  texts of the e-mails that carry forms and notices.
- `forms.qr`: the tracking QR code printed on the forms.

Pure: rendering reads only its templates and the PDF font, so activities call it and the
workflows never do.
"""

from __future__ import annotations

from forms.qr import png_data_uri, qr_png
from forms.render import (
    ApologyLetter,
    FontNotFound,
    PdfFont,
    find_font,
    render_apology_html,
    render_apology_pdf,
    render_text,
    vn_datetime,
)

__all__ = [
    "ApologyLetter",
    "FontNotFound",
    "PdfFont",
    "find_font",
    "png_data_uri",
    "qr_png",
    "render_apology_html",
    "render_apology_pdf",
    "render_text",
    "vn_datetime",
]
