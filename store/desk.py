"""What the officer's desk (`web.desk`) reads beyond the inbox (`store.inbox`): the names its
pages show, a dossier with everything its page lists, a handed-in file's type, and the head's
view of the agency's work.

Read-only; callers own the session.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    AuditRecord,
    DossierRecord,
    HandoverRecord,
    NotificationRecord,
    ReceivedDocument,
    StepRecord,
    UploadRecord,
)


async def dossier_names(session: AsyncSession, codes: Collection[str]) -> dict[str, str]:
    """Each dossier's name (Vietnamese) by its code, for those of ``codes`` that exist."""
    rows = await session.execute(
        select(DossierRecord.code, DossierRecord.name_vi).where(DossierRecord.code.in_(codes))
    )
    return {code: name for code, name in rows.all()}


async def dossier_held_by(
    session: AsyncSession, code: str, agency: str
) -> tuple[DossierRecord | None, bool]:
    """The dossier (None when there is none) and whether ``agency`` holds a step of it."""
    record = await session.get(DossierRecord, code)
    if record is None:
        return None, False
    held = (
        await session.execute(
            select(func.count())
            .select_from(StepRecord)
            .where(StepRecord.dossier_code == code, StepRecord.agency == agency)
        )
    ).scalar_one()
    return record, bool(held)


@dataclass(frozen=True)
class DossierPage:
    """What the desk's dossier page lists of one dossier."""

    steps: Sequence[StepRecord]
    documents: Sequence[ReceivedDocument]
    content_types: dict[str, str]  # by the upload's sha256
    handovers: Sequence[HandoverRecord]
    audit: Sequence[AuditRecord]


async def _all(session: AsyncSession, statement: Select[Any]) -> Sequence[Any]:
    """Every row ``statement`` selects, as ORM objects."""
    rows: Sequence[Any] = (await session.execute(statement)).scalars().all()
    return rows


async def dossier_page(session: AsyncSession, code: str) -> DossierPage:
    """The dossier's steps (unopened last), handed-in documents with their files' types,
    form 05 handovers, and audit log, each in the order the page shows them."""
    steps = await _all(
        session,
        select(StepRecord)
        .where(StepRecord.dossier_code == code)
        .order_by(StepRecord.opened_at.is_(None), StepRecord.opened_at),
    )
    documents = await _all(
        session,
        select(ReceivedDocument)
        .where(ReceivedDocument.dossier_code == code)
        .order_by(ReceivedDocument.sequence),
    )
    types = await session.execute(
        select(UploadRecord.sha256, UploadRecord.content_type).where(
            UploadRecord.sha256.in_([d.sha256 for d in documents if d.sha256])
        )
    )
    handovers = await _all(
        session,
        select(HandoverRecord)
        .where(HandoverRecord.dossier_code == code)
        .order_by(HandoverRecord.sequence),
    )
    audit = await _all(
        session,
        select(AuditRecord).where(AuditRecord.dossier_code == code).order_by(AuditRecord.at),
    )
    return DossierPage(
        steps=steps,
        documents=documents,
        content_types={sha256: kind for sha256, kind in types.all()},
        handovers=handovers,
        audit=audit,
    )


async def handed_in_file(
    session: AsyncSession, code: str, sequence: int
) -> tuple[str, str | None] | None:
    """``(sha256, content type)`` of a file the applicant handed in as the dossier's document
    ``sequence``; None when there is no such document or it came without a file, and a None
    type when that file was not uploaded here."""
    received = await session.get(ReceivedDocument, (code, sequence))
    if received is None or not received.sha256:
        return None
    kind = (
        await session.execute(
            select(UploadRecord.content_type).where(UploadRecord.sha256 == received.sha256).limit(1)
        )
    ).scalar_one_or_none()
    return received.sha256, kind


@dataclass(frozen=True)
class HeadView:
    """The head's view of the agency since a moment."""

    workload: Sequence[Any]  # (officer_id, steps done, of them late, mean working hours)
    decisions: dict[str, dict[str, int]]  # officer -> audit action -> count
    escalations: Sequence[NotificationRecord]  # the newest 100
    step_names: dict[str, str]  # "dossier_code/step_key" -> the step's name (Vietnamese)


async def head_view(session: AsyncSession, agency: str, since: datetime) -> HeadView:
    """Steps done per officer, officers' decisions, and the escalations sent since ``since``."""
    workload = (
        await session.execute(
            select(
                StepRecord.officer_id,
                func.count(),
                func.sum(case((StepRecord.verdict == "late", 1), else_=0)),
                func.avg(StepRecord.working_hours),
            )
            .where(
                StepRecord.agency == agency,
                StepRecord.status == "done",
                StepRecord.officer_id.is_not(None),
                StepRecord.done_at >= since,
            )
            .group_by(StepRecord.officer_id)
            .order_by(func.count().desc(), StepRecord.officer_id)
        )
    ).all()
    decisions: dict[str, dict[str, int]] = {}
    for actor, action, count in await session.execute(
        select(AuditRecord.actor_id, AuditRecord.action, func.count())
        .where(
            AuditRecord.agency == agency,
            AuditRecord.actor_kind == "officer",
            AuditRecord.at >= since,
        )
        .group_by(AuditRecord.actor_id, AuditRecord.action)
    ):
        decisions.setdefault(actor or "?", {})[action] = count
    escalations = await _all(
        session,
        select(NotificationRecord)
        .where(
            NotificationRecord.agency == agency,
            NotificationRecord.kind == "escalation",
            NotificationRecord.created_at >= since,
        )
        .order_by(NotificationRecord.created_at.desc())
        .limit(100),
    )
    names = await session.execute(
        select(StepRecord.dossier_code + "/" + StepRecord.step_key, StepRecord.name_vi).where(
            StepRecord.agency == agency,
            StepRecord.dossier_code.in_({e.dossier_code for e in escalations}),
        )
    )
    return HeadView(
        workload=workload,
        decisions=decisions,
        escalations=escalations,
        step_names={key: name for key, name in names.all()},
    )
