"""The legal clock: statutory time counted in office hours on working days.

Durations are ``timedelta`` values of *working time*: one working day is
``OfficeHours.hours_per_day`` (8 hours by default), so "3 working days" is 24 working hours and a
limit can start and end in the middle of a day.

Conventions (all instants are timezone-aware and returned in ``VN_TZ``):

- Counting starts at :meth:`LegalClock.clock_start`: the receipt itself during office hours,
  otherwise the next opening. An instant exactly at a closing time is not office time.
- :meth:`LegalClock.add` returns the *earliest* instant at which the duration has elapsed, so a
  limit that uses up a session ends at that session's closing time (Monday 08:00 + 1 working
  day = Monday 17:00, not Tuesday 08:00).
- :meth:`LegalClock.subtract` is the mirror: the *latest* instant from which the duration still
  elapses before the end, so a result that could be a closing time or the next opening is the
  opening (Monday 17:00 - 1 working day = Monday 08:00).

Pure functions of the calendar and office hours: no clock is read, and what is stored is only a
memo of answers already given (a simulated year asks the same questions of one clock millions of
times; a calendar never changes under its clock). Viet Nam has kept UTC+07:00 without daylight
saving since 1975, so arithmetic on wall-clock times equals arithmetic on instants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from domain.calendar import Calendar, CalendarRangeError

__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "VN_TZ",
    "LegalClock",
    "OfficeHours",
    "working_days",
    "working_hours",
]

VN_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")

_Interval = tuple[datetime, datetime]
_Sessions = tuple[tuple[time, time], ...]
# A clock forgets its remembered answers when a memo grows past this many (memory stays bounded
# over a long run; the answers are recomputed, never different). A simulation keeps a clock per
# receipt day alive while that day's dossiers run, each asking a few dozen questions.
_MEMO_LIMIT: Final = 4096
_combine = datetime.combine
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _recalled(memo: dict[_K, _V], key: _K, answer: Callable[[_K], _V]) -> _V:
    """``answer(key)``, remembered in ``memo`` (an answer is never None; an error is not kept)."""
    value = memo.get(key)
    if value is None:
        value = answer(key)
        _remember(memo, key, value)
    return value


class OfficeHours(BaseModel):
    """The sessions of a working day at one desk, in local (Viet Nam) wall-clock time.

    Attributes:
        sessions: ``(opening, closing)`` pairs, sorted, each opening before its closing and
            separated by a break (touching sessions must be written as one session, so that a
            closing time is never also an opening time).
    """

    model_config = ConfigDict(frozen=True)

    sessions: tuple[tuple[time, time], ...] = (
        (time(8, 0), time(12, 0)),
        (time(13, 0), time(17, 0)),
    )

    @field_validator("sessions")
    @classmethod
    def _check_sessions(cls, sessions: _Sessions) -> _Sessions:
        if not sessions:
            raise ValueError("at least one session is needed")
        for opening, closing in sessions:
            if opening.tzinfo is not None or closing.tzinfo is not None:
                raise ValueError("session times are local wall-clock times without an offset")
            if not opening < closing:
                raise ValueError(f"session {opening}–{closing} must open before it closes")
        for (_, closing), (opening, _) in pairwise(sessions):
            if not closing < opening:
                raise ValueError(
                    f"sessions must be sorted and separated by a break: {closing} is not before "
                    f"{opening} (merge touching sessions into one)"
                )
        return sessions

    @property
    def hours_per_day(self) -> timedelta:
        """The working time of one full working day (8 hours by default)."""
        return sum(
            (_span(opening, closing) for opening, closing in self.sessions),
            start=timedelta(0),
        )

    def time_after(self, moment: time) -> timedelta:
        """The working time of one working day from the wall-clock ``moment`` to the closing.

        Args:
            moment: A local time of day, e.g. a receipt cut-off of 15:00.

        Returns:
            The office time left in the day after ``moment`` (2 hours after 15:00 by default).
        """
        return sum(
            (
                _span(max(opening, moment), closing)
                for opening, closing in self.sessions
                if closing > moment
            ),
            start=timedelta(0),
        )

    @property
    def opening(self) -> time:
        """The first opening of the day."""
        return self.sessions[0][0]

    @property
    def closing(self) -> time:
        """The last closing of the day."""
        return self.sessions[-1][1]


DEFAULT_OFFICE_HOURS: Final = OfficeHours()


def _span(opening: time, closing: time) -> timedelta:
    return datetime.combine(date.min, closing) - datetime.combine(date.min, opening)


def working_days(n: float, office_hours: OfficeHours = DEFAULT_OFFICE_HOURS) -> timedelta:
    """The working time of ``n`` working days (``n × hours_per_day``).

    Args:
        n: Number of working days; fractions allowed (0.5 = half a day).
        office_hours: The desk's office hours.

    Returns:
        The working time, e.g. 24 hours for 3 days of 8 hours.
    """
    return office_hours.hours_per_day * n


def working_hours(n: float) -> timedelta:
    """The working time of ``n`` working hours.

    Args:
        n: Number of hours; fractions allowed.

    Returns:
        ``timedelta(hours=n)``.
    """
    return timedelta(hours=n)


def _local(moment: datetime, what: str) -> datetime:
    """The naive Viet Nam wall-clock time of an aware instant."""
    if moment.tzinfo is VN_TZ:  # already Viet Nam time (most instants here)
        return _combine(moment.date(), moment.time())  # `replace(tzinfo=None)`, a fifth of it
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what} must carry a time-zone offset (got naive {moment.isoformat()}); "
            f"attach one, e.g. .replace(tzinfo=VN_TZ)"
        )
    local = moment.astimezone(VN_TZ)
    return _combine(local.date(), local.time())


def _local_or_max(moment: datetime, what: str) -> datetime:
    # A still-open pause is given with a far-future end such as datetime.max in UTC, which has no
    # representable Viet Nam time; it means "never", and datetime.max says the same.
    try:
        return _local(moment, what)
    except OverflowError:
        return datetime.max


def _memo_key(
    question: str, moment: datetime, other: object, pauses: Sequence[tuple[datetime, datetime]]
) -> tuple[Any, ...] | None:
    """The key a public answer is remembered under: the question and its arguments as instants
    (the answers depend on the instants only). None for a naive moment, which must raise, or
    for pauses that cannot be a key (lists)."""
    if moment.tzinfo is None or (isinstance(other, datetime) and other.tzinfo is None):
        return None
    try:
        key = (question, moment, other, *pauses)
        hash(key)
    except (TypeError, OverflowError):
        return None
    return key


def _aware(local: datetime) -> datetime:
    # `local.replace(tzinfo=VN_TZ)`, at a fifth of its cost (keywords are slow to parse); the
    # clock turns hundreds of thousands of instants a simulated year. `time()` keeps the fold.
    return _combine(local.date(), local.time(), VN_TZ)


class LegalClock:
    """Counts statutory time in office hours on working days.

    Every public method takes timezone-aware datetimes (any offset; converted to Viet Nam time)
    and returns datetimes in ``VN_TZ``. A naive datetime raises ``ValueError``.
    """

    def __init__(
        self,
        calendar: Calendar,
        office_hours: OfficeHours = DEFAULT_OFFICE_HOURS,
    ) -> None:
        """Build a clock.

        Args:
            calendar: Which days are working days: a ``WorkingCalendar``, or inside workflow
                code the ``CalendarSnapshot`` recorded in the workflow's input.
            office_hours: The desk's daily sessions.
        """
        self._calendar = calendar
        self._office_hours = office_hours
        self._sessions = office_hours.sessions
        # Memos of pure answers (see the module docstring); an error is never remembered.
        self._works: dict[date, bool] = {}
        self._next_day: dict[date, date] = {}
        self._previous_day: dict[date, date] = {}
        self._next_segments: dict[datetime, _Interval] = {}
        self._previous_segments: dict[datetime, _Interval] = {}
        self._answers: dict[tuple[Any, ...], Any] = {}

    @property
    def calendar(self) -> Calendar:
        """The working calendar."""
        return self._calendar

    @property
    def office_hours(self) -> OfficeHours:
        """The daily sessions."""
        return self._office_hours

    # -- building blocks on naive local times -------------------------------------------------

    # The memo lookups are written out (not `_recalled`): these run hundreds of thousands of
    # times in a simulated year, and a call less is a good part of their cost.
    def _is_working_day(self, day: date) -> bool:
        works = self._works.get(day)
        if works is None:
            works = self._calendar.is_working_day(day)
            _remember(self._works, day, works)
        return works

    def _next_working_day(self, day: date) -> date:
        return _recalled(self._next_day, day, self._calendar.next_working_day)

    def _previous_working_day(self, day: date) -> date:
        return _recalled(self._previous_day, day, self._calendar.previous_working_day)

    def _next_segment(self, cursor: datetime) -> _Interval:
        """The first stretch of office time at or after ``cursor``, clipped to start there."""
        segment = self._next_segments.get(cursor)
        if segment is None:
            segment = self._find_next_segment(cursor)
            _remember(self._next_segments, cursor, segment)
        return segment

    def _find_next_segment(self, cursor: datetime) -> _Interval:
        day = cursor.date()
        if self._is_working_day(day):
            for opening, closing in self._sessions:
                end = datetime.combine(day, closing)
                if end > cursor:
                    return max(datetime.combine(day, opening), cursor), end
        day = self._next_working_day(day)
        opening, closing = self._sessions[0]
        return datetime.combine(day, opening), datetime.combine(day, closing)

    def _answer(self, key: tuple[Any, ...] | None, compute: Callable[..., _V], *args: Any) -> _V:
        """A public question's answer ``compute(*args)``, remembered under ``key`` (None: not to
        be remembered). The arguments are passed on, not closed over: no function is made per
        question."""
        if key is None:
            return compute(*args)
        answer: _V | None = self._answers.get(key)
        if answer is None:
            answer = compute(*args)
            _remember(self._answers, key, answer)
        return answer

    def _previous_segment(self, cursor: datetime) -> _Interval:
        """The last stretch of office time before ``cursor``, clipped to end there."""
        return _recalled(self._previous_segments, cursor, self._find_previous_segment)

    def _find_previous_segment(self, cursor: datetime) -> _Interval:
        day = cursor.date()
        if self._is_working_day(day):
            for opening, closing in reversed(self._sessions):
                start = datetime.combine(day, opening)
                if start < cursor:
                    return start, min(datetime.combine(day, closing), cursor)
        day = self._previous_working_day(day)
        opening, closing = self._sessions[-1]
        return datetime.combine(day, opening), datetime.combine(day, closing)

    @staticmethod
    def _merge_pauses(pauses: Sequence[tuple[datetime, datetime]]) -> list[_Interval]:
        """Pauses as sorted, disjoint local intervals (overlapping or touching ones joined)."""
        intervals: list[_Interval] = []
        for index, (start, end) in enumerate(pauses):
            local_start = _local_or_max(start, f"pauses[{index}] start")
            local_end = _local_or_max(end, f"pauses[{index}] end")
            if local_end < local_start:
                raise ValueError(f"pauses[{index}] ends ({end}) before it starts ({start})")
            if local_end > local_start:
                intervals.append((local_start, local_end))
        intervals.sort()
        merged: list[_Interval] = []
        for start, end in intervals:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def _counted_segments(
        self, cursor: datetime, pauses: list[_Interval], until: datetime | None
    ) -> Iterator[_Interval]:
        """The stretches of counted time after ``cursor``, in order: office time minus pauses.

        Jumps over a pause in one step, however long it is, and stops at ``until`` (if given) or
        where the calendar's data ends (an open pause reaching ``datetime.max`` ends it too).
        """
        index = 0
        while until is None or cursor < until:
            while index < len(pauses) and pauses[index][1] <= cursor:
                index += 1
            if index < len(pauses) and pauses[index][0] <= cursor:
                cursor = pauses[index][1]
                continue
            try:
                start, end = self._next_segment(cursor)
            except (CalendarRangeError, OverflowError):
                return
            if until is not None and start >= until:
                return
            if index < len(pauses) and pauses[index][0] < end:
                if pauses[index][0] <= start:
                    # The pause begins in a gap (lunch, night, holiday): resume the search from
                    # the segment's start, where the loop will jump over the pause.
                    cursor = start
                    continue
                end = pauses[index][0]
            if until is not None:
                end = min(end, until)
            yield start, end
            cursor = end

    # -- public API ---------------------------------------------------------------------------

    def is_office_time(self, moment: datetime) -> bool:
        """Whether the clock runs at this instant: inside a session on a working day.

        Sessions are half-open: the opening instant is office time, the closing instant is not.

        Args:
            moment: An aware instant.

        Returns:
            True inside ``[opening, closing)`` of a session on a working day.
        """
        local = _local(moment, "moment")
        if not self._is_working_day(local.date()):
            return False
        wall = local.time()
        return any(opening <= wall < closing for opening, closing in self._sessions)

    def clock_start(self, received: datetime, cutoff: time | None = None) -> datetime:
        """The instant the legal clock starts for something received at ``received``.

        Args:
            received: When the dossier (or step) was received; aware.
            cutoff: Optional daily cut-off (local time, e.g. 15:00): a receipt at or after it on a
                working day counts from the next working day's opening.

        Returns:
            ``received`` itself when it is office time (and before the cut-off), otherwise the
            next opening: a later session the same day, or the first opening of the next working
            day. A receipt exactly at a closing time starts at the next opening.

        Raises:
            ValueError: ``received`` is naive or ``cutoff`` carries an offset.
        """
        local = _local(received, "received")
        if cutoff is not None:
            if cutoff.tzinfo is not None:
                raise ValueError("cutoff is a local wall-clock time and must not carry an offset")
            if self._is_working_day(local.date()) and local.time() >= cutoff:
                day = self._next_working_day(local.date())
                return _aware(datetime.combine(day, self._office_hours.opening))
        return _aware(self._next_segment(local)[0])

    def closing_of_working_day(self, start: datetime, n: int = 1) -> datetime:
        """The closing time of the ``n``-th working day the clock runs on from ``start``.

        The day of the first office time at or after ``start`` is the first: a limit of "the
        same working day" is ``n = 1``. Give ``start`` as ``clock_start(received, cutoff)`` so a
        receipt after the cut-off counts from the next working day.

        Args:
            start: Where the clock starts; aware.
            n: Which working day, 1 or more.

        Returns:
            That day's last closing time, in ``VN_TZ``.

        Raises:
            ValueError: A naive ``start`` or ``n`` below 1.
        """
        if n < 1:
            raise ValueError(f"n counts working days from 1 (got {n})")
        day = self._next_segment(_local(start, "start"))[0].date()
        for _ in range(n - 1):
            day = self._next_working_day(day)
        return _aware(datetime.combine(day, self._office_hours.closing))

    def add(
        self,
        start: datetime,
        duration: timedelta,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """The instant at which ``duration`` of working time has elapsed from ``start``.

        Counting starts at ``clock_start(start)`` (no cut-off) and runs only during office hours
        on working days, outside every pause. The result is the earliest such instant, so it may
        be a closing time: Monday 08:00 + 1 working day is Monday 17:00.

        Args:
            start: Where counting starts; aware.
            duration: Working time to count, not negative; 0 returns ``clock_start(start)``.
            pauses: ``(start, end)`` intervals during which the clock is stopped (supplement
                requests, public-notice periods). They may overlap, lie partly before ``start``
                or be empty. A pause that is still open can be given as ``(start, far_future)``;
                if the duration then cannot elapse before it, no due moment exists and
                ``ValueError`` is raised, so to project "due if resumed now" pass
                ``(start, now)`` instead.

        Returns:
            The due instant, in ``VN_TZ``.

        Raises:
            ValueError: A naive datetime, a negative duration, a pause ending before it starts,
                or no due moment within the calendar's range (typically an open pause).
        """
        key = _memo_key("add", start, duration, pauses)
        return self._answer(key, self._add, start, duration, pauses)

    def _add(
        self, start: datetime, duration: timedelta, pauses: Sequence[tuple[datetime, datetime]]
    ) -> datetime:
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative (got {duration}); use subtract()")
        local = _local(start, "start")
        merged = self._merge_pauses(pauses)
        begin = self._next_segment(local)[0]
        if duration == timedelta(0):
            return _aware(begin)
        remaining = duration
        if not merged:
            # No pause (most questions): the office's own stretches, walked in place (what
            # `_counted_segments` yields without pauses, less a generator's cost per stretch).
            cursor = begin
            while True:
                try:
                    segment_start, segment_end = self._next_segment(cursor)
                except (CalendarRangeError, OverflowError):
                    break
                available = segment_end - segment_start
                if available >= remaining:  # as below
                    return _aware(segment_start + remaining)
                remaining -= available
                cursor = segment_end
        else:
            for segment_start, segment_end in self._counted_segments(begin, merged, None):
                available = segment_end - segment_start
                # `>=` makes an exact fit end at the segment's end (closing time or pause start).
                if available >= remaining:
                    return _aware(segment_start + remaining)
                remaining -= available
        raise ValueError(
            f"{duration / timedelta(hours=1):g} working hours do not elapse from "
            f"{start.isoformat()} before "
            f"{self._calendar.last_day.isoformat()}; is a pause still open?"
        )

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The latest instant from which ``duration`` of working time elapses by ``end``.

        The mirror of :meth:`add`: an instant that could be a closing time or the next opening is
        reported as the opening (Monday 17:00 - 1 working day = Monday 08:00; Monday 08:00 - 1
        working day = the previous working day's 08:00). Used for warnings such as "1 working day
        before the due moment".

        Args:
            end: The instant counted back from (typically a due moment); aware.
            duration: Working time to count back, not negative; 0 returns ``end`` unchanged.

        Returns:
            The instant, in ``VN_TZ``; for a positive duration it is always office time.

        Raises:
            ValueError: A naive datetime or a negative duration.
        """
        key = _memo_key("subtract", end, duration, ())
        return self._answer(key, self._subtract, end, duration)

    def _subtract(self, end: datetime, duration: timedelta) -> datetime:
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative (got {duration}); use add()")
        cursor = _local(end, "end")
        if duration == timedelta(0):
            return _aware(cursor)
        remaining = duration
        while True:
            segment_start, segment_end = self._previous_segment(cursor)
            available = segment_end - segment_start
            if available >= remaining:
                return _aware(segment_end - remaining)
            remaining -= available
            cursor = segment_start

    def working_time_between(
        self,
        start: datetime,
        end: datetime,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> timedelta:
        """Working time in ``[start, end)``: office hours on working days, outside pauses.

        Args:
            start: Beginning of the span; aware.
            end: End of the span; aware.
            pauses: Intervals not counted, as in :meth:`add`; an open pause may be given as
                ``(start, far_future)`` and simply stops the count at its start.

        Returns:
            The working time; negative (``-working_time_between(end, start)``) if ``end < start``.

        Raises:
            ValueError: A naive datetime, a bad pause, or a date outside the calendar's range.
        """
        key = _memo_key("between", start, end, pauses)
        return self._answer(key, self._working_time_between, start, end, pauses)

    def _working_time_between(
        self, start: datetime, end: datetime, pauses: Sequence[tuple[datetime, datetime]]
    ) -> timedelta:
        local_start = _local(start, "start")
        local_end = _local(end, "end")
        if local_end < local_start:
            return -self._working_time_between(end, start, pauses)
        # Both ends are checked so that the counting below, which stops quietly at the end of
        # the calendar's data, can never cut a span short.
        self._is_working_day(local_start.date())
        self._is_working_day(local_end.date())
        merged = self._merge_pauses(pauses)
        total = timedelta(0)
        if not merged:
            # No pause: as `_counted_segments` without pauses, walked in place (see `_add`).
            cursor = local_start
            while cursor < local_end:
                try:
                    segment_start, segment_end = self._next_segment(cursor)
                except (CalendarRangeError, OverflowError):
                    break
                if segment_start >= local_end:
                    break
                cursor = min(segment_end, local_end)
                total += cursor - segment_start
            return total
        for segment_start, segment_end in self._counted_segments(local_start, merged, local_end):
            total += segment_end - segment_start
        return total
