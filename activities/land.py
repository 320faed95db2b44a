"""The land registration office's automated check: the parcel against the cadastral book.

Runs on the ``agency-land-registration`` task queue and reads the ``land_parcels`` register
(sổ địa chính). A first-time certificate can only go ahead for a parcel that is in the book,
is not in dispute and has no certificate yet.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import vn_number
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult, ParcelRef
from store import agency_registers
from store.models import LandParcel

# Names of the land-use codes (Circular 08/2024/TT-BTNMT) for letters; others print as the code.
LAND_USE_NAMES_VI = {
    "ODT": "đất ở tại đô thị",
    "ONT": "đất ở tại nông thôn",
    "CLN": "đất trồng cây lâu năm",
    "BHK": "đất bằng trồng cây hàng năm khác",
    "TMD": "đất thương mại, dịch vụ",
}


def parcel_text(parcel: ParcelRef) -> str:
    """How letters name a parcel: ``thửa đất số 345, tờ bản đồ số 12 (phuong-lien)``."""
    return f"thửa đất số {parcel.parcel_number}, tờ bản đồ số {parcel.map_sheet} ({parcel.commune})"


def land_use_text(code: str) -> str:
    """``đất ở tại đô thị (ODT)``."""
    name = LAND_USE_NAMES_VI.get(code)
    return f"{name} ({code})" if name else code


def no_parcel_result() -> AutomatedCheckResult:
    """The refusal when a land dossier names no parcel at all."""
    return AutomatedCheckResult(
        passed=False, summary_vi="Hồ sơ không ghi thửa đất (tờ bản đồ số, thửa đất số)"
    )


def not_in_register_result(parcel: ParcelRef) -> AutomatedCheckResult:
    """The refusal when the cadastral book has no such parcel."""
    return AutomatedCheckResult(
        passed=False,
        summary_vi=f"Thửa đất số {parcel.parcel_number}, tờ bản đồ số {parcel.map_sheet} "
        f"({parcel.commune}) không có trong sổ địa chính",
    )


def parcel_findings(row: LandParcel) -> dict[str, str]:
    """What the register says about a parcel, as findings."""
    return {"area_m2": f"{row.area_m2:f}", "land_use": row.land_use, "origin_vi": row.origin_vi}


class LandActivities:
    """Automated checks of the land registration office (``land.*``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="land.check-parcel")
    async def check_parcel(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Check the dossier's parcel against the cadastral book (read only).

        Refused when the parcel is not in the book, is in dispute, or already has a
        certificate (a first-time certificate cannot be issued twice).
        """
        parcel = request.facts.parcel
        if parcel is None:
            return no_parcel_result()
        async with self._sessions() as session:
            row = await agency_registers.get_parcel(
                session, parcel.commune, parcel.map_sheet, parcel.parcel_number
            )
        if row is None:
            _log_outcome(request, "not_found")
            return not_in_register_result(parcel)
        findings = parcel_findings(row)
        text = parcel_text(parcel)
        if row.disputed:
            _log_outcome(request, "disputed")
            return AutomatedCheckResult(
                passed=False,
                summary_vi=f"Thửa đất đang có tranh chấp, chưa đủ điều kiện cấp Giấy chứng nhận: "
                f"{text}",
                findings=findings,
            )
        if row.certificate_issued:
            _log_outcome(request, "already_certified")
            return AutomatedCheckResult(
                passed=False,
                summary_vi=f"Thửa đất đã được cấp Giấy chứng nhận, không cấp lần đầu: {text}",
                findings=findings,
            )
        _log_outcome(request, "eligible")
        return AutomatedCheckResult(
            passed=True,
            summary_vi=f"Thửa đất khớp sổ địa chính: {text}; diện tích "
            f"{vn_number(row.area_m2)} m², {land_use_text(row.land_use)}; "
            "không tranh chấp, chưa được cấp Giấy chứng nhận",
            findings=findings,
        )


def _log_outcome(request: AutomatedCheckInput, outcome: str) -> None:
    # The parcel identifies a person's land (Decree 13/2023): log the outcome, not the parcel.
    activity.logger.info(
        "parcel_checked", extra={"dossier": request.dossier_code, "outcome": outcome}
    )
