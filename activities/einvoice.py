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

import asyncio
import hashlib
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.outbox import MessageRefused, SystemUnavailable, push_round
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


class SimulatedTaxAuthority:
    """A tax authority that is sometimes down, and keeps what it received.

    Args:
        sessions: where it keeps what it received.
        down: windows ``(start, end)`` of the relay's time when every transmission is refused.
        failure_rate: chance that a transmission is refused at another time.
        lost_ack_rate: chance that a receipt is recorded but its acknowledgement is lost (the
            relay sends it again; the authority recognises the key).
        max_delay: the longest time (seconds) it takes to answer.
        seed: with the key and the attempt, fixes every draw (reproducible runs).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        down: Sequence[tuple[datetime, datetime]] = (),
        failure_rate: float = 0.0,
        lost_ack_rate: float = 0.0,
        max_delay: float = 0.0,
        seed: int = 123,
    ) -> None:
        if not (0 <= failure_rate <= 1 and 0 <= lost_ack_rate <= 1):
            raise ValueError("the e-invoice system's failure rates must be between 0 and 1")
        self._sessions = sessions
        self._down = tuple(down)
        self._failure_rate = failure_rate
        self._lost_ack_rate = lost_ack_rate
        self._max_delay = max_delay
        self._seed = seed
        self._tries: dict[str, int] = {}

    async def transmit(self, receipt: EInvoiceTransmission, sent_at: datetime) -> str:
        """Record the receipt once by its key; refuse it while down or at the failure rate."""
        key = receipt.key
        self._tries[key] = self._tries.get(key, 0) + 1
        draw = random.Random(f"{self._seed}:{key}:{self._tries[key]}")
        if self._max_delay:
            await asyncio.sleep(draw.uniform(0, self._max_delay))
        if any(start <= sent_at < end for start, end in self._down):
            raise SystemUnavailable("hệ thống hóa đơn điện tử đang bảo trì (503)")
        if draw.random() < self._failure_rate:
            raise SystemUnavailable("hệ thống hóa đơn điện tử không trả lời (timeout)")
        expected = transmission_key(
            receipt.desk_code, receipt.template_no, receipt.symbol, receipt.number
        )
        if receipt.amount_vnd <= 0 or receipt.number <= 0 or key != expected:
            raise MessageRefused(f"biên lai {key} sai số tiền hoặc số hiệu")
        code = "CQT" + hashlib.sha256(f"{self._seed}:{key}".encode()).hexdigest()[:16].upper()
        async with self._sessions() as session:
            row = await session.get(SimulatedEInvoiceRecord, key, with_for_update=True)
            if row is not None:
                row.deliveries += 1
            else:
                arrival = await session.scalar(
                    select(func.count()).select_from(SimulatedEInvoiceRecord)
                )
                session.add(
                    SimulatedEInvoiceRecord(
                        key=key,
                        dossier_code=receipt.dossier_code,
                        authority_code=code,
                        payload=receipt.model_dump_json(),
                        arrival=(arrival or 0) + 1,
                        deliveries=1,
                    )
                )
            await session.commit()
        if row is None and draw.random() < self._lost_ack_rate:
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
