"""The registry's writer: the dossier workflow reports its state here, the reports read it.

``registry.sync`` runs on the one-stop desk's queue. The workflow sends what changed since its
previous sync (steps, new ledger rows, documents, audit entries) and the dossier row; everything
is upserted in one transaction, keyed by business ids (see `store.read_model`). A retried attempt,
an attempt replayed after a worker was killed mid-write (its transaction rolled back), or a
whole snapshot sent again after a continue-as-new all leave the same rows.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.registry import (
    AuditEntry,
    HandoverSnapshot,
    IssuedSnapshot,
    ProcedureSnapshot,
    ReceivedSnapshot,
    RegistrySnapshot,
    StepSnapshot,
    SyncResult,
)
from store import read_model

__all__ = [
    "AuditEntry",
    "HandoverSnapshot",
    "IssuedSnapshot",
    "ProcedureSnapshot",
    "ReceivedSnapshot",
    "RegistryActivities",
    "RegistrySnapshot",
    "StepSnapshot",
    "SyncResult",
]


class RegistryActivities:
    """Writes of the registry's read model."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="registry.sync")
    async def sync(self, snapshot: RegistrySnapshot) -> SyncResult:
        """Upsert the snapshot in one transaction (idempotent by business ids)."""
        async with self._sessions() as session:
            applied = await read_model.apply_snapshot(session, snapshot)
            await session.commit()
        activity.logger.debug(
            "registry_synced",
            extra={"dossier": snapshot.dossier_code, "revision": snapshot.revision},
        )
        return SyncResult(applied=applied)
