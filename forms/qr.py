"""QR codes printed on the forms: the tracking address of a dossier, as a PNG."""

from __future__ import annotations

import base64
import io

import segno


def qr_png(data: str, *, scale: int = 4) -> bytes:
    """A QR code of ``data`` as PNG bytes (black on white, the standard 4-module quiet zone).

    Deterministic: the same data always gives the same bytes, so a re-rendered letter is
    identical to the first rendering. Error correction M survives a creased paper letter.
    """
    buffer = io.BytesIO()
    segno.make_qr(data, error="m", boost_error=False).save(
        buffer, kind="png", scale=scale, border=4
    )
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI that embeds a PNG in an HTML page (the letter has no other files)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
