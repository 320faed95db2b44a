"""Invariants of the legal clock, checked with hypothesis over 2024–2026 (Tết, swaps included).

Notation: W(a, b, P) = ``working_time_between(a, b, P)``; start(s) = ``clock_start(s)``;
"counting end" = an instant on a working day with opening < time <= closing of some session
(where a positive duration can end).

- start(s) >= s, start(s) is office time, start(start(s)) == start(s) and W(s, start(s)) == 0.
- With a cut-off c: the result is office time, >= s, and equals start(s) unless s falls on a
  working day at or after c.
- add(s, 0) == start(s); for d > 0, add(s, d) is a counting end (office time or exactly a closing
  time, never an opening).
- add is monotonic: d1 <= d2 implies add(s, d1) <= add(s, d2); s1 <= s2 implies
  add(s1, d) <= add(s2, d).
- W(s, add(s, d, P), P) == d for every s (not only normalised ones), duration d and pauses P, and
  add(s, d, P) >= add(s, d).
- A pause p with start(s) <= p.start <= p.end <= add(s, d) gives
  add(s, d, [p]) == add(s, d + W(p.start, p.end)).
- subtract(add(s, d), d) == start(s) for every s and d >= 0 (no boundary exception: start(s) is
  office time, so the latest instant from which d elapses is start(s) itself).
- add(subtract(e, d), d) == e for every counting end e and d > 0; subtract(e, d) is office time.
  For any instant e, add(subtract(e, d), d) <= e (d > 0): counted forward again from the latest
  instant counted back to, the duration elapses by e (the dossier core's forecast bound).
- W(a, b) == -W(b, a), W(a, b) + W(b, c) == W(a, c) (with or without pauses), and
  0 <= W(a, b) <= b - a for a <= b.
- Answers do not depend on the offset the input is written in, and come back in VN_TZ.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.calendar import default_calendar
from domain.clock import VN_TZ, LegalClock, working_days

CLOCK = LegalClock(default_calendar())
SESSIONS = CLOCK.office_hours.sessions

# Local settings, not a profile, so other test modules keep their own.
CLOCK_SETTINGS = settings(max_examples=120, deadline=None)

# Times near the session boundaries are where off-by-one mistakes live; draw them often.
BOUNDARY_TIMES = [
    time(0),
    time(7, 59, 59, 999999),
    time(8),
    time(8, 0, 0, 1),
    time(11, 59, 59, 999999),
    time(12),
    time(12, 30),
    time(13),
    time(16, 59),
    time(16, 59, 59, 999999),
    time(17),
    time(17, 1),
    time(23, 59, 59, 999999),
]

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
wall_times = st.one_of(st.sampled_from(BOUNDARY_TIMES), st.times())
instants = st.builds(lambda d, t: datetime.combine(d, t, tzinfo=VN_TZ), days, wall_times)
normalised_starts = instants.map(CLOCK.clock_start)
durations = st.one_of(
    st.integers(min_value=0, max_value=60).map(working_days),
    st.integers(min_value=0, max_value=8 * 60 * 10).map(lambda m: timedelta(minutes=m)),
    st.timedeltas(min_value=timedelta(0), max_value=working_days(60)),
)
positive_durations = durations.filter(lambda d: d > timedelta(0))
offsets = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))])


def pauses_near(anchor: datetime) -> st.SearchStrategy[list[tuple[datetime, datetime]]]:
    pause = st.tuples(
        st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=60)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    ).map(lambda o: (anchor + o[0], anchor + o[0] + o[1]))
    return st.lists(pause, max_size=3)


def is_counting_end(moment: datetime) -> bool:
    local = moment.astimezone(VN_TZ)
    if not CLOCK.calendar.is_working_day(local.date()):
        return False
    wall = local.time()
    return any(opening < wall <= closing for opening, closing in SESSIONS)


@st.composite
def counting_ends(draw: st.DrawFn) -> datetime:
    day = draw(days)
    assume(CLOCK.calendar.is_working_day(day))
    opening, closing = draw(st.sampled_from(SESSIONS))
    length = datetime.combine(day, closing) - datetime.combine(day, opening)
    into = draw(
        st.one_of(
            st.just(length),
            st.timedeltas(min_value=timedelta(microseconds=1), max_value=length),
        )
    )
    return datetime.combine(day, opening, tzinfo=VN_TZ) + into


# -- clock start -----------------------------------------------------------------------


@CLOCK_SETTINGS
@given(instants)
def test_clock_start_is_the_next_office_instant(s: datetime) -> None:
    begin = CLOCK.clock_start(s)
    assert begin >= s
    assert CLOCK.is_office_time(begin)
    assert CLOCK.clock_start(begin) == begin
    assert CLOCK.working_time_between(s, begin) == timedelta(0)


@CLOCK_SETTINGS
@given(instants, st.sampled_from([time(11), time(15), time(16, 30)]))
def test_clock_start_with_cutoff(s: datetime, cutoff: time) -> None:
    begin = CLOCK.clock_start(s, cutoff)
    assert begin >= s
    assert CLOCK.is_office_time(begin)
    after_cutoff = CLOCK.calendar.is_working_day(s.date()) and s.time() >= cutoff
    if after_cutoff:
        assert begin.date() == CLOCK.calendar.next_working_day(s.date())
        assert begin.time() == SESSIONS[0][0]
    else:
        assert begin == CLOCK.clock_start(s)


# -- add -------------------------------------------------------------------------------


@CLOCK_SETTINGS
@given(instants, durations)
def test_add_lands_in_office_time_or_exactly_at_a_closing_time(s: datetime, d: timedelta) -> None:
    due = CLOCK.add(s, d)
    assert due.tzinfo is VN_TZ
    if d == timedelta(0):
        assert due == CLOCK.clock_start(s)
    else:
        assert is_counting_end(due)


@CLOCK_SETTINGS
@given(instants, durations, durations)
def test_add_is_monotonic_in_duration(s: datetime, d1: timedelta, d2: timedelta) -> None:
    short, long = sorted((d1, d2))
    assert CLOCK.add(s, short) <= CLOCK.add(s, long)


@CLOCK_SETTINGS
@given(instants, instants, durations)
def test_add_is_monotonic_in_start(s1: datetime, s2: datetime, d: timedelta) -> None:
    early, late = sorted((s1, s2))
    assert CLOCK.add(early, d) <= CLOCK.add(late, d)


@CLOCK_SETTINGS
@given(instants, durations)
def test_measuring_what_was_added_gives_it_back(s: datetime, d: timedelta) -> None:
    assert CLOCK.working_time_between(s, CLOCK.add(s, d)) == d


@CLOCK_SETTINGS
@given(st.data(), instants, durations)
def test_add_with_pauses_counts_exactly_the_duration_outside_them(
    data: st.DataObject, s: datetime, d: timedelta
) -> None:
    pauses = data.draw(pauses_near(s))
    due = CLOCK.add(s, d, pauses)
    assert CLOCK.working_time_between(s, due, pauses) == d
    assert due >= CLOCK.add(s, d)


@CLOCK_SETTINGS
@given(
    normalised_starts,
    positive_durations,
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_pause_inside_the_window_shifts_the_due_moment_by_its_working_time(
    s: datetime, d: timedelta, where: float, length: float
) -> None:
    due = CLOCK.add(s, d)
    pause_start = s + (due - s) * where
    pause_end = pause_start + (due - pause_start) * length
    assume(s <= pause_start <= pause_end <= due)
    paused = CLOCK.working_time_between(pause_start, pause_end)

    assert CLOCK.add(s, d, [(pause_start, pause_end)]) == CLOCK.add(s, d + paused)


# -- subtract --------------------------------------------------------------------------


@CLOCK_SETTINGS
@given(instants, durations)
def test_subtract_undoes_add(s: datetime, d: timedelta) -> None:
    assert CLOCK.subtract(CLOCK.add(s, d), d) == CLOCK.clock_start(s)


@CLOCK_SETTINGS
@given(counting_ends(), positive_durations)
def test_add_undoes_subtract_from_a_counting_end(e: datetime, d: timedelta) -> None:
    back = CLOCK.subtract(e, d)
    assert CLOCK.is_office_time(back)
    assert CLOCK.working_time_between(back, e) == d
    assert CLOCK.add(back, d) == e


@CLOCK_SETTINGS
@given(instants, positive_durations)
def test_counting_forward_what_was_counted_back_ends_by_where_it_began(
    e: datetime, d: timedelta
) -> None:
    assert CLOCK.add(CLOCK.subtract(e, d), d) <= e


@CLOCK_SETTINGS
@given(instants, durations, durations)
def test_subtract_is_monotonic_in_duration(e: datetime, d1: timedelta, d2: timedelta) -> None:
    short, long = sorted((d1, d2))
    assert CLOCK.subtract(e, long) <= CLOCK.subtract(e, short) <= e


# -- working time between --------------------------------------------------------------


@CLOCK_SETTINGS
@given(st.data(), instants, instants, instants)
def test_working_time_is_antisymmetric_and_additive(
    data: st.DataObject, a: datetime, b: datetime, c: datetime
) -> None:
    pauses = data.draw(st.one_of(st.just([]), pauses_near(a)))
    ab = CLOCK.working_time_between(a, b, pauses)
    assert ab == -CLOCK.working_time_between(b, a, pauses)
    bc = CLOCK.working_time_between(b, c, pauses)
    assert ab + bc == CLOCK.working_time_between(a, c, pauses)
    early, late = sorted((a, b))
    assert timedelta(0) <= CLOCK.working_time_between(early, late, pauses) <= late - early


# -- time zones ------------------------------------------------------------------------


@CLOCK_SETTINGS
@given(instants, durations, offsets)
def test_answers_do_not_depend_on_the_input_offset(
    s: datetime, d: timedelta, offset: timezone
) -> None:
    elsewhere = s.astimezone(offset)
    assert CLOCK.add(elsewhere, d) == CLOCK.add(s, d)
    assert CLOCK.add(elsewhere, d).tzinfo is VN_TZ
    assert CLOCK.subtract(elsewhere, d) == CLOCK.subtract(s, d)
    assert CLOCK.clock_start(elsewhere) == CLOCK.clock_start(s)


# -- against a brute-force oracle ------------------------------------------------------
# On a whole-minute grid, working time is the number of minutes m in [a, b) that are office
# time and in no pause; add(s, d) is the end of the d-th such minute. Slow but obviously right.

MINUTE = timedelta(minutes=1)
minute_instants = st.builds(
    lambda d, m: datetime.combine(d, time(0), tzinfo=VN_TZ) + m * MINUTE,
    days,
    st.one_of(
        st.sampled_from([7 * 60, 8 * 60, 12 * 60, 13 * 60, 17 * 60]),
        st.integers(min_value=0, max_value=24 * 60 - 1),
    ),
)


def minute_pauses(anchor: datetime) -> st.SearchStrategy[list[tuple[datetime, datetime]]]:
    pause = st.tuples(
        st.integers(min_value=-600, max_value=4 * 24 * 60),
        st.integers(min_value=0, max_value=2 * 24 * 60),
    ).map(lambda o: (anchor + o[0] * MINUTE, anchor + (o[0] + o[1]) * MINUTE))
    return st.lists(pause, max_size=4)


def counted(minute: datetime, pauses: list[tuple[datetime, datetime]]) -> bool:
    return CLOCK.is_office_time(minute) and not any(p0 <= minute < p1 for p0, p1 in pauses)


@CLOCK_SETTINGS
@given(st.data(), minute_instants, st.integers(min_value=0, max_value=4 * 24 * 60))
def test_working_time_matches_minute_counting(data: st.DataObject, a: datetime, span: int) -> None:
    pauses = data.draw(minute_pauses(a))
    expected = sum(counted(a + i * MINUTE, pauses) for i in range(span)) * MINUTE
    assert CLOCK.working_time_between(a, a + span * MINUTE, pauses) == expected


@CLOCK_SETTINGS
@given(st.data(), minute_instants, st.integers(min_value=1, max_value=2 * 8 * 60))
def test_add_matches_minute_counting(data: st.DataObject, s: datetime, minutes: int) -> None:
    pauses = data.draw(minute_pauses(s))
    cursor, left = CLOCK.clock_start(s), minutes
    while left:
        left -= counted(cursor, pauses)
        cursor += MINUTE
    assert CLOCK.add(s, minutes * MINUTE, pauses) == cursor


# ---- "by the closing of the n-th working day" (certified copies: the same working day) ----------

cutoff_times = st.sampled_from([time(15), time(12), time(9, 30)])


@CLOCK_SETTINGS
@given(instants, st.integers(min_value=1, max_value=5), cutoff_times)
def test_closing_of_working_day_is_a_closing_on_the_nth_working_day(
    received: datetime, n: int, cutoff: time
) -> None:
    start = CLOCK.clock_start(received, cutoff)
    closing = CLOCK.closing_of_working_day(start, n)
    assert closing.timetz().replace(tzinfo=None) == CLOCK.office_hours.closing
    assert CLOCK.calendar.is_working_day(closing.date())
    # Exactly n working days are touched: the start's day and n - 1 after it.
    counted_days = {start.date()}
    day = start.date()
    while day < closing.date():
        day = CLOCK.calendar.next_working_day(day)
        counted_days.add(day)
    assert len(counted_days) == n
    # The working time it leaves is between the cut-off's remainder and n full days, and the
    # clock counting it from the start lands on the closing itself.
    left = CLOCK.working_time_between(start, closing)
    assert CLOCK.office_hours.time_after(cutoff) + working_days(n - 1) <= left <= working_days(n)
    assert CLOCK.add(start, left) == closing


@CLOCK_SETTINGS
@given(instants, cutoff_times)
def test_the_same_working_day_or_the_next_after_the_cutoff(
    received: datetime, cutoff: time
) -> None:
    closing = CLOCK.closing_of_working_day(CLOCK.clock_start(received, cutoff))
    local = received.astimezone(VN_TZ)
    if CLOCK.calendar.is_working_day(local.date()) and local.time() < cutoff:
        assert closing.date() == local.date()
    else:
        assert closing.date() == CLOCK.calendar.next_working_day(local.date())
