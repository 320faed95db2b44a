"""The legal working calendar of Vietnam: which days count towards a statutory time limit.

A day is a working day when, in order of precedence:

1. the override table (``catalog/calendar-overrides.yaml``) says so, either way;
2. otherwise the PyPI package ``holidays`` (country ``VN``) says so: Saturdays and Sundays are
   days off unless the government swapped a working day onto them, and public holidays, their
   compensation days and swapped days off are days off.

The package implements the Labour Code 2019 art. 112 holidays (lunar Tết and Hùng Kings' day
included), weekend compensation and most government-announced swaps, but it lags behind the
announcements; the override table fills the gap and an administrator edits it without a code
change.

Checked against the official announcements (holidays 0.109, the version in requirements.lock):

- 2023: 1/1 (Sun, off Mon 2/1); Tết 20–26/1; Hùng Kings 29/4 (Sat) with 30/4 (Sun), 1/5, and
  days off 2–3/5; National Day 1/9 and 2/9 (Sat) with day off 4/9. The package agrees.
- 2024: 1/1; Tết 8–14/2; Hùng Kings 18/4; 30/4–1/5 with the swap off Mon 29/4 / worked Sat 4/5
  (the package cites Official Dispatch 2450/VPCP-KGVX); National Day 2–3/9. The package agrees.
- 2025: 1/1; Tết 27–31/1 (the package cites Announcement 6150/TB-BLĐTBXH); Hùng Kings 7/4;
  30/4–1/5 with the swap off Fri 2/5 / worked Sat 26/4; National Day 1–2/9. The package agrees.
- 2026: Tết 16–20/2; Hùng Kings 26/4 (Sun) with day off Mon 27/4; 30/4–1/5; National Day 1–2/9
  with the swap off Mon 31/8 / worked Sat 22/8; Vietnam Culture Day 24/11. The package agrees.
  **Missing from the package:** the New Year swap (off Fri 2/1/2026, worked Sat 10/1/2026); it is
  in the override file, whose entries carry their own sources.
- 2027 and later: the package's rule-based dates only; no swap has been checked.

Determinism: every answer depends only on the override list and the installed ``holidays``
version (pinned in requirements.lock). Upgrading either can change an answer, so workflows read
the calendar through an activity, whose result is recorded in history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

__all__ = [
    "OVERRIDES_FILE",
    "CalendarError",
    "CalendarOverride",
    "CalendarRangeError",
    "WorkingCalendar",
    "default_calendar",
    "load_overrides",
]

#: The override table shipped with the catalog, found from this file so the working directory
#: does not matter.
OVERRIDES_FILE = Path(__file__).resolve().parent.parent / "catalog" / "calendar-overrides.yaml"

_COUNTRY = "VN"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class CalendarError(ValueError):
    """An override file (or list) is malformed; the message names the file, entry and field."""


class CalendarRangeError(ValueError):
    """A date lies outside the years the holiday data covers."""


class CalendarOverride(BaseModel):
    """One entry of the override table: a day whose status differs from the holidays package.

    Attributes:
        day: The calendar day concerned.
        kind: ``"day_off"`` (e.g. a swapped day off) or ``"working_day"`` (e.g. a worked Saturday).
        reason: Human explanation, shown to users (Vietnamese and/or English).
        source: The legal source, e.g. the official document number; say so when unconfirmed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    day: date
    kind: Literal["day_off", "working_day"]
    reason: str
    source: str

    @field_validator("day", mode="before")
    @classmethod
    def _iso_day_only(cls, value: object) -> object:
        # pydantic's lax mode would read 20260102 as a Unix timestamp and "2026-01-02T00:00" as
        # a date; an administrator's typo must fail instead of landing on another day.
        if isinstance(value, datetime):
            raise ValueError("must be a date (YYYY-MM-DD), not a date and time")
        if isinstance(value, date):
            return value
        if isinstance(value, str) and _ISO_DAY.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a valid calendar day ({exc})") from None
        raise ValueError(f"must be a date written YYYY-MM-DD, got {value!r}")

    @field_validator("reason", "source")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


class _DateAsTextLoader(yaml.SafeLoader):
    """A safe YAML loader that keeps ``2026-01-02`` as text.

    PyYAML would build the date itself and fail on ``2026-02-30`` before we know which entry it
    belongs to; leaving it to pydantic lets the error name the entry.
    """


_DateAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _describe(where: str, error: ValidationError) -> str:
    """One ``where.field: problem`` phrase per invalid field."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}.{field}: {message}" if field else f"{where}: {message}")
    return "; ".join(parts)


def load_overrides(path: Path) -> list[CalendarOverride]:
    """Read and validate an override file.

    The file is YAML with a single top-level key ``overrides`` holding a list of entries with the
    fields of :class:`CalendarOverride`. Dates are written ``YYYY-MM-DD``.

    Args:
        path: The YAML file.

    Returns:
        The overrides, in file order.

    Raises:
        CalendarError: The file is missing or unreadable, is not valid YAML, does not have the
            expected shape, an entry is invalid (the message names the file, the entry index and
            the field) or a day appears twice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read the calendar override file: {exc}") from exc
    try:
        # _DateAsTextLoader is a SafeLoader: no arbitrary Python objects are built.
        document: Any = yaml.load(text, Loader=_DateAsTextLoader)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from exc

    if not isinstance(document, dict) or "overrides" not in document:
        raise CalendarError(f"{path}: expected a mapping with an 'overrides' list at the top level")
    unknown = sorted(str(key) for key in document if key != "overrides")
    if unknown:
        raise CalendarError(f"{path}: unknown top-level key(s) {unknown}; only 'overrides'")
    # An administrator who deletes every entry may leave `overrides:` with nothing after it.
    entries = document["overrides"] if document["overrides"] is not None else []
    if not isinstance(entries, list):
        raise CalendarError(f"{path}: 'overrides' must be a list of entries")

    result: list[CalendarOverride] = []
    seen: dict[date, int] = {}
    for index, entry in enumerate(entries):
        where = f"overrides[{index}]"
        if not isinstance(entry, dict):
            raise CalendarError(
                f"{path}: {where}: expected a mapping with day, kind, reason, source"
            )
        try:
            override = CalendarOverride.model_validate(entry)
        except ValidationError as exc:
            raise CalendarError(f"{path}: {_describe(where, exc)}") from None
        if override.day in seen:
            raise CalendarError(
                f"{path}: {where}.day: {override.day.isoformat()} is already overridden by "
                f"overrides[{seen[override.day]}]"
            )
        seen[override.day] = index
        result.append(override)
    return result


class _YearTable(NamedTuple):
    holiday_names: dict[date, str]
    worked_weekend_days: frozenset[date]


class WorkingCalendar:
    """Working days in Vietnam: the ``holidays`` package with an override table on top.

    Years are loaded from the package lazily, one at a time, and each year's table keeps only its
    own dates, so an answer never depends on the order of earlier questions. Concurrent use from
    threads is safe: two threads loading the same year compute identical tables.
    """

    def __init__(
        self,
        overrides: Iterable[CalendarOverride] = (),
        *,
        years: Iterable[int] = (),
        language: str = "vi",
    ) -> None:
        """Build a calendar.

        Args:
            overrides: Days whose status replaces the package's answer; at most one per day.
            years: Years to load eagerly (others are loaded when first asked about).
            language: Language of holiday names returned by :meth:`holiday_name`.

        Raises:
            ValueError: Two overrides name the same day, or a year is out of range.
        """
        self._overrides: dict[date, CalendarOverride] = {}
        for override in overrides:
            if override.day in self._overrides:
                raise ValueError(f"day {override.day.isoformat()} is overridden twice")
            self._overrides[override.day] = override
        self._language = language
        coverage = holidays.country_holidays(_COUNTRY, language=language)
        # The package's lunar calendar covers a fixed span; outside it every weekday would look
        # like a working day, so refuse instead of answering wrongly.
        self._first_year: int = coverage.start_year
        self._last_year: int = coverage.end_year
        self._years: dict[int, _YearTable] = {}
        for year in years:
            self._year(year)

    @property
    def overrides(self) -> tuple[CalendarOverride, ...]:
        """The override table, sorted by day."""
        return tuple(self._overrides[day] for day in sorted(self._overrides))

    @property
    def first_day(self) -> date:
        """The first day the calendar can answer for."""
        return date(self._first_year, 1, 1)

    @property
    def last_day(self) -> date:
        """The last day the calendar can answer for."""
        return date(self._last_year, 12, 31)

    def _year(self, year: int) -> _YearTable:
        table = self._years.get(year)
        if table is None:
            if not self._first_year <= year <= self._last_year:
                raise CalendarRangeError(
                    f"year {year} is outside the calendar's range "
                    f"{self._first_year}–{self._last_year}"
                )
            package = holidays.country_holidays(_COUNTRY, years=year, language=self._language)
            table = _YearTable(
                holiday_names={day: name for day, name in package.items() if day.year == year},
                # The package lists every known worked weekend day whatever years were asked.
                worked_weekend_days=frozenset(
                    day for day in package.weekend_workdays if day.year == year
                ),
            )
            self._years[year] = table
        return table

    @staticmethod
    def _check_day(day: date) -> None:
        # A datetime is a date subclass but would never match an override key.
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"expected a date, got {type(day).__name__}; use LegalClock for times")

    def is_working_day(self, day: date) -> bool:
        """Whether a statutory time limit runs on this day.

        Args:
            day: A calendar day (not a datetime).

        Returns:
            True on a working day, False on a weekend, holiday or swapped day off.

        Raises:
            CalendarRangeError: The year is outside the holiday data's range.
        """
        self._check_day(day)
        table = self._year(day.year)
        override = self._overrides.get(day)
        if override is not None:
            return override.kind == "working_day"
        if day.weekday() >= 5:
            return day in table.worked_weekend_days
        return day not in table.holiday_names

    def holiday_name(self, day: date) -> str | None:
        """Why a day is off, for explaining a date to users.

        Args:
            day: A calendar day.

        Returns:
            The override's reason for an overridden day off, the package's holiday name for a
            public holiday or substituted day off (even on a weekend), otherwise None (also for
            an ordinary weekend day and for an overridden working day).
        """
        self._check_day(day)
        table = self._year(day.year)
        override = self._overrides.get(day)
        if override is not None:
            return override.reason if override.kind == "day_off" else None
        return table.holiday_names.get(day)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``.

        Raises:
            CalendarRangeError: The search leaves the holiday data's range.
        """
        self._check_day(day)
        candidate = day + timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += timedelta(days=1)
        return candidate

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``.

        Raises:
            CalendarRangeError: The search leaves the holiday data's range.
        """
        self._check_day(day)
        candidate = day - timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate -= timedelta(days=1)
        return candidate

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days in the half-open range ``[start, end)``.

        Args:
            start: First day counted.
            end: First day not counted.

        Returns:
            The count; negative (``-working_days_between(end, start)``) when ``end < start``.
        """
        self._check_day(start)
        self._check_day(end)
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count


@cache
def default_calendar() -> WorkingCalendar:
    """The calendar built from the shipped override file ``catalog/calendar-overrides.yaml``.

    Cached for the life of the process; an edit of the file takes effect on the next start.

    Raises:
        CalendarError: The override file is invalid.
    """
    return WorkingCalendar(load_overrides(OVERRIDES_FILE))
