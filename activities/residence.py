"""The commune police's step: permanent-residence registration (đăng ký thường trú).

Runs on the ``agency-police`` task queue against the ``residence_registrations`` register.
The child's residence is keyed on the birth registration of the same dossier (in practice on
the personal ID number it brings), so without that entry the step is refused.

Numbers are ``TT-<yyyy>-<6-digit sequence>`` (TT: thường trú), a format of this engine
[unverified: the police's own numbering is not public]; entries are dated with the dossier's
receipt date, like the birth registration.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import birth_linked_result, from_birth_registration
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from store import agency_registers


def residence_registration_number(year: int, sequence: int) -> str:
    """``TT-2025-000001``."""
    return f"TT-{year}-{sequence:06d}"


class ResidenceActivities:
    """Automated steps of the commune police (``police.*``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="police.register-residence")
    async def register_residence(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Record the permanent residence of the child; idempotent by dossier code.

        Refused when the dossier's birth registration does not exist (the catalog runs this
        step after ``justice.register-birth``, so that means the chain was broken).
        """
        return await from_birth_registration(
            self._sessions,
            request,
            lambda session, link, day: agency_registers.register_residence(
                session,
                **link,
                registered_on=day,
                number=lambda n: residence_registration_number(day.year, n),
            ),
            made_event="residence_registered",
            refused_event="residence_refused",
            cannot_vi="đăng ký thường trú",
            passed=lambda entry: birth_linked_result(
                entry.number,
                entry.birth_registration_number,
                f"Đã đăng ký thường trú, số {entry.number} "
                f"(theo đăng ký khai sinh số {entry.birth_registration_number})",
                registered_on=entry.registered_on,
            ),
        )
