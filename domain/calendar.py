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

Workflows never ask a :class:`WorkingCalendar`. When a dossier starts, its input records a
:class:`CalendarSnapshot` (:meth:`WorkingCalendar.snapshot`): the range it answers for and only
the exceptions to "Monday to Friday", so it stays small. :class:`~domain.clock.LegalClock` takes
either, through the :class:`Calendar` protocol. A government announcement made later is a
:class:`CalendarAmendment`: :func:`record_amendment` writes it into the override file for new
dossiers, and running dossiers receive its overrides and apply them with
:meth:`CalendarSnapshot.amended`, which keeps them so tracking can say what changed and why.

Determinism: every answer of a :class:`WorkingCalendar` depends only on the override list and the
installed ``holidays`` version (pinned in requirements.lock), and upgrading either can change an
answer. So workflows compute with a :class:`CalendarSnapshot` pinned in their input, which no
upgrade or file edit can change, and amendments reach running dossiers as signals, recorded in
history like any other input.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Protocol

import holidays
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "OVERRIDES_FILE",
    "Calendar",
    "CalendarAmendment",
    "CalendarError",
    "CalendarOverride",
    "CalendarRangeError",
    "CalendarSnapshot",
    "ProvisionalPeriod",
    "WorkingCalendar",
    "default_calendar",
    "default_provisional",
    "load_amendment",
    "load_overrides",
    "load_provisional",
    "provisional_between",
    "record_amendment",
]

#: The override table shipped with the catalog, found from this file so the working directory
#: does not matter.
OVERRIDES_FILE = Path(__file__).resolve().parent.parent / "catalog" / "calendar-overrides.yaml"

_COUNTRY = "VN"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Width of the lines :func:`record_amendment` writes, as in the shipped override file.
_LINE_WIDTH = 100


class CalendarError(ValueError):
    """An override file (or list) is malformed; the message names the file, entry and field."""


class CalendarRangeError(ValueError):
    """A date lies outside the days a calendar (its holiday data, or a snapshot) covers."""


class Calendar(Protocol):
    """What :class:`~domain.clock.LegalClock` asks of a calendar.

    :class:`WorkingCalendar` (the live holiday data) and :class:`CalendarSnapshot` (a pinned copy
    for workflows) both provide it. Every method raises ``CalendarRangeError`` for a day outside
    ``[first_day, last_day]`` and ``TypeError`` for a datetime.
    """

    @property
    def first_day(self) -> date:
        """The first day the calendar can answer for."""
        ...

    @property
    def last_day(self) -> date:
        """The last day the calendar can answer for."""
        ...

    def is_working_day(self, day: date) -> bool:
        """Whether a statutory time limit runs on this day.

        Args:
            day: A calendar day (not a datetime).

        Returns:
            True on a working day, False on a weekend, holiday or swapped day off.
        """
        ...

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        ...

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        ...


_ONE_DAY = timedelta(days=1)


def _working_day_from(calendar: Calendar, day: date, step: timedelta) -> date:
    """The first working day of ``calendar`` strictly after ``day`` (``step`` a day forward) or
    strictly before it (a day back)."""
    _check_day(day)
    candidate = day + step
    while not calendar.is_working_day(candidate):
        candidate += step
    return candidate


def _check_day(day: date) -> None:
    # A datetime is a date subclass but would never match an override key.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}; use LegalClock for times")


def _weekday_name(day: date) -> str:
    # Not strftime("%A"): an error message must not depend on the process locale.
    return _WEEKDAY_NAMES[day.weekday()]


def _require_text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


#: A text field that must say something once surrounding whitespace is stripped.
_Text = Annotated[str, AfterValidator(_require_text)]


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
    reason: _Text
    source: _Text

    @field_validator("day", mode="before")
    @classmethod
    def _iso_day_only(cls, value: object) -> object:
        return _iso_day(value)


def _iso_day(value: object) -> object:
    """A day written YYYY-MM-DD (or already a date), for a ``mode="before"`` validator."""
    # pydantic's lax mode would read 20260102 as a Unix timestamp and "2026-01-02T00:00" as a
    # date; an administrator's typo must fail instead of landing on another day.
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
    """One ``where.field: problem`` phrase per invalid field (``where`` may be empty)."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        place = ".".join(part for part in (where, field) if part)
        parts.append(f"{place}: {message}" if place else message)
    return "; ".join(parts)


def _read_yaml(path: Path, what: str) -> tuple[str, Any]:
    """The text of a YAML file and the document it holds, dates left as text.

    Raises:
        CalendarError: The file is missing or unreadable, or is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read the {what}: {exc}") from exc
    try:
        # _DateAsTextLoader is a SafeLoader: no arbitrary Python objects are built.
        document: Any = yaml.load(text, Loader=_DateAsTextLoader)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from exc
    return text, document


def _check_top_level(path: Path, document: Any, keys: Sequence[str], expected: str) -> None:
    """Refuse a document that is not a mapping or has a key outside ``keys``."""
    if not isinstance(document, dict):
        raise CalendarError(f"{path}: expected {expected} at the top level")
    unknown = sorted(str(key) for key in document if key not in keys)
    if unknown:
        allowed = ", ".join(repr(key) for key in keys)
        raise CalendarError(f"{path}: unknown top-level key(s) {unknown}; only {allowed}")


def _repeated_day(overrides: Sequence[CalendarOverride]) -> str | None:
    """The first day overridden twice, as an ``overrides[i].day: ...`` phrase, or None."""
    seen: dict[date, int] = {}
    for index, override in enumerate(overrides):
        if override.day in seen:
            return (
                f"overrides[{index}].day: {override.day.isoformat()} is already overridden by "
                f"overrides[{seen[override.day]}]"
            )
        seen[override.day] = index
    return None


def _validate_entries(path: Path, entries: Any) -> list[CalendarOverride]:
    """The ``overrides`` list of an override or amendment file, validated entry by entry.

    Args:
        path: The file, for error messages.
        entries: The value of its ``overrides`` key; None (nothing after ``overrides:``) is an
            empty list.

    Returns:
        The overrides, in file order, at most one per day.

    Raises:
        CalendarError: ``entries`` is not a list, an entry is invalid (the message names the
            file, the entry index and the field) or a day appears twice.
    """
    # An administrator who deletes every entry may leave `overrides:` with nothing after it.
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise CalendarError(f"{path}: 'overrides' must be a list of entries")
    result: list[CalendarOverride] = []
    for index, entry in enumerate(entries):
        where = f"overrides[{index}]"
        if not isinstance(entry, dict):
            raise CalendarError(
                f"{path}: {where}: expected a mapping with day, kind, reason, source"
            )
        try:
            result.append(CalendarOverride.model_validate(entry))
        except ValidationError as exc:
            raise CalendarError(f"{path}: {_describe(where, exc)}") from None
    repeated = _repeated_day(result)
    if repeated:
        raise CalendarError(f"{path}: {repeated}")
    return result


def _overrides_in(path: Path, document: Any) -> list[CalendarOverride]:
    """The overrides of a parsed override file (see :func:`load_overrides`)."""
    _check_top_level(
        path, document, ("provisional", "overrides"), "a mapping with an 'overrides' list"
    )
    if "overrides" not in document:
        raise CalendarError(f"{path}: expected a mapping with an 'overrides' list at the top level")
    _provisional_in(path, document)  # a broken list fails at start-up, like a broken entry
    return _validate_entries(path, document["overrides"])


class ProvisionalPeriod(BaseModel):
    """Days whose working status is not settled by an official text yet (``provisional:``).

    The calendar still answers for them (from the ``holidays`` package's rules and the
    overrides), but an appointment that falls in, or counts across, such a period is printed
    with a warning that it may move (``due-date``, form 01).

    Attributes:
        first: The first day concerned.
        last: The last day concerned (inclusive).
        reason: Why it is provisional and what would settle it, shown to people.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    first: date
    last: date
    reason: _Text

    @field_validator("first", "last", mode="before")
    @classmethod
    def _iso_days_only(cls, value: object) -> object:
        return _iso_day(value)

    @model_validator(mode="after")
    def _ordered(self) -> ProvisionalPeriod:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) is before first ({self.first})")
        return self

    def overlaps(self, first: date, last: date) -> bool:
        """Whether any day of ``[first, last]`` is in the period."""
        return self.first <= last and first <= self.last


def _provisional_in(path: Path, document: Any) -> list[ProvisionalPeriod]:
    entries = document.get("provisional") or []
    if not isinstance(entries, list):
        raise CalendarError(f"{path}: 'provisional' must be a list of periods")
    periods = []
    for index, entry in enumerate(entries):
        where = f"provisional[{index}]"
        if not isinstance(entry, dict):
            raise CalendarError(f"{path}: {where}: expected a mapping with first, last, reason")
        try:
            periods.append(ProvisionalPeriod.model_validate(entry))
        except ValidationError as exc:
            raise CalendarError(f"{path}: {_describe(where, exc)}") from None
    return periods


def load_provisional(path: Path) -> list[ProvisionalPeriod]:
    """Read the ``provisional`` periods of an override file (none when it has no such key).

    Raises:
        CalendarError: The file is unreadable or invalid, or a period is.
    """
    _, document = _read_yaml(path, "calendar override file")
    _check_top_level(
        path, document, ("provisional", "overrides"), "a mapping with an 'overrides' list"
    )
    return _provisional_in(path, document)


@cache
def default_provisional() -> tuple[ProvisionalPeriod, ...]:
    """The provisional periods of the shipped override file, read once per process."""
    return tuple(load_provisional(OVERRIDES_FILE))


def provisional_between(
    periods: Iterable[ProvisionalPeriod], first: date, last: date
) -> list[ProvisionalPeriod]:
    """The periods that touch any day of ``[first, last]`` (a dossier's receipt to appointment)."""
    return [period for period in periods if period.overlaps(first, last)]


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
    _, document = _read_yaml(path, "calendar override file")
    return _overrides_in(path, document)


class CalendarAmendment(BaseModel):
    """A government announcement that changes working days after the calendar was read.

    Attributes:
        overrides: The days concerned, at least one, each day at most once.
        announced_by: The official document that announced the change (number and date).
        note: Free text for administrators (why, who checked it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    overrides: list[CalendarOverride]
    announced_by: _Text
    note: str = ""

    @field_validator("overrides")
    @classmethod
    def _some_days_once_each(cls, overrides: list[CalendarOverride]) -> list[CalendarOverride]:
        if not overrides:
            raise ValueError("at least one override is needed")
        repeated = _repeated_day(overrides)
        if repeated:
            raise ValueError(repeated)
        return overrides


_AMENDMENT_KEYS = ("announced_by", "note", "overrides")


def load_amendment(path: Path) -> CalendarAmendment:
    """Read and validate an amendment file.

    The file is YAML with the top-level keys ``announced_by`` (required), ``note`` (optional)
    and ``overrides``: a non-empty list of entries written as in the override file.

    Args:
        path: The YAML file.

    Returns:
        The amendment.

    Raises:
        CalendarError: The file is missing or unreadable, is not valid YAML, does not have the
            expected shape, or a field or entry is invalid (the message names the file, the entry
            index and the field).
    """
    _, document = _read_yaml(path, "calendar amendment file")
    _check_top_level(
        path, document, _AMENDMENT_KEYS, "a mapping with 'announced_by' and an 'overrides' list"
    )
    fields = dict(document)
    if "overrides" in fields:
        fields["overrides"] = _validate_entries(path, fields["overrides"])
    try:
        return CalendarAmendment.model_validate(fields)
    except ValidationError as exc:
        raise CalendarError(f"{path}: {_describe('', exc)}") from None


def record_amendment(path: Path, amendment: CalendarAmendment) -> list[CalendarOverride]:
    """Write an amendment's overrides into an override file, so new calendars include them.

    An entry for a day not yet in the file is appended; an entry for a day already in the file
    replaces it (a government can reverse an announced day off). The file is rewritten as little
    as possible: the leading comment block, every untouched entry and every comment between
    entries keep their exact text, and written entries follow the file's style (``day:`` then
    ``kind:``, texts as folded ``>-`` blocks). The new text is written to a temporary file in the
    same folder, loaded back with :func:`load_overrides`, and only then moved over the file, so
    a crash or a refusal leaves the file as it was.

    Args:
        path: The override file, e.g. :data:`OVERRIDES_FILE`.
        amendment: The announcement to record.

    Returns:
        The amendment's overrides that changed the file, in the amendment's order; an entry
        identical to one already in the file is left out. Empty when the file was not touched.

    Raises:
        CalendarError: The file does not load before the change, the changed file would not load
            back as intended (the file is left unchanged), or it cannot be written.
    """
    text, document = _read_yaml(path, "calendar override file")
    current = _overrides_in(path, document)
    merged = list(current)
    position = {override.day: index for index, override in enumerate(current)}
    changed: list[CalendarOverride] = []
    for override in amendment.overrides:
        index = position.get(override.day)
        if index is None:
            position[override.day] = len(merged)
            merged.append(override)
        elif merged[index] == override:
            continue
        else:
            merged[index] = override
        changed.append(override)
    if changed:
        _replace_checked(path, _updated_text(text, current, merged), merged)
    return changed


def _last_line(lines: Sequence[str], mark: yaml.Mark) -> int:
    """Index of the last line holding text that ends at ``mark``.

    A block scalar's end mark lies past the line breaks (and blank lines) that close it, at the
    start of the next line; a plain scalar's lies just after its last character.
    """
    line = mark.line
    if line >= len(lines) or not lines[line][: mark.column].strip():
        line -= 1
    while line > 0 and not lines[line].strip():
        line -= 1
    return line


def _render_text(key: str, text: str, indent: str) -> list[str]:
    """``key: text`` as lines, a folded ``>-`` block when folding gives the text back exactly."""
    # Folding joins lines with one space, so only text whose words are separated by single
    # spaces survives it; anything else (double spaces, tabs, line breaks) is quoted instead.
    if " ".join(text.split()) != text:
        quoted = yaml.safe_dump(text, allow_unicode=True, default_style='"', width=float("inf"))
        return [f"{indent}{key}: {quoted.strip()}"]
    wrapped = textwrap.wrap(
        text,
        width=_LINE_WIDTH - len(indent) - 2,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [f"{indent}{key}: >-", *(f"{indent}  {line}" for line in wrapped)]


def _render_entry(override: CalendarOverride, dash_column: int) -> list[str]:
    """An override file entry in the shipped file's style, one string per line."""
    indent = " " * (dash_column + 2)
    return [
        f"{' ' * dash_column}- day: {override.day.isoformat()}",
        f"{indent}kind: {override.kind}",
        *_render_text("reason", override.reason, indent),
        *_render_text("source", override.source, indent),
    ]


def _updated_text(
    text: str, current: Sequence[CalendarOverride], merged: Sequence[CalendarOverride]
) -> str:
    """The override file's text with ``merged`` as its entries, changing as few lines as possible.

    ``merged`` is ``current`` with some entries replaced in place and new ones at the end.
    """
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    root = yaml.compose(text, Loader=_DateAsTextLoader)
    assert isinstance(root, yaml.MappingNode)  # the text loaded as a mapping just before
    key, value = next((key, value) for key, value in root.value if key.value == "overrides")
    items = value.value if isinstance(value, yaml.SequenceNode) and not value.flow_style else []

    def rendered(overrides: Iterable[CalendarOverride], dash_column: int) -> list[str]:
        return [f"{line}{newline}" for o in overrides for line in _render_entry(o, dash_column)]

    if not items:
        # `overrides:` with nothing after it, or a flow list: write the list from its key on.
        head = lines[: key.start_mark.line]
        tail = lines[max(key.start_mark.line, _last_line(lines, value.end_mark)) + 1 :]
        return "".join([*head, f"overrides:{newline}", *rendered(merged, 2), *tail])

    first_line = lines[items[0].start_mark.line]
    dash_column = len(first_line) - len(first_line.lstrip(" "))
    starts = [item.start_mark.line for item in items]
    output = lines[: starts[0]]
    for index, item in enumerate(items):
        if isinstance(item, yaml.MappingNode) and not item.flow_style and item.value:
            # A block mapping ends where the next token starts, after any comment that follows
            # it; its last value ends where its own text does.
            end = max(_last_line(lines, node.end_mark) for pair in item.value for node in pair)
        else:
            end = _last_line(lines, item.end_mark)
        following = starts[index + 1] if index + 1 < len(starts) else len(lines)
        if merged[index] == current[index]:
            output += lines[starts[index] : end + 1]
        else:
            output += rendered([merged[index]], dash_column)
        # Comments and blank lines between entries stay where they were.
        output += lines[end + 1 : following]
    if output and not output[-1].endswith(("\n", "\r")):
        output[-1] += newline
    output += rendered(merged[len(current) :], dash_column)
    return "".join(output)


def _replace_checked(path: Path, text: str, expected: Sequence[CalendarOverride]) -> None:
    """Replace ``path`` by ``text`` atomically, only if the text loads back as ``expected``.

    Raises:
        CalendarError: The text would not load as ``expected``, or the file cannot be written;
            either way the file is unchanged.
    """
    try:
        # In the same folder, so os.replace is an atomic rename on the same file system.
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise CalendarError(f"{path}: cannot write the calendar override file: {exc}") from exc
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            written = load_overrides(temporary)
        except CalendarError as exc:
            raise CalendarError(
                f"{path}: refusing to write an override file that would not load ({exc}); "
                f"the file is unchanged"
            ) from exc
        if written != list(expected):
            raise CalendarError(
                f"{path}: refusing to write an override file that would not load back as "
                f"intended; the file is unchanged"
            )
        # mkstemp creates the file readable by its owner only; keep the original permissions.
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except OSError as exc:
        raise CalendarError(f"{path}: cannot write the calendar override file: {exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)


class _Lookup:
    """A snapshot's lists as sets, built on first use: a cache, not part of the snapshot's value."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        # (the lists it was built from, days off, worked weekend days, amendments by day); one
        # attribute, assigned at once, so a thread never sees half of it.
        self.state: (
            tuple[
                tuple[object, ...],
                frozenset[date],
                frozenset[date],
                dict[date, CalendarOverride],
                dict[date, bool],  # days already answered by is_working_day
            ]
            | None
        ) = None

    def __eq__(self, other: object) -> bool:
        # pydantic compares private attributes too: a used snapshot equals a fresh copy.
        return isinstance(other, _Lookup)


def _sorted_once(days: tuple[date, ...]) -> tuple[date, ...]:
    """The days sorted; a day listed twice is refused."""
    ordered = tuple(sorted(days))
    for earlier, later in pairwise(ordered):
        if earlier == later:
            raise ValueError(f"{later.isoformat()} is listed twice")
    return ordered


def _sorted_exceptions(days: tuple[date, ...], *, weekend: bool, rule: str) -> tuple[date, ...]:
    """Exceptions to the week's pattern, sorted: days off fall on weekdays (``weekend`` false),
    worked days on weekends (true); a day on the other side breaks ``rule``."""
    for day in days:
        if (day.weekday() >= 5) is not weekend:
            raise ValueError(f"{day.isoformat()} is a {_weekday_name(day)}; {rule}")
    return _sorted_once(days)


class CalendarSnapshot(BaseModel):
    """The working days of a range of days, frozen: what a workflow computes its due moments with.

    Recorded once in a workflow's input (pure data, JSON-serialisable), it answers like the
    :class:`WorkingCalendar` it was taken from whatever the holiday data or the override file
    says later. Only the exceptions to "Monday to Friday" are stored, so three years take about
    a kilobyte. Implements :class:`Calendar`; lookups are set lookups, built on first use.

    Attributes:
        first_day: The first day it answers for.
        last_day: The last day it answers for (inclusive).
        days_off: Monday–Friday days not worked (holidays, compensation and swapped days off),
            sorted.
        working_weekend_days: Saturdays and Sundays worked (make-up days), sorted.
        amendments: Overrides applied after the snapshot was taken (:meth:`amended`), sorted by
            day, one per day, so tracking can say what changed and why. The two lists above
            already include their effect.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_day: date
    last_day: date
    days_off: tuple[date, ...]
    working_weekend_days: tuple[date, ...]
    amendments: tuple[CalendarOverride, ...] = ()

    _lookup: _Lookup = PrivateAttr(default_factory=_Lookup)

    @field_validator("days_off")
    @classmethod
    def _weekdays_only(cls, days: tuple[date, ...]) -> tuple[date, ...]:
        return _sorted_exceptions(
            days,
            weekend=False,
            rule="list only Monday–Friday days "
            "(a weekend day is off unless it is in working_weekend_days)",
        )

    @field_validator("working_weekend_days")
    @classmethod
    def _weekend_days_only(cls, days: tuple[date, ...]) -> tuple[date, ...]:
        return _sorted_exceptions(
            days,
            weekend=True,
            rule="list only Saturdays and Sundays (a weekday is worked unless it is in days_off)",
        )

    @field_validator("amendments")
    @classmethod
    def _one_per_day(cls, amendments: tuple[CalendarOverride, ...]) -> tuple[CalendarOverride, ...]:
        ordered = tuple(sorted(amendments, key=lambda amendment: amendment.day))
        _sorted_once(tuple(amendment.day for amendment in ordered))
        return ordered

    @model_validator(mode="after")
    def _within_range(self) -> CalendarSnapshot:
        span = self._span()
        if self.last_day < self.first_day:
            raise ValueError(
                f"first_day {self.first_day.isoformat()} is after last_day "
                f"{self.last_day.isoformat()}"
            )
        for field in ("days_off", "working_weekend_days"):
            for day in getattr(self, field):
                if not self.first_day <= day <= self.last_day:
                    raise ValueError(f"{field}: {day.isoformat()} is outside the range {span}")
        off = set(self.days_off)
        worked = set(self.working_weekend_days)
        for amendment in self.amendments:
            day = amendment.day
            if not self.first_day <= day <= self.last_day:
                raise ValueError(f"amendments: {day.isoformat()} is outside the range {span}")
            works = day in worked if day.weekday() >= 5 else day not in off
            if works != (amendment.kind == "working_day"):
                raise ValueError(
                    f"amendments: {day.isoformat()} is amended to {amendment.kind} but the "
                    f"lists say the opposite"
                )
        return self

    def _span(self) -> str:
        return f"{self.first_day.isoformat()}–{self.last_day.isoformat()}"

    def _sets(
        self,
    ) -> tuple[frozenset[date], frozenset[date], dict[date, CalendarOverride], dict[date, bool]]:
        """The lists as sets, built once; rebuilt if a ``model_copy(update=...)`` changed them.
        The last item remembers the days `is_working_day` answered (the legal clock asks about
        the same days again and again)."""
        source = (self.days_off, self.working_weekend_days, self.amendments)
        state = self._lookup.state
        if state is None or any(a is not b for a, b in zip(state[0], source, strict=True)):
            state = (
                source,
                frozenset(self.days_off),
                frozenset(self.working_weekend_days),
                {amendment.day: amendment for amendment in self.amendments},
                {},
            )
            self._lookup.state = state
        return state[1], state[2], state[3], state[4]

    def _check_in_range(self, day: date) -> None:
        _check_day(day)
        if not self.first_day <= day <= self.last_day:
            raise CalendarRangeError(
                f"{day.isoformat()} is outside the calendar snapshot's range {self._span()}"
            )

    def is_working_day(self, day: date) -> bool:
        """Whether a statutory time limit runs on this day (`Calendar.is_working_day`).

        Raises:
            CalendarRangeError: The day is outside ``[first_day, last_day]``; the message names
                the day and the range.
            TypeError: ``day`` is a datetime.
        """
        days_off, working_weekend_days, _, answered = self._sets()
        known = answered.get(day) if type(day) is date else None
        if known is not None:
            return known
        self._check_in_range(day)
        works = day in working_weekend_days if day.weekday() >= 5 else day not in days_off
        answered[day] = works
        return works

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``.

        Raises:
            CalendarRangeError: The search leaves the snapshot's range.
        """
        return _working_day_from(self, day, _ONE_DAY)

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``.

        Raises:
            CalendarRangeError: The search leaves the snapshot's range.
        """
        return _working_day_from(self, day, -_ONE_DAY)

    def holiday_name(self, day: date) -> str | None:
        """Why a day is off, as far as the snapshot knows.

        The snapshot keeps no holiday names (to stay small); ask the :class:`WorkingCalendar`
        for those.

        Args:
            day: A calendar day within the range.

        Returns:
            The reason of the amendment that made the day off, otherwise None (also for an
            amendment that made it a working day, as :meth:`WorkingCalendar.holiday_name`).

        Raises:
            CalendarRangeError: The day is outside the snapshot's range.
        """
        self._check_in_range(day)
        amendment = self._sets()[2].get(day)
        return amendment.reason if amendment and amendment.kind == "day_off" else None

    def covers(self, first: date, last: date) -> bool:
        """Whether every day of ``[first, last]`` lies within the snapshot's range.

        Raises:
            ValueError: ``last`` is before ``first``.
        """
        _check_day(first)
        _check_day(last)
        if last < first:
            raise ValueError(f"last {last.isoformat()} is before first {first.isoformat()}")
        return self.first_day <= first and last <= self.last_day

    def amended(self, overrides: Iterable[CalendarOverride]) -> CalendarSnapshot:
        """A new snapshot with these days' status changed, recorded in ``amendments``.

        Each override sets its day's status, as an override-file entry does: ``day_off`` makes
        the day not worked, ``working_day`` makes it worked. One that changes nothing (a
        ``day_off`` on an ordinary weekend day, a ``working_day`` on an ordinary weekday) is
        still recorded. A later override of a day replaces an earlier one, given here or
        recorded before.

        Args:
            overrides: The changes, in the order they were announced. Days outside the range are
                ignored, not recorded: they are another snapshot's business.

        Returns:
            The amended snapshot; this one is unchanged.
        """
        days_off = set(self.days_off)
        working_weekend_days = set(self.working_weekend_days)
        amendments = {amendment.day: amendment for amendment in self.amendments}
        for override in overrides:
            day = override.day
            if not self.first_day <= day <= self.last_day:
                continue
            amendments[day] = override
            works = override.kind == "working_day"
            if day.weekday() >= 5:
                (working_weekend_days.add if works else working_weekend_days.discard)(day)
            else:
                (days_off.discard if works else days_off.add)(day)
        return CalendarSnapshot(
            first_day=self.first_day,
            last_day=self.last_day,
            days_off=tuple(sorted(days_off)),
            working_weekend_days=tuple(sorted(working_weekend_days)),
            amendments=tuple(amendments[day] for day in sorted(amendments)),
        )

    def changed_days(self, other: CalendarSnapshot) -> list[date]:
        """The days within both ranges whose working status differs between the two snapshots.

        Args:
            other: Another snapshot, e.g. this one before :meth:`amended`.

        Returns:
            The days, sorted; empty when the ranges do not overlap.
        """
        first = max(self.first_day, other.first_day)
        last = min(self.last_day, other.last_day)
        # A day in neither snapshot's exception lists has its weekday's status in both.
        candidates = {
            day
            for snapshot in (self, other)
            for day in (*snapshot.days_off, *snapshot.working_weekend_days)
            if first <= day <= last
        }
        return sorted(
            day for day in candidates if self.is_working_day(day) != other.is_working_day(day)
        )


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
        # The days already answered: a simulation pins a snapshot per receipt day, each asking
        # about the same two years of days.
        self._answered: dict[date, bool] = {}
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
        # Per year, its exceptions to the weekly rhythm in day order: (weekdays off, weekend
        # days worked). A snapshot is cut from these instead of asking about each of its days.
        self._exceptions: dict[int, tuple[tuple[date, ...], tuple[date, ...]]] = {}
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

    def is_working_day(self, day: date) -> bool:
        """Whether a statutory time limit runs on this day (`Calendar.is_working_day`).

        Raises:
            CalendarRangeError: The year is outside the holiday data's range.
        """
        known = self._answered.get(day) if type(day) is date else None
        if known is not None:
            return known
        _check_day(day)
        table = self._year(day.year)
        override = self._overrides.get(day)
        if override is not None:
            works = override.kind == "working_day"
        elif day.weekday() >= 5:
            works = day in table.worked_weekend_days
        else:
            works = day not in table.holiday_names
        self._answered[day] = works
        return works

    def holiday_name(self, day: date) -> str | None:
        """Why a day is off, for explaining a date to users.

        Args:
            day: A calendar day.

        Returns:
            The override's reason for an overridden day off, the package's holiday name for a
            public holiday or substituted day off (even on a weekend), otherwise None (also for
            an ordinary weekend day and for an overridden working day).
        """
        _check_day(day)
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
        return _working_day_from(self, day, _ONE_DAY)

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``.

        Raises:
            CalendarRangeError: The search leaves the holiday data's range.
        """
        return _working_day_from(self, day, -_ONE_DAY)

    def snapshot(self, first: date, last: date) -> CalendarSnapshot:
        """A frozen copy of this calendar's answers for ``[first, last]``, overrides included.

        Args:
            first: The first day the snapshot answers for.
            last: The last day it answers for (inclusive).

        Returns:
            The snapshot; it agrees with this calendar on every question within the range.

        Raises:
            CalendarRangeError: The range leaves the years the holiday data covers.
            ValueError: ``last`` is before ``first``.
        """
        _check_day(first)
        _check_day(last)
        if last < first:
            raise ValueError(f"last {last.isoformat()} is before first {first.isoformat()}")
        if first < self.first_day or last > self.last_day:
            raise CalendarRangeError(
                f"{first.isoformat()}–{last.isoformat()} leaves the calendar's range "
                f"{self.first_day.isoformat()}–{self.last_day.isoformat()}"
            )
        days_off: list[date] = []
        working_weekend_days: list[date] = []
        for year in range(first.year, last.year + 1):
            off, worked = self._exceptions_of(year)
            days_off += (day for day in off if first <= day <= last)
            working_weekend_days += (day for day in worked if first <= day <= last)
        return CalendarSnapshot(
            first_day=first,
            last_day=last,
            days_off=tuple(days_off),
            working_weekend_days=tuple(working_weekend_days),
        )

    def _exceptions_of(self, year: int) -> tuple[tuple[date, ...], tuple[date, ...]]:
        """The year's weekdays off and weekend days worked, each in day order (remembered: a
        simulation cuts a snapshot per receipt day from the same two or three years)."""
        exceptions = self._exceptions.get(year)
        if exceptions is None:
            days_off: list[date] = []
            working_weekend_days: list[date] = []
            day, end = date(year, 1, 1), date(year, 12, 31)
            while day <= end:
                weekend = day.weekday() >= 5
                if self.is_working_day(day) == weekend:
                    (working_weekend_days if weekend else days_off).append(day)
                day += timedelta(days=1)
            exceptions = self._exceptions[year] = (tuple(days_off), tuple(working_weekend_days))
        return exceptions

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days in the half-open range ``[start, end)``.

        Args:
            start: First day counted.
            end: First day not counted.

        Returns:
            The count; negative (``-working_days_between(end, start)``) when ``end < start``.
        """
        _check_day(start)
        _check_day(end)
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
