"""Official forms of the one-stop mechanism, rendered from template files.

- `forms.render`: form 04 (apology and new appointment date) as HTML and PDF, and the plain
  texts of the e-mails that carry forms and notices.
- `forms.official`: forms 01 (receipt), 02 (supplement request), 03 (refusal), 05 (process-
  control slip) and 06 (register, also as CSV), one model per form, as HTML and PDF.
- `forms.qr`: the tracking QR code printed on the forms.

Pure: rendering reads only its templates and the PDF font, so activities call it and the
workflows never do.
"""

from __future__ import annotations

from forms.official import (
    ControlRow,
    ControlSlip,
    FormLabels,
    OfficialForm,
    ReceiptForm,
    ReceivedItem,
    RefusalForm,
    RegisterForm,
    RegisterRow,
    StopNotice,
    SupplementForm,
    labels,
    render_html,
    render_pdf,
    render_register_csv,
)
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
    vn_moment,
)

__all__ = [
    "ApologyLetter",
    "ControlRow",
    "ControlSlip",
    "FontNotFound",
    "FormLabels",
    "OfficialForm",
    "PdfFont",
    "ReceiptForm",
    "ReceivedItem",
    "RefusalForm",
    "RegisterForm",
    "RegisterRow",
    "StopNotice",
    "SupplementForm",
    "find_font",
    "labels",
    "png_data_uri",
    "qr_png",
    "render_apology_html",
    "render_apology_pdf",
    "render_html",
    "render_pdf",
    "render_register_csv",
    "render_text",
    "vn_datetime",
    "vn_moment",
]
