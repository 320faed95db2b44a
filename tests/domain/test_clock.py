"""The legal clock on worked examples: office hours, holidays, swaps, cut-off, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from pydantic import ValidationError

from domain.calendar import default_calendar
from domain.clock import (
    DEFAULT_OFFICE_HOURS,
    VN_TZ,
    LegalClock,
    OfficeHours,
    working_days,
    working_hours,
)
from domain.deadlines import Pause, shift


@pytest.fixture(scope="module")
def clock() -> LegalClock:
    return LegalClock(default_calendar())


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


# 10 March 2025 is an ordinary Monday; 7 March the Friday before.
MONDAY = (2025, 3, 10)
FRIDAY = (2025, 3, 7)


# -- office hours ------------------------------------------------------------------------


def test_default_office_hours_make_an_eight_hour_day() -> None:
    assert DEFAULT_OFFICE_HOURS.hours_per_day == timedelta(hours=8)
    assert working_days(3) == timedelta(hours=24)
    assert working_days(0.5) == timedelta(hours=4)
    assert working_hours(1.5) == timedelta(minutes=90)


def test_office_hours_are_configurable_per_desk() -> None:
    desk = OfficeHours.model_validate({"sessions": [("07:30", "11:30"), ("13:30", "17:00")]})
    assert desk.hours_per_day == timedelta(hours=7, minutes=30)
    assert working_days(2, desk) == timedelta(hours=15)
    clock = LegalClock(default_calendar(), desk)
    assert clock.add(vn(*MONDAY, 7, 30), working_days(1, desk)) == vn(*MONDAY, 17)


@pytest.mark.parametrize(
    "sessions",
    [
        [],
        [("12:00", "08:00")],
        [("08:00", "08:00")],
        [("13:00", "17:00"), ("08:00", "12:00")],
        [("08:00", "13:00"), ("12:00", "17:00")],
        [("08:00", "12:00"), ("12:00", "17:00")],
    ],
    ids=["empty", "reversed", "zero-length", "unsorted", "overlapping", "touching"],
)
def test_bad_office_hours_are_rejected(sessions: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationError):
        OfficeHours.model_validate({"sessions": sessions})


def test_office_hours_are_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT_OFFICE_HOURS.sessions = ()  # type: ignore[misc]


# -- time zones ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.clock_start(datetime(2025, 3, 10, 9)),
        lambda c: c.add(datetime(2025, 3, 10, 9), working_days(1)),
        lambda c: c.subtract(datetime(2025, 3, 10, 9), working_days(1)),
        lambda c: c.working_time_between(vn(*MONDAY, 9), datetime(2025, 3, 10, 10)),
        lambda c: c.is_office_time(datetime(2025, 3, 10, 9)),
        lambda c: c.add(vn(*MONDAY, 9), working_days(1), [(datetime(2025, 3, 10, 9), vn(*MONDAY))]),
    ],
    ids=["clock_start", "add", "subtract", "between", "is_office_time", "pause"],
)
def test_naive_datetime_is_rejected(clock: LegalClock, call: object) -> None:
    with pytest.raises(ValueError, match="must carry a time-zone offset"):
        call(clock)  # type: ignore[operator]


def test_any_offset_is_accepted_and_answers_come_back_in_vietnam_time(clock: LegalClock) -> None:
    # 01:00 UTC is 08:00 in Hà Nội.
    due = clock.add(datetime(2025, 3, 10, 1, 0, tzinfo=UTC), working_hours(2))
    assert due == vn(*MONDAY, 10)
    assert due.tzinfo is VN_TZ
    assert due.utcoffset() == timedelta(hours=7)
    paris = timezone(timedelta(hours=1))
    assert clock.clock_start(datetime(2025, 3, 10, 2, 0, tzinfo=paris)) == vn(*MONDAY, 8)


# -- clock start -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "starts"),
    [
        (vn(*MONDAY, 9, 30), vn(*MONDAY, 9, 30)),
        (vn(*MONDAY, 8), vn(*MONDAY, 8)),
        (vn(*MONDAY, 6, 45), vn(*MONDAY, 8)),
        (vn(*MONDAY, 12), vn(*MONDAY, 13)),
        (vn(*MONDAY, 12, 30), vn(*MONDAY, 13)),
        (vn(*MONDAY, 17), vn(2025, 3, 11, 8)),
        (vn(*MONDAY, 23, 59), vn(2025, 3, 11, 8)),
        (vn(*FRIDAY, 16, 59), vn(*FRIDAY, 16, 59)),
        (vn(*FRIDAY, 17, 1), vn(*MONDAY, 8)),
        (vn(2025, 3, 8, 10), vn(*MONDAY, 8)),  # Saturday online filing
    ],
)
def test_clock_start(clock: LegalClock, received: datetime, starts: datetime) -> None:
    assert clock.clock_start(received) == starts


@pytest.mark.parametrize(
    ("received", "starts"),
    [
        (vn(*MONDAY, 14, 59), vn(*MONDAY, 14, 59)),
        (vn(*MONDAY, 15), vn(2025, 3, 11, 8)),
        (vn(*MONDAY, 16, 30), vn(2025, 3, 11, 8)),
        (vn(*MONDAY, 12, 15), vn(*MONDAY, 13)),
        (vn(*FRIDAY, 15, 30), vn(*MONDAY, 8)),
        (vn(2025, 3, 8, 16), vn(*MONDAY, 8)),
        (vn(2026, 2, 13, 15), vn(2026, 2, 23, 8)),  # the Friday before Tết 2026
    ],
)
def test_clock_start_with_a_1500_cutoff(
    clock: LegalClock, received: datetime, starts: datetime
) -> None:
    assert clock.clock_start(received, cutoff=time(15)) == starts


def test_cutoff_must_be_local_time(clock: LegalClock) -> None:
    with pytest.raises(ValueError, match="cutoff"):
        clock.clock_start(vn(*MONDAY, 9), cutoff=time(15, tzinfo=UTC))


def test_is_office_time_is_half_open(clock: LegalClock) -> None:
    assert clock.is_office_time(vn(*MONDAY, 8))
    assert clock.is_office_time(vn(*MONDAY, 11, 59))
    assert not clock.is_office_time(vn(*MONDAY, 12))
    assert not clock.is_office_time(vn(*MONDAY, 17))
    assert not clock.is_office_time(vn(2025, 3, 8, 10))  # Saturday
    assert clock.is_office_time(vn(2025, 4, 26, 10))  # swapped Saturday, worked


# -- adding working time ------------------------------------------------------------------


def test_one_working_day_from_monday_opening_ends_monday_closing(clock: LegalClock) -> None:
    assert clock.add(vn(*MONDAY, 8), working_days(1)) == vn(*MONDAY, 17)
    assert clock.add(vn(*MONDAY, 8), working_hours(4)) == vn(*MONDAY, 12)
    assert clock.add(vn(*MONDAY, 8), working_days(2)) == vn(2025, 3, 11, 17)


def test_lunch_break_is_not_counted(clock: LegalClock) -> None:
    assert clock.add(vn(*MONDAY, 11), working_hours(2)) == vn(*MONDAY, 14)
    assert clock.working_time_between(vn(*MONDAY, 11), vn(*MONDAY, 14)) == working_hours(2)


def test_friday_1659_and_friday_1701_receipts(clock: LegalClock) -> None:
    one_hour = working_hours(1)
    assert clock.add(vn(*FRIDAY, 16, 59), one_hour) == vn(*MONDAY, 8, 59)
    assert clock.clock_start(vn(*FRIDAY, 17, 1)) == vn(*MONDAY, 8)
    assert clock.add(vn(*FRIDAY, 17, 1), one_hour) == vn(*MONDAY, 9)


def test_zero_duration_returns_the_clock_start(clock: LegalClock) -> None:
    assert clock.add(vn(*FRIDAY, 17, 1), timedelta(0)) == vn(*MONDAY, 8)
    assert clock.add(vn(*MONDAY, 9, 15), timedelta(0)) == vn(*MONDAY, 9, 15)


def test_negative_duration_is_rejected(clock: LegalClock) -> None:
    with pytest.raises(ValueError, match="negative"):
        clock.add(vn(*MONDAY, 9), -working_hours(1))
    with pytest.raises(ValueError, match="negative"):
        clock.subtract(vn(*MONDAY, 9), -working_hours(1))


def test_three_working_days_across_tet_2026(clock: LegalClock) -> None:
    # Thu 12/2 09:00–17:00 (7 h), Fri 13/2 (8 h), Tết 16–20/2 and the weekends skipped,
    # Mon 23/2 (8 h), then 1 h on Tue 24/2.
    received = vn(2026, 2, 12, 9)
    due = clock.add(received, working_days(3))
    assert due == vn(2026, 2, 24, 9)
    assert clock.working_time_between(received, due) == working_days(3)


def test_national_day_2025(clock: LegalClock) -> None:
    # Mon 1/9 and Tue 2/9/2025 are off.
    assert clock.add(vn(2025, 8, 29, 9), working_days(1)) == vn(2025, 9, 3, 9)


def test_national_day_2026_and_its_worked_saturday(clock: LegalClock) -> None:
    # Sat 22/8/2026 is worked in exchange for Mon 31/8; 1/9 and 2/9 are off.
    assert clock.add(vn(2026, 8, 21, 16), working_hours(2)) == vn(2026, 8, 22, 9)
    assert clock.add(vn(2026, 8, 28, 16), working_hours(2)) == vn(2026, 9, 3, 9)


def test_reunification_day_2025_swap(clock: LegalClock) -> None:
    # Sat 26/4/2025 is worked; 30/4, 1/5 and the swapped Fri 2/5 are off.
    assert clock.add(vn(2025, 4, 25, 16), working_hours(2)) == vn(2025, 4, 26, 9)
    assert clock.add(vn(2025, 4, 29, 16), working_hours(2)) == vn(2025, 5, 5, 9)


def test_new_year_2026_swap_from_the_override_file(clock: LegalClock) -> None:
    # 1/1 holiday, Fri 2/1 swapped off, weekend; Sat 10/1 worked.
    assert clock.add(vn(2025, 12, 31, 16), working_hours(2)) == vn(2026, 1, 5, 9)
    assert clock.add(vn(2026, 1, 9, 16), working_hours(2)) == vn(2026, 1, 10, 9)


def test_sixty_working_days_and_two_years_are_fast(clock: LegalClock) -> None:
    start = vn(2024, 1, 2, 8)
    due = clock.add(start, working_days(60))
    assert clock.working_time_between(start, due) == working_days(60)
    two_years = clock.add(start, working_days(520))
    assert two_years.year == 2026
    assert clock.subtract(two_years, working_days(520)) == start


# -- pauses ----------------------------------------------------------------------------


def test_pause_during_tet_moves_the_due_date_by_its_working_time_only(clock: LegalClock) -> None:
    received = vn(2026, 2, 9, 8)  # Monday
    assert clock.add(received, working_days(5)) == vn(2026, 2, 13, 17)

    # Supplement requested Wed 11/2 08:00, documents back Wed 25/2 08:00: 14 calendar days but
    # only 5 working days (11–13/2 and 23–24/2; Tết 16–20/2 does not count).
    pause = (vn(2026, 2, 11, 8), vn(2026, 2, 25, 8))
    assert clock.working_time_between(*pause) == working_days(5)

    due = clock.add(received, working_days(5), [pause])
    assert due == vn(2026, 2, 27, 17)
    assert due == clock.add(received, working_days(10))
    assert clock.working_time_between(received, due, [pause]) == working_days(5)


def test_overlapping_pauses_count_once(clock: LegalClock) -> None:
    start = vn(*MONDAY, 8)
    pauses = [(vn(*MONDAY, 9), vn(*MONDAY, 11)), (vn(*MONDAY, 10), vn(*MONDAY, 14))]
    # 09:00–14:00 paused: 4 h of office time (09–12, 13–14), counted once.
    assert clock.working_time_between(start, vn(*MONDAY, 17), pauses) == working_hours(4)
    assert clock.add(start, working_hours(2), pauses) == vn(*MONDAY, 15)


def test_pause_outside_office_hours_changes_nothing(clock: LegalClock) -> None:
    night = [(vn(*MONDAY, 17, 30), vn(2025, 3, 11, 7, 30))]
    assert clock.add(vn(*MONDAY, 16), working_hours(2), night) == vn(2025, 3, 11, 9)


def test_due_moment_at_pause_start_is_that_instant(clock: LegalClock) -> None:
    pause = [(vn(*MONDAY, 10), vn(*MONDAY, 11))]
    assert clock.add(vn(*MONDAY, 8), working_hours(2), pause) == vn(*MONDAY, 10)


def test_open_pause_stops_the_count_but_has_no_due_moment(clock: LegalClock) -> None:
    start = vn(*MONDAY, 8)
    never = datetime.max.replace(tzinfo=UTC)
    open_pause = [(vn(*MONDAY, 10), never)]
    assert clock.working_time_between(start, vn(2025, 6, 1), open_pause) == working_hours(2)
    # Due before the pause: unaffected.
    assert clock.add(start, working_hours(1), open_pause) == vn(*MONDAY, 9)
    with pytest.raises(ValueError, match="pause still open"):
        clock.add(start, working_hours(3), open_pause)


def test_pause_ending_before_it_starts_is_rejected(clock: LegalClock) -> None:
    with pytest.raises(ValueError, match=r"pauses\[0\]"):
        clock.add(vn(*MONDAY, 8), working_hours(1), [(vn(*MONDAY, 10), vn(*MONDAY, 9))])


# -- subtracting: warnings before the due moment ------------------------------------------


def test_subtract_mirrors_add_at_openings(clock: LegalClock) -> None:
    assert clock.subtract(vn(*MONDAY, 17), working_days(1)) == vn(*MONDAY, 8)
    assert clock.subtract(vn(*MONDAY, 8), working_days(1)) == vn(*FRIDAY, 8)
    assert clock.subtract(vn(*MONDAY, 14), working_hours(2)) == vn(*MONDAY, 11)
    assert clock.subtract(vn(*MONDAY, 9), timedelta(0)) == vn(*MONDAY, 9)


def test_warning_one_working_day_before_monday_morning_is_friday_morning(
    clock: LegalClock,
) -> None:
    assert clock.subtract(vn(*MONDAY, 10), working_days(1)) == vn(*FRIDAY, 10)


def test_warning_before_a_due_moment_after_a_holiday_skips_the_holiday(clock: LegalClock) -> None:
    # Mon 27/4/2026 is the Hùng Kings' day compensation: due Tue 28/4 10:00 warns Fri 24/4 10:00.
    assert clock.subtract(vn(2026, 4, 28, 10), working_days(1)) == vn(2026, 4, 24, 10)
    # Due Mon 23/2/2026, the first day after Tết: warn Fri 13/2, before the holiday.
    assert clock.subtract(vn(2026, 2, 23, 10), working_days(1)) == vn(2026, 2, 13, 10)


def test_working_time_between_is_negative_when_reversed(clock: LegalClock) -> None:
    a, b = vn(*FRIDAY, 16), vn(*MONDAY, 9)
    assert clock.working_time_between(a, b) == working_hours(2)
    assert clock.working_time_between(b, a) == -working_hours(2)


def test_a_pause_that_began_after_the_moment_does_not_move_it() -> None:
    # A payment made after the appointment was already missed: the appointment stays (it used
    # to fail with a negative duration and the local activity retried forever).

    appointment = datetime(2026, 3, 3, 17, 0, tzinfo=VN_TZ)
    paid = Pause(
        start=appointment + timedelta(days=2),
        end=appointment + timedelta(days=3),
        reason="nghĩa vụ tài chính",
        moves_appointment=True,
    )
    assert shift(LegalClock(default_calendar()), appointment, paid) == appointment


def test_office_time_left_after_a_cutoff() -> None:
    hours = DEFAULT_OFFICE_HOURS
    assert hours.time_after(time(15)) == timedelta(hours=2)
    assert hours.time_after(time(12, 30)) == timedelta(hours=4)  # the lunch break is not office
    assert hours.time_after(time(7)) == hours.hours_per_day
    assert hours.time_after(time(17)) == timedelta(0)


def test_closing_of_working_day_skips_days_off_and_refuses_nonsense() -> None:
    clock = LegalClock(default_calendar())
    friday = datetime(2026, 2, 13, 9, tzinfo=VN_TZ)  # the last working day before Tết 2026
    assert clock.closing_of_working_day(friday) == datetime(2026, 2, 13, 17, tzinfo=VN_TZ)
    assert clock.closing_of_working_day(friday, 2) == datetime(2026, 2, 23, 17, tzinfo=VN_TZ)
    saturday_night = datetime(2026, 3, 7, 22, tzinfo=VN_TZ)
    assert clock.closing_of_working_day(saturday_night) == datetime(2026, 3, 9, 17, tzinfo=VN_TZ)
    with pytest.raises(ValueError, match="from 1"):
        clock.closing_of_working_day(friday, 0)
    with pytest.raises(ValueError, match="offset"):
        clock.closing_of_working_day(datetime(2026, 3, 9, 9))
