"""Dossier codes: ``{desk code}-{yyMMdd}-{4-digit daily sequence}``, e.g. ``DONGDA-251128-0042``.

The date is the receipt date in Vietnam time; the sequence restarts at 0001 each day for each
desk and is handed out by the registry (`store.dossier_codes.allocate_dossier_code`), so codes are
unique under concurrency. A code that was allocated but whose dossier never started leaves a gap;
gaps are allowed, duplicates never.
"""

from __future__ import annotations

import re
from datetime import date

MAX_DAILY_SEQUENCE = 9999
_PATTERN = re.compile(r"(?P<desk>[A-Z0-9.]{2,20})-(?P<day>\d{6})-(?P<seq>\d{4})")


class DossierCodeError(ValueError):
    """A dossier code is malformed, or a desk ran out of codes for the day."""


def format_dossier_code(desk_code: str, day: date, sequence: int) -> str:
    """Build a dossier code.

    Raises:
        DossierCodeError: the sequence is outside 1..9999.
    """
    if not 1 <= sequence <= MAX_DAILY_SEQUENCE:
        raise DossierCodeError(
            f"desk {desk_code} has used all {MAX_DAILY_SEQUENCE} dossier codes of {day:%Y-%m-%d}"
        )
    return f"{desk_code}-{day:%y%m%d}-{sequence:04d}"


def parse_dossier_code(code: str) -> tuple[str, date, int]:
    """Split a dossier code into (desk code, receipt date, sequence).

    Raises:
        DossierCodeError: the code does not have the documented shape.
    """
    match = _PATTERN.fullmatch(code.strip().upper())
    if match is None:
        raise DossierCodeError(
            f"{code!r} is not a dossier code (expected DESK-yyMMdd-NNNN, e.g. DONGDA-251128-0042)"
        )
    digits = match["day"]
    try:
        day = date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        raise DossierCodeError(f"{code!r} has an impossible date {digits}") from None
    return match["desk"], day, int(match["seq"])
