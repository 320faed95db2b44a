"""On-time reports: hand-computed figures on PostgreSQL and SQLite, formats, the CLI's errors.

The data set (September-October 2023, Vietnam time; no other test writes 2023 rows):

- 8 dossiers on desks RPTA and RPTB; D1 received 00:10 on 1 September (still 31 August in
  UTC), D7 received in August but decided in September, D6 never finished, D8 finished at 06:00
  on 1 November (still 31 October in UTC), D4 decided "not_counted", D3 late.
- 20 steps of 5 agencies (S16 opened in August, S15 still open, S17 done in November, S4
  "not_counted", S9 and S13 late); S12-S14 and S19 belong to the combined dossier D5.
- 3 apology letters, the third issued on 1 November (outside).

Every expected figure below was computed by hand from that table; a row reads
(group, received, decided, early, on time, late, not counted, on-time %, apologies,
avg working days, p90 working days).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlalchemy import Engine, create_engine, delete, event, insert

from domain.catalog import default_catalog
from domain.clock import VN_TZ
from starter import REPORT_FORMATS, REPORT_GROUPINGS, main
from store.migrate import upgrade
from store.models import ApologyLetterRecord, DossierRecord, StepRecord
from store.reports import (
    ReportBy,
    ReportFormat,
    ReportInputError,
    ReportLevel,
    ReportResult,
    ReportRow,
    format_report,
    report_input,
    run_report,
)

START, END = date(2023, 9, 1), date(2023, 10, 31)
ADDRESSEE = "Bà Trần Thị Bình"  # must never appear in a report


def vn(text: str) -> datetime:
    """A Vietnam wall-clock moment of 2023 ("MM-DD HH:MM"), as the UTC instant stored."""
    return datetime.fromisoformat(f"2023-{text}").replace(tzinfo=VN_TZ).astimezone(UTC)


# code: (desk, procedure, received, finished, verdict, working hours)
DOSSIERS: dict[str, tuple[str, str, str, str | None, str | None, float | None]] = {
    "D1": ("RPTA", "land-first-certificate", "09-01 00:10", "09-25 10:00", "early", 100),
    "D2": ("RPTA", "land-first-certificate", "09-04 09:00", "10-02 15:00", "on_time", 184),
    "D3": ("RPTA", "house-building-permit", "09-11 09:00", "10-10 09:00", "late", 130),
    "D4": ("RPTB", "house-building-permit", "09-15 14:00", "10-05 16:00", "not_counted", 90),
    "D5": ("RPTB", "land-and-permit", "10-02 08:00", "10-31 23:00", "early", 150),
    "D6": ("RPTB", "certified-copy", "10-20 10:00", None, None, None),
    "D7": ("RPTA", "certified-copy", "08-20 10:00", "09-05 10:00", "on_time", 8),
    "D8": ("RPTB", "certified-copy", "10-25 10:00", "11-01 06:00", "early", 16),
}  # fmt: skip

LFC, HBP, CC = "land-first-certificate", "house-building-permit", "certified-copy"
# (dossier, step, procedure, agency, opened, done, verdict, working hours)
STEPS: list[tuple[str, str, str, str, str, str | None, str | None, float | None]] = [
    ("D1", "receive", LFC, "one-stop", "09-01 08:00", "09-01 10:00", "early", 2),
    ("D1", "register", LFC, "land-registration", "09-01 10:00", "09-20 10:00", "early", 90),
    ("D1", "tax", LFC, "tax", "09-20 10:00", "09-22 10:00", "on_time", 16),
    ("D1", "payment", LFC, "tax", "09-22 10:00", "09-25 09:00", "not_counted", 20),
    ("D2", "receive", LFC, "one-stop", "09-04 09:00", "09-04 11:00", "early", 2),
    ("D2", "register", LFC, "land-registration", "09-04 11:00", "09-29 16:00", "on_time", 150),
    ("D2", "tax", LFC, "tax", "09-29 16:00", "10-02 14:00", "early", 14),
    ("D3", "receive", HBP, "one-stop", "09-11 09:00", "09-11 10:00", "early", 1),
    ("D3", "appraise", HBP, "urban-management", "09-11 10:00", "10-09 16:00", "late", 125),
    ("D4", "receive", HBP, "one-stop", "09-15 14:00", "09-15 15:00", "early", 1),
    ("D4", "appraise", HBP, "urban-management", "09-15 15:00", "10-05 15:00", "on_time", 89),
    ("D5", "receive", LFC, "one-stop", "10-02 08:00", "10-02 09:00", "early", 1),
    ("D5", "register", LFC, "land-registration", "10-02 09:00", "10-26 10:00", "late", 140),
    ("D5", "appraise", HBP, "urban-management", "10-02 09:00", "10-20 10:00", "early", 60),
    ("D6", "receive", CC, "one-stop", "10-20 10:00", None, None, None),
    ("D7", "receive", CC, "one-stop", "08-20 10:00", "09-05 10:00", "on_time", 8),
    ("D8", "receive", CC, "one-stop", "10-25 10:00", "11-01 06:00", "early", 16),
    ("D3", "sign", HBP, "district-committee", "10-09 16:00", "10-10 09:00", "early", 2),
    ("D5", "tax", LFC, "tax", "10-26 10:00", "10-30 10:00", "on_time", 24),
    ("D1", "online-check", LFC, "one-stop", "09-01 00:15", "09-01 08:00", "early", 0),
]  # fmt: skip

# (dossier, agency, procedure, issued)
LETTERS = [
    ("D3", "urban-management", HBP, "10-06 09:00"),
    ("D5", "land-registration", LFC, "10-25 09:00"),
    ("D8", "one-stop", CC, "11-01 01:00"),
]


# Ten dossiers decided in December 2023 on desk RPTC, for a p90 whose 0.9 n is a whole rank.
DECEMBER_HOURS = (7.0, 3.0, 10.0, 1.0, 9.0, 5.0, 2.0, 8.0, 6.0, 4.0)


def code(short: str) -> str:
    desk = DOSSIERS[short][0]
    return f"{desk}-230901-000{short[1]}"


def december_code(index: int) -> str:
    return f"RPTC-231201-{index + 1:04d}"


def all_codes() -> list[str]:
    return [code(short) for short in DOSSIERS] + [
        december_code(index) for index in range(len(DECEMBER_HOURS))
    ]


def fill(engine: Engine) -> None:
    """Write the data set (committed)."""
    with engine.begin() as connection:
        connection.execute(
            insert(DossierRecord),
            [
                {
                    "code": code(short),
                    "desk_code": desk,
                    "procedure_code": procedure,
                    "procedure_version": "test",
                    "received_at": vn(received),
                    "clock_starts_at": vn(received),
                    "appointment_at": vn(received),
                    "status": "returned" if finished else "in_progress",
                    "finished_at": vn(finished) if finished else None,
                    "verdict": verdict,
                    "working_hours": hours,
                }
                for short, (desk, procedure, received, finished, verdict, hours) in DOSSIERS.items()
            ]
            + [
                {
                    "code": december_code(index),
                    "desk_code": "RPTC",
                    "procedure_code": CC,
                    "procedure_version": "test",
                    "received_at": vn(f"12-{index + 1:02d} 09:00"),
                    "clock_starts_at": vn(f"12-{index + 1:02d} 09:00"),
                    "appointment_at": vn(f"12-{index + 1:02d} 17:00"),
                    "status": "returned",
                    "finished_at": vn(f"12-{index + 1:02d} 16:00"),
                    "verdict": "on_time",
                    "working_hours": hours,
                }
                for index, hours in enumerate(DECEMBER_HOURS)
            ],
        )
        connection.execute(
            insert(StepRecord),
            [
                {
                    "dossier_code": code(short),
                    "step_key": f"{procedure}:{step}",
                    "procedure_code": procedure,
                    "agency": agency,
                    "kind": "decision",
                    "name_vi": "Bước thử",
                    "status": "done" if done else "open",
                    "opened_at": vn(opened),
                    "done_at": vn(done) if done else None,
                    "verdict": verdict,
                    "working_hours": hours,
                }
                for short, step, procedure, agency, opened, done, verdict, hours in STEPS
            ],
        )
        connection.execute(
            insert(ApologyLetterRecord),
            [
                {
                    "letter_id": f"{code(short)}-apology-1",
                    "dossier_code": code(short),
                    "sequence": 1,
                    "procedure_code": procedure,
                    "procedure_name_vi": "Thủ tục thử",
                    "received_at": vn(DOSSIERS[short][2]),
                    "original_appointment": vn(issued),
                    "new_appointment": vn(issued),
                    "agency": agency,
                    "agency_name_vi": "Cơ quan thử",
                    "signer_title_vi": "Giám đốc",
                    "reason_vi": "Chậm thẩm định",
                    "addressee_vi": ADDRESSEE,
                    "issued_at": vn(issued),
                    "place_vi": "Hà Nội",
                    "tracking_url": f"http://localhost/track/{code(short)}",
                }
                for short, agency, procedure, issued in LETTERS
            ],
        )


def clean(engine: Engine) -> None:
    codes = all_codes()
    with engine.begin() as connection:
        for table in (ApologyLetterRecord, StepRecord):
            connection.execute(delete(table).where(table.dossier_code.in_(codes)))
        connection.execute(delete(DossierRecord).where(DossierRecord.code.in_(codes)))


@pytest.fixture(scope="module")
def pg_report_url(pg_url: str) -> Iterator[str]:
    """pg_url with the data set committed (and removed afterwards)."""
    engine = create_engine(pg_url)
    try:
        clean(engine)
        fill(engine)
        yield pg_url
        clean(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite demo store with the same data set."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'registry.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        fill(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each figure test runs on both dialects, against the same literals."""
    name = "pg_report_url" if request.param == "postgresql" else "sqlite_report_url"
    return str(request.getfixturevalue(name))


def report(url: str, start: date = START, end: date = END, **kwargs: Any) -> ReportResult:
    params = report_input(start, end, catalog=default_catalog(), **kwargs)
    engine = create_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        with engine.connect() as connection:
            result = run_report(connection, params)
    finally:
        engine.dispose()
    assert len(statements) == 1, "a report is one SQL query"
    assert "applicant_contacts" not in statements[0]
    return result


Figures = tuple[str | None, int, int, int, int, int, int, str | None, int, str | None, str | None]


def figures(row: ReportRow) -> Figures:
    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return (
        row.group,
        row.received,
        row.decided,
        row.early,
        row.on_time,
        row.late,
        row.not_counted,
        text(row.on_time_rate),
        row.apology_letters,
        text(row.avg_working_days),
        text(row.p90_working_days),
    )


def table_of(result: ReportResult) -> list[Figures]:
    return [figures(row) for row in [*result.rows, result.total]]


DOSSIER_TOTAL: Figures = (None, 7, 6, 2, 2, 1, 1, "80.00", 2, "14.3", "23.0")
AGENCY_TOTAL: Figures = (None, 19, 18, 10, 5, 2, 1, "88.24", 2, "5.3", "17.5")


# ---- dossier level ---------------------------------------------------------------------------


def test_dossier_totals_count_vietnam_days_and_rate_without_not_counted(store_url: str) -> None:
    result = report(store_url)
    assert result.params.level is ReportLevel.DOSSIER
    assert result.rows == []
    assert figures(result.total) == DOSSIER_TOTAL


def test_dossiers_by_vietnam_month(store_url: str) -> None:
    assert table_of(report(store_url, by="month")) == [
        ("2023-09", 4, 2, 1, 1, 0, 0, "100.00", 0, "6.8", "12.5"),
        ("2023-10", 3, 4, 1, 1, 1, 1, "66.67", 2, "19.3", "23.0"),
        DOSSIER_TOTAL,
    ]


def test_dossiers_by_desk(store_url: str) -> None:
    assert table_of(report(store_url, by=ReportBy.DESK)) == [
        ("RPTA", 3, 4, 1, 2, 1, 0, "75.00", 1, "13.2", "23.0"),
        ("RPTB", 4, 2, 1, 0, 0, 1, "100.00", 1, "18.8", "18.8"),
        DOSSIER_TOTAL,
    ]


def test_dossiers_by_procedure_use_the_code_they_were_filed_under(store_url: str) -> None:
    assert table_of(report(store_url, by="procedure")) == [
        ("certified-copy", 2, 1, 0, 1, 0, 0, "100.00", 0, "1.0", "1.0"),
        ("house-building-permit", 2, 2, 0, 0, 1, 1, "0.00", 1, "16.3", "16.3"),
        ("land-and-permit", 1, 1, 1, 0, 0, 0, "100.00", 1, "18.8", "18.8"),
        ("land-first-certificate", 2, 2, 1, 1, 0, 0, "100.00", 0, "17.8", "23.0"),
        DOSSIER_TOTAL,
    ]


def test_dossier_filters_combine(store_url: str) -> None:
    result = report(store_url, desk="RPTA", procedure="land-first-certificate")
    assert figures(result.total) == (None, 2, 2, 1, 1, 0, 0, "100.00", 0, "17.8", "23.0")


def test_a_month_with_nothing_decided_has_no_rate(store_url: str) -> None:
    assert table_of(report(store_url, desk="RPTB", by="month")) == [
        ("2023-09", 1, 0, 0, 0, 0, 0, None, 0, None, None),
        ("2023-10", 3, 2, 1, 0, 0, 1, "100.00", 1, "18.8", "18.8"),
        (None, 4, 2, 1, 0, 0, 1, "100.00", 1, "18.8", "18.8"),
    ]


def test_a_procedure_without_dossiers_gives_an_empty_total(store_url: str) -> None:
    result = report(store_url, procedure="signature-certification")
    assert table_of(result) == [(None, 0, 0, 0, 0, 0, 0, None, 0, None, None)]


def test_p90_is_the_nearest_rank_when_nine_tenths_of_n_is_whole(store_url: str) -> None:
    # n = 10: rank 9 (9 h = 1.125 days), not rank 10; the average is 5.5 h = 0.6875 days.
    result = report(store_url, date(2023, 12, 1), date(2023, 12, 31), desk="RPTC")
    assert table_of(result) == [(None, 10, 10, 0, 10, 0, 0, "100.00", 0, "0.7", "1.1")]


# ---- agency level ----------------------------------------------------------------------------


def test_agency_steps_pin_lateness_on_the_agency(store_url: str) -> None:
    result = report(store_url, by="agency")
    assert result.params.level is ReportLevel.AGENCY
    assert table_of(result) == [
        ("district-committee", 1, 1, 1, 0, 0, 0, "100.00", 0, "0.3", "0.3"),
        ("land-registration", 3, 3, 1, 1, 1, 0, "66.67", 1, "15.8", "18.8"),
        ("one-stop", 8, 7, 6, 1, 0, 0, "100.00", 0, "0.3", "1.0"),
        ("tax", 4, 4, 1, 2, 0, 1, "100.00", 0, "2.3", "3.0"),
        ("urban-management", 3, 3, 1, 1, 1, 0, "66.67", 1, "11.4", "15.6"),
        AGENCY_TOTAL,
    ]


def test_one_agency_by_month(store_url: str) -> None:
    assert table_of(report(store_url, agency="land-registration", by="month")) == [
        ("2023-09", 2, 2, 1, 1, 0, 0, "100.00", 0, "15.0", "18.8"),
        ("2023-10", 1, 1, 0, 0, 1, 0, "0.00", 1, "17.5", "17.5"),
        (None, 3, 3, 1, 1, 1, 0, "66.67", 1, "15.8", "18.8"),
    ]


def test_agencies_of_one_desk(store_url: str) -> None:
    assert table_of(report(store_url, by="agency", desk="RPTB")) == [
        ("land-registration", 1, 1, 0, 0, 1, 0, "0.00", 1, "17.5", "17.5"),
        ("one-stop", 4, 2, 2, 0, 0, 0, "100.00", 0, "0.1", "0.1"),
        ("tax", 1, 1, 0, 1, 0, 0, "100.00", 0, "3.0", "3.0"),
        ("urban-management", 2, 2, 1, 1, 0, 0, "100.00", 0, "9.3", "11.1"),
        (None, 8, 6, 3, 2, 1, 0, "83.33", 1, "6.6", "17.5"),
    ]


def test_a_combined_code_selects_the_steps_of_its_dossiers(store_url: str) -> None:
    assert table_of(report(store_url, by="agency", procedure="land-and-permit")) == [
        ("land-registration", 1, 1, 0, 0, 1, 0, "0.00", 1, "17.5", "17.5"),
        ("one-stop", 1, 1, 1, 0, 0, 0, "100.00", 0, "0.1", "0.1"),
        ("tax", 1, 1, 0, 1, 0, 0, "100.00", 0, "3.0", "3.0"),
        ("urban-management", 1, 1, 1, 0, 0, 0, "100.00", 0, "7.5", "7.5"),
        (None, 4, 4, 2, 1, 1, 0, "75.00", 1, "7.0", "17.5"),
    ]


def test_a_single_code_selects_its_steps_also_inside_combined_dossiers(store_url: str) -> None:
    result = report(store_url, agency="tax", procedure="land-first-certificate")
    assert table_of(result) == [(None, 4, 4, 1, 2, 0, 1, "100.00", 0, "2.3", "3.0")]


def test_one_agency_by_procedure_and_by_desk(store_url: str) -> None:
    total: Figures = (None, 3, 3, 1, 1, 1, 0, "66.67", 1, "11.4", "15.6")
    assert table_of(report(store_url, agency="urban-management", by="procedure")) == [
        ("house-building-permit", 3, 3, 1, 1, 1, 0, "66.67", 1, "11.4", "15.6"),
        total,
    ]
    assert table_of(report(store_url, agency="urban-management", by="desk")) == [
        ("RPTA", 1, 1, 0, 0, 1, 0, "0.00", 1, "15.6", "15.6"),
        ("RPTB", 2, 2, 1, 1, 0, 0, "100.00", 0, "9.3", "11.1"),
        total,
    ]


def test_sqlite_and_postgresql_agree_on_every_grouping(
    pg_report_url: str, sqlite_report_url: str
) -> None:
    cases: tuple[dict[str, Any], ...] = (
        {},
        {"by": "month"},
        {"by": "agency"},
        {"by": "procedure"},
        {"by": "desk"},
        {"agency": "one-stop", "by": "month"},
        {"agency": "one-stop", "by": "procedure"},
        {"agency": "tax", "by": "desk", "desk": "RPTA"},
    )
    for kwargs in cases:
        pg, lite = report(pg_report_url, **kwargs), report(sqlite_report_url, **kwargs)
        assert pg == lite, kwargs


# ---- formats ---------------------------------------------------------------------------------


def test_csv_has_one_line_per_group_then_total(sqlite_report_url: str) -> None:
    text = format_report(report(sqlite_report_url, desk="RPTB", by="month"), ReportFormat.CSV)
    assert text.splitlines() == [
        "month,received,decided,early,on_time,late,not_counted,on_time_rate_pct,"
        "apology_letters,avg_working_days,p90_working_days",
        "2023-09,1,0,0,0,0,0,,0,,",
        "2023-10,3,2,1,0,0,1,100.00,1,18.8,18.8",
        "TOTAL,4,2,1,0,0,1,100.00,1,18.8,18.8",
    ]


def test_json_has_rows_and_total(sqlite_report_url: str) -> None:
    document = json.loads(format_report(report(sqlite_report_url, by="month"), "json"))
    assert document["from"] == "2023-09-01"
    assert document["to"] == "2023-10-31"
    assert document["level"] == "dossier"
    assert document["by"] == "month"
    assert document["filters"] == {"desk": None, "agency": None, "procedure": None}
    assert [row["group"] for row in document["rows"]] == ["2023-09", "2023-10"]
    assert document["rows"][1] == {
        "group": "2023-10",
        "received": 3,
        "decided": 4,
        "early": 1,
        "on_time": 1,
        "late": 1,
        "not_counted": 1,
        "on_time_rate_pct": 66.67,
        "apology_letters": 2,
        "avg_working_days": 19.3,
        "p90_working_days": 23.0,
    }
    assert document["total"]["group"] is None
    assert document["total"]["on_time_rate_pct"] == 80.0


def test_table_shows_a_dash_where_nothing_was_decided(sqlite_report_url: str) -> None:
    lines = format_report(report(sqlite_report_url, desk="RPTB", by="month")).splitlines()
    assert lines[0] == (
        "On-time report 2023-09-01 .. 2023-10-31 (Vietnam time), dossiers; desk RPTB"
    )
    assert lines[1].split()[:3] == ["month", "received", "decided"]
    assert lines[2].split() == ["2023-09", "1", "0", "0", "0", "0", "0", "—", "0", "—", "—"]
    assert lines[-1].split() == [
        "TOTAL", "4", "2", "1", "0", "0", "1", "100.00", "1", "18.8", "18.8"
    ]  # fmt: skip


# ---- the command line ------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_prints_the_agency_report_as_json(
    capsys: pytest.CaptureFixture[str], pg_report_url: str
) -> None:
    status, out, err = run(
        capsys, "report", "--from", "2023-09-01", "--to", "2023-10-31", "--by", "agency",
        "--format", "json", "--database-url", pg_report_url,
    )  # fmt: skip
    assert (status, err) == (0, "")
    document = json.loads(out)
    assert document["level"] == "agency"
    assert [row["group"] for row in document["rows"]] == [
        "district-committee", "land-registration", "one-stop", "tax", "urban-management"
    ]  # fmt: skip
    assert document["total"]["received"] == 19
    assert document["total"]["on_time_rate_pct"] == 88.24
    assert ADDRESSEE not in out


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_cli_reports_hold_no_personal_data(
    capsys: pytest.CaptureFixture[str], sqlite_report_url: str, fmt: str
) -> None:
    for by in REPORT_GROUPINGS:
        status, out, _ = run(
            capsys, "report", "--from", "2023-09-01", "--to", "2023-10-31", "--by", by,
            "--format", fmt, "--database-url", sqlite_report_url,
        )  # fmt: skip
        assert status == 0
        assert "TOTAL" in out or '"total"' in out
        assert ADDRESSEE not in out and "Trần" not in out


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_cli_writes_the_printable_vietnamese_report_with_the_same_totals(
    capsys: pytest.CaptureFixture[str], sqlite_report_url: str, tmp_path: Path, fmt: str
) -> None:
    output = tmp_path / f"report.{fmt}"
    status, out, _ = run(
        capsys, "report", "--from", "2023-09-01", "--to", "2023-10-31", "--by", "agency",
        "--format", fmt, "--output", str(output), "--database-url", sqlite_report_url,
    )  # fmt: skip
    assert (status, out) == (0, f"wrote {output}\n")
    if fmt == "html":
        text = output.read_text(encoding="utf-8")
    else:
        text = "".join(p.extract_text() for p in pypdf.PdfReader(str(output)).pages)
    assert "BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ ĐÚNG HẠN" in text
    assert "Từ ngày 01/09/2023 đến ngày 31/10/2023" in text
    assert "Chi nhánh Văn phòng đăng ký đất đai" in text  # agencies by name, not code
    assert "88,24" in text  # the totals' on-time rate, as the table prints 88.24
    assert ADDRESSEE not in text and "Trần" not in text


def test_cli_choices_match_the_report_enums() -> None:
    assert tuple(by.value for by in ReportBy) == REPORT_GROUPINGS
    assert tuple(fmt.value for fmt in ReportFormat) == REPORT_FORMATS


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from", "2023-13-01", "--to", "2023-10-31"], "is not a date"),
        (["--from", "yesterday", "--to", "2023-10-31"], "is not a date"),
        (["--from", "2023-10-31", "--to", "2023-09-01"], "--from 2023-10-31 is after --to"),
        (["--from", "2023-09-01", "--to", "2023-10-31", "--agency", "nope"],
         "unknown agency 'nope'"),
        (["--from", "2023-09-01", "--to", "2023-10-31", "--procedure", "nope"],
         "unknown procedure 'nope'"),
        (["--from", "2023-09-01", "--to", "2023-10-31", "--desk", "rpt-a"],
         "is not a desk code"),
        (["--from", "2023-09-01", "--to", "2023-10-31", "--by", "week"], "invalid choice"),
        (["--from", "2023-09-01", "--to", "2023-10-31", "--format", "xml"], "invalid choice"),
        (["--to", "2023-10-31"], "--from"),
    ],
)  # fmt: skip
def test_bad_report_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], sqlite_report_url: str, argv: list[str], needle: str
) -> None:
    status, out, err = run(capsys, "report", *argv, "--database-url", sqlite_report_url)
    assert status == 2
    assert out == ""
    assert needle in err
    assert err.count("\n") == 1


def test_a_combined_code_is_a_known_procedure(
    capsys: pytest.CaptureFixture[str], sqlite_report_url: str
) -> None:
    status, out, _ = run(
        capsys, "report", "--from", "2023-09-01", "--to", "2023-10-31",
        "--procedure", "land-and-permit", "--format", "csv", "--database-url", sqlite_report_url,
    )  # fmt: skip
    assert status == 0
    assert out.splitlines()[-1] == "TOTAL,1,1,1,0,0,0,100.00,1,18.8,18.8"


def test_an_unmigrated_database_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    status, out, err = run(
        capsys, "report", "--from", "2023-09-01", "--to", "2023-10-31", "--database-url", url
    )
    assert status == 1
    assert out == ""
    assert "starter.py db upgrade" in err
    assert err.count("\n") == 1


def test_report_input_rejects_an_unknown_grouping() -> None:
    with pytest.raises(ReportInputError, match="unknown grouping 'week'"):
        report_input(START, END, catalog=default_catalog(), by="week")


def test_the_dossier_codes_are_unique_per_desk() -> None:
    # Guards the fixture itself: a clash would silently merge two hand-computed dossiers.
    assert len(set(all_codes())) == len(DOSSIERS) + len(DECEMBER_HOURS)
