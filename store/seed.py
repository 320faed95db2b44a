"""Reference rows of the agencies' registers, for the demo and the tests.

A small cadastral book of Phương Liên ward (Đống Đa, Hà Nội: the ward of the source article,
part of a merged ward since 2025-07-01; its code stays ``phuong-lien``), the matching rows of the
land price table, and two marriages for the marital-status check.

Everything here is illustrative: parcel numbers, areas, origins and persons are made up, and the
prices are plausible figures in the range of Hanoi's published tables, not copied from them
[unverified]. `seed_reference_data` inserts what is missing and never overwrites a row, so it is
safe to run at every start and it never undoes what an agency changed in its register.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.clock import VN_TZ
from domain.dossier import ParcelRef
from store.db import dialect_insert
from store.models import CivilRegistration, CivilRegistrationKind, LandParcel, LandPrice, LandUse

COMMUNE = "phuong-lien"

# The parcel the demo files its land dossier for: eligible, residential, in use since before 1993.
DEMO_PARCEL = ParcelRef(commune=COMMUNE, map_sheet=12, parcel_number=345)
# Eligible, residential, in stable use since 2001: pays the land-use levy too.
LEVY_PARCEL = ParcelRef(commune=COMMUNE, map_sheet=12, parcel_number=346)
# Eligible, perennial-crop garden land (CLN).
GARDEN_PARCEL = ParcelRef(commune=COMMUNE, map_sheet=14, parcel_number=88)
# Refused by the land office: a boundary dispute is pending.
DISPUTED_PARCEL = ParcelRef(commune=COMMUNE, map_sheet=12, parcel_number=351)
# Refused by the land office: a certificate was already issued.
CERTIFIED_PARCEL = ParcelRef(commune=COMMUNE, map_sheet=12, parcel_number=352)

# Opaque person ids (no personal data) in the marriage register.
MARRIED_PERSON = "demo-person-0001"  # married since 2015-05-09 to demo-person-0002
MARRIED_PARTNER = "demo-person-0002"
DIVORCED_PERSON = "demo-person-0003"  # married 2010, divorced 2019, not remarried

_ORIGIN_STATE_ALLOCATED = "Nhà nước giao đất làm nhà ở, sử dụng ổn định, không tranh chấp"
_ORIGIN_HANDWRITTEN_SALE = "Nhận chuyển nhượng bằng giấy tờ viết tay, sử dụng ổn định"
_ORIGIN_INHERITED = "Thừa kế từ cha mẹ, sử dụng ổn định, không tranh chấp"
_ORIGIN_RESETTLEMENT = "Đất tái định cư sau giải phóng mặt bằng, bàn giao trên thực địa"


def _parcel(
    sheet: int,
    number: int,
    area: str,
    origin: str,
    since: date | None,
    *,
    land_use: LandUse = LandUse.ODT,
    disputed: bool = False,
    certified: bool = False,
    registered: date = date(2019, 8, 20),
) -> dict[str, Any]:
    return {
        "commune": COMMUNE,
        "map_sheet": sheet,
        "parcel_number": number,
        "area_m2": Decimal(area),
        "land_use": land_use.value,
        "origin_vi": origin,
        "stable_use_since": since,
        "disputed": disputed,
        "certificate_issued": certified,
        "registered_at": datetime(
            registered.year, registered.month, registered.day, 8, tzinfo=VN_TZ
        ),
    }


PARCELS: tuple[dict[str, Any], ...] = (
    _parcel(12, 345, "72.50", _ORIGIN_STATE_ALLOCATED, date(1978, 6, 1)),
    _parcel(12, 346, "58.30", _ORIGIN_HANDWRITTEN_SALE, date(2001, 3, 15)),
    _parcel(12, 347, "64.00", _ORIGIN_INHERITED, date(1990, 1, 1)),
    _parcel(12, 348, "45.20", _ORIGIN_HANDWRITTEN_SALE, date(1996, 9, 2)),
    _parcel(12, 350, "90.75", _ORIGIN_STATE_ALLOCATED, date(1982, 11, 30)),
    _parcel(
        12,
        351,
        "51.00",
        "Nhận chuyển nhượng năm 1998; đang tranh chấp ranh giới với thửa liền kề",
        date(1998, 4, 10),
        disputed=True,
    ),
    _parcel(12, 352, "68.40", _ORIGIN_INHERITED, date(1975, 1, 1), certified=True),
    _parcel(13, 101, "120.30", _ORIGIN_STATE_ALLOCATED, date(1986, 5, 19)),
    _parcel(13, 102, "38.60", _ORIGIN_RESETTLEMENT, None, registered=date(2022, 3, 14)),
    _parcel(13, 115, "77.10", _ORIGIN_RESETTLEMENT, None, registered=date(2022, 3, 14)),
    _parcel(
        14,
        88,
        "310.07",
        "Đất vườn liền kề nhà ở, trồng cây lâu năm từ năm 1985",
        date(1985, 1, 1),
        land_use=LandUse.CLN,
    ),
    _parcel(14, 90, "84.90", _ORIGIN_INHERITED, date(1992, 7, 1)),
)

# [unverified] Illustrative prices, VND per m²: inner-lane residential land of the ward under
# Hanoi's 2020-2024 table, then under the adjusted table in force after the 2025 reform.
PRICES: tuple[dict[str, Any], ...] = (
    {
        "commune": COMMUNE,
        "land_use": LandUse.ODT.value,
        "price_vnd_per_m2": 32_000_000,
        "effective_from": date(2024, 1, 1),
        "effective_to": date(2025, 6, 30),
        "legal_basis_vi": "Giá minh họa theo Bảng giá đất Hà Nội (Quyết định 30/2019/QĐ-UBND)",
    },
    {
        "commune": COMMUNE,
        "land_use": LandUse.ODT.value,
        "price_vnd_per_m2": 78_000_000,
        "effective_from": date(2025, 7, 1),
        "effective_to": None,
        "legal_basis_vi": "Giá minh họa theo Bảng giá đất Hà Nội điều chỉnh "
        "(Quyết định 71/2024/QĐ-UBND)",
    },
    {
        "commune": COMMUNE,
        "land_use": LandUse.CLN.value,
        "price_vnd_per_m2": 252_000,
        "effective_from": date(2024, 1, 1),
        "effective_to": date(2025, 6, 30),
        "legal_basis_vi": "Giá minh họa theo Bảng giá đất Hà Nội (Quyết định 30/2019/QĐ-UBND)",
    },
    {
        "commune": COMMUNE,
        "land_use": LandUse.CLN.value,
        "price_vnd_per_m2": 504_000,
        "effective_from": date(2025, 7, 1),
        "effective_to": None,
        "legal_basis_vi": "Giá minh họa theo Bảng giá đất Hà Nội điều chỉnh "
        "(Quyết định 71/2024/QĐ-UBND)",
    },
)

MARRIAGES: tuple[dict[str, Any], ...] = (
    {
        "kind": CivilRegistrationKind.MARRIAGE.value,
        "number": "KH-2015-000123",
        "subject_ref": MARRIED_PERSON,
        "partner_ref": MARRIED_PARTNER,
        "registered_on": date(2015, 5, 9),
        "ended_on": None,
    },
    {
        "kind": CivilRegistrationKind.MARRIAGE.value,
        "number": "KH-2010-000045",
        "subject_ref": DIVORCED_PERSON,
        "partner_ref": "demo-person-0004",
        "registered_on": date(2010, 10, 2),
        "ended_on": date(2019, 3, 18),
    },
)


async def _insert_missing(
    session: AsyncSession, model: type[Any], rows: tuple[dict[str, Any], ...], key: list[Any]
) -> None:
    for row in rows:
        await session.execute(
            dialect_insert(session, model).values(**row).on_conflict_do_nothing(index_elements=key)
        )


async def seed_reference_data(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Insert the reference rows that are missing; existing rows are left as they are."""
    async with sessions() as session:
        await _insert_missing(
            session,
            LandParcel,
            PARCELS,
            [LandParcel.commune, LandParcel.map_sheet, LandParcel.parcel_number],
        )
        await _insert_missing(
            session,
            LandPrice,
            PRICES,
            [LandPrice.commune, LandPrice.land_use, LandPrice.effective_from],
        )
        await _insert_missing(session, CivilRegistration, MARRIAGES, [CivilRegistration.number])
        await session.commit()
