"""Queries and writes of the agencies' registers (revision 0002), one function per operation.

The registers stand in for the agencies' own systems: the cadastral book and the land price
table (read), the civil-status, residence and health-insurance registers (written by the
automated steps of a dossier).

Writes are idempotent by business id: an entry made for a dossier is found again by its dossier
code, so a retried activity returns the number it already got instead of a second one. Numbers
come from `next_sequence`, one atomic statement per number; a number allocated by an attempt
that then lost a race to a concurrent attempt for the same dossier is left as a gap (gaps are
allowed, duplicates never). Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import counter_step, dialect_insert
from store.models import (
    Base,
    CivilRegistration,
    CivilRegistrationKind,
    HealthInsuranceCard,
    LandParcel,
    LandPrice,
    RegisterCounter,
    ResidenceRegistration,
)

_Row = TypeVar("_Row", bound=Base)

# The statements of the writes are built once, with their values as parameters: building and
# coercing a statement cost a third of a register entry's time (a simulated year makes ~30,000
# of them), and SQLAlchemy compiles each shape once either way. `_inserts` is per dialect
# (`store.db.dialect_insert`).


@cache
def _inserts(dialect: str) -> tuple[Any, dict[type[Base], Any]]:
    """The counter's upsert, and each register's ``INSERT ... ON CONFLICT DO NOTHING RETURNING``."""

    def insert(table: Any) -> Any:
        return dialect_insert(dialect, table)

    key: dict[str, Any] = {"register": bindparam("register"), "year": bindparam("year")}
    counter = counter_step(dialect, RegisterCounter, key, "last_sequence")
    entries: dict[type[Base], Any] = {
        model: insert(model).on_conflict_do_nothing(index_elements=list(keys)).returning(model)
        for model, keys in (
            (CivilRegistration, [CivilRegistration.kind, CivilRegistration.dossier_code]),
            (ResidenceRegistration, [ResidenceRegistration.dossier_code]),
            (HealthInsuranceCard, [HealthInsuranceCard.dossier_code]),
        )
    }
    return counter, entries


def _dialect(session: AsyncSession) -> str:
    return str(session.get_bind().dialect.name)


async def next_sequence(session: AsyncSession, register: str, year: int) -> int:
    """Hand out the next number of a register for a year, atomically (`store.db.counter_step`:
    no two callers get the same number)."""
    stmt = _inserts(_dialect(session))[0]
    sequence: int = (await session.execute(stmt, {"register": register, "year": year})).scalar_one()
    return sequence


async def _find_or_insert(
    session: AsyncSession,
    model: type[_Row],
    lookup: Select[_Row],
    key: dict[str, Any],
    new_values: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[_Row, bool]:
    """Return the row ``lookup`` finds (with the parameters ``key``, its business id), inserting
    it first (from ``new_values()``) if absent.

    ``new_values`` is only called when the row is missing, so a retry allocates no number.

    Returns:
        The row, and whether this call created it.
    """
    existing = (await session.execute(lookup, key)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    stmt = _inserts(_dialect(session))[1][model]
    inserted = (await session.execute(stmt, await new_values())).scalar_one_or_none()
    if inserted is not None:
        return inserted, True
    # A concurrent attempt for the same business id won; read back the row that stands.
    return (await session.execute(lookup, key)).scalar_one(), False


# -- land register -----------------------------------------------------------------------------


async def get_parcel(
    session: AsyncSession, commune: str, map_sheet: int, parcel_number: int
) -> LandParcel | None:
    """The cadastral entry of a parcel, or None if the book has no such parcel."""
    return (
        await session.execute(
            select(LandParcel).where(
                LandParcel.commune == commune,
                LandParcel.map_sheet == map_sheet,
                LandParcel.parcel_number == parcel_number,
            )
        )
    ).scalar_one_or_none()


async def price_in_force(
    session: AsyncSession, commune: str, land_use: str, day: date
) -> LandPrice | None:
    """The land price row for a commune and land use in force on ``day``, or None.

    If rows overlap (a data error), the one that took effect last wins.
    """
    return (
        await session.execute(
            select(LandPrice)
            .where(
                LandPrice.commune == commune,
                LandPrice.land_use == land_use,
                LandPrice.effective_from <= day,
                or_(LandPrice.effective_to.is_(None), LandPrice.effective_to >= day),
            )
            .order_by(LandPrice.effective_from.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


# -- civil-status register ----------------------------------------------------------------------


# Parameters: kind, dossier_code.
_CIVIL_LOOKUP = select(CivilRegistration).where(
    CivilRegistration.kind == bindparam("kind"),
    CivilRegistration.dossier_code == bindparam("dossier_code"),
)


def _civil_key(kind: CivilRegistrationKind, dossier_code: str) -> dict[str, Any]:
    return {"kind": kind.value, "dossier_code": dossier_code}


async def get_civil_registration(
    session: AsyncSession, kind: CivilRegistrationKind, dossier_code: str
) -> CivilRegistration | None:
    """The civil-status entry of this kind made for a dossier, or None."""
    return (
        await session.execute(_CIVIL_LOOKUP, _civil_key(kind, dossier_code))
    ).scalar_one_or_none()


async def register_birth(
    session: AsyncSession,
    *,
    dossier_code: str,
    registered_on: date,
    subject_ref: str | None,
    number: Callable[[int], str],
) -> tuple[CivilRegistration, bool]:
    """Enter a birth for a dossier, or return the entry already made for it.

    Args:
        dossier_code: The dossier asking for the registration (the idempotency key).
        registered_on: The registration date; its year numbers the entry.
        subject_ref: Opaque id of the child, if the dossier has one.
        number: Formats the register's sequence number (``KS-2025-000001``).

    Returns:
        The entry, and whether this call created it.
    """

    async def values() -> dict[str, Any]:
        sequence = await next_sequence(session, "KS", registered_on.year)
        return {
            "kind": CivilRegistrationKind.BIRTH.value,
            "number": number(sequence),
            "dossier_code": dossier_code,
            "subject_ref": subject_ref,
            "registered_on": registered_on,
        }

    return await _find_or_insert(
        session,
        CivilRegistration,
        _CIVIL_LOOKUP,
        _civil_key(CivilRegistrationKind.BIRTH, dossier_code),
        values,
    )


_MARRIAGES = (
    select(CivilRegistration)
    .where(
        CivilRegistration.kind == CivilRegistrationKind.MARRIAGE.value,
        or_(
            CivilRegistration.subject_ref == bindparam("person"),
            CivilRegistration.partner_ref == bindparam("person"),
        ),
    )
    .order_by(CivilRegistration.registered_on, CivilRegistration.id)
)


async def marriages_of(session: AsyncSession, person_ref: str) -> list[CivilRegistration]:
    """Every marriage entry naming the person as either spouse, oldest first."""
    rows = await session.execute(_MARRIAGES, {"person": person_ref})
    return list(rows.scalars())


# -- registers made from a birth registration: residence, health insurance ------------------

_FromBirth = TypeVar("_FromBirth", ResidenceRegistration, HealthInsuranceCard)


class FromBirthRegister(NamedTuple):
    """How a register made from the dossier's birth registration numbers and dates its entries."""

    counter: str  # the register's yearly counter (`next_sequence`)
    number: str  # the column of the entry's number
    dated: str  # the column of the entry's date, whose year numbers it


# Built once: the lookup runs with the dossier code as its parameter.
_BY_DOSSIER: dict[type[Base], Select[Any]] = {
    model: select(model).where(model.dossier_code == bindparam("dossier_code"))
    for model in (ResidenceRegistration, HealthInsuranceCard)
}

FROM_BIRTH: dict[type[Base], FromBirthRegister] = {
    ResidenceRegistration: FromBirthRegister("TT", "number", "registered_on"),
    HealthInsuranceCard: FromBirthRegister("BHYT", "card_number", "valid_from"),
}


async def enter_from_birth(
    session: AsyncSession,
    model: type[_FromBirth],
    *,
    dossier_code: str,
    birth_registration_number: str,
    subject_ref: str | None,
    dated: date,
    number: Callable[[int, int], str],
) -> tuple[_FromBirth, bool]:
    """Make a dossier's entry in a register kept from birth registrations (a permanent-residence
    registration, a health-insurance card), or return the entry already made for it.

    Args:
        model: The register (a key of `FROM_BIRTH`).
        dossier_code: The dossier asking for the entry (the idempotency key).
        birth_registration_number: The birth registration the entry is made from.
        subject_ref: Opaque id of the child, if the dossier has one.
        dated: The entry's date (``registered_on``, ``valid_from``); its year numbers the entry.
        number: Formats the entry's number from that year and the register's sequence
            (``TT-2025-000001``).

    Returns:
        The entry, and whether this call created it.
    """
    register = FROM_BIRTH[model]

    async def values() -> dict[str, Any]:
        sequence = await next_sequence(session, register.counter, dated.year)
        return {
            "dossier_code": dossier_code,
            register.number: number(dated.year, sequence),
            "birth_registration_number": birth_registration_number,
            "subject_ref": subject_ref,
            register.dated: dated,
        }

    return await _find_or_insert(
        session,
        model,
        _BY_DOSSIER[model],
        {"dossier_code": dossier_code},
        values,
    )
