"""Small helpers the agency activities share: dates from dossier codes, Vietnamese formatting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from domain.dossier_code import DossierCodeError, parse_dossier_code
from store import agency_registers
from store.models import CivilRegistrationKind, HealthInsuranceCard, ResidenceRegistration

_FromBirth = TypeVar("_FromBirth", ResidenceRegistration, HealthInsuranceCard)


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


def yearly_number(prefix: str, year: int, sequence: int) -> str:
    """A register's number, its sequence restarting each year: ``KS-2025-000001``."""
    return f"{prefix}-{year}-{sequence:06d}"


async def from_birth_registration(
    sessions: async_sessionmaker[AsyncSession],
    request: AutomatedCheckInput,
    register: type[_FromBirth],
    number: Callable[[int, int], str],
    *,
    made_event: str,
    refused_event: str,
    cannot_vi: str,
    summary_vi: Callable[[_FromBirth], str],
) -> AutomatedCheckResult:
    """Make the dossier's entry in ``register`` from its birth registration, commit it, and
    answer the step.

    The entry is dated with the receipt date and numbered by ``number`` (from the year and the
    register's sequence); whether this call made it is logged as ``made_event``. The step passes
    with the entry's number as reference, ``summary_vi`` of the entry, and the birth registration
    number and the entry's date (by its column's name) as findings. Without a birth
    registration (the catalog runs these steps after ``justice.register-birth``): a refusal,
    logged as ``refused_event``, saying in Vietnamese what ``cannot_vi`` be done yet.
    """
    day = receipt_date(request.dossier_code)
    async with sessions() as session:
        birth = await agency_registers.get_civil_registration(
            session, CivilRegistrationKind.BIRTH, request.dossier_code
        )
        if birth is None:
            activity.logger.info(
                refused_event, extra={"dossier": request.dossier_code, "reason": "birth"}
            )
            return AutomatedCheckResult(
                passed=False,
                summary_vi=f"Chưa có đăng ký khai sinh của hồ sơ này; chưa thể {cannot_vi}",
            )
        entry, created = await agency_registers.enter_from_birth(
            session,
            register,
            dossier_code=request.dossier_code,
            birth_registration_number=birth.number,
            subject_ref=request.facts.subject_ref or birth.subject_ref,
            dated=day,
            number=number,
        )
        await session.commit()
    activity.logger.info(made_event, extra={"dossier": request.dossier_code, "new_row": created})
    columns = agency_registers.FROM_BIRTH[register]
    dated: date = getattr(entry, columns.dated)
    return AutomatedCheckResult(
        passed=True,
        summary_vi=summary_vi(entry),
        reference=getattr(entry, columns.number),
        findings={
            "birth_registration_number": entry.birth_registration_number,
            columns.dated: dated.isoformat(),
        },
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
