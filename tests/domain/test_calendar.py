"""The legal working calendar: the holidays package, swaps, and the override file."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from domain.calendar import (
    OVERRIDES_FILE,
    CalendarError,
    CalendarOverride,
    CalendarRangeError,
    WorkingCalendar,
    default_calendar,
    default_provisional,
    load_overrides,
    load_provisional,
    provisional_between,
)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return default_calendar()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped override file ---------------------------------------------------------------


def test_shipped_override_file_loads_with_sources() -> None:
    overrides = load_overrides(OVERRIDES_FILE)

    assert {(o.day, o.kind) for o in overrides} >= {
        (date(2026, 1, 2), "day_off"),
        (date(2026, 1, 10), "working_day"),
    }
    assert all(o.reason and o.source for o in overrides)


def test_new_year_2026_swap_comes_from_the_override_file(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2026, 1, 2))  # Friday off
    assert calendar.is_working_day(date(2026, 1, 10))  # Saturday worked
    assert "02/01/2026" in (calendar.holiday_name(date(2026, 1, 2)) or "")
    assert calendar.holiday_name(date(2026, 1, 10)) is None


def test_holidays_package_alone_misses_the_new_year_2026_swap() -> None:
    bare = WorkingCalendar()
    # If this fails after upgrading `holidays`, the package has caught up and the two 2026
    # New Year entries in catalog/calendar-overrides.yaml have become redundant (still harmless).
    assert bare.is_working_day(date(2026, 1, 2))
    assert not bare.is_working_day(date(2026, 1, 10))


# -- facts the package already knows ------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [date(2026, 2, d) for d in range(16, 21)],
    ids=lambda d: d.isoformat(),
)
def test_tet_2026_weekdays_are_days_off(calendar: WorkingCalendar, day: date) -> None:
    assert not calendar.is_working_day(day)
    assert calendar.holiday_name(day)


def test_tet_2026_surrounding_weekdays_are_worked(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2026, 2, 13))
    assert calendar.is_working_day(date(2026, 2, 23))
    assert calendar.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert calendar.previous_working_day(date(2026, 2, 23)) == date(2026, 2, 13)


def test_holiday_names_are_vietnamese_by_default(calendar: WorkingCalendar) -> None:
    assert calendar.holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert calendar.holiday_name(date(2026, 9, 2)) == "Quốc khánh"
    assert calendar.holiday_name(date(2026, 2, 23)) is None


def test_swap_2025_saturday_26_april_worked_friday_2_may_off(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2025, 4, 26))
    assert not calendar.is_working_day(date(2025, 5, 2))
    assert calendar.holiday_name(date(2025, 5, 2))


def test_swap_2024_saturday_4_may_worked_monday_29_april_off(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2024, 5, 4))
    assert not calendar.is_working_day(date(2024, 4, 29))


def test_national_day_2025_monday_and_tuesday_off(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2025, 9, 1))
    assert not calendar.is_working_day(date(2025, 9, 2))
    assert calendar.next_working_day(date(2025, 8, 29)) == date(2025, 9, 3)


def test_national_day_2026_swap_saturday_22_august_worked(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2026, 8, 22))
    for day in (date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)):
        assert not calendar.is_working_day(day)
    assert calendar.next_working_day(date(2026, 8, 28)) == date(2026, 9, 3)


def test_vietnam_culture_day_2026_is_off(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2026, 11, 24))


def test_hung_kings_2026_on_sunday_is_compensated_on_monday(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2026, 4, 27))
    assert calendar.previous_working_day(date(2026, 4, 28)) == date(2026, 4, 24)


def test_ordinary_weekend_is_off_without_a_name(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(date(2025, 3, 8))
    assert not calendar.is_working_day(date(2025, 3, 9))
    assert calendar.holiday_name(date(2025, 3, 8)) is None


def test_working_days_between_is_half_open_and_antisymmetric(calendar: WorkingCalendar) -> None:
    # Mon 9 – Fri 27 Feb 2026: 3 weeks minus the 5 Tết days.
    assert calendar.working_days_between(date(2026, 2, 9), date(2026, 2, 28)) == 10
    assert calendar.working_days_between(date(2026, 2, 28), date(2026, 2, 9)) == -10
    assert calendar.working_days_between(date(2026, 2, 9), date(2026, 2, 9)) == 0


# -- overrides on top of the package ----------------------------------------------------


def override(day: date, kind: str) -> CalendarOverride:
    return CalendarOverride.model_validate(
        {"day": day, "kind": kind, "reason": "test", "source": "test"}
    )


def test_override_wins_over_package_both_ways() -> None:
    calendar = WorkingCalendar(
        [override(date(2026, 2, 17), "working_day"), override(date(2026, 3, 4), "day_off")]
    )
    assert calendar.is_working_day(date(2026, 2, 17))
    assert calendar.holiday_name(date(2026, 2, 17)) is None
    assert not calendar.is_working_day(date(2026, 3, 4))
    assert calendar.holiday_name(date(2026, 3, 4)) == "test"


def test_constructor_rejects_the_same_day_twice() -> None:
    with pytest.raises(ValueError, match="2026-03-04"):
        WorkingCalendar([override(date(2026, 3, 4), "day_off")] * 2)


def test_answers_do_not_depend_on_question_order() -> None:
    eager = WorkingCalendar(years=range(2024, 2028))
    lazy = WorkingCalendar()
    days = [date(2027, 1, 1), date(2024, 5, 4), date(2026, 8, 22), date(2025, 5, 2)]
    assert [lazy.is_working_day(d) for d in reversed(days)][::-1] == [
        eager.is_working_day(d) for d in days
    ]


def test_dates_outside_the_holiday_data_are_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(CalendarRangeError, match="2200"):
        calendar.is_working_day(date(2200, 1, 1))


def test_a_datetime_is_not_a_day(calendar: WorkingCalendar) -> None:
    with pytest.raises(TypeError, match="expected a date"):
        calendar.is_working_day(datetime(2026, 1, 2, 9, 0))


# -- bad override files -----------------------------------------------------------------

ENTRY_OK = """
  - day: 2026-03-04
    kind: day_off
    reason: ok
    source: ok
"""


@pytest.mark.parametrize(
    ("bad_entry", "expected"),
    [
        (
            "  - {day: 2026-03-04, kind: day_off, reason: again, source: s}\n",
            r"overrides\[1\]\.day: 2026-03-04 is already overridden by overrides\[0\]",
        ),
        (
            "  - {day: 2026-03-05, kind: holiday, reason: r, source: s}\n",
            r"overrides\[1\]\.kind: Input should be 'day_off' or 'working_day'",
        ),
        (
            "  - {day: 2026-02-30, kind: day_off, reason: r, source: s}\n",
            r"overrides\[1\]\.day: .*2026-02-30",
        ),
        (
            "  - {day: 2026-3-5, kind: day_off, reason: r, source: s}\n",
            r"overrides\[1\]\.day: .*YYYY-MM-DD",
        ),
        (
            "  - {day: 20260305, kind: day_off, reason: r, source: s}\n",
            r"overrides\[1\]\.day: .*YYYY-MM-DD",
        ),
        (
            "  - {day: 2026-03-05, kind: day_off, reason: r}\n",
            r"overrides\[1\]\.source: Field required",
        ),
        (
            "  - {day: 2026-03-05, kind: day_off, reason: '  ', source: s}\n",
            r"overrides\[1\]\.reason: .*must not be empty",
        ),
        (
            "  - {day: 2026-03-05, kind: day_off, reason: r, source: s, sorce: x}\n",
            r"overrides\[1\]\.sorce: Extra inputs",
        ),
        ("  - just a string\n", r"overrides\[1\]: expected a mapping"),
    ],
    ids=[
        "duplicate",
        "bad-kind",
        "impossible-date",
        "unpadded-date",
        "number",
        "missing",
        "blank",
        "typo",
        "not-mapping",
    ],
)
def test_bad_override_entry_is_rejected_naming_file_and_entry(
    tmp_path: Path, bad_entry: str, expected: str
) -> None:
    path = write(tmp_path, "overrides:" + ENTRY_OK + bad_entry)

    with pytest.raises(CalendarError, match=expected) as caught:
        load_overrides(path)

    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("overrides: [\n", "not valid YAML"),
        ("", "expected a mapping with an 'overrides' list"),
        ("- day: 2026-03-04\n", "expected a mapping with an 'overrides' list"),
        ("overrides: {day: 2026-03-04}\n", "'overrides' must be a list"),
        ("overrides: []\nnotes: x\n", "unknown top-level key"),
    ],
    ids=["syntax", "empty", "bare-list", "mapping", "extra-key"],
)
def test_bad_override_file_shape_is_rejected_naming_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(CalendarError, match=expected) as caught:
        load_overrides(path)

    assert str(path) in str(caught.value)


def test_missing_override_file_is_a_calendar_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match=r"missing\.yaml"):
        load_overrides(tmp_path / "missing.yaml")


def test_empty_override_list_is_allowed(tmp_path: Path) -> None:
    assert load_overrides(write(tmp_path, "overrides:\n")) == []
    assert load_overrides(write(tmp_path, "overrides: []\n")) == []


def test_quoted_and_unquoted_dates_both_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "overrides:\n"
        "  - {day: '2026-03-04', kind: day_off, reason: r, source: s}\n"
        "  - {day: 2026-03-07, kind: working_day, reason: r, source: s}\n",
    )
    assert [o.day for o in load_overrides(path)] == [date(2026, 3, 4), date(2026, 3, 7)]


# -- provisional periods ---------------------------------------------------------------------


def test_2027_and_culture_day_2026_are_provisional_in_the_shipped_file() -> None:
    periods = default_provisional()
    assert [(p.first, p.last) for p in periods] == [
        (date(2026, 11, 24), date(2026, 11, 24)),
        (date(2027, 1, 1), date(2027, 12, 31)),
    ]
    assert all(p.reason for p in periods)
    assert provisional_between(periods, date(2026, 12, 1), date(2026, 12, 31)) == []
    assert provisional_between(periods, date(2026, 12, 20), date(2027, 1, 4)) == [periods[1]]
    assert provisional_between(periods, date(2026, 11, 24), date(2026, 11, 24)) == [periods[0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("provisional: x\noverrides: []\n", "'provisional' must be a list"),
        ("provisional: [x]\noverrides: []\n", r"provisional\[0\]: expected a mapping"),
        (
            "provisional:\n  - {first: 2027-02-01, last: 2027-01-01, reason: r}\noverrides: []\n",
            "last .2027-01-01. is before first",
        ),
        (
            "provisional:\n  - {first: 20270101, last: 2027-01-01, reason: r}\noverrides: []\n",
            r"provisional\[0\]\.first: must be a date",
        ),
        ("provisional:\n  - {first: 2027-01-01, last: 2027-01-02}\noverrides: []\n", "reason"),
    ],
    ids=["not-list", "not-mapping", "reversed", "number", "no-reason"],
)
def test_a_bad_provisional_period_is_refused_at_start_up(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    for load in (load_overrides, load_provisional):
        with pytest.raises(CalendarError, match=expected):
            load(path)


def test_provisional_periods_are_optional(tmp_path: Path) -> None:
    assert load_provisional(write(tmp_path, "overrides: []\n")) == []
