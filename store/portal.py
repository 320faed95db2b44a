"""The national portal's outbox: status changes owed to the portal, in the order they happened
(the rows' common handling is `store.outbox`).

`record_status_change` is called by `store.read_model.apply_snapshot` inside the transaction that
writes the new status, so a status the registry holds is never missing from the outbox (the
transactional outbox pattern): nothing is lost when the portal, the relay or a worker is down.
The relay (`activities.portal`) reads `pending` rows in ``id`` order and marks each pushed;
``(dossier_code, sequence)`` is the idempotency key the portal sees, so a push repeated after a
lost acknowledgement is recognised, not recorded twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clock import VN_TZ
from domain.dossier import PORTAL_STATUS_CODE, DossierStatus, StepStatus
from store.models import DossierRecord, PortalOutboxRecord, StepRecord
from store.outbox import as_utc

if TYPE_CHECKING:
    from domain.registry import RegistrySnapshot


async def holding_agencies(session: AsyncSession, dossier_code: str) -> list[str]:
    """The agencies holding an open step of the dossier, as the registry has them now."""
    result = await session.execute(
        select(StepRecord.agency)
        .where(StepRecord.dossier_code == dossier_code, StepRecord.status == StepStatus.OPEN)
        .distinct()
        .order_by(StepRecord.agency)
    )
    return list(result.scalars())


async def _next_sequence(session: AsyncSession, dossier_code: str) -> int:
    last = await session.scalar(
        select(func.max(PortalOutboxRecord.sequence)).where(
            PortalOutboxRecord.dossier_code == dossier_code
        )
    )
    return (last or 0) + 1


async def enqueue(
    session: AsyncSession,
    *,
    dossier_code: str,
    procedure_code: str,
    desk_code: str,
    status: str,
    changed_at: datetime,
    received_at: datetime,
    appointment_at: datetime | None,
    finished_at: datetime | None,
    resend: bool = False,
) -> PortalOutboxRecord:
    """Queue one status report of a dossier, after every earlier one of it."""
    row = PortalOutboxRecord(
        dossier_code=dossier_code,
        sequence=await _next_sequence(session, dossier_code),
        procedure_code=procedure_code,
        desk_code=desk_code,
        status=status,
        status_code=PORTAL_STATUS_CODE[DossierStatus(status)],
        changed_at=changed_at.astimezone(UTC),
        received_at=received_at.astimezone(UTC),
        appointment_at=as_utc(appointment_at),
        finished_at=as_utc(finished_at),
        agencies=",".join(await holding_agencies(session, dossier_code)),
        resend=resend,
        attempts=0,
    )
    session.add(row)
    await session.flush()
    return row


async def record_status_change(
    session: AsyncSession, snapshot: RegistrySnapshot, previous_status: str | None
) -> PortalOutboxRecord | None:
    """Queue the snapshot's status if it differs from the one the registry held before.

    Called after the snapshot's steps are written (the holding agencies are read from them) and
    only when the dossier row took the snapshot. A sync repeated after its transaction committed
    finds the status already stored and queues nothing.
    """
    if previous_status == snapshot.status:
        return None
    return await enqueue(
        session,
        dossier_code=snapshot.dossier_code,
        procedure_code=snapshot.procedure_code,
        desk_code=snapshot.desk_code,
        status=snapshot.status,
        changed_at=snapshot.synced_at or datetime.now(UTC),
        received_at=snapshot.received_at,
        appointment_at=snapshot.appointment,
        finished_at=snapshot.finished_at,
    )


def vn_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments a Vietnam calendar day starts and ends."""
    start = datetime.combine(day, time(0), VN_TZ)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def dossiers_changed_on(session: AsyncSession, day: date) -> list[DossierRecord]:
    """The dossiers that were received, or changed status, on a Vietnam calendar day."""
    start, end = vn_day_bounds(day)
    changed = select(PortalOutboxRecord.dossier_code).where(
        PortalOutboxRecord.changed_at >= start, PortalOutboxRecord.changed_at < end
    )
    result = await session.execute(
        select(DossierRecord)
        .where(
            (DossierRecord.code.in_(changed))
            | ((DossierRecord.received_at >= start) & (DossierRecord.received_at < end))
        )
        .order_by(DossierRecord.code)
    )
    return list(result.scalars())


async def last_queued(session: AsyncSession, codes: Sequence[str]) -> dict[str, PortalOutboxRecord]:
    """The latest report queued for each of these dossiers."""
    if not codes:
        return {}
    latest = (
        select(
            PortalOutboxRecord.dossier_code,
            func.max(PortalOutboxRecord.sequence).label("sequence"),
        )
        .where(PortalOutboxRecord.dossier_code.in_(codes))
        .group_by(PortalOutboxRecord.dossier_code)
        .subquery()
    )
    result = await session.execute(
        select(PortalOutboxRecord).join(
            latest,
            (PortalOutboxRecord.dossier_code == latest.c.dossier_code)
            & (PortalOutboxRecord.sequence == latest.c.sequence),
        )
    )
    return {row.dossier_code: row for row in result.scalars()}
