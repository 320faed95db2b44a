"""The justice section's civil-status (hộ tịch) steps: birth registration, marital status.

Runs on the ``agency-justice`` task queue against the ``civil_registrations`` register.

Birth registration numbers are ``KS-<yyyy>-<6-digit sequence>`` (KS: khai sinh), the sequence
restarting each year, handed out atomically by `store.agency_registers.next_sequence`. The entry is
dated with the dossier's receipt date (from its code), so the activity is deterministic; in the
3-working-day procedure it is registered within days of receipt [unverified: the legal date of
a birth certificate is its signature date].
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import receipt_date, vn_date, yearly_number
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from store import agency_registers


class CivilStatusActivities:
    """Automated steps of the justice and civil-status section (``justice.*``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="justice.register-birth")
    async def register_birth(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Enter the birth in the civil-status register; idempotent by dossier code.

        A retried activity finds the entry its earlier attempt made and returns the same number.
        """
        day = receipt_date(request.dossier_code)
        async with self._sessions() as session:
            entry, created = await agency_registers.register_birth(
                session,
                dossier_code=request.dossier_code,
                registered_on=day,
                subject_ref=request.facts.subject_ref,
                number=partial(yearly_number, "KS", day.year),
            )
            await session.commit()
        activity.logger.info(
            "birth_registered", extra={"dossier": request.dossier_code, "new_row": created}
        )
        return AutomatedCheckResult(
            passed=True,
            summary_vi=f"Đã đăng ký khai sinh, số đăng ký {entry.number} "
            f"ngày {vn_date(entry.registered_on)}",
            reference=entry.number,
            findings={"registered_on": entry.registered_on.isoformat()},
        )

    @activity.defn(name="justice.check-marital-status")
    async def check_marital_status(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Look the person up in the marriage register (read only).

        The confirmation states the status either way, so every status found passes: never
        registered ("Chưa đăng ký kết hôn"), married since a date, or a marriage that has ended
        (divorce, death of the spouse) with no later one. Only a dossier that names no person
        fails, since there is nobody to look up.
        """
        person = request.facts.subject_ref
        if person is None:
            return AutomatedCheckResult(
                passed=False,
                summary_vi="Hồ sơ không có mã định danh của người yêu cầu xác nhận; "
                "không tra cứu được cơ sở dữ liệu hộ tịch",
            )
        async with self._sessions() as session:
            marriages = await agency_registers.marriages_of(session, person)
        current = [entry for entry in marriages if entry.ended_on is None]
        if current:
            entry = current[-1]
            result = AutomatedCheckResult(
                passed=True,
                summary_vi=f"Đã đăng ký kết hôn từ ngày {vn_date(entry.registered_on)} "
                f"(số đăng ký {entry.number})",
                reference=entry.number,
                findings={
                    "marital_status": "married",
                    "married_since": entry.registered_on.isoformat(),
                },
            )
        elif marriages:
            entry = marriages[-1]
            assert entry.ended_on is not None
            result = AutomatedCheckResult(
                passed=True,
                summary_vi=f"Hiện không có quan hệ hôn nhân: hôn nhân đăng ký ngày "
                f"{vn_date(entry.registered_on)} đã chấm dứt ngày {vn_date(entry.ended_on)}",
                findings={
                    "marital_status": "no_longer_married",
                    "marriage_ended_on": entry.ended_on.isoformat(),
                },
            )
        else:
            result = AutomatedCheckResult(
                passed=True,
                summary_vi="Chưa đăng ký kết hôn",
                findings={"marital_status": "single"},
            )
        # Marital status is personal data (Decree 13/2023 art. 2): not logged.
        activity.logger.info("marital_status_checked", extra={"dossier": request.dossier_code})
        return result
