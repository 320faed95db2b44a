"""Writes of the registry's read model (revision 0004): a dossier as its workflow reports it.

One function, `apply_snapshot`, upserts everything a sync carries in one transaction, keyed by
business ids (dossier code + step key, + ledger sequence, + document kind and sequence, + update
id), so a retried or replayed sync rewrites the same rows and never adds one. The dossier row is
written last and only moves forward: a snapshot older than the stored ``revision`` leaves it
alone. Callers own the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import portal, sms
from store.db import dialect_insert, on_conflict, rows_where
from store.models import (
    AuditRecord,
    DeliveryAttemptRecord,
    DeliveryRecord,
    DocumentRecord,
    DossierRecord,
    HandoverRecord,
    ProcedureRun,
    ReceivedDocument,
    StepRecord,
)

if TYPE_CHECKING:
    from domain.registry import RegistrySnapshot

_Row = TypeVar("_Row", StepRecord, HandoverRecord, AuditRecord, DocumentRecord, DeliveryRecord)


def utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC: the registry stores UTC (SQLite keeps no zone, so it must be one)."""
    return moment.astimezone(UTC) if moment is not None else None


async def _upsert(
    session: AsyncSession,
    table: Any,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
) -> None:
    if not rows:
        return
    stmt = dialect_insert(session, table).values(list(rows))
    await session.execute(on_conflict(stmt, table, keys, rows[0] if update else ()))


def _dossier_upsert(stmt: Any, values: dict[str, Any]) -> Any:
    # The dossier row only moves forward: an older snapshot than the stored revision is ignored.
    return stmt.on_conflict_do_update(
        index_elements=[DossierRecord.code],
        set_={key: stmt.excluded[key] for key in values if key != "code"},
        where=DossierRecord.revision <= stmt.excluded.revision,
    )


# (table, rows, business key, whether a row written again is updated)
TableRows = tuple[Any, list[dict[str, Any]], list[str], bool]


def snapshot_rows(snapshot: RegistrySnapshot) -> list[TableRows]:
    """The rows a snapshot writes, per table, except the dossier row (`dossier_values`)."""
    code = snapshot.dossier_code
    return [
        (
            ProcedureRun,
            [
                {
                    "dossier_code": code,
                    "procedure_code": p.code,
                    "version": p.version,
                    "name_vi": p.name_vi,
                    "outcome": p.outcome,
                }
                for p in snapshot.procedures
            ],
            ["dossier_code", "procedure_code"],
            True,
        ),
        (
            StepRecord,
            [
                {
                    "dossier_code": code,
                    "step_key": s.key,
                    "procedure_code": s.procedure,
                    "agency": s.agency,
                    "kind": s.kind,
                    "name_vi": s.name_vi,
                    "status": s.status,
                    "opened_at": utc(s.opened_at),
                    "due_at": utc(s.due),
                    "done_at": utc(s.done_at),
                    "overdue": s.overdue,
                    "outcome": s.outcome,
                    "officer_id": s.officer_id,
                    "verdict": s.verdict,
                    "working_hours": s.working_hours,
                    "late_working_hours": s.late_working_hours,
                }
                for s in snapshot.steps
            ],
            ["dossier_code", "step_key"],
            True,
        ),
        # The ledger, received documents and the audit log only grow: the first write stands.
        (
            HandoverRecord,
            [
                {
                    "dossier_code": code,
                    "sequence": h.sequence,
                    "procedure_code": h.procedure,
                    "step": h.step,
                    "from_agency": h.from_agency,
                    "to_agencies": ",".join(h.to_agencies),
                    "at": utc(h.at),
                    "result": h.result,
                    "officer_id": h.officer_id,
                    "due_at": utc(h.due),
                    "verdict": h.verdict,
                    "late_working_hours": h.late_working_hours,
                }
                for h in snapshot.handovers
            ],
            ["dossier_code", "sequence"],
            False,
        ),
        (
            ReceivedDocument,
            [
                {
                    "dossier_code": code,
                    "sequence": d.sequence,
                    "name_vi": d.name_vi,
                    "sha256": d.sha256,
                    "supplement": d.supplement,
                }
                for d in snapshot.received
            ],
            ["dossier_code", "sequence"],
            False,
        ),
        (
            AuditRecord,
            [
                {
                    "dossier_code": code,
                    "update_id": a.update_id,
                    "at": utc(a.at),
                    "actor_kind": a.actor_kind,
                    "actor_id": a.actor_id,
                    "agency": a.agency,
                    "action": a.action,
                    "step": a.step,
                    "reason": a.reason,
                    "detail": a.detail,
                }
                for a in snapshot.audit
            ],
            ["dossier_code", "update_id"],
            False,
        ),
        # Documents may change after issue (a letter is marked sent; a supplement answered).
        (
            DocumentRecord,
            [
                {
                    "dossier_code": code,
                    "kind": d.kind,
                    "sequence": d.sequence,
                    "procedure_code": d.procedure,
                    "step": d.step,
                    "agency": d.agency,
                    "reference": d.reference,
                    "summary_vi": d.summary_vi,
                    "detail": json.dumps(d.detail, ensure_ascii=False, sort_keys=True, default=str),
                    "issued_at": utc(d.issued_at),
                }
                for d in snapshot.issued
            ],
            ["dossier_code", "kind", "sequence"],
            True,
        ),
    ]


def dossier_values(snapshot: RegistrySnapshot) -> dict[str, Any]:
    """The dossier row of a snapshot."""
    return {
        "code": snapshot.dossier_code,
        "desk_code": snapshot.desk_code,
        "procedure_code": snapshot.procedure_code,
        "procedure_version": snapshot.procedure_version,
        "name_vi": snapshot.name_vi,
        "received_at": utc(snapshot.received_at),
        "clock_starts_at": utc(snapshot.clock_starts_at),
        "appointment_at": utc(snapshot.appointment),
        "legal_appointment_at": utc(snapshot.legal_appointment),
        "status": snapshot.status,
        "finished_at": utc(snapshot.finished_at),
        "verdict": snapshot.verdict,
        "working_hours": snapshot.working_hours,
        "late_working_hours": snapshot.late_working_hours,
        "apologies": snapshot.apologies,
        "amount_due_vnd": snapshot.amount_due_vnd,
        "amount_paid_vnd": snapshot.amount_paid_vnd,
        "revision": snapshot.revision,
    }


async def apply_snapshot(session: AsyncSession, snapshot: RegistrySnapshot) -> bool:
    """Write a dossier's snapshot; True if the dossier row took it (False: a newer one stands).

    The rows a snapshot carries are the ones that changed since the workflow's previous sync;
    rows it leaves out are left as they are.
    """
    for table, rows, keys, update in snapshot_rows(snapshot):
        await _upsert(session, table, rows, keys, update=update)
    previous = await session.scalar(
        select(DossierRecord.status)
        .where(DossierRecord.code == snapshot.dossier_code)
        .with_for_update()
    )
    applied = await _upsert_dossier(session, snapshot)
    if applied:
        # In this transaction: the outside systems' outboxes never lack what the registry holds.
        await portal.record_status_change(session, snapshot, previous)
        await sms.record_from_snapshot(session, snapshot, previous)
    return applied


async def _upsert_dossier(session: AsyncSession, snapshot: RegistrySnapshot) -> bool:
    values = dossier_values(snapshot)
    stmt = dialect_insert(session, DossierRecord).values(**values)
    stmt = _dossier_upsert(stmt, values).returning(DossierRecord.code)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


def write_snapshots(connection: Connection, snapshots: Sequence[RegistrySnapshot]) -> None:
    """`apply_snapshot` for many dossiers at once, one statement per table (a simulation's
    registry): the same rows, written with the same keys and conflict rules; no outbox (a
    simulation talks to no outside system)."""
    if not snapshots:
        return
    tables: dict[Any, tuple[list[dict[str, Any]], list[str], bool]] = {}
    for snapshot in snapshots:
        for table, rows, keys, update in snapshot_rows(snapshot):
            tables.setdefault(table, ([], keys, update))[0].extend(rows)
    for table, (rows, keys, update) in tables.items():
        if rows:
            stmt = on_conflict(
                dialect_insert(connection, table), table, keys, rows[0] if update else ()
            )
            _execute_many(connection, stmt, rows)
    dossiers = [dossier_values(snapshot) for snapshot in snapshots]
    _execute_many(
        connection,
        _dossier_upsert(dialect_insert(connection, DossierRecord), dossiers[0]),
        dossiers,
    )


def _execute_many(connection: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``connection.execute(stmt, rows)``; on SQLite, rows of the same keys go to the driver in
    one ``executemany`` of the statement compiled once, each value through the bind processor
    SQLAlchemy would apply: the same SQL and the same stored values, without SQLAlchemy's
    per-row parameter handling, which cost as much as SQLite's own work (a simulated year
    writes a few million values). A statement whose compilation needs more than the rows'
    values (Python-side column defaults) goes the usual way."""
    dialect = connection.dialect
    keys = list(rows[0])
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    names = compiled.positiontup
    if (
        dialect.name != "sqlite"
        or names is None
        or compiled.insert_prefetch
        or any(list(row) != keys for row in rows)
    ):
        connection.execute(stmt, rows)
        return
    binds = [compiled.binds[name] for name in names]
    if any(bind.key not in rows[0] for bind in binds):
        connection.execute(stmt, rows)
        return
    # Each row's values in the statement's order, taken at once; only the columns whose type
    # has a bind processor (SQLite's dates and times, as text) are then passed through it.
    values = itemgetter(*(bind.key for bind in binds))
    processed = [
        (index, process)
        for index, bind in enumerate(binds)
        if (process := bind.type._cached_bind_processor(dialect)) is not None
    ]
    parameters: list[tuple[Any, ...]]
    if len(binds) == 1:
        parameters = [(value,) for value in map(values, rows)]
    else:
        parameters = list(map(values, rows))
    if processed:
        parameters = [_processed(list(row), processed) for row in parameters]
    connection.exec_driver_sql(compiled.string, parameters)


def _processed(
    row: list[Any], processors: list[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    for index, process in processors:
        row[index] = process(row[index])
    return tuple(row)


async def _of_dossier(
    session: AsyncSession, model: type[_Row], dossier_code: str, *order_by: Any
) -> list[_Row]:
    return await rows_where(session, model, model.dossier_code == dossier_code, *order_by)


async def steps_of(session: AsyncSession, dossier_code: str) -> list[StepRecord]:
    """The steps of a dossier, in key order."""
    return await _of_dossier(session, StepRecord, dossier_code, StepRecord.step_key)


async def handovers_of(session: AsyncSession, dossier_code: str) -> list[HandoverRecord]:
    """Form 05 of a dossier: its hand-overs in order."""
    return await _of_dossier(session, HandoverRecord, dossier_code, HandoverRecord.sequence)


async def audit_of(session: AsyncSession, dossier_code: str) -> list[AuditRecord]:
    """Every recorded decision and applicant action on a dossier, oldest first."""
    return await _of_dossier(
        session, AuditRecord, dossier_code, AuditRecord.at, AuditRecord.update_id
    )


async def documents_of(session: AsyncSession, dossier_code: str) -> list[DocumentRecord]:
    """The documents a dossier produced, by kind and sequence."""
    return await _of_dossier(
        session, DocumentRecord, dossier_code, DocumentRecord.kind, DocumentRecord.sequence
    )


async def deliveries_of(session: AsyncSession, dossier_code: str) -> list[DeliveryRecord]:
    """A dossier's shipments by post, in the order they left (then by return step)."""
    return await _of_dossier(
        session, DeliveryRecord, dossier_code, DeliveryRecord.dispatched_at, DeliveryRecord.step
    )


async def attempts_of(session: AsyncSession, tracking_number: str) -> list[DeliveryAttemptRecord]:
    """The delivery attempts of a shipment, in order."""
    return await rows_where(
        session,
        DeliveryAttemptRecord,
        DeliveryAttemptRecord.tracking_number == tracking_number,
        DeliveryAttemptRecord.attempt,
    )
