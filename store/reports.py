"""On-time reports: dossiers received, decided early / on time / late, apologies, working time.

The article's figure ("11,125 dossiers, 100% on time") is one row of this report. Each report is
ONE SQL query built with SQLAlchemy Core, the same text on PostgreSQL and SQLite: the per-group
counts and sums, the nearest-rank p90 (window functions) and the totals row all come back from
it. Python only validates the input, sorts the few group rows and formats them.

Two levels (semantics in docs/reports.md):

- dossier level: ``dossiers`` received / finished in the period, letters of those dossiers;
- agency level (``--by agency`` or an agency filter): ``dossier_steps`` opened / done in the
  period, letters signed by the agency; this is how lateness is pinned on the agency at fault.

Reports are aggregates: nothing here reads ``applicant_contacts`` or prints a name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Connection,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from domain.catalog import Catalog
from domain.clock import VN_TZ
from store.models import ApologyLetterRecord, DossierRecord, StepRecord

_DOSSIERS = DossierRecord.__table__
_STEPS = StepRecord.__table__
_LETTERS = ApologyLetterRecord.__table__
HOURS_PER_WORKING_DAY = 8
TOTAL_LABEL = "TOTAL"
# Verdicts measured against a due moment; "not_counted" steps (a notice, a payment) are not.
COUNTED_VERDICTS = ("early", "on_time", "late")
_DESK_CODE = re.compile(r"[A-Z0-9.]{2,20}")


class ReportBy(StrEnum):
    """How the rows of a report are grouped."""

    MONTH = "month"
    AGENCY = "agency"
    PROCEDURE = "procedure"
    DESK = "desk"


class ReportFormat(StrEnum):
    """How a report is printed."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class ReportLevel(StrEnum):
    """What a report counts: whole dossiers, or the steps each agency held."""

    DOSSIER = "dossier"
    AGENCY = "agency"


class ReportInputError(ValueError):
    """A report's arguments are wrong; the message is one line for the operator."""


class ReportInput(BaseModel):
    """What to report on: a period of Vietnam-time calendar days (``end`` inclusive), filters
    and a grouping. Build it with `report_input`, which checks codes against the catalog."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date
    desk: str | None = None
    agency: str | None = None
    procedure: str | None = None
    # A combined bundle is a property of the dossier; a single procedure is also one of a step.
    procedure_is_combined: bool = False
    by: ReportBy | None = None

    @property
    def level(self) -> ReportLevel:
        """Agency level when grouped by agency or filtered on one; dossier level otherwise."""
        if self.by is ReportBy.AGENCY or self.agency is not None:
            return ReportLevel.AGENCY
        return ReportLevel.DOSSIER

    @property
    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The period as a half-open UTC interval: VN midnights of ``start`` and ``end`` + 1."""
        return _vn_midnight_utc(self.start), _vn_midnight_utc(self.end + timedelta(days=1))


class ReportRow(BaseModel):
    """The figures of one group (or of the whole period, for the totals row)."""

    model_config = ConfigDict(frozen=True)

    group: str | None  # None on the totals row
    received: int
    decided: int
    early: int
    on_time: int
    late: int
    not_counted: int
    apology_letters: int
    timed: int  # decided early / on time / late with a working time
    working_hours_sum: float
    # Nearest-rank p90 of the working time, in tenths of a working day (as printed).
    p90_tenths_of_day: int | None

    @property
    def on_time_rate(self) -> Decimal | None:
        """(early + on time) / (early + on time + late) in percent, 2 decimals; None if none."""
        counted = self.early + self.on_time + self.late
        if counted == 0:
            return None
        rate = Decimal(100 * (self.early + self.on_time)) / Decimal(counted)
        return rate.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def avg_working_days(self) -> Decimal | None:
        """Average working time of the timed decisions, in working days, 1 decimal."""
        if self.timed == 0:
            return None
        return _days(self.working_hours_sum / self.timed)

    @property
    def p90_working_days(self) -> Decimal | None:
        """Nearest-rank 90th percentile of the working time, in working days, 1 decimal."""
        if self.p90_tenths_of_day is None:
            return None
        return Decimal(self.p90_tenths_of_day).scaleb(-1)


class ReportResult(BaseModel):
    """A report: what was asked, one row per group (sorted) and the totals row."""

    model_config = ConfigDict(frozen=True)

    params: ReportInput
    rows: list[ReportRow]
    total: ReportRow


# ---- input -----------------------------------------------------------------------------------


def report_input(
    start: date,
    end: date,
    *,
    catalog: Catalog,
    desk: str | None = None,
    agency: str | None = None,
    procedure: str | None = None,
    by: ReportBy | str | None = None,
) -> ReportInput:
    """Check a report's arguments and build its input.

    Raises:
        ReportInputError: reversed period, malformed desk code, agency or procedure unknown
            to the catalog, unknown grouping; the message is one line.
    """
    if start > end:
        raise ReportInputError(f"--from {start} is after --to {end}")
    if desk is not None and not _DESK_CODE.fullmatch(desk):
        raise ReportInputError(
            f"desk {desk!r} is not a desk code (2-20 characters of A-Z, 0-9 or '.')"
        )
    if agency is not None and agency not in {known.code for known in catalog.agencies}:
        known_agencies = ", ".join(known.code for known in catalog.agencies)
        raise ReportInputError(f"unknown agency {agency!r}; known agencies: {known_agencies}")
    combined = False
    if procedure is not None:
        if procedure not in catalog.codes():
            codes = ", ".join(catalog.codes())
            raise ReportInputError(f"unknown procedure {procedure!r}; known codes: {codes}")
        combined = catalog.is_combined(procedure)
    try:
        grouping = None if by is None else ReportBy(by)
    except ValueError:
        choices = ", ".join(choice.value for choice in ReportBy)
        raise ReportInputError(f"unknown grouping {by!r}; choose one of {choices}") from None
    return ReportInput(
        start=start,
        end=end,
        desk=desk,
        agency=agency,
        procedure=procedure,
        procedure_is_combined=combined,
        by=grouping,
    )


# ---- the query -------------------------------------------------------------------------------

_VERDICT_COLUMNS = ("early", "on_time", "late", "not_counted")
_COUNT_COLUMNS = (
    "received",
    "decided",
    "early",
    "on_time",
    "late",
    "not_counted",
    "apology_letters",
    "timed",
)


def build_report_query(params: ReportInput) -> Select[Any] | CompoundSelect[Any]:
    """The report as one statement (CTEs, UNION ALL, window functions; no dialect-only SQL).

    Columns: ``grp`` (None on the totals row, always the last), the counts of `ReportRow`,
    ``working_hours_sum``, ``p90_group`` (a group's nearest-rank p90) and ``p90_total`` (the
    totals row's), both in tenths of a working day.
    """
    low, high = params.utc_bounds
    agency_level = params.level is ReportLevel.AGENCY
    grouped = params.by is not None

    # -- the three sources, each with its own moment ------------------------------------------
    if agency_level:
        received_src = _step_source(params, _STEPS.c.opened_at, low, high)
        decided_src = _step_source(params, _STEPS.c.done_at, low, high).where(
            _STEPS.c.verdict.is_not(None)
        )
        verdict: ColumnElement[Any] = _STEPS.c.verdict
        hours: ColumnElement[Any] = _STEPS.c.working_hours
    else:
        received_src = _dossier_source(params, _DOSSIERS.c.received_at, low, high)
        decided_src = _dossier_source(params, _DOSSIERS.c.finished_at, low, high).where(
            _DOSSIERS.c.verdict.is_not(None)
        )
        verdict = _DOSSIERS.c.verdict
        hours = _DOSSIERS.c.working_hours
    letters_src = _letter_source(params, low, high)

    # Each source first as a subquery of plain columns, so groups and partitions name columns
    # (a repeated CASE with bound parameters would not match itself on PostgreSQL).
    received_rows = received_src.rows(_group_key(params, received_src.moment))
    letters_rows = letters_src.rows(_group_key(params, letters_src.moment))
    decided_rows = decided_src.rows(
        _group_key(params, decided_src.moment),
        verdict.label("verdict"),
        hours.label("hours"),
        _tenths_of_day(hours).label("tenths"),
    )

    # -- received and letters: plain counts per group -----------------------------------------
    received = _count_per_group(received_rows, grouped).cte("received")
    letters = _count_per_group(letters_rows, grouped).cte("letters")

    # -- decided: first a histogram (group, verdict, printed working time) -> count and sum, so
    # the ranks below sort a few hundred values instead of every row. The printed p90 is the
    # exact nearest rank: rounding is monotonic, so the k-th smallest rounded value is the
    # rounding of the k-th smallest value.
    s = decided_rows.c
    histogram = (
        select(
            *_grp(s, grouped),
            s.verdict,
            s.tenths,
            func.count().label("n"),
            func.sum(s.hours).label("hours"),
        )
        .group_by(*_grp(s, grouped), s.verdict, s.tenths)
        .cte("verdicts")
    )
    h = histogram.c
    timed = and_(h.verdict.in_(COUNTED_VERDICTS), h.tenths.is_not(None))

    def _count_of(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, h.n), else_=0))

    decided = (
        select(
            *_grp(h, grouped),
            func.sum(h.n).label("decided"),
            *(_count_of(h.verdict == value).label(value) for value in _VERDICT_COLUMNS),
            _count_of(timed).label("timed"),
            func.sum(case((timed, h.hours))).label("working_hours_sum"),
        )
        .group_by(*_grp(h, grouped))
        .cte("decided")
    )
    # Working times measured against a due moment, with how many decisions took each.
    timed_values = (
        select(*_grp(h, grouped), h.tenths, func.sum(h.n).label("n"))
        .where(timed)
        .group_by(*_grp(h, grouped), h.tenths)
        .cte("timed_values")
    )
    p90_total = _nearest_rank_p90(
        select(timed_values.c.tenths, func.sum(timed_values.c.n).label("n"))
        .group_by(timed_values.c.tenths)
        .subquery(),
        grouped=False,
    ).scalar_subquery()

    # -- one row per (group, source), then per group, then the totals row ---------------------
    zero = literal(0, Integer)

    def _part(source: Any, values: dict[str, ColumnElement[Any]]) -> Select[Any]:
        # The row shape the three sources share.
        columns: list[ColumnElement[Any]] = [source.c.grp.label("grp")] if grouped else []
        columns += [values.get(name, zero).label(name) for name in _COUNT_COLUMNS]
        columns += [
            values.get("working_hours_sum", _null_float()).label("working_hours_sum"),
            values.get("p90_group", _null_int()).label("p90_group"),
        ]
        return select(*columns)

    d = decided.c
    branches = [
        _part(received, {"received": received.c.n}),
        _part(
            decided,
            {
                "decided": d.decided,
                **{value: d[value] for value in _VERDICT_COLUMNS},
                "timed": d.timed,
                "working_hours_sum": d.working_hours_sum,
            },
        ),
        _part(letters, {"apology_letters": letters.c.n}),
    ]
    if grouped:
        p90_group = _nearest_rank_p90(timed_values, grouped=True).subquery()
        branches.append(_part(p90_group, {"p90_group": p90_group.c.p90}))
    parts = union_all(*branches).cte("parts")
    p = parts.c
    sums = [func.coalesce(func.sum(p[name]), 0).label(name) for name in _COUNT_COLUMNS]
    hours_sum = func.coalesce(func.sum(p.working_hours_sum), 0.0).label("working_hours_sum")
    total = select(
        cast(null(), String).label("grp"),
        *sums,
        hours_sum,
        _null_int().label("p90_group"),
        p90_total.label("p90_total"),
    )
    if not grouped:
        return total
    per_group = select(
        p.grp,
        *sums,
        hours_sum,
        func.min(p.p90_group).label("p90_group"),
        _null_int().label("p90_total"),
    ).group_by(p.grp)
    return union_all(per_group, total)


def _grp(columns: Any, grouped: bool) -> list[ColumnElement[Any]]:
    return [columns.grp] if grouped else []


def _nearest_rank_p90(values: Any, *, grouped: bool) -> Select[Any]:
    """The nearest-rank p90 (per group) of ``values``: rows (grp, tenths, n), tenths distinct.

    A window sum gives each value its cumulative count: the rank of its last occurrence.
    """
    v = values.c
    partition = _grp(v, grouped) or None
    ranked = select(
        *_grp(v, grouped),
        v.tenths,
        func.sum(v.n).over(partition_by=partition, order_by=v.tenths, rows=(None, 0)).label("rank"),
        func.sum(v.n).over(partition_by=partition).label("n"),
    ).subquery("ranked")
    r = ranked.c
    # The smallest value whose rank reaches 0.9 n; in integers, 10 rank >= 9 n.
    return (
        select(*_grp(r, grouped), func.min(r.tenths).label("p90"))
        .where(10 * r.rank >= 9 * r.n)
        .group_by(*_grp(r, grouped))
    )


class _Source:
    """Rows of one table restricted to the period (on one moment column) and the filters."""

    def __init__(self, moment: ColumnElement[Any], base: Any, where: list[ColumnElement[bool]]):
        self.moment = moment
        self._base = base
        self._where = where

    def where(self, condition: ColumnElement[bool]) -> _Source:
        return _Source(self.moment, self._base, [*self._where, condition])

    def rows(self, group: ColumnElement[Any] | None, *columns: ColumnElement[Any]) -> Any:
        """A subquery of the matching rows: ``grp`` (when grouped) and ``columns``."""
        selected = [] if group is None else [group.label("grp")]
        return (
            select(*selected, *columns, literal(1, Integer).label("one"))
            .select_from(self._base)
            .where(*self._where)
            .subquery()
        )


def _count_per_group(rows: Any, grouped: bool) -> Select[Any]:
    if not grouped:
        return select(func.count().label("n")).select_from(rows)
    return select(rows.c.grp, func.count().label("n")).group_by(rows.c.grp)


def _in_period(moment: ColumnElement[Any], low: datetime, high: datetime) -> ColumnElement[bool]:
    return and_(moment >= low, moment < high)


def _dossier_source(
    params: ReportInput, moment: ColumnElement[Any], low: datetime, high: datetime
) -> _Source:
    where = [_in_period(moment, low, high)]
    if params.desk is not None:
        where.append(_DOSSIERS.c.desk_code == params.desk)
    if params.procedure is not None:
        where.append(_DOSSIERS.c.procedure_code == params.procedure)
    return _Source(moment, _DOSSIERS, where)


def _needs_dossier(params: ReportInput) -> bool:
    # Desk, and a combined bundle, are known only on the dossier row.
    return (
        params.desk is not None
        or params.by is ReportBy.DESK
        or (params.procedure is not None and params.procedure_is_combined)
    )


def _step_source(
    params: ReportInput, moment: ColumnElement[Any], low: datetime, high: datetime
) -> _Source:
    where = [_in_period(moment, low, high)]
    base: Any = _STEPS
    if params.agency is not None:
        where.append(_STEPS.c.agency == params.agency)
    if params.procedure is not None and not params.procedure_is_combined:
        where.append(_STEPS.c.procedure_code == params.procedure)
    if _needs_dossier(params):
        base = base.join(_DOSSIERS, _DOSSIERS.c.code == _STEPS.c.dossier_code)
        where += _dossier_filters(params)
    return _Source(moment, base, where)


def _letter_source(params: ReportInput, low: datetime, high: datetime) -> _Source:
    moment = _LETTERS.c.issued_at
    where = [_in_period(moment, low, high)]
    base: Any = _LETTERS
    agency_level = params.level is ReportLevel.AGENCY
    if agency_level and params.agency is not None:
        where.append(_LETTERS.c.agency == params.agency)
    if agency_level and params.procedure is not None and not params.procedure_is_combined:
        where.append(_LETTERS.c.procedure_code == params.procedure)
    dossier_needed = _needs_dossier(params) or (
        not agency_level and (params.procedure is not None or params.by is ReportBy.PROCEDURE)
    )
    if dossier_needed:
        base = base.join(_DOSSIERS, _DOSSIERS.c.code == _LETTERS.c.dossier_code)
        if agency_level:
            where += _dossier_filters(params)
        else:
            if params.desk is not None:
                where.append(_DOSSIERS.c.desk_code == params.desk)
            if params.procedure is not None:
                where.append(_DOSSIERS.c.procedure_code == params.procedure)
    return _Source(moment, base, where)


def _dossier_filters(params: ReportInput) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if params.desk is not None:
        where.append(_DOSSIERS.c.desk_code == params.desk)
    if params.procedure is not None and params.procedure_is_combined:
        where.append(_DOSSIERS.c.procedure_code == params.procedure)
    return where


def _group_key(params: ReportInput, moment: ColumnElement[Any]) -> ColumnElement[Any] | None:
    """The grouping expression for rows whose counting moment is ``moment``."""
    by = params.by
    if by is None:
        return None
    if by is ReportBy.MONTH:
        return _vn_month(moment, params.start, params.end)
    if by is ReportBy.DESK:
        return _DOSSIERS.c.desk_code
    agency_level = params.level is ReportLevel.AGENCY
    letters = moment is _LETTERS.c.issued_at
    if by is ReportBy.AGENCY:
        return _LETTERS.c.agency if letters else _STEPS.c.agency
    # by procedure: the step's (or letter's) own procedure at agency level, the dossier's else.
    if not agency_level:
        return _DOSSIERS.c.procedure_code
    return _LETTERS.c.procedure_code if letters else _STEPS.c.procedure_code


def _vn_month(moment: ColumnElement[Any], start: date, end: date) -> ColumnElement[Any]:
    """'YYYY-MM' of the Vietnam-time month of ``moment`` (already inside the period).

    A CASE over the UTC instants where VN months begin: the same SQL on both dialects, and the
    bounds compare with the indexed column as stored.
    """
    months: list[tuple[date, str]] = []
    first = date(start.year, start.month, 1)
    while first <= end:
        months.append((first, f"{first:%Y-%m}"))
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    if len(months) == 1:
        return literal(months[0][1])
    whens = [
        (moment < _vn_midnight_utc(next_first), label)
        for (_, label), (next_first, _) in pairwise(months)
    ]
    return case(*whens, else_=literal(months[-1][1]))


def _null_float() -> ColumnElement[Any]:
    return cast(null(), Float)


def _null_int() -> ColumnElement[Any]:
    return cast(null(), BigInteger)


def _tenths_of_day(hours: ColumnElement[Any]) -> ColumnElement[Any]:
    """Working hours as printed: tenths of a working day, rounded half up, in integers.

    The clock stores hours to 4 decimals; ``(10000 h + 4000) // 8000`` is
    ``round_half_up(h / 8, 1) * 10`` without a float division, the same on both dialects.
    """
    scaled = cast(func.round(hours * 10000), BigInteger)
    return (scaled + 4000) // 8000


def _vn_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), VN_TZ).astimezone(UTC)


def _days(hours: float) -> Decimal:
    return (Decimal(repr(hours)) / HOURS_PER_WORKING_DAY).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


# ---- running it ------------------------------------------------------------------------------


def run_report(connection: Connection, params: ReportInput) -> ReportResult:
    """Run the report's one query on ``connection`` and return its rows and totals."""
    rows = connection.execute(build_report_query(params)).mappings().all()
    groups: list[ReportRow] = []
    total: ReportRow | None = None
    for row in rows:
        if row["grp"] is None:
            total = _row(row, group=None, p90=row["p90_total"])
        else:
            groups.append(_row(row, group=str(row["grp"]), p90=row["p90_group"]))
    assert total is not None, "the totals row is always returned"
    groups.sort(key=lambda group: group.group or "")
    return ReportResult(params=params, rows=groups, total=total)


def _row(row: Any, *, group: str | None, p90: int | None) -> ReportRow:
    return ReportRow(
        group=group,
        **{name: int(row[name]) for name in _COUNT_COLUMNS},
        working_hours_sum=float(row["working_hours_sum"]),
        p90_tenths_of_day=None if p90 is None else int(p90),
    )


# ---- formatting ------------------------------------------------------------------------------

_HEADERS = (
    ("received", "received"),
    ("decided", "decided"),
    ("early", "early"),
    ("on_time", "on time"),
    ("late", "late"),
    ("not_counted", "not counted"),
    ("on_time_rate_pct", "on-time %"),
    ("apology_letters", "apologies"),
    ("avg_working_days", "avg days"),
    ("p90_working_days", "p90 days"),
)


# A published figure that `ReportRow` holds under another name; the others go by their own.
_ATTRIBUTES = {"on_time_rate_pct": "on_time_rate"}


def row_values(row: ReportRow) -> dict[str, Any]:
    """The published figures of a row, keyed by their CSV/JSON names (None where undefined)."""
    figures = {name: getattr(row, _ATTRIBUTES.get(name, name)) for name, _ in _HEADERS}
    return {"group": row.group} | figures


def format_report(result: ReportResult, fmt: ReportFormat | str = ReportFormat.TABLE) -> str:
    """The report as a text table, CSV or JSON (ends with a newline)."""
    fmt = ReportFormat(fmt)
    if fmt is ReportFormat.CSV:
        return _csv(result)
    if fmt is ReportFormat.JSON:
        return _json(result)
    return _table(result)


def _title(result: ReportResult) -> str:
    params = result.params
    filters = [
        f"{name} {value}"
        for name, value in (
            ("desk", params.desk),
            ("agency", params.agency),
            ("procedure", params.procedure),
        )
        if value is not None
    ]
    unit = "agency steps" if params.level is ReportLevel.AGENCY else "dossiers"
    return f"On-time report {params.start} .. {params.end} (Vietnam time), {unit}" + (
        f"; {', '.join(filters)}" if filters else ""
    )


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def _table(result: ReportResult) -> str:
    by = result.params.by
    first = by.value if by is not None else ""
    lines = [[first, *(title for _, title in _HEADERS)]]
    for row in [*result.rows, result.total]:
        values = row_values(row)
        label = TOTAL_LABEL if row.group is None else row.group
        lines.append([label, *(_cell(values[key]) for key, _ in _HEADERS)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [_title(result)]
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        text.append("  ".join(cells).rstrip())
    return "\n".join(text) + "\n"


def _csv(result: ReportResult) -> str:
    by = result.params.by
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by.value if by is not None else "group", *(key for key, _ in _HEADERS)])
    for row in [*result.rows, result.total]:
        values = row_values(row)
        label = TOTAL_LABEL if row.group is None else row.group
        writer.writerow([label, *("" if values[k] is None else values[k] for k, _ in _HEADERS)])
    return out.getvalue()


def _json_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _json(result: ReportResult) -> str:
    params = result.params

    def _figures(row: ReportRow) -> dict[str, Any]:
        return {key: _json_value(value) for key, value in row_values(row).items()}

    document = {
        "from": params.start.isoformat(),
        "to": params.end.isoformat(),
        "level": params.level.value,
        "by": params.by.value if params.by is not None else None,
        "filters": {"desk": params.desk, "agency": params.agency, "procedure": params.procedure},
        "rows": [_figures(row) for row in result.rows],
        "total": _figures(result.total),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
