"""The commune police's step: permanent-residence registration (đăng ký thường trú).

Runs on the ``agency-police`` task queue against the ``residence_registrations`` register.
The child's residence is keyed on the birth registration of the same dossier (in practice on
the personal ID number it brings), so without that entry the step is refused.

Numbers are ``TT-<yyyy>-<6-digit sequence>`` (TT: thường trú), a format of this engine
[unverified: the police's own numbering is not public]; entries are dated with the dossier's
receipt date, like the birth registration.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import from_birth_registration, yearly_number
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from store.models import ResidenceRegistration


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
            ResidenceRegistration,
            partial(yearly_number, "TT"),
            made_event="residence_registered",
            refused_event="residence_refused",
            cannot_vi="đăng ký thường trú",
            summary_vi=lambda entry: (
                f"Đã đăng ký thường trú, số {entry.number} "
                f"(theo đăng ký khai sinh số {entry.birth_registration_number})"
            ),
        )
