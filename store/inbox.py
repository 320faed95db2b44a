"""What the agencies' routes read and write (`api.agencies`, the officer's desk): an agency's
open steps as its inbox lists them, and the head's assignment of a step to one officer.

Callers own the transaction (commit at the unit-of-work boundary).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import dialect_insert
from store.models import AuditRecord, StepAssignment, StepRecord


async def open_steps_page(
    session: AsyncSession,
    agency: str,
    *,
    now: datetime,
    overdue_only: bool,
    page: int,
    page_size: int,
) -> tuple[int, list[tuple[StepRecord, str | None]]]:
    """How many steps the agency holds open (only those past due: ``overdue_only``), and one
    page of them with the officer each is assigned to: by due moment (none last), then by when
    they opened."""
    where: list[Any] = [StepRecord.agency == agency, StepRecord.status == "open"]
    if overdue_only:
        where.append(StepRecord.overdue.is_(True) | (StepRecord.due_at <= now))
    total = (
        await session.execute(select(func.count()).select_from(StepRecord).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(StepRecord, StepAssignment.officer_id)
        .outerjoin(
            StepAssignment,
            (StepAssignment.dossier_code == StepRecord.dossier_code)
            & (StepAssignment.step_key == StepRecord.step_key),
        )
        .where(*where)
        .order_by(
            StepRecord.due_at.is_(None),
            StepRecord.due_at,
            StepRecord.opened_at,
            StepRecord.dossier_code,
            StepRecord.step_key,
        )
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return total, [(row, officer) for row, officer in rows.all()]


async def get_step(session: AsyncSession, dossier_code: str, step_key: str) -> StepRecord | None:
    """The registry's row of a dossier's step, or None."""
    return await session.get(StepRecord, (dossier_code, step_key))


async def assignment_of(
    session: AsyncSession, dossier_code: str, step_key: str
) -> StepAssignment | None:
    """The officer a step is assigned to, or None (anyone of its agency may decide it)."""
    return await session.get(StepAssignment, (dossier_code, step_key))


async def assign_step(
    session: AsyncSession,
    step: StepRecord,
    *,
    officer: str,
    assigned_by: str,
    at: datetime,
    reason: str,
) -> None:
    """Assign a step to one officer (in place of any earlier one), on the audit log too."""
    values = {
        "agency": step.agency,
        "officer_id": officer,
        "assigned_by": assigned_by,
        "assigned_at": at,
    }
    await session.execute(
        dialect_insert(session, StepAssignment)
        .values(dossier_code=step.dossier_code, step_key=step.step_key, **values)
        .on_conflict_do_update(
            index_elements=[StepAssignment.dossier_code, StepAssignment.step_key], set_=values
        )
    )
    session.add(
        AuditRecord(
            dossier_code=step.dossier_code,
            update_id=f"assign-{uuid.uuid4().hex}",
            at=at,
            actor_kind="officer",
            actor_id=assigned_by,
            agency=step.agency,
            action="reassigned",
            step=step.step_key,
            reason=reason,
            detail=f"to {officer}",
        )
    )
