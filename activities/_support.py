"""Small helpers the agency activities share: dates from dossier codes, Vietnamese formatting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.dossier import AutomatedCheckResult
from domain.dossier_code import DossierCodeError, parse_dossier_code


def receipt_date(dossier_code: str) -> date:
    """The receipt date printed in a dossier code (``DESK-yyMMdd-NNNN``).

    Agencies date their entries from the code rather than from the wall clock, so that an
    activity's answer depends only on its input and the registers.

    Raises:
        ApplicationError: non-retryable, the code is malformed (retrying cannot fix it).
    """
    try:
        return parse_dossier_code(dossier_code)[1]
    except DossierCodeError as exc:
        raise ApplicationError(str(exc), type="DossierCodeError", non_retryable=True) from None


def no_birth_registration(event: str, dossier_code: str, cannot_vi: str) -> AutomatedCheckResult:
    """The refusal of a step that builds on the dossier's birth registration, which does not
    exist (yet): logged as ``event``; ``cannot_vi`` says what cannot be done, in Vietnamese."""
    activity.logger.info(event, extra={"dossier": dossier_code, "reason": "birth"})
    return AutomatedCheckResult(
        passed=False,
        summary_vi=f"Chưa có đăng ký khai sinh của hồ sơ này; chưa thể {cannot_vi}",
    )


def vn_date(day: date) -> str:
    """A date as Vietnamese letters print it: ``05/07/2025``."""
    return f"{day:%d/%m/%Y}"


def vn_number(value: int | Decimal) -> str:
    """A number in Vietnamese notation: ``28.275.000``, ``72,5``."""
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{grouped},{fraction}" if fraction else grouped
