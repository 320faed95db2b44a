"""The tax authority's automated step: the financial obligation of a first-time land certificate.

Runs on the ``agency-tax`` task queue. Reads the parcel from the cadastral book
(``land_parcels``) and the price from the provincial land price table (``land_prices``), and
returns the amount the tax notice asks the applicant to pay.

Formula (every figure in whole đồng)::

    price  P = land_prices row for (commune, land use) in force on the dossier's receipt date
    value  V = area_m2 × P
    registration fee (lệ phí trước bạ)   F = round(V × 0.5%)
    land-use levy    (tiền sử dụng đất)  L = 0                 if the land use is not residential
                                           0                 if residential and in stable use
                                                             since before 15/10/1993
                                           round(V × 50%)    otherwise
    amount due = F + L

- F: 0.5% of the land value at the price table, for land registered the first time (Decree
  10/2022/NĐ-CP on registration fees, as recalled) [unverified: exemptions not modelled].
- L: a deliberately simple stand-in for Land Law 2024 art. 137-138 and Decree 103/2024 on
  recognising land used without papers [unverified]: land in stable use before the Land Law 1993
  took effect (15/10/1993) is recognised without levy; later use pays ``levy_rate`` of the land
  value (50% by default, configurable in `ObligationRules`); land recognised for a
  non-residential use (perennial crops, ``CLN``) pays none because nothing is converted. The
  residential-area limit (hạn mức), reductions and exemptions are not modelled.
- Rounding: each component half-up to the đồng, so the findings add up to the amount due.
- The day is the receipt date printed in the dossier code, not today, so a retried activity
  computes the same figure (practice prices the land when the land office sends the file to the
  tax authority [unverified]; the gap is a few working days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities._support import receipt_date, vn_date, vn_number
from activities.land import land_use_text, no_parcel_result, not_in_register_result
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult
from store import agency_registers
from store.models import LandParcel, LandUse


@dataclass(frozen=True)
class ObligationRules:
    """The rates of the obligation formula (see the module docstring).

    Attributes:
        registration_fee_rate: Lệ phí trước bạ on land, as a fraction of the land value.
        levy_rate: Tiền sử dụng đất for residential land first used on or after
            ``levy_exempt_before`` [unverified].
        levy_exempt_before: Stable use before this day pays no levy (Land Law 1993 took effect).
        residential_uses: Land-use codes the levy applies to.
    """

    registration_fee_rate: Decimal = Decimal("0.005")
    levy_rate: Decimal = Decimal("0.5")
    levy_exempt_before: date = date(1993, 10, 15)
    residential_uses: frozenset[str] = field(
        default_factory=lambda: frozenset({LandUse.ODT.value, LandUse.ONT.value})
    )


@dataclass(frozen=True)
class Obligation:
    """The figures of one tax notice."""

    land_value_vnd: int
    registration_fee_vnd: int
    levy_vnd: int
    levy_basis_vi: str

    @property
    def amount_due_vnd(self) -> int:
        """What the applicant pays: registration fee plus land-use levy."""
        return self.registration_fee_vnd + self.levy_vnd


def _dong(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(rate: Decimal) -> str:
    return f"{vn_number(rate * 100)}%"


def compute_obligation(
    parcel: LandParcel, price_vnd_per_m2: int, rules: ObligationRules
) -> Obligation:
    """Apply the formula of the module docstring to one parcel and one price (pure)."""
    value = parcel.area_m2 * price_vnd_per_m2
    fee = _dong(value * rules.registration_fee_rate)
    since = parcel.stable_use_since
    if parcel.land_use not in rules.residential_uses:
        levy, basis = 0, f"Công nhận {land_use_text(parcel.land_use)}: không thu tiền sử dụng đất"
    elif since is not None and since < rules.levy_exempt_before:
        levy = 0
        basis = (
            f"Sử dụng ổn định từ {vn_date(since)}, trước {vn_date(rules.levy_exempt_before)}: "
            "không thu tiền sử dụng đất"
        )
    else:
        levy = _dong(value * rules.levy_rate)
        charged = f"thu {_percent(rules.levy_rate)} giá trị đất"
        basis = (
            f"Sử dụng ổn định từ {vn_date(since)}, không trước mốc "
            f"{vn_date(rules.levy_exempt_before)}: {charged}"
            if since is not None
            else f"Chưa xác định thời điểm bắt đầu sử dụng ổn định: {charged}"
        )
    return Obligation(_dong(value), fee, levy, basis)


class TaxActivities:
    """Automated steps of the tax authority (``tax.*``)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], rules: ObligationRules | None = None
    ) -> None:
        self._sessions = sessions
        self._rules = rules or ObligationRules()

    @activity.defn(name="tax.compute-obligation")
    async def compute_obligation(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Compute the financial obligation of the dossier's parcel (read only).

        Refused when the dossier names no parcel, the parcel is not in the cadastral book, or the
        price table has no row for its commune and land use on the receipt date.
        """
        parcel = request.facts.parcel
        if parcel is None:
            return no_parcel_result()
        day = receipt_date(request.dossier_code)
        async with self._sessions() as session:
            row = await agency_registers.get_parcel(
                session, parcel.commune, parcel.map_sheet, parcel.parcel_number
            )
            price = (
                await agency_registers.price_in_force(session, row.commune, row.land_use, day)
                if row is not None
                else None
            )
        if row is None:
            activity.logger.info(
                "obligation_refused", extra={"dossier": request.dossier_code, "reason": "parcel"}
            )
            return not_in_register_result(parcel)
        if price is None:
            activity.logger.info(
                "obligation_refused", extra={"dossier": request.dossier_code, "reason": "price"}
            )
            return AutomatedCheckResult(
                passed=False,
                summary_vi=f"Bảng giá đất chưa có giá {land_use_text(row.land_use)} tại "
                f"{row.commune} áp dụng ngày {vn_date(day)}; chưa xác định được nghĩa vụ tài chính",
            )
        obligation = compute_obligation(row, price.price_vnd_per_m2, self._rules)
        activity.logger.info(
            "obligation_computed",
            extra={"dossier": request.dossier_code, "amount_vnd": obligation.amount_due_vnd},
        )
        return AutomatedCheckResult(
            passed=True,
            summary_vi=(
                f"Nghĩa vụ tài chính: {vn_number(obligation.amount_due_vnd)} đồng "
                f"(lệ phí trước bạ {vn_number(obligation.registration_fee_vnd)} đồng; "
                f"tiền sử dụng đất {vn_number(obligation.levy_vnd)} đồng)"
            ),
            amount_due_vnd=obligation.amount_due_vnd,
            findings={
                "area_m2": f"{row.area_m2:f}",
                "land_use": row.land_use,
                "price_vnd_per_m2": str(price.price_vnd_per_m2),
                "price_effective_from": price.effective_from.isoformat(),
                "land_value_vnd": str(obligation.land_value_vnd),
                "registration_fee_rate": str(self._rules.registration_fee_rate),
                "registration_fee_vnd": str(obligation.registration_fee_vnd),
                "land_use_levy_vnd": str(obligation.levy_vnd),
                "land_use_levy_basis_vi": obligation.levy_basis_vi,
                "amount_due_vnd": str(obligation.amount_due_vnd),
            },
        )
