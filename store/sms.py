"""The SMS outbox: text messages owed to applicants, queued with what they tell of.

`record_from_snapshot` runs inside `store.read_model.apply_snapshot`'s transaction: a receipt
(form 01), a supplement request (form 02), a refusal (form 03) or an apology (form 04) that the
snapshot carries, and the dossier's decision (status *decided*), each queue one message, keyed
``{dossier}:{kind}:{n}`` and inserted only if absent, so a repeated or later snapshot carrying
the same document queues nothing. `queue_dispatch` runs in ``post.dispatch``'s transaction.
Rows hold no phone number and no name (see `store.models.SmsOutboxRecord`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import StepKind
from domain.dossier import DossierStatus, StepStatus
from store.db import insert_new
from store.models import SmsKind, SmsOutboxRecord

if TYPE_CHECKING:
    from domain.registry import RegistrySnapshot

# The documents that are also texted, and what their message is.
_DOCUMENT_KINDS = {
    "form-01": SmsKind.RECEIPT,
    "form-02": SmsKind.SUPPLEMENT,
    "form-03": SmsKind.REFUSAL,
    "form-04": SmsKind.APOLOGY,
}


async def queue(
    session: AsyncSession,
    dossier_code: str,
    kind: SmsKind,
    number: int | str,
    at: datetime,
    params: dict[str, Any],
) -> None:
    """Queue one message unless the same one (dossier, kind, number) is queued already."""
    await insert_new(
        session,
        SmsOutboxRecord,
        SmsOutboxRecord.key,
        dossier_code=dossier_code,
        key=f"{dossier_code}:{kind.value}:{number}",
        kind=kind.value,
        params=json.dumps(params, sort_keys=True, default=str),
        changed_at=at.astimezone(UTC),
        attempts=0,
    )


async def record_from_snapshot(
    session: AsyncSession, snapshot: RegistrySnapshot, previous_status: str | None
) -> None:
    """Queue the messages the snapshot's new documents and decision call for."""
    code = snapshot.dossier_code
    for document in snapshot.issued:
        kind = _DOCUMENT_KINDS.get(document.kind)
        if kind is None:
            continue
        params: dict[str, Any] = {}
        if kind is SmsKind.RECEIPT:
            params["appointment"] = document.detail.get("appointment")
        elif kind is SmsKind.APOLOGY:
            params["new_appointment"] = document.detail.get("new_appointment")
        await queue(session, code, kind, document.sequence, document.issued_at, params)
    for step in snapshot.steps:
        # A result waiting at the desk: its return step open (one handed over at once, with the
        # applicant at the desk, is never open in a snapshot).
        if step.kind == StepKind.RETURN_RESULT and step.status == StepStatus.OPEN:
            at = step.opened_at or snapshot.synced_at or datetime.now(UTC)
            await queue(session, code, SmsKind.RESULT_READY, step.key, at, {})
    if snapshot.status == DossierStatus.STOPPED and previous_status != DossierStatus.STOPPED:
        at = snapshot.finished_at or snapshot.synced_at or datetime.now(UTC)
        await queue(session, code, SmsKind.STOPPED, 1, at, {})


async def queue_dispatch(
    session: AsyncSession, dossier_code: str, step: str, tracking_number: str, at: datetime
) -> None:
    """The result of ``step`` left with the post: text its tracking number."""
    await queue(
        session,
        dossier_code,
        SmsKind.OUT_FOR_DELIVERY,
        step,
        at,
        {"tracking_number": tracking_number},
    )
