"""What a dossier owes at receipt: the fixed fees of the catalog version in force.

A fee per page or per copy is not collected at receipt (`COUNTED_UNITS_VI`). A procedure with
no fixed fee (``fees: []``, as the Decree 63/2024 birth bundle and an on-time birth
registration) owes nothing: it is exempt and gets no receipt. A ``computed`` fee (a land
tax) is set per dossier by its agency later, never at the desk. A fee marked ``blocks_clock``
holds the dossier's reception until it is paid (see docs/integrations.md, "Fees and electronic
receipts").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from domain.catalog import Catalog, Fee, ProcedureVersion

# Fees charged per page or per copy depend on a count the dossier does not state: they are not
# collected at receipt (the desk counts the pages when it hands over the result).
COUNTED_UNITS_VI = frozenset({"trang", "bản"})


@dataclass(frozen=True)
class FeeDue:
    """The fees a dossier pays at the desk, and whether its clock waits for them."""

    procedure_code: str
    procedure_version: str
    items: tuple[Fee, ...]

    @property
    def name_vi(self) -> str:
        """What the receipt names: the fees, in the catalog's words."""
        return "; ".join(fee.name_vi for fee in self.items)

    @property
    def amount_vnd(self) -> int:
        """The total, in đồng."""
        return sum(fee.amount_vnd or 0 for fee in self.items)

    @property
    def exempt(self) -> bool:
        """Nothing to pay, so no receipt."""
        return self.amount_vnd == 0

    @property
    def blocks_clock(self) -> bool:
        """The dossier is received only when paid."""
        return any(fee.blocks_clock for fee in self.items)


def fee_due(version: ProcedureVersion) -> FeeDue:
    """The fixed fees of ``version`` (the catalog version in force on the day of receipt)."""
    return FeeDue(
        procedure_code=version.code,
        procedure_version=version.version,
        items=tuple(
            fee
            for fee in version.fees
            if not fee.computed and fee.amount_vnd and fee.per_vi not in COUNTED_UNITS_VI
        ),
    )


def fee_due_on(catalog: Catalog, code: str, day: date) -> FeeDue:
    """The fees of a procedure, single or combined, in force on ``day`` (the day of receipt)."""
    if not catalog.is_combined(code):
        return fee_due(catalog.version_on(code, day))
    combined = catalog.combined_on(code, day)
    parts = [fee_due(version) for version in catalog.components_on(code, day)]
    return FeeDue(
        procedure_code=code,
        procedure_version=combined.version,
        items=tuple(fee for part in parts for fee in part.items),
    )


class EInvoiceTransmission(BaseModel):
    """One electronic receipt (or refund document) as the tax authority's e-invoice system
    receives it: who collected, the series and number, what and how much; no payer name.

    Queued with the receipt (`store.receipts.issue`) and sent by ``einvoice.push-pending``
    (`activities.einvoice`). Which fields the authority's interface requires is `[unverified]`
    (docs/integrations.md): these are the receipt's own, less the payer.
    """

    key: str  # "{desk}:{template}:{symbol}:{number}": one per receipt, the idempotency key
    kind: Literal["receipt", "refund"]
    collector_name_vi: str
    collector_tax_code: str
    desk_code: str
    template_no: str
    symbol: str
    number: int
    dossier_code: str
    fee_name_vi: str
    amount_vnd: int
    method: str
    issued_at: datetime
    refunds: str = ""  # the receipt a refund document reverses


def transmission_key(desk_code: str, template_no: str, symbol: str, number: int) -> str:
    """The tax authority's idempotency key of a receipt: its desk, series and number."""
    return f"{desk_code}:{template_no}:{symbol}:{number}"
