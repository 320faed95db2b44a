"""One round of an outbox relay, the same for every outside system.

``{system}.push-pending`` (`activities.portal`, `activities.sms`) hands each waiting row, oldest
first, to the system and marks it. A system that stops answering (`SystemUnavailable`) ends the
round at that row, so the order is kept and the relay backs off; a row the system refuses for
its content (`MessageRefused`) holds back the later rows of its dossier, whose order matters,
but not other dossiers'. Each row is marked in its own transaction, so a crash mid-round
repeats at most one row, which the system recognises by its idempotency key.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.outbox import PushRequest, PushResult
from store import outbox
from store.models import OutboxRow, SimulatedEInvoiceRecord, SimulatedPortalReceipt

RowT = TypeVar("RowT", bound=OutboxRow)
ReceivedT = TypeVar("ReceivedT", SimulatedPortalReceipt, SimulatedEInvoiceRecord)


class SystemUnavailable(Exception):
    """The system did not answer, or cannot take messages now: try later."""


class MessageRefused(Exception):
    """The system refused this message for what it says (a wrong code, a missing field)."""


class SimulatedCounterpart:
    """What the simulated outside systems share (`activities.portal.SimulatedPortal`,
    `activities.einvoice.SimulatedTaxAuthority`): down in windows of the relay's time, failing,
    slow, and losing acknowledgements, each drawn from the seed, the key and the attempt, so a
    run is reproduced exactly; what they receive is kept in the registry (`keep_once`).

    A subclass names the system (``name_vi``, how its errors name it: "cổng dịch vụ công") and
    its ``default_seed``.

    Args:
        sessions: where it keeps what it received.
        down: windows ``(start, end)`` of the relay's time when every message is refused.
        failure_rate: chance that a message is refused at another time.
        lost_ack_rate: chance that a message is recorded but its acknowledgement is lost (the
            relay sends it again; the system recognises the key).
        max_delay: the longest time (seconds) it takes to answer.
        seed: with the key and the attempt, fixes every draw; ``default_seed`` if None.
    """

    name_vi: ClassVar[str]
    default_seed: ClassVar[int]

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        down: Sequence[tuple[datetime, datetime]] = (),
        failure_rate: float = 0.0,
        lost_ack_rate: float = 0.0,
        max_delay: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if not (0 <= failure_rate <= 1 and 0 <= lost_ack_rate <= 1):
            raise ValueError(f"the failure rates of {self.name_vi} must be between 0 and 1")
        self._sessions = sessions
        self._down = tuple(down)
        self._failure_rate = failure_rate
        self._lost_ack_rate = lost_ack_rate
        self._max_delay = max_delay
        self._seed = self.default_seed if seed is None else seed
        self._tries: dict[str, int] = {}

    async def answer(self, key: str, sent_at: datetime) -> random.Random:
        """Take ``key``'s attempt: wait, then refuse while down or at the failure rate.

        Returns:
            The attempt's draw, for `ack_lost` once the message is recorded.

        Raises:
            SystemUnavailable: down, or a failure drawn.
        """
        self._tries[key] = self._tries.get(key, 0) + 1
        draw = random.Random(f"{self._seed}:{key}:{self._tries[key]}")
        if self._max_delay:
            await asyncio.sleep(draw.uniform(0, self._max_delay))
        if any(start <= sent_at < end for start, end in self._down):
            raise SystemUnavailable(f"{self.name_vi} đang bảo trì (503)")
        if draw.random() < self._failure_rate:
            raise SystemUnavailable(f"{self.name_vi} không trả lời (timeout)")
        return draw

    def ack_lost(self, draw: random.Random) -> bool:
        """Whether the acknowledgement of a message just recorded is lost (a retry follows)."""
        return draw.random() < self._lost_ack_rate

    async def keep_once(
        self,
        model: type[ReceivedT],
        key: str,
        build: Callable[[int], ReceivedT],
    ) -> bool:
        """Keep what arrived under ``key`` once: a repeat only counts one more delivery; a first
        arrival is ``build(arrival)``, numbered in the order of first arrivals.

        Returns:
            Whether it arrived for the first time (only then can its acknowledgement be lost).
        """
        async with self._sessions() as session:
            row = await session.get(model, key, with_for_update=True)
            if row is not None:
                row.deliveries += 1
            else:
                arrival = await session.scalar(select(func.count()).select_from(model))
                session.add(build((arrival or 0) + 1))
            await session.commit()
        return row is None


async def push_round(
    sessions: async_sessionmaker[AsyncSession],
    model: type[RowT],
    request: PushRequest,
    deliver: Callable[[RowT], Awaitable[dict[str, Any]]],
) -> PushResult:
    """Deliver the waiting rows in order; ``deliver`` returns what to record on the row."""
    result = PushResult()
    held: set[str] = set()
    async with sessions() as session:
        rows = await outbox.pending(session, model, request.limit)
    for row in rows:
        activity.heartbeat(row.id)
        if row.dossier_code in held:
            continue
        try:
            answer = await deliver(row)
        except SystemUnavailable as exc:
            await _failed(sessions, model, row.id, f"unavailable: {exc}")
            result.unavailable, result.error = True, str(exc)
            break
        except MessageRefused as exc:
            await _failed(sessions, model, row.id, f"rejected: {exc}")
            held.add(row.dossier_code)
            result.rejected += 1
            result.error = str(exc)
            activity.logger.warning(
                "outbox_row_refused",
                extra={"table": model.__tablename__, "dossier": row.dossier_code},
            )
            continue
        async with sessions() as session:
            await outbox.mark_pushed(session, model, row.id, request.now, **answer)
            await session.commit()
        result.pushed += 1
    async with sessions() as session:
        backlog = await outbox.backlog(session, model)
    result.waiting = backlog.waiting
    result.oldest_waiting_since = backlog.oldest_since
    return result


async def _failed(
    sessions: async_sessionmaker[AsyncSession], model: type[OutboxRow], row_id: int, error: str
) -> None:
    async with sessions() as session:
        await outbox.mark_failed(session, model, row_id, error)
        await session.commit()
