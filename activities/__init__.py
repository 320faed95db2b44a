"""Every side effect of the engine: the database, letters, the post, the agencies' systems.

One module per agency or external system. `build_activities` wires their dependencies once per
worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.reception import ReceptionActivities
from domain.calendar import default_calendar
from domain.catalog import default_catalog
from domain.clock import LegalClock


def build_activities(sessions: async_sessionmaker[AsyncSession]) -> list[Callable[..., Any]]:
    """All activity callables, bound to their dependencies."""
    reception = ReceptionActivities(sessions, default_catalog(), LegalClock(default_calendar()))
    return [reception.plan_dossier, reception.record_receipt]
