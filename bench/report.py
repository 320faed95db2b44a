"""Time the agency on-time report over 1,000,000 ``dossier_steps`` rows on PostgreSQL.

Usage::

    .venv/bin/python -m bench.report [--rows 1000000] [--database-url URL]

Without ``--database-url`` a fresh database ``bench_report_<random>`` is created on the local
server (``LIENTHONG_TEST_POSTGRES``, default the trust-auth ``postgres`` user on 127.0.0.1) and
dropped at the end. With it, that database is migrated and used; its ``dossiers``,
``dossier_steps`` and ``apology_letters`` must be empty, and they are emptied again at the end.

The rows are synthetic (no personal data) and made on the server by ``INSERT ... SELECT
generate_series``: ten steps per dossier over the twelve months of 2025, agencies from the
catalog, a mix of verdicts, working times to the clock's 4 decimals (nearly all distinct), one
apology letter per late dossier. After ``ANALYZE`` it prints the
median of 5 runs of the agency report (``--by agency``, February-November 2025) and of a plain
``SELECT count(*) FROM dossier_steps``, and their ratio. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Connection, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import AddConstraint, DropConstraint

from domain.catalog import default_catalog
from engine.settings import mask_url, normalise_database_url
from store.migrate import upgrade
from store.models import ApologyLetterRecord, DossierRecord, StepRecord
from store.reports import ReportInput, report_input, run_report

ADMIN_URL = os.environ.get(
    "LIENTHONG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
STEPS_PER_DOSSIER = 10
RUNS = 5
PERIOD = (date(2025, 2, 1), date(2025, 11, 30))  # ten months of the twelve filled
DESKS = ("DONGDA", "PHUONGLIEN", "KHAMTHIEN")
PROCEDURES = (
    "land-first-certificate",
    "house-building-permit",
    "land-and-permit",
    "certified-copy",
)

# Dossier i of n is received at an even spread over 2025; 1 in 33 is still running.
_DOSSIERS_SQL = """
INSERT INTO dossiers (code, desk_code, procedure_code, procedure_version, received_at,
    clock_starts_at, appointment_at, status, name_vi, finished_at, verdict, working_hours,
    late_working_hours, apologies)
SELECT 'BENCH-' || lpad(i::text, 8, '0'),
    (CAST(:desks AS text[]))[1 + i % 3],
    (CAST(:procedures AS text[]))[1 + i % 4],
    'bench',
    r.received_at,
    r.received_at,
    r.received_at + interval '30 days',
    CASE WHEN i % 33 = 0 THEN 'in_progress' ELSE 'returned' END,
    '',
    CASE WHEN i % 33 <> 0 THEN r.received_at + (1 + i % 30) * interval '1 day' END,
    CASE WHEN i % 33 = 0 THEN NULL
         WHEN i % 20 = 0 THEN 'late'
         WHEN i % 50 = 1 THEN 'not_counted'
         WHEN i % 3 = 0 THEN 'on_time'
         ELSE 'early' END,
    CASE WHEN i % 33 <> 0 THEN ((i::bigint * 7919) % 4000003) / 10000.0 END,
    0,
    CASE WHEN i % 20 = 0 AND i % 33 <> 0 THEN 1 ELSE 0 END
FROM generate_series(0, :n - 1) AS i,
    LATERAL (SELECT timestamptz '2025-01-01 00:00+07'
                    + (i::float8 / :n) * interval '365 days' AS received_at) AS r
"""

# Step s of dossier d opens two days after the previous one; the last of a running dossier is
# still open.
_STEPS_SQL = """
INSERT INTO dossier_steps (dossier_code, step_key, procedure_code, agency, kind, name_vi, status,
    opened_at, due_at, done_at, overdue, outcome, verdict, working_hours, late_working_hours)
SELECT 'BENCH-' || lpad(d::text, 8, '0'),
    'step-' || s,
    (CAST(:procedures AS text[]))[1 + d % 4],
    (CAST(:agencies AS text[]))[1 + (d + s) % cardinality(CAST(:agencies AS text[]))],
    'decision',
    'Bước ' || s,
    CASE WHEN open THEN 'open' ELSE 'done' END,
    o.opened_at,
    o.opened_at + interval '3 days',
    CASE WHEN NOT open THEN o.opened_at + (1 + g % 40) * interval '1 hour' END,
    false,
    '',
    CASE WHEN open THEN NULL
         WHEN g % 17 = 0 THEN 'late'
         WHEN g % 23 = 0 THEN 'not_counted'
         WHEN g % 2 = 0 THEN 'on_time'
         ELSE 'early' END,
    CASE WHEN NOT open THEN ((g::bigint * 7919) % 1600003) / 10000.0 END,
    0
FROM generate_series(0, :rows - 1) AS g,
    LATERAL (SELECT g / :per AS d, g % :per AS s) AS k,
    LATERAL (SELECT d % 33 = 0 AND s = :per - 1 AS open,
                    timestamptz '2025-01-01 00:00+07'
                    + (d::float8 / :n) * interval '365 days'
                    + s * interval '2 days' AS opened_at) AS o
"""

_LETTERS_SQL = """
INSERT INTO apology_letters (letter_id, dossier_code, sequence, procedure_code,
    procedure_name_vi, received_at, original_appointment, new_appointment, agency,
    agency_name_vi, signer_title_vi, reason_vi, addressee_vi, issued_at, place_vi, tracking_url,
    created_at)
SELECT code || '-apology-1', code, 1, procedure_code, 'Thủ tục', received_at, appointment_at,
    appointment_at + interval '5 days', (CAST(:agencies AS text[]))[
        1 + right(code, 8)::int % cardinality(CAST(:agencies AS text[]))],
    'Cơ quan', 'Giám đốc', 'Chậm', 'Người nộp hồ sơ', appointment_at - interval '1 day',
    'Hà Nội', 'http://localhost/track/' || code, now()
FROM dossiers WHERE code LIKE 'BENCH-%' AND verdict = 'late'
"""


def _median_seconds(action: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def _database(url: str | None) -> Iterator[tuple[str, bool]]:
    """The database to fill, and whether it is ours to drop."""
    if url is not None:
        yield normalise_database_url(url), False
        return
    name = f"bench_report_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False), True
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fill(connection: Connection, rows: int) -> None:
    """Insert the synthetic rows (in the caller's transaction, so a failure leaves nothing)."""
    dossiers = max(1, rows // STEPS_PER_DOSSIER)
    agencies = [agency.code for agency in default_catalog().agencies]
    connection.execute(
        text(_DOSSIERS_SQL),
        {"n": dossiers, "desks": list(DESKS), "procedures": list(PROCEDURES)},
    )
    # Building the step indexes once after the load is ~3x faster than maintaining them per row;
    # they are rebuilt from the models, so names and columns are the migrated ones.
    steps = StepRecord.__table__
    assert isinstance(steps, Table)
    for index in steps.indexes:
        index.drop(connection)
    connection.execute(DropConstraint(steps.primary_key))
    connection.execute(
        text(_STEPS_SQL),
        {
            "rows": rows,
            "n": dossiers,
            "per": STEPS_PER_DOSSIER,
            "agencies": agencies,
            "procedures": list(PROCEDURES),
        },
    )
    connection.execute(AddConstraint(steps.primary_key))
    for index in steps.indexes:
        index.create(connection)
    connection.execute(text(_LETTERS_SQL), {"agencies": agencies})


def _count(connection: Connection, model: type[object]) -> int:
    return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def main(argv: Sequence[str] | None = None) -> int:
    """Create, fill, analyse and time; print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="dossier_steps rows")
    parser.add_argument("--database-url", help="use this (empty) database instead of a new one")
    args = parser.parse_args(argv)
    if args.rows < STEPS_PER_DOSSIER:
        parser.error(f"--rows must be at least {STEPS_PER_DOSSIER}")

    with _database(args.database_url) as (url, ours):
        upgrade(url)
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                tables = (DossierRecord, StepRecord, ApologyLetterRecord)
                if not ours and any(_count(connection, table) for table in tables):
                    print(
                        f"{mask_url(url)} already has dossiers, steps or letters; "
                        "give an empty database",
                        file=sys.stderr,
                    )
                    return 2
                started = time.perf_counter()
                _fill(connection, args.rows)
            fill_seconds = time.perf_counter() - started
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                started = time.perf_counter()
                connection.execute(text("ANALYZE dossiers, dossier_steps, apology_letters"))
                analyze_seconds = time.perf_counter() - started
            params: ReportInput = report_input(*PERIOD, catalog=default_catalog(), by="agency")
            with engine.connect() as connection:
                steps = _count(connection, StepRecord)
                dossiers = _count(connection, DossierRecord)
                letters = _count(connection, ApologyLetterRecord)
                result = run_report(connection, params)
                report_seconds = _median_seconds(lambda: run_report(connection, params))
                count_seconds = _median_seconds(
                    lambda: connection.execute(text("SELECT count(*) FROM dossier_steps")).all()
                )
            if not ours:
                with engine.begin() as connection:
                    connection.execute(text("TRUNCATE apology_letters, dossier_steps, dossiers"))
        finally:
            engine.dispose()

    total = result.total
    print(f"database        {mask_url(url)} ({'created and dropped' if ours else 'given'})")
    print(f"rows            {steps:,} dossier_steps, {dossiers:,} dossiers, {letters:,} letters")
    print(
        f"fill            {fill_seconds:.1f} s "
        "(INSERT ... SELECT generate_series, step indexes built after)"
    )
    print(f"analyze         {analyze_seconds:.1f} s")
    print(
        f"report          agency report {PERIOD[0]} .. {PERIOD[1]}: {len(result.rows)} agencies,"
        f" {total.received:,} steps received, {total.decided:,} decided,"
        f" on time {total.on_time_rate}%, p90 {total.p90_working_days} days"
    )
    print(f"report median   {report_seconds * 1000:.0f} ms (of {RUNS} runs)")
    print(f"count median    {count_seconds * 1000:.0f} ms (SELECT count(*) FROM dossier_steps)")
    print(f"ratio           {report_seconds / count_seconds:.1f}x report / count")
    return 0


if __name__ == "__main__":
    sys.exit(main())
