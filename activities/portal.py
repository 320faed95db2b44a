"""Status reports to the national public-service portal (Cổng Dịch vụ công quốc gia).

Every status change of a dossier (codes 1-10, `domain.dossier.PORTAL_STATUS_CODE`) is queued in
the portal's outbox in the same transaction as the registry row (`store.portal`), and pushed from
there by ``portal.push-pending`` on the portal's own task queue (`engine.names.PORTAL_TASK_QUEUE`),
so the portal's worker can run where the portal connection is, as an agency's does. The relay
workflow (`workflows.portal`) calls it in a loop and backs off while the portal is down.

The portal is reached through `NationalPortal`. `SimulatedPortal` behaves like the real one for
the demo and the tests: it is down during configured windows, fails now and then, loses an
acknowledgement now and then (so the same report arrives twice), and keeps what it received so
the two sides can be compared. A real adapter implements the same two methods against the
portal's API; the idempotency key ``{dossier code}:{sequence}`` is what makes a repeated push
harmless on either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.outbox import (
    MessageRefused,
    SimulatedCounterpart,
    SystemUnavailable,
    push_round,
)
from domain.dossier import PORTAL_STATUS_CODE, DossierStatus
from domain.outbox import PushRequest, PushResult
from store import portal as outbox
from store.models import PortalOutboxRecord, SimulatedPortalReceipt
from store.outbox import as_utc

# What the portal's answers mean to the relay (`activities.outbox`).
PortalUnavailable = SystemUnavailable
PortalRejected = MessageRefused


class PortalUpdate(BaseModel):
    """One status report, as the portal receives it (codes, dates and agencies; no names)."""

    idempotency_key: str  # "{dossier code}:{sequence}"
    dossier_code: str
    sequence: int
    procedure_code: str
    desk_code: str
    status: str
    status_code: int
    changed_at: datetime
    received_at: datetime
    appointment_at: datetime | None = None
    finished_at: datetime | None = None
    agencies: list[str] = []  # the agencies holding the dossier after the change
    sent_at: datetime  # when the relay sends it (the relay workflow's time)


class NationalPortal(Protocol):
    """The national portal's interface."""

    async def report(self, update: PortalUpdate) -> None:
        """Deliver one report (raises `PortalUnavailable` or `PortalRejected`)."""
        ...

    async def acknowledged(self, dossier_codes: Sequence[str]) -> dict[str, int]:
        """The last status code the portal holds for each dossier it knows of."""
        ...


class SimulatedPortal(SimulatedCounterpart):
    """A portal that is sometimes down, and keeps what it received (table
    ``sim_portal_receipts``); its behaviour is `activities.outbox.SimulatedCounterpart`'s."""

    name_vi = "cổng dịch vụ công"
    default_seed = 2018

    async def report(self, update: PortalUpdate) -> None:
        """Record the report once by its key; refuse it while down or at the failure rate."""
        key = update.idempotency_key
        draw = await self.answer(key, update.sent_at)
        if not 1 <= update.status_code <= 10:
            raise PortalRejected(f"mã trạng thái {update.status_code} không hợp lệ")
        first = await self.keep_once(
            SimulatedPortalReceipt,
            key,
            lambda arrival: SimulatedPortalReceipt(
                idempotency_key=key,
                dossier_code=update.dossier_code,
                sequence=update.sequence,
                status_code=update.status_code,
                payload=update.model_dump_json(),
                arrival=arrival,
                deliveries=1,
            ),
        )
        if first and self.ack_lost(draw):
            raise PortalUnavailable("mất xác nhận từ cổng (kết nối bị ngắt)")

    async def acknowledged(self, dossier_codes: Sequence[str]) -> dict[str, int]:
        """The status of each dossier's highest sequence received."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(SimulatedPortalReceipt)
                    .where(SimulatedPortalReceipt.dossier_code.in_(list(dossier_codes)))
                    .order_by(SimulatedPortalReceipt.sequence)
                )
            ).scalars()
            return {row.dossier_code: row.status_code for row in rows}

    async def received(self) -> list[PortalUpdate]:
        """Everything received, in order of first arrival (for tests and the demo)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(SimulatedPortalReceipt).order_by(SimulatedPortalReceipt.arrival)
                )
            ).scalars()
            return [PortalUpdate.model_validate(json.loads(row.payload)) for row in rows]


def update_of(row: PortalOutboxRecord, sent_at: datetime) -> PortalUpdate:
    """The report of an outbox row."""
    return PortalUpdate(
        idempotency_key=f"{row.dossier_code}:{row.sequence}",
        dossier_code=row.dossier_code,
        sequence=row.sequence,
        procedure_code=row.procedure_code,
        desk_code=row.desk_code,
        status=row.status,
        status_code=row.status_code,
        changed_at=as_utc(row.changed_at) or sent_at,
        received_at=as_utc(row.received_at) or sent_at,
        appointment_at=as_utc(row.appointment_at),
        finished_at=as_utc(row.finished_at),
        agencies=[a for a in row.agencies.split(",") if a],
        sent_at=sent_at,
    )


class PortalActivities:
    """The relay's side of the portal sync."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], portal: NationalPortal) -> None:
        self._sessions = sessions
        self._portal = portal

    @activity.defn(name="portal.push-pending")
    async def push_pending(self, request: PushRequest) -> PushResult:
        """Push the waiting reports in order (`activities.outbox.push_round`)."""

        async def deliver(row: PortalOutboxRecord) -> dict[str, Any]:
            await self._portal.report(update_of(row, request.now))
            return {}

        return await push_round(self._sessions, PortalOutboxRecord, request, deliver)


class Mismatch(BaseModel):
    """A dossier the portal shows otherwise than the registry does."""

    dossier_code: str
    registry_code: int  # the status code the registry holds
    portal_code: int | None  # what the portal acknowledged; None: it knows nothing of it
    queued: bool  # a re-send was queued (False: one is already waiting)


class Reconciliation(BaseModel):
    """What `reconcile` compared and found."""

    day: date
    compared: int
    mismatches: list[Mismatch] = []


async def reconcile(
    sessions: async_sessionmaker[AsyncSession], portal: NationalPortal, day: date
) -> Reconciliation:
    """Compare the registry with what the portal acknowledged, for the dossiers received or
    changed on ``day`` (Vietnam date), and queue the current status of every dossier the
    portal shows otherwise, unless a report of it is still waiting in the outbox (the relay
    will deliver that one). The relay sends the re-sends in order, after what waits."""
    async with sessions() as session:
        dossiers = await outbox.dossiers_changed_on(session, day)
        codes = [d.code for d in dossiers]
        acknowledged = await portal.acknowledged(codes)
        queued = await outbox.last_queued(session, codes)
        report = Reconciliation(day=day, compared=len(dossiers))
        for dossier in dossiers:
            ours = PORTAL_STATUS_CODE[DossierStatus(dossier.status)]
            theirs = acknowledged.get(dossier.code)
            if theirs == ours:
                continue
            last = queued.get(dossier.code)
            waiting = last is not None and last.pushed_at is None
            if not waiting:
                await outbox.enqueue(
                    session,
                    dossier_code=dossier.code,
                    procedure_code=dossier.procedure_code,
                    desk_code=dossier.desk_code,
                    status=dossier.status,
                    changed_at=as_utc(last.changed_at if last else None)
                    or as_utc(dossier.received_at)
                    or datetime.now(UTC),
                    received_at=as_utc(dossier.received_at) or datetime.now(UTC),
                    appointment_at=dossier.appointment_at,
                    finished_at=dossier.finished_at,
                    resend=True,
                )
            report.mismatches.append(
                Mismatch(
                    dossier_code=dossier.code,
                    registry_code=ours,
                    portal_code=theirs,
                    queued=not waiting,
                )
            )
        await session.commit()
    return report
