"""Engines and sessions for the registry, and a connection check with a readable failure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, create_engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from engine.settings import mask_url


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; the message names the URL with its password masked."""


def async_url(url: str) -> str:
    """The async-driver form of a sync URL: psycopg serves both; SQLite needs aiosqlite."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def sync_engine(url: str) -> Engine:
    """A sync engine (migrations, CLI reports)."""
    _ensure_sqlite_dir(url)
    return create_engine(url, pool_pre_ping=True)


def async_engine(url: str) -> AsyncEngine:
    """An async engine for activities."""
    _ensure_sqlite_dir(url)
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # SQLite allows one writer; wait for the lock rather than failing at once.
        kwargs["connect_args"] = {"timeout": 30}
    return create_async_engine(async_url(url), **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (they are converted to models)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(bind: AsyncSession | Connection | str, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT: spelled the same on PostgreSQL and SQLite, but
    SQLAlchemy builds it per dialect (of a session's or a connection's database, or the
    dialect named: a statement built once per dialect)."""
    if isinstance(bind, str):
        dialect = bind
    elif isinstance(bind, Connection):
        dialect = bind.dialect.name
    else:
        dialect = bind.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def on_conflict(stmt: Any, table: Any, keys: Sequence[str], columns: Iterable[str]) -> Any:
    """``stmt`` (a `dialect_insert`) made an upsert: a row whose business key ``keys`` stands
    already gets ``columns`` from the new row; with no columns to update, it is left alone."""
    index = [getattr(table, key) for key in keys]
    updated = [name for name in columns if name not in keys]
    if not updated:
        return stmt.on_conflict_do_nothing(index_elements=index)
    return stmt.on_conflict_do_update(
        index_elements=index, set_={name: stmt.excluded[name] for name in updated}
    )


def counter_step(
    bind: AsyncSession | Connection | str, table: Any, key: Mapping[str, Any], column: str
) -> Any:
    """The next number of a counter row, in one ``INSERT ... ON CONFLICT DO UPDATE ...
    RETURNING`` statement: 1 for a ``key`` not counted yet, else ``column`` + 1. PostgreSQL's
    row lock on the counter serialises concurrent callers, so no two get the same number; the
    caller's transaction keeps it until it ends. ``key``'s values may be bind parameters (a
    statement built once). ``table`` is a model or its table: the statement is Core either way
    (an ORM insert would take SQLAlchemy's slower bulk path for the same SQL)."""
    target = getattr(table, "__table__", table)
    columns = target.c
    counted = columns[column]
    return (
        dialect_insert(bind, target)
        .values(**key, **{column: 1})
        .on_conflict_do_update(
            index_elements=[columns[name] for name in key], set_={column: counted + 1}
        )
        .returning(counted)
    )


_Row = TypeVar("_Row")


async def rows_where(
    session: AsyncSession, model: type[_Row], condition: ColumnElement[bool], *order_by: Any
) -> list[_Row]:
    """Every row of ``model`` meeting ``condition``, in the order ``order_by`` gives."""
    result = await session.execute(select(model).where(condition).order_by(*order_by))
    return list(result.scalars())


async def insert_new(session: AsyncSession, table: Any, unique: Any, /, **values: Any) -> bool:
    """Insert a row unless one with the same business key stands: whether this call inserted
    it. ``unique`` is the key's column, or a tuple of its columns. One ``INSERT ... ON CONFLICT
    DO NOTHING RETURNING`` statement, so of two concurrent callers only one inserts."""
    columns = list(unique) if isinstance(unique, tuple) else [unique]
    statement = (
        dialect_insert(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=columns)
        .returning(columns[0])
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def locked_row(session: AsyncSession, table: Any, *where: Any) -> Any:
    """The row that ``where`` selects, or None, read afresh (not from the session's cache) under
    its row lock (``SELECT ... FOR UPDATE`` on PostgreSQL) until the transaction ends."""
    return (
        await session.execute(
            select(table).where(*where).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


def check_connection(url: str) -> None:
    """Open and close one connection, or raise `StoreUnavailable` with a one-line reason."""
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StoreUnavailable(f"cannot reach the database at {mask_url(url)}: {reason}") from None
    finally:
        engine.dispose()
