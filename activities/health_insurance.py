"""The social security office's step: a health-insurance card for a child under 6.

Runs on the ``agency-social-security`` task queue against the ``health_insurance_cards``
register. The card is keyed on the birth registration of the same dossier, so without that
entry the step is refused.

Card numbers have 15 characters, shaped like the real ones (a 2-letter beneficiary group, a
benefit level, a 2-digit province code, then a 10-digit number) [unverified: the real last 10
digits are the child's social-insurance number, which this engine does not hold]::

    TE 1 01 25 00000042
    |  | |  |  +-- 8-digit yearly sequence of this register
    |  | |  +----- last two digits of the year of issue
    |  | +-------- province code (01: Hà Nội), configurable
    |  +---------- benefit level 1: 100% of costs covered (children under 6)
    +------------- TE: trẻ em dưới 6 tuổi (children under 6)

The card is valid from the dossier's receipt date (from its code) [unverified: a newborn's card
is valid from birth].
"""

from __future__ import annotations

import re
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import from_birth_registration, vn_date
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from store.models import HealthInsuranceCard

HANOI_PROVINCE_CODE = "01"


def health_card_number(province_code: str, year: int, sequence: int) -> str:
    """``TE1012500000042``: see the module docstring."""
    return f"TE1{province_code}{year % 100:02d}{sequence:08d}"


class HealthInsuranceActivities:
    """Automated steps of the social security office (``social-security.*``)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        province_code: str = HANOI_PROVINCE_CODE,
    ) -> None:
        if not re.fullmatch(r"[0-9]{2}", province_code):
            raise ValueError(f"province code must be two digits, got {province_code!r}")
        self._sessions = sessions
        self._province_code = province_code

    @activity.defn(name="social-security.issue-health-card")
    async def issue_health_card(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Issue the child's health-insurance card; idempotent by dossier code.

        Refused when the dossier's birth registration does not exist (the catalog runs this
        step after ``justice.register-birth``).
        """
        return await from_birth_registration(
            self._sessions,
            request,
            HealthInsuranceCard,
            partial(health_card_number, self._province_code),
            made_event="health_card_issued",
            refused_event="health_card_refused",
            cannot_vi="cấp thẻ bảo hiểm y tế",
            summary_vi=lambda card: (
                f"Đã cấp thẻ bảo hiểm y tế số {card.card_number}, "
                f"giá trị sử dụng từ ngày {vn_date(card.valid_from)}"
            ),
        )
