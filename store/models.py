"""Table models of the registry (SQLAlchemy 2 typed declarative).

Table models never cross a workflow boundary: activities convert them to the pydantic models of
`domain` before returning.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import TIMESTAMP, Date, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DossierStatus(StrEnum):
    """Statuses of the national public-service portal model (codes 1-10)."""

    NEW = "new"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    IN_PROGRESS = "in_progress"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    FINANCIAL_OBLIGATION = "financial_obligation"
    WITHDRAWN = "withdrawn"
    STOPPED = "stopped"
    DECIDED = "decided"
    RETURNED = "returned"


class DossierCodeCounter(Base):
    """The last daily sequence number handed out per desk and day (for dossier codes)."""

    __tablename__ = "dossier_code_counters"

    desk_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)


class DossierRecord(Base):
    """One dossier as the registry knows it (the receipt, form 01, and its current status)."""

    __tablename__ = "dossiers"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    desk_code: Mapped[str] = mapped_column(String(20), index=True)
    procedure_code: Mapped[str] = mapped_column(String(80), index=True)
    procedure_version: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), index=True)
    clock_starts_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    appointment_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )
