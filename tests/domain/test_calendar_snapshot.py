"""The calendar snapshot a workflow computes with, and amendments to it and to the override file.

The snapshot must answer exactly as the live calendar it was taken from (checked with hypothesis
over 2025–2027, on its own and through the legal clock); amendments change it, and the override
file, without touching anything else.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import domain.calendar
from domain.calendar import (
    OVERRIDES_FILE,
    Calendar,
    CalendarAmendment,
    CalendarError,
    CalendarOverride,
    CalendarRangeError,
    CalendarSnapshot,
    WorkingCalendar,
    default_calendar,
    load_amendment,
    load_overrides,
    record_amendment,
)
from domain.clock import VN_TZ, LegalClock, working_days
from tests.domain.test_clock_properties import wall_times

FIRST, LAST = date(2025, 1, 1), date(2027, 12, 31)
CALENDAR = default_calendar()
SNAPSHOT = CALENDAR.snapshot(FIRST, LAST)
LIVE_CLOCK = LegalClock(CALENDAR)
PINNED_CLOCK = LegalClock(SNAPSHOT)

# Local settings, not a profile, so other test modules keep their own.
SNAPSHOT_SETTINGS = settings(max_examples=80, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def shipped_file_untouched() -> Iterator[None]:
    # Every test writes to a copy; this guards the shipped file against a slip.
    before = OVERRIDES_FILE.read_bytes()
    yield
    assert OVERRIDES_FILE.read_bytes() == before


def override(day: date, kind: str, reason: str = "test", source: str = "test") -> CalendarOverride:
    return CalendarOverride.model_validate(
        {"day": day, "kind": kind, "reason": reason, "source": source}
    )


def test_both_calendars_are_calendars_for_the_clock() -> None:
    # Checked by mypy; at run time, the snapshot answers what the clock asks.
    calendars: list[Calendar] = [CALENDAR, SNAPSHOT]
    assert [c.is_working_day(date(2026, 1, 2)) for c in calendars] == [False, False]
    assert (SNAPSHOT.first_day, SNAPSHOT.last_day) == (FIRST, LAST)


# -- the snapshot agrees with the calendar it was taken from -------------------------------


@SNAPSHOT_SETTINGS
@given(st.dates(min_value=FIRST, max_value=LAST))
def test_snapshot_answers_like_the_calendar(day: date) -> None:
    assert SNAPSHOT.is_working_day(day) == CALENDAR.is_working_day(day)
    for live, pinned in [
        (CALENDAR.next_working_day, SNAPSHOT.next_working_day),
        (CALENDAR.previous_working_day, SNAPSHOT.previous_working_day),
    ]:
        expected = live(day)
        if FIRST <= expected <= LAST:
            assert pinned(day) == expected
        else:
            # 1 January 2025 is a holiday: there is no working day before 2 January in range.
            with pytest.raises(CalendarRangeError):
                pinned(day)


def test_snapshot_agrees_with_the_calendar_on_every_day_of_its_range() -> None:
    day = FIRST
    while day <= LAST:
        assert SNAPSHOT.is_working_day(day) == CALENDAR.is_working_day(day), day
        day += timedelta(days=1)


def test_snapshot_agrees_on_the_known_swaps_and_holidays() -> None:
    for day in (date(2025, 4, 26), date(2026, 1, 10), date(2026, 8, 22)):
        assert SNAPSHOT.is_working_day(day), day  # worked weekend days
    for day in (date(2025, 5, 2), date(2026, 1, 2), date(2026, 2, 17), date(2027, 9, 2)):
        assert not SNAPSHOT.is_working_day(day), day


# Starts and ends far enough inside the range that 40 working days and the pauses below fit.
clock_days = st.dates(min_value=date(2025, 4, 1), max_value=date(2027, 8, 31))
clock_instants = st.builds(
    lambda d, t: datetime.combine(d, t, tzinfo=VN_TZ), clock_days, wall_times
)
clock_durations = st.one_of(
    st.integers(min_value=0, max_value=40).map(working_days),
    st.timedeltas(min_value=timedelta(0), max_value=working_days(40)),
)


def short_pauses(anchor: datetime) -> st.SearchStrategy[list[tuple[datetime, datetime]]]:
    pause = st.tuples(
        st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=20)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    ).map(lambda o: (anchor + o[0], anchor + o[0] + o[1]))
    return st.lists(pause, max_size=2)


@SNAPSHOT_SETTINGS
@given(st.data(), clock_instants, clock_durations)
def test_clock_on_the_snapshot_adds_and_subtracts_like_the_live_clock(
    data: st.DataObject, s: datetime, d: timedelta
) -> None:
    pauses = data.draw(short_pauses(s))
    assert PINNED_CLOCK.add(s, d) == LIVE_CLOCK.add(s, d)
    assert PINNED_CLOCK.add(s, d, pauses) == LIVE_CLOCK.add(s, d, pauses)
    assert PINNED_CLOCK.subtract(s, d) == LIVE_CLOCK.subtract(s, d)


@SNAPSHOT_SETTINGS
@given(
    st.data(),
    clock_instants,
    # Either way and up to a season apart: long enough to cross Tết or a swap, short enough
    # to stay fast (the count walks every session in between).
    st.timedeltas(min_value=timedelta(days=-90), max_value=timedelta(days=90)),
)
def test_clock_on_the_snapshot_measures_like_the_live_clock(
    data: st.DataObject, a: datetime, span: timedelta
) -> None:
    b = a + span
    pauses = data.draw(st.one_of(st.just([]), short_pauses(a)))
    assert PINNED_CLOCK.working_time_between(a, b, pauses) == LIVE_CLOCK.working_time_between(
        a, b, pauses
    )


# -- serialisation -----------------------------------------------------------------------


def test_json_round_trip_gives_an_equal_snapshot() -> None:
    amended = SNAPSHOT.amended([override(date(2026, 3, 4), "day_off", reason="bão / storm")])
    for snapshot in (SNAPSHOT, amended):
        snapshot.is_working_day(date(2026, 3, 4))  # the lookup cache is not part of the value
        copy = CalendarSnapshot.model_validate_json(snapshot.model_dump_json())
        assert copy == snapshot
        assert hash(copy) == hash(snapshot)
        assert copy.changed_days(snapshot) == []


def test_two_years_fit_in_a_small_payload() -> None:
    two_years = CALENDAR.snapshot(date(2025, 1, 1), date(2026, 12, 31))
    assert len(two_years.model_dump_json().encode()) < 4096


def test_model_copy_with_new_lists_does_not_answer_from_a_stale_cache() -> None:
    snapshot = CALENDAR.snapshot(date(2026, 3, 2), date(2026, 3, 6))
    assert snapshot.is_working_day(date(2026, 3, 4))
    copy = snapshot.model_copy(update={"days_off": (date(2026, 3, 4),)})
    assert not copy.is_working_day(date(2026, 3, 4))
    assert snapshot.is_working_day(date(2026, 3, 4))


# -- questions outside the range, invalid snapshots ------------------------------------------


@pytest.mark.parametrize(
    ("question", "day"),
    [
        (SNAPSHOT.is_working_day, date(2028, 1, 3)),
        (SNAPSHOT.is_working_day, date(2024, 12, 31)),
        (SNAPSHOT.holiday_name, date(2028, 1, 3)),
        (SNAPSHOT.next_working_day, date(2027, 12, 31)),
        (SNAPSHOT.previous_working_day, date(2025, 1, 2)),
    ],
    ids=["after", "before", "holiday-name", "next-leaves", "previous-leaves"],
)
def test_questions_outside_the_range_name_the_range(question: object, day: date) -> None:
    assert callable(question)
    with pytest.raises(CalendarRangeError, match="outside the calendar snapshot's range") as caught:
        question(day)
    assert "2025-01-01–2027-12-31" in str(caught.value)


def test_the_clock_on_a_snapshot_refuses_to_count_past_its_end() -> None:
    near_end = datetime(2027, 12, 30, 8, tzinfo=VN_TZ)
    with pytest.raises(ValueError, match="before 2027-12-31"):
        PINNED_CLOCK.add(near_end, working_days(5))
    with pytest.raises(CalendarRangeError, match="2025-01-01–2027-12-31"):
        PINNED_CLOCK.subtract(datetime(2025, 1, 3, 9, tzinfo=VN_TZ), working_days(5))


def test_a_datetime_is_not_a_day() -> None:
    with pytest.raises(TypeError, match="expected a date"):
        SNAPSHOT.is_working_day(datetime(2026, 1, 2, 9, 0))


def test_snapshot_of_the_calendar_refuses_years_it_does_not_cover() -> None:
    with pytest.raises(CalendarRangeError, match="leaves the calendar's range"):
        CALENDAR.snapshot(date(2099, 1, 1), date(2200, 12, 31))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"days_off": [date(2026, 3, 7)]}, r"days_off\n.*2026-03-07 is a Saturday"),
        ({"working_weekend_days": [date(2026, 3, 4)]}, r"2026-03-04 is a Wednesday"),
        ({"days_off": [date(2027, 1, 4)]}, r"days_off: 2027-01-04 is outside the range"),
        ({"first_day": date(2027, 1, 1)}, r"first_day 2027-01-01 is after last_day 2026-12-31"),
        ({"days_off": [date(2026, 3, 4)] * 2}, r"2026-03-04 is listed twice"),
        (
            {"amendments": [override(date(2026, 3, 4), "day_off").model_dump()]},
            r"2026-03-04 is amended to day_off but the lists say the opposite",
        ),
        ({"bank_holidays": []}, r"bank_holidays\n.*Extra inputs"),
    ],
    ids=[
        "weekend-off",
        "weekday-worked",
        "outside",
        "reversed-range",
        "twice",
        "inconsistent",
        "extra",
    ],
)
def test_invalid_snapshots_are_refused_with_a_clear_message(
    fields: dict[str, object], expected: str
) -> None:
    valid: dict[str, object] = {
        "first_day": date(2026, 1, 1),
        "last_day": date(2026, 12, 31),
        "days_off": [],
        "working_weekend_days": [],
    }
    with pytest.raises(ValidationError, match=expected):
        CalendarSnapshot.model_validate(valid | fields)


def test_lists_are_kept_sorted() -> None:
    snapshot = CalendarSnapshot(
        first_day=date(2026, 1, 1),
        last_day=date(2026, 12, 31),
        days_off=(date(2026, 3, 5), date(2026, 3, 4)),
        working_weekend_days=(),
    )
    assert snapshot.days_off == (date(2026, 3, 4), date(2026, 3, 5))


def test_covers_is_about_the_whole_span() -> None:
    assert SNAPSHOT.covers(FIRST, LAST)
    assert SNAPSHOT.covers(date(2026, 1, 1), date(2026, 1, 1))
    assert not SNAPSHOT.covers(date(2024, 12, 31), date(2025, 1, 5))
    assert not SNAPSHOT.covers(date(2027, 12, 1), date(2028, 1, 1))


# -- amendments to a snapshot ------------------------------------------------------------

STORM = date(2026, 3, 4)  # an ordinary Wednesday


def due_two_days_from_tuesday(clock: LegalClock) -> datetime:
    return clock.add(datetime(2026, 3, 3, 8, tzinfo=VN_TZ), working_days(2))


def test_a_new_day_off_moves_due_moments_past_it_and_reversing_it_restores_them() -> None:
    storm = SNAPSHOT.amended([override(STORM, "day_off", reason="Nghỉ bão / storm day off")])

    assert due_two_days_from_tuesday(PINNED_CLOCK) == datetime(2026, 3, 4, 17, tzinfo=VN_TZ)
    assert due_two_days_from_tuesday(LegalClock(storm)) == datetime(2026, 3, 5, 17, tzinfo=VN_TZ)
    assert storm.holiday_name(STORM) == "Nghỉ bão / storm day off"
    assert SNAPSHOT.holiday_name(STORM) is None
    assert storm.changed_days(SNAPSHOT) == [STORM]
    assert SNAPSHOT.changed_days(storm) == [STORM]

    reversed_ = storm.amended([override(STORM, "working_day", reason="storm passed")])
    assert due_two_days_from_tuesday(LegalClock(reversed_)) == due_two_days_from_tuesday(
        PINNED_CLOCK
    )
    assert reversed_.changed_days(SNAPSHOT) == []
    assert reversed_.amendments == (override(STORM, "working_day", reason="storm passed"),)
    assert reversed_.holiday_name(STORM) is None


def test_changed_days_lists_exactly_the_amended_days() -> None:
    changes = [
        override(date(2026, 3, 4), "day_off"),
        override(date(2026, 3, 7), "working_day"),  # a Saturday made a make-up day
        override(date(2026, 1, 10), "day_off"),  # the make-up Saturday taken back
        override(date(2026, 2, 17), "working_day"),  # a Tết day worked
    ]
    amended = SNAPSHOT.amended(changes)

    assert amended.changed_days(SNAPSHOT) == sorted(change.day for change in changes)
    assert [a.day for a in amended.amendments] == sorted(change.day for change in changes)
    for change in changes:
        assert amended.is_working_day(change.day) == (change.kind == "working_day")


def test_an_amendment_that_changes_nothing_is_still_recorded() -> None:
    saturday_off = override(date(2026, 3, 7), "day_off")
    weekday_worked = override(date(2026, 3, 9), "working_day")
    amended = SNAPSHOT.amended([saturday_off, weekday_worked])

    assert amended.days_off == SNAPSHOT.days_off
    assert amended.working_weekend_days == SNAPSHOT.working_weekend_days
    assert amended.amendments == (saturday_off, weekday_worked)
    assert amended.changed_days(SNAPSHOT) == []


def test_a_later_amendment_of_the_same_day_replaces_the_earlier_one() -> None:
    first = override(STORM, "day_off", reason="first")
    second = override(STORM, "day_off", reason="second")
    assert SNAPSHOT.amended([first, second]).amendments == (second,)
    assert SNAPSHOT.amended([first]).amended([second]).amendments == (second,)


def test_amendments_outside_the_range_are_ignored() -> None:
    amended = SNAPSHOT.amended([override(date(2028, 1, 3), "day_off")])
    assert amended == SNAPSHOT
    assert amended.amendments == ()


def test_changed_days_only_looks_where_both_snapshots_answer() -> None:
    later = CALENDAR.snapshot(date(2026, 1, 1), date(2026, 12, 31))
    assert later.changed_days(SNAPSHOT) == []
    assert SNAPSHOT.amended([override(date(2025, 3, 5), "day_off")]).changed_days(later) == []
    assert later.changed_days(CALENDAR.snapshot(date(2027, 1, 1), date(2027, 1, 31))) == []


# -- amendment files ---------------------------------------------------------------------

ENTRY = "  - {day: 2027-03-03, kind: day_off, reason: r, source: s}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "amendment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_amendment_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "announced_by: Công văn 123/VPCP-KGVX ngày 01/03/2027\n"
        "note: checked against the official text\n"
        "overrides:\n" + ENTRY + "  - day: 2027-03-06\n    kind: working_day\n"
        "    reason: >-\n      làm bù\n    source: >-\n      Công văn 123/VPCP-KGVX\n",
    )
    amendment = load_amendment(path)

    assert amendment.announced_by == "Công văn 123/VPCP-KGVX ngày 01/03/2027"
    assert amendment.note == "checked against the official text"
    assert [(o.day, o.kind) for o in amendment.overrides] == [
        (date(2027, 3, 3), "day_off"),
        (date(2027, 3, 6), "working_day"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "announced_by: x\noverrides:\n" + ENTRY.replace("2027-03-03", "2027-02-30"),
            r"overrides\[0\]\.day: .*2027-02-30",
        ),
        (
            "announced_by: x\noverrides:\n" + ENTRY + "  - {day: 2027-03-04, kind: day_off, "
            "reason: r}\n",
            r"overrides\[1\]\.source: Field required",
        ),
        (
            "announced_by: x\noverrides:\n" + ENTRY * 2,
            r"overrides\[1\]\.day: 2027-03-03 is already overridden by overrides\[0\]",
        ),
        ("announced_by: x\noverrides: []\n", r"overrides: at least one override is needed"),
        ("announced_by: x\noverrides:\n", r"overrides: at least one override is needed"),
        ("announced_by: x\n", r"overrides: Field required"),
        ("overrides:\n" + ENTRY, r"announced_by: Field required"),
        ("announced_by: '  '\noverrides:\n" + ENTRY, r"announced_by: must not be empty"),
        ("announced_by: x\nsource: y\noverrides:\n" + ENTRY, r"unknown top-level key.*source"),
        ("- " + ENTRY, r"expected a mapping with 'announced_by'"),
        ("announced_by: [\n", r"not valid YAML"),
    ],
    ids=[
        "bad-date",
        "missing-source",
        "duplicate-day",
        "empty-overrides",
        "blank-overrides",
        "missing-overrides",
        "missing-announced-by",
        "blank-announced-by",
        "unknown-key",
        "not-a-mapping",
        "syntax",
    ],
)
def test_bad_amendment_file_is_refused_naming_file_entry_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(CalendarError, match=expected) as caught:
        load_amendment(path)

    assert str(caught.value).startswith(str(path))


def test_amendment_model_refuses_the_same_day_twice() -> None:
    with pytest.raises(ValidationError, match="2027-03-03 is already overridden"):
        CalendarAmendment(announced_by="x", overrides=[override(date(2027, 3, 3), "day_off")] * 2)


# -- recording an amendment in the override file -------------------------------------------


@pytest.fixture
def override_file(tmp_path: Path) -> Path:
    # A copy: the shipped file must never be modified by a test.
    return Path(shutil.copy(OVERRIDES_FILE, tmp_path / "calendar-overrides.yaml"))


def header(text: str) -> str:
    return text[: text.index("overrides:")]


NEW_YEAR_OFF = override(
    date(2027, 1, 1),
    "day_off",
    reason="Tết Dương lịch 2027 (New Year's Day) — a long reason that has to be folded over more "
    "than one line of the file, as the existing entries are.",
    source="Bộ Nội vụ, thông báo số 1/TB-BNV (to be confirmed)",
)
MAKE_UP_SATURDAY = override(date(2027, 1, 9), "working_day")


def test_recording_appends_new_days_in_the_file_style(override_file: Path) -> None:
    before = override_file.read_text(encoding="utf-8")
    amendment = CalendarAmendment(
        announced_by="1/TB-BNV", overrides=[NEW_YEAR_OFF, MAKE_UP_SATURDAY]
    )

    assert record_amendment(override_file, amendment) == [NEW_YEAR_OFF, MAKE_UP_SATURDAY]

    after = override_file.read_text(encoding="utf-8")
    assert after.startswith(before)  # header and existing entries untouched, byte for byte
    assert load_overrides(override_file) == [*load_overrides(OVERRIDES_FILE), *amendment.overrides]
    added = after[len(before) :]
    assert added.startswith("  - day: 2027-01-01\n    kind: day_off\n    reason: >-\n      Tết")
    assert max(len(line) for line in added.splitlines()) <= 100
    assert not WorkingCalendar(load_overrides(override_file)).is_working_day(date(2027, 1, 1))


def test_recording_replaces_a_reversed_day_and_returns_only_changes(override_file: Path) -> None:
    before = override_file.read_text(encoding="utf-8")
    shipped = load_overrides(OVERRIDES_FILE)
    reversal = override(date(2026, 1, 2), "working_day", reason="đảo ngược / reversed")
    unchanged = next(o for o in shipped if o.day == date(2026, 1, 10))
    amendment = CalendarAmendment(announced_by="x", overrides=[unchanged, reversal])

    assert record_amendment(override_file, amendment) == [reversal]

    after = override_file.read_text(encoding="utf-8")
    assert header(after) == header(before)
    loaded = load_overrides(override_file)
    assert [o.day for o in loaded] == [o.day for o in shipped]  # replaced in place
    assert loaded[[o.day for o in loaded].index(date(2026, 1, 2))] == reversal
    assert after.endswith(before[before.index("  - day: 2026-01-10") :])  # neighbour untouched
    assert WorkingCalendar(loaded).is_working_day(date(2026, 1, 2))


def test_recording_what_is_already_there_changes_nothing(override_file: Path) -> None:
    before = override_file.read_bytes()
    amendment = CalendarAmendment(announced_by="x", overrides=load_overrides(OVERRIDES_FILE))

    assert record_amendment(override_file, amendment) == []
    assert override_file.read_bytes() == before


def test_recording_keeps_comments_between_entries_and_quotes_unfoldable_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "# header\noverrides:\n"
        "  - {day: 2026-03-04, kind: day_off, reason: r, source: s}\n"
        "  # a note about the next entry\n"
        "  - day: 2026-03-05\n    kind: day_off\n    reason: >-\n      old\n\n    source: s\n"
        "# trailing note\n",
        encoding="utf-8",
    )
    odd = override(date(2026, 3, 5), "day_off", reason='two  spaces, a "quote"\nand a line')
    record_amendment(path, CalendarAmendment(announced_by="x", overrides=[odd]))

    text = path.read_text(encoding="utf-8")
    assert "  # a note about the next entry\n" in text
    assert text.endswith("# trailing note\n")
    assert load_overrides(path)[1] == odd


@pytest.mark.parametrize("empty", ["overrides:\n", "overrides: []\n"])
def test_recording_into_an_empty_override_list(tmp_path: Path, empty: str) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("# header\n" + empty, encoding="utf-8")

    record_amendment(path, CalendarAmendment(announced_by="x", overrides=[NEW_YEAR_OFF]))

    assert path.read_text(encoding="utf-8").startswith("# header\noverrides:\n  - day: 2027")
    assert load_overrides(path) == [NEW_YEAR_OFF]


def test_a_failing_write_leaves_the_file_unchanged(
    override_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = override_file.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    amendment = CalendarAmendment(announced_by="x", overrides=[NEW_YEAR_OFF])
    with pytest.raises(CalendarError, match="disk full"):
        record_amendment(override_file, amendment)

    assert override_file.read_bytes() == before
    assert os.listdir(override_file.parent) == [override_file.name]  # no temporary file left


def test_text_that_would_not_load_is_never_written(
    override_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = override_file.read_bytes()
    monkeypatch.setattr(domain.calendar, "_render_entry", lambda *_: ["  - day: 2027-02-30"])
    amendment = CalendarAmendment(announced_by="x", overrides=[NEW_YEAR_OFF])

    with pytest.raises(CalendarError, match="would not load"):
        record_amendment(override_file, amendment)

    assert override_file.read_bytes() == before
    assert os.listdir(override_file.parent) == [override_file.name]


def test_recording_refuses_an_override_file_that_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("overrides: {}\n", encoding="utf-8")
    amendment = CalendarAmendment(announced_by="x", overrides=[NEW_YEAR_OFF])
    with pytest.raises(CalendarError, match="must be a list"):
        record_amendment(path, amendment)
    assert path.read_text(encoding="utf-8") == "overrides: {}\n"
