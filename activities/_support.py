"""Small helpers the agency activities share: dates from dossier codes, Vietnamese formatting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from domain.dossier_code import DossierCodeError, parse_dossier_code
from store import agency_registers
from store.models import CivilRegistrationKind

_Entry = TypeVar("_Entry")


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


async def from_birth_registration(
    sessions: async_sessionmaker[AsyncSession],
    request: AutomatedCheckInput,
    write: Callable[[AsyncSession, dict[str, Any], date], Awaitable[tuple[_Entry, bool]]],
    *,
    made_event: str,
    refused_event: str,
    cannot_vi: str,
    passed: Callable[[_Entry], AutomatedCheckResult],
) -> AutomatedCheckResult:
    """Make an entry from the dossier's birth registration, commit it, and answer the step.

    ``write`` gets the session, the entry's link to the birth (``dossier_code``,
    ``birth_registration_number``, ``subject_ref``, as keyword arguments of the register's write)
    and the receipt date, and returns the entry and whether this call made it (logged as
    ``made_event``); ``passed`` words the step's answer from the entry. Without a birth
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
        link = {
            "dossier_code": request.dossier_code,
            "birth_registration_number": birth.number,
            "subject_ref": request.facts.subject_ref or birth.subject_ref,
        }
        entry, created = await write(session, link, day)
        await session.commit()
    activity.logger.info(made_event, extra={"dossier": request.dossier_code, "new_row": created})
    return passed(entry)


def birth_linked_result(
    reference: str, birth_registration_number: str, summary_vi: str, **dated: date
) -> AutomatedCheckResult:
    """A passed step whose entry (``reference``) was made from a birth registration; ``dated``:
    the entry's date, by its field name, as the findings carry it."""
    return AutomatedCheckResult(
        passed=True,
        summary_vi=summary_vi,
        reference=reference,
        findings={
            "birth_registration_number": birth_registration_number,
            **{name: day.isoformat() for name, day in dated.items()},
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
