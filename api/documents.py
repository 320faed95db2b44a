"""What the routes that answer a document as HTML or PDF share (the receipt, form 01, in
`api.tracking`; the electronic receipts in `api.fees`)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Response

from engine.settings import Settings
from forms.render import FontNotFound, PdfFont, find_font

# The route's 200 in the OpenAPI document: an HTML page or a PDF, as the caller asks.
HTML_OR_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}, "application/pdf": {}}}
}


def pdf_font(settings: Settings) -> PdfFont:
    """The font to print the PDF with; without one, a 503 (the HTML still answers)."""
    try:
        return find_font(settings.pdf_font)
    except FontNotFound:
        raise HTTPException(503, "no font to print the PDF; ask for format=html") from None


def pdf_response(pdf: bytes, filename: str) -> Response:
    """The PDF shown in the browser (``inline``), saved as ``filename``."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
