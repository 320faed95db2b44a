"""Abuse limits that hold without a proxy: counters in the registry, shared by API processes.

The wall clock counts here, never a test server's skipped time: ``Retry-After`` is real seconds.

Two kinds of limit, each per dossier code and per client address (docs/security.md):

- **second-factor attempts** (`begin_factor` / `end_factor`): every attempt is counted before
  the factor is checked, in a transaction that locks the counter's row, so parallel requests
  to several processes are counted one after the other. After ``free`` failures each further
  attempt must wait a delay that doubles; at ``lock_after`` failures the counter locks. A
  dossier's lock is lifted by the receipt's secret (or after a day); a client's by time only.
  A success forgives its own attempt: the dossier's count starts again, the client's drops by
  one (so a client cannot wash its failures with its own dossier's secret).
- **writes** (`take_write`, `take_submission`): uploads, submissions and the applicant's acts,
  at most ``limit`` per window and party; new dossiers also per hour and per minute.

A refusal is `TooManyRequests`, answered as 429 with ``Retry-After`` in the API's error shape
(`api.errors`). Each lock is written to the audit log. Client addresses are never stored: the
counters name them by a keyed digest of the address (of its /64 for IPv6, which one
subscriber usually holds whole).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import ApiContext
from api.schemas import stored_utc as _utc
from engine.settings import Settings
from store.counters import drop_counter, get_counter, lock_counter, record_lock
from store.models import AbuseCounter

log = structlog.get_logger(__name__)
P = TypeVar("P")  # a counter's policy: an `AttemptPolicy` or a `Quota`


class TooManyRequests(Exception):
    """Refused by a limit: 429 with ``Retry-After`` (seconds, rounded up)."""

    def __init__(self, field: str, kind: str, message_en: str, retry_after: timedelta) -> None:
        """A refusal on ``field`` of type ``kind`` (a key of `api.errors`' messages)."""
        super().__init__(message_en)
        self.field, self.kind, self.message_en = field, kind, message_en
        self.retry = retry_after
        self.retry_after = max(1, math.ceil(retry_after.total_seconds()))


# What this process last learnt of a counter that holds a party back, so that a flood of
# refused requests is refused without reading the registry each time. Only for what nothing
# but time ends early (a client's delays and locks, quotas, a dossier's delays: a dossier's
# lock, which the receipt's secret lifts, is always read), and for 5 s at most.
HELD_CACHE_SECONDS = 5.0
_HELD_CACHE_SIZE = 10_000
_held: dict[str, tuple[float, float, TooManyRequests]] = {}  # key -> (cache end, deadline, why)


def _remember(key: str, refusal: TooManyRequests, retry: timedelta) -> None:
    if refusal.kind == "dossier_locked":
        return
    if len(_held) >= _HELD_CACHE_SIZE:
        _held.clear()
    now, seconds = time.monotonic(), retry.total_seconds()
    _held[key] = (now + min(seconds, HELD_CACHE_SECONDS), now + seconds, refusal)


def _refuse_if_remembered(keys: Sequence[str]) -> None:
    now = time.monotonic()
    for key in keys:
        entry = _held.get(key)
        if entry is None:
            continue
        cache_end, deadline, refusal = entry
        if cache_end <= now:
            _held.pop(key, None)
            continue
        raise TooManyRequests(
            refusal.field, refusal.kind, refusal.message_en, timedelta(seconds=deadline - now)
        )


@dataclass(frozen=True)
class AttemptPolicy:
    """Growing delays, then a lock, on failed attempts within a window."""

    window: timedelta
    free: int
    base_delay: float  # seconds to wait after the first failure past ``free``; doubles
    max_delay: float
    lock_after: int
    lock_for: timedelta

    def delay(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` failures the next attempt must wait."""
        if failures < self.free or self.base_delay <= 0:
            return timedelta(0)
        exponent = min(failures - self.free, 40)
        return timedelta(seconds=min(self.max_delay, self.base_delay * 2**exponent))


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` requests per ``window``."""

    limit: int
    window: timedelta


@dataclass(frozen=True)
class Limits:
    """The API's limits (from `engine.settings.Settings`, ``LIENTHONG_API_*``)."""

    factor_per_dossier: AttemptPolicy
    factor_per_client: AttemptPolicy
    writes_per_client: Quota
    writes_per_dossier: Quota
    submissions_per_client: Quota
    submission_bursts_per_client: Quota

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits an operator configured."""
        base, cap = settings.api_factor_base_delay_seconds, settings.api_factor_max_delay_seconds
        return cls(
            factor_per_dossier=AttemptPolicy(
                window=timedelta(days=1),
                free=settings.api_factor_free_attempts,
                base_delay=base,
                max_delay=cap,
                lock_after=settings.api_factor_lock_after,
                lock_for=timedelta(days=1),
            ),
            factor_per_client=AttemptPolicy(
                window=timedelta(hours=1),
                free=settings.api_factor_free_attempts * 4,
                base_delay=base,
                max_delay=cap,
                lock_after=settings.api_factor_lock_after * 5,
                lock_for=timedelta(hours=1),
            ),
            writes_per_client=Quota(settings.api_writes_per_minute, timedelta(minutes=1)),
            writes_per_dossier=Quota(settings.api_writes_per_dossier_hour, timedelta(hours=1)),
            submissions_per_client=Quota(settings.api_submissions_per_hour, timedelta(hours=1)),
            submission_bursts_per_client=Quota(
                settings.api_submissions_per_minute, timedelta(minutes=1)
            ),
        )


def client_key(secret: str, address: str | None) -> str:
    """A keyed digest naming a client address (IPv6: its /64) without storing it."""
    network = address or "unknown"
    try:
        ip = ipaddress.ip_address(network)
        if ip.version == 6:
            network = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    except ValueError:
        pass  # a test client's or a Unix socket's name: counted as it is
    digest = hmac.new(secret.encode(), b"client:" + network.encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


async def _refuse_on_sight(
    session: AsyncSession,
    counters: Sequence[tuple[str, P, str]],
    refuse: Callable[[AbuseCounter, P, str, datetime], None],
    now: datetime,
) -> None:
    """Raise what ``refuse`` raises for a counter as it stands, remembering the refusal; the
    transaction is rolled back either way. A refusal costs one read and no write: an attacker's
    refused requests are cheap."""
    for key, policy, field in counters:
        seen = await get_counter(session, key)
        if seen is not None:
            try:
                refuse(seen, policy, field, now)
            except TooManyRequests as refusal:
                _remember(key, refusal, refusal.retry)
                raise
    await session.rollback()


def _restart_if_over(row: AbuseCounter, window: timedelta, now: datetime) -> None:
    locked = row.locked_until is not None and _utc(row.locked_until) > now
    if not locked and (row.locked_until is not None or now - _utc(row.window_start) >= window):
        row.count, row.window_start, row.locked_until = 0, now, None


def _dossier_key(code: str) -> str:
    return f"factor:dossier:{code}"


def _client_factor_key(client: str) -> str:
    return f"factor:client:{client}"


async def begin_factor(ctx: ApiContext, code: str, client: str) -> None:
    """Count an attempt at a dossier's second factor, before it is checked.

    Raises:
        TooManyRequests: the dossier or the client is locked, or must still wait; nothing is
            counted then.
    """
    limits, now = Limits.from_settings(ctx.settings), datetime.now(UTC)
    counters = (
        (_dossier_key(code), limits.factor_per_dossier, "dossier"),
        (_client_factor_key(client), limits.factor_per_client, "client"),
    )
    _refuse_if_remembered([key for key, _, _ in counters])
    async with ctx.sessions() as session:
        await _refuse_on_sight(session, counters, _refuse_if_held, now)
        for key, policy, field in counters:
            row = await lock_counter(session, key, now)
            try:
                _refuse_if_held(row, policy, field, now)
            except TooManyRequests:
                await session.rollback()  # nothing counted
                raise
            _restart_if_over(row, policy.window, now)
            row.count += 1
            row.last_at = now
        await session.commit()


def _refuse_if_held(row: AbuseCounter, policy: AttemptPolicy, field: str, now: datetime) -> None:
    """Raise if the counter holds the next attempt back; the row is left as it is."""
    locked_until = _utc(row.locked_until) if row.locked_until is not None else None
    if locked_until is not None and locked_until > now:
        lifted_by = " or the receipt's secret lifts it" if field == "dossier" else ""
        raise TooManyRequests(
            field,
            f"{field}_locked",
            f"locked after {row.count} failed attempts; try again later{lifted_by}",
            locked_until - now,
        )
    if locked_until is not None or now - _utc(row.window_start) >= policy.window:
        return  # the lock or the window is over: the count starts again
    wait_until = _utc(row.last_at) + policy.delay(row.count)
    if wait_until > now:
        raise TooManyRequests(
            field,
            "too_many_attempts",
            f"{row.count} failed attempts: wait before the next one",
            wait_until - now,
        )


async def end_factor(ctx: ApiContext, code: str, client: str, *, passed: bool) -> None:
    """Settle an attempt counted by `begin_factor`: forgive a success, lock on a failure.

    A lock is written to the audit log once, when it is set.
    """
    limits, now = Limits.from_settings(ctx.settings), datetime.now(UTC)
    async with ctx.sessions() as session:
        dossier = await lock_counter(session, _dossier_key(code), now)
        client_row = await lock_counter(session, _client_factor_key(client), now)
        if passed:
            dossier.count = 0
            client_row.count = max(0, client_row.count - 1)
        else:
            for row, policy, kind in (
                (dossier, limits.factor_per_dossier, "dossier"),
                (client_row, limits.factor_per_client, "client"),
            ):
                if row.locked_until is None and row.count >= policy.lock_after:
                    row.locked_until = now + policy.lock_for
                    _audit(session, code, now, f"{kind}_locked", row)
        await session.commit()


async def lift_dossier_lock(ctx: ApiContext, code: str) -> None:
    """The receipt's secret was shown: the dossier's attempts start again, its lock (if any)
    lifted and the lifting written to the audit log."""
    now = datetime.now(UTC)
    _held.pop(_dossier_key(code), None)
    async with ctx.sessions() as session:
        row = await get_counter(session, _dossier_key(code))
        if row is None or (row.count == 0 and row.locked_until is None):
            return
        if row.locked_until is not None and _utc(row.locked_until) > now:
            _audit(session, code, now, "lock_lifted", row)
        await drop_counter(session, row.key)
        await session.commit()


def _audit(session: AsyncSession, code: str, now: datetime, action: str, row: AbuseCounter) -> None:
    record_lock(session, code, now, action, row)
    log.warning("abuse_lock", action=action, dossier_code=code, counter=row.key)


async def take_write(ctx: ApiContext, client: str, code: str | None) -> None:
    """Count a write by a client (on a dossier, if ``code``); refuse it past a quota.

    Raises:
        TooManyRequests: a quota is used up for this window; nothing is counted then.
    """
    limits, now = Limits.from_settings(ctx.settings), datetime.now(UTC)
    quotas = [(f"write:client:{client}", limits.writes_per_client, "client")]
    if code is not None:
        quotas.append((f"write:dossier:{code}", limits.writes_per_dossier, "dossier"))
    _refuse_if_remembered([key for key, _, _ in quotas])
    async with ctx.sessions() as session:
        await _refuse_on_sight(session, quotas, _refuse_if_used_up, now)
        try:
            await _count(session, quotas, now)
        except TooManyRequests:
            await session.rollback()  # nothing counted
            raise
        await session.commit()


async def take_submission(session: AsyncSession, ctx: ApiContext, client: str) -> None:
    """Count a new dossier against the client's submission quotas, in the caller's transaction
    (the one that claims the dossier's number: SQLite has one writer, so a second transaction
    would wait for this one). The caller commits, or rolls back on the refusal.

    Raises:
        TooManyRequests: a submission quota is used up.
    """
    limits, now = Limits.from_settings(ctx.settings), datetime.now(UTC)
    await _count(
        session,
        [
            (f"submit:client:{client}", limits.submissions_per_client, "client"),
            (f"burst:client:{client}", limits.submission_bursts_per_client, "client"),
        ],
        now,
    )


async def _count(
    session: AsyncSession, quotas: Sequence[tuple[str, Quota, str]], now: datetime
) -> None:
    for key, quota, field in quotas:
        row = await lock_counter(session, key, now)
        _refuse_if_used_up(row, quota, field, now)
        _restart_if_over(row, quota.window, now)
        row.count += 1
        row.last_at = now


def _refuse_if_used_up(row: AbuseCounter, quota: Quota, field: str, now: datetime) -> None:
    if now - _utc(row.window_start) < quota.window and row.count >= quota.limit:
        raise TooManyRequests(
            field,
            "rate_limited",
            f"at most {quota.limit} such requests per {_span(quota.window)}",
            _utc(row.window_start) + quota.window - now,
        )


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"
