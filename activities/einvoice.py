"""Electronic fee receipts transmitted to the tax authority's e-invoice system.

Every receipt and refund document is queued in ``einvoice_outbox`` in the transaction that
issues it (`store.receipts.issue`), and sent from there by ``einvoice.push-pending`` on the
system's own task queue (``ext-einvoice``) through `TaxAuthorityEInvoice`; the relay
(`workflows.relay`, id ``einvoice-relay``) calls it in rounds and backs off while the system is
down, as it does for the portal and the SMS gateway. The key ``{desk}:{template}:{symbol}:
{number}`` names one receipt: a transmission repeated after a lost acknowledgement is recognised
by the authority, never recorded twice.

`SimulatedTaxAuthority` behaves like the real one for the demo and the tests: down during
configured windows, failing now and then, slow, losing an acknowledgement now and then (so the
same receipt arrives twice), refusing a receipt whose content is wrong, and keeping what it
received (``sim_einvoice_received``). The real adapter (its API and credentials are the tax
authority's and the province's) implements the one method.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.outbox import (
    MessageRefused,
    SimulatedCounterpart,
    SystemUnavailable,
    push_round,
)
from domain.fees import EInvoiceTransmission, transmission_key
from domain.outbox import PushRequest, PushResult
from store.models import EInvoiceOutboxRecord, SimulatedEInvoiceRecord


class TaxAuthorityEInvoice(Protocol):
    """The tax authority's e-invoice/e-receipt system."""

    async def transmit(self, receipt: EInvoiceTransmission, sent_at: datetime) -> str:
        """Deliver one receipt once per ``receipt.key``; the authority's code for it (the same
        for the same key).

        Raises:
            SystemUnavailable: the system did not take it; try later.
            MessageRefused: the receipt's content is not acceptable.
        """
        ...


class SimulatedTaxAuthority(SimulatedCounterpart):
    """A tax authority that is sometimes down, and keeps what it received (table
    ``sim_einvoice_received``); its behaviour is `activities.outbox.SimulatedCounterpart`'s."""

    name_vi = "hệ thống hóa đơn điện tử"
    default_seed = 123

    async def transmit(self, receipt: EInvoiceTransmission, sent_at: datetime) -> str:
        """Record the receipt once by its key; refuse it while down or at the failure rate."""
        key = receipt.key
        draw = await self.answer(key, sent_at)
        expected = transmission_key(
            receipt.desk_code, receipt.template_no, receipt.symbol, receipt.number
        )
        if receipt.amount_vnd <= 0 or receipt.number <= 0 or key != expected:
            raise MessageRefused(f"biên lai {key} sai số tiền hoặc số hiệu")
        code = "CQT" + hashlib.sha256(f"{self._seed}:{key}".encode()).hexdigest()[:16].upper()
        first = await self.keep_once(
            SimulatedEInvoiceRecord,
            key,
            lambda arrival: SimulatedEInvoiceRecord(
                key=key,
                dossier_code=receipt.dossier_code,
                authority_code=code,
                payload=receipt.model_dump_json(),
                arrival=arrival,
                deliveries=1,
            ),
        )
        if first and self.ack_lost(draw):
            raise SystemUnavailable("mất xác nhận từ cơ quan thuế (kết nối bị ngắt)")
        return code


class EInvoiceActivities:
    """The e-invoice relay's side: each queued receipt to the tax authority, once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], authority: TaxAuthorityEInvoice
    ) -> None:
        self._sessions = sessions
        self._authority = authority

    @activity.defn(name="einvoice.push-pending")
    async def push_pending(self, request: PushRequest) -> PushResult:
        """Transmit the waiting receipts in order (`activities.outbox.push_round`)."""

        async def deliver(row: EInvoiceOutboxRecord) -> dict[str, Any]:
            receipt = EInvoiceTransmission.model_validate_json(row.payload)
            return {"authority_code": await self._authority.transmit(receipt, request.now)}

        return await push_round(self._sessions, EInvoiceOutboxRecord, request, deliver)
