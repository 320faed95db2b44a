"""Queries and writes of the agencies' registers (revision 0002), one function per operation.

The registers stand in for the agencies' own systems: the cadastral book and the land price
table (read), the civil-status, residence and health-insurance registers (written by the
automated steps of a dossier).

Writes are idempotent by business id: an entry made for a dossier is found again by its dossier
code, so a retried activity returns the number it already got instead of a second one. Numbers
come from `next_sequence`, one atomic statement per number; a number allocated by an attempt
that then lost a race to a concurrent attempt for the same dossier is left as a gap (gaps are
allowed, duplicates never). Callers own the transaction.

Every statement here is Core, on the models' tables, built once with its values as parameters:
an entry comes back as a model instance made from its row, not attached to the session (callers
only read it). Through the ORM, a lookup cost half again as much and an ``INSERT ... RETURNING``
of a model several times as much (its bulk-insert path), for the same SQL; the agency steps of a
simulated year make ~30,000 entries and lookups.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Row, Select, Table, bindparam, or_, select
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


def _table(model: type[Base]) -> Table:
    """The model's table (Core statements are written on it)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _rows_of(model: type[Base]) -> Select[Any]:
    """``SELECT`` every column of the model's table (`_entry` makes the rows entries)."""
    return select(*_table(model).c)


def _entry(model: type[_Row], row: Row[Any]) -> _Row:
    """The register entry a row of its table holds (the models' attributes are named as their
    columns), detached: what the ORM would have loaded, without its identity map."""
    return model(**row._mapping)


# `_inserts` is per dialect (`store.db.dialect_insert`): the counter's upsert, and each
# register's ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` every column.
@cache
def _inserts(dialect: str) -> tuple[Any, dict[type[Base], Any]]:
    """The counter's upsert, and each register's insert of an entry."""
    key: dict[str, Any] = {"register": bindparam("register"), "year": bindparam("year")}
    counter = counter_step(dialect, _table(RegisterCounter), key, "last_sequence")
    entries: dict[type[Base], Any] = {}
    for model, keys in (
        (CivilRegistration, ["kind", "dossier_code"]),
        (ResidenceRegistration, ["dossier_code"]),
        (HealthInsuranceCard, ["dossier_code"]),
    ):
        table = _table(model)
        entries[model] = (
            dialect_insert(dialect, table)
            .on_conflict_do_nothing(index_elements=[table.c[key] for key in keys])
            .returning(*table.c)
        )
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
    lookup: Select[Any],
    key: dict[str, Any],
    new_values: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[_Row, bool]:
    """Return the entry ``lookup`` (of `_rows_of` ``model``) finds with the parameters ``key``,
    its business id, inserting it first (from ``new_values()``) if absent.

    ``new_values`` is only called when the row is missing, so a retry allocates no number.

    Returns:
        The entry, and whether this call created it.
    """
    existing = (await session.execute(lookup, key)).one_or_none()
    if existing is not None:
        return _entry(model, existing), False
    stmt = _inserts(_dialect(session))[1][model]
    inserted = (await session.execute(stmt, await new_values())).one_or_none()
    if inserted is not None:
        return _entry(model, inserted), True
    # A concurrent attempt for the same business id won; read back the row that stands.
    return _entry(model, (await session.execute(lookup, key)).one()), False


# -- land register -----------------------------------------------------------------------------


_PARCELS = _table(LandParcel).c
_PARCEL = _rows_of(LandParcel).where(
    _PARCELS.commune == bindparam("commune"),
    _PARCELS.map_sheet == bindparam("map_sheet"),
    _PARCELS.parcel_number == bindparam("parcel_number"),
)


async def get_parcel(
    session: AsyncSession, commune: str, map_sheet: int, parcel_number: int
) -> LandParcel | None:
    """The cadastral entry of a parcel, or None if the book has no such parcel."""
    row = (
        await session.execute(
            _PARCEL,
            {"commune": commune, "map_sheet": map_sheet, "parcel_number": parcel_number},
        )
    ).one_or_none()
    return _entry(LandParcel, row) if row is not None else None


_PRICES = _table(LandPrice).c
_PRICE = (
    _rows_of(LandPrice)
    .where(
        _PRICES.commune == bindparam("commune"),
        _PRICES.land_use == bindparam("land_use"),
        _PRICES.effective_from <= bindparam("day"),
        or_(_PRICES.effective_to.is_(None), _PRICES.effective_to >= bindparam("day")),
    )
    .order_by(_PRICES.effective_from.desc())
    .limit(1)
)


async def price_in_force(
    session: AsyncSession, commune: str, land_use: str, day: date
) -> LandPrice | None:
    """The land price row for a commune and land use in force on ``day``, or None.

    If rows overlap (a data error), the one that took effect last wins.
    """
    row = (
        await session.execute(_PRICE, {"commune": commune, "land_use": land_use, "day": day})
    ).one_or_none()
    return _entry(LandPrice, row) if row is not None else None


# -- civil-status register ----------------------------------------------------------------------


_CIVIL = _table(CivilRegistration).c
# Parameters: kind, dossier_code.
_CIVIL_LOOKUP = _rows_of(CivilRegistration).where(
    _CIVIL.kind == bindparam("kind"), _CIVIL.dossier_code == bindparam("dossier_code")
)


def _civil_key(kind: CivilRegistrationKind, dossier_code: str) -> dict[str, Any]:
    return {"kind": kind.value, "dossier_code": dossier_code}


async def get_civil_registration(
    session: AsyncSession, kind: CivilRegistrationKind, dossier_code: str
) -> CivilRegistration | None:
    """The civil-status entry of this kind made for a dossier, or None."""
    row = (await session.execute(_CIVIL_LOOKUP, _civil_key(kind, dossier_code))).one_or_none()
    return _entry(CivilRegistration, row) if row is not None else None


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
    _rows_of(CivilRegistration)
    .where(
        _CIVIL.kind == CivilRegistrationKind.MARRIAGE.value,
        or_(_CIVIL.subject_ref == bindparam("person"), _CIVIL.partner_ref == bindparam("person")),
    )
    .order_by(_CIVIL.registered_on, _CIVIL.id)
)


async def marriages_of(session: AsyncSession, person_ref: str) -> list[CivilRegistration]:
    """Every marriage entry naming the person as either spouse, oldest first."""
    rows = await session.execute(_MARRIAGES, {"person": person_ref})
    return [_entry(CivilRegistration, row) for row in rows]


# -- registers made from a birth registration: residence, health insurance ------------------

_FromBirth = TypeVar("_FromBirth", ResidenceRegistration, HealthInsuranceCard)


class FromBirthRegister(NamedTuple):
    """How a register made from the dossier's birth registration numbers and dates its entries."""

    counter: str  # the register's yearly counter (`next_sequence`)
    number: str  # the column of the entry's number
    dated: str  # the column of the entry's date, whose year numbers it


# Built once: the lookup runs with the dossier code as its parameter.
_BY_DOSSIER: dict[type[Base], Select[Any]] = {
    model: _rows_of(model).where(_table(model).c.dossier_code == bindparam("dossier_code"))
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
