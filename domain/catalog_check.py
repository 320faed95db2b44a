"""``starter.py catalog check``: validate every catalog file, show coverage and what is unverified.

The catalog marks every figure not read in a legal text with ``[unverified]`` in a YAML comment
or value (docs/catalog.md). This module loads the catalog and the calendar overrides exactly as
the engine does, then lists every such mark with its file, line and the procedure version it sits
in, so that the people who check the law know what is left to check.

Pure apart from reading the files under the catalog root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.calendar import CalendarError, load_overrides
from domain.catalog import (
    DEFAULT_ROOT,
    Catalog,
    CatalogError,
    CatalogProblem,
    EndingSoon,
    load_catalog,
)

__all__ = ["CatalogReport", "CoverageRow", "Unverified", "check_catalog", "unverified_marks"]

MARK = "[unverified"
_VERSION_LINE = re.compile(r"^\s*-?\s*(?:&[\w-]+\s+)?version:\s*\"?([\w-]+)\"?")
_CODE_LINE = re.compile(r"^code:\s*([\w-]+)")
_KEY = re.compile(r"^\s*-?\s*([\w]+):")


@dataclass(frozen=True)
class Unverified:
    """One fact marked ``[unverified]``: where it is and what the line says."""

    file: str
    line: int
    subject: str  # ``code@version``, or the file's own subject (an agency, a calendar entry)
    key: str  # the YAML key on that line, or "" for a comment on its own line
    text: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.subject}: {self.text}" if self.subject else f"{where}: {self.text}"


@dataclass(frozen=True)
class CoverageRow:
    """One procedure code: its versions, the one in force on the day, how much is unverified."""

    code: str
    combined: bool
    versions: tuple[str, ...]  # "label (from to to)"
    in_force: str | None  # the version label in force on the day
    level: str
    limit: str
    unverified: int


@dataclass
class CatalogReport:
    """What ``catalog check`` found."""

    on: date
    problems: list[str] = field(default_factory=list)
    coverage: list[CoverageRow] = field(default_factory=list)
    unverified: list[Unverified] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every file loaded and follows the rules."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "on": self.on.isoformat(),
            "ok": self.ok,
            "problems": self.problems,
            "coverage": [row.__dict__ for row in self.coverage],
            "unverified": [item.__dict__ for item in self.unverified],
            "warnings": self.warnings,
        }

    def text(self) -> str:
        """The report for a terminal, Vietnamese headings first."""
        lines = [f"Kiểm tra danh mục thủ tục / catalog check, ngày {self.on:%d/%m/%Y}"]
        if self.problems:
            lines.append(f"LỖI / problems ({len(self.problems)}):")
            lines.extend(f"  {problem}" for problem in self.problems)
        else:
            lines.append("Mọi tệp hợp lệ / every file is valid.")
        if self.coverage:
            singles = sum(not row.combined for row in self.coverage)
            in_force = sum(row.in_force is not None for row in self.coverage)
            lines.append(
                f"Phạm vi / coverage: {singles} thủ tục, {len(self.coverage) - singles} liên "
                f"thông; {in_force} đang áp dụng ngày {self.on:%d/%m/%Y}"
            )
            width = max(len(row.code) for row in self.coverage)
            lines.append(
                f"  {'code':<{width}}  {'on day':<8} {'level':<9} {'limit':<24} "
                f"{'unverified':>10}  versions"
            )
            for row in self.coverage:
                kind = " (liên thông)" if row.combined else ""
                lines.append(
                    f"  {row.code:<{width}}  {row.in_force or '—':<8} {row.level:<9} "
                    f"{row.limit:<24} {row.unverified:>10}  {'; '.join(row.versions)}{kind}"
                )
        for warning in self.warnings:
            lines.append(warning)
        lines.append(f"Chưa kiểm chứng / [unverified] facts ({len(self.unverified)}):")
        lines.extend(f"  {item}" for item in self.unverified)
        return "\n".join(lines)


def unverified_marks(root: Path = DEFAULT_ROOT) -> list[Unverified]:
    """Every line under ``root`` (the catalog directory) that carries an ``[unverified]`` mark."""
    found = []
    for path in sorted(root.rglob("*.yaml")):
        shown = path.relative_to(root.parent).as_posix()
        code, version = "", ""
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if match := _CODE_LINE.match(line):
                code, version = match.group(1), ""
            elif match := _VERSION_LINE.match(line):
                version = match.group(1)
            if MARK not in line:
                continue
            key = _KEY.match(line)
            indent = len(line) - len(line.lstrip())
            # A comment at the list's own indentation introduces the next version (or the
            # file): name only the procedure rather than guess the version.
            between = line.lstrip().startswith("#") and indent <= 2
            subject = f"{code}@{version}" if code and version and not between else code
            found.append(
                Unverified(
                    file=shown,
                    line=number,
                    subject=subject,
                    key=key.group(1) if key else "",
                    text=line.strip().lstrip("#- ").strip(),
                )
            )
    return found


def _coverage(catalog: Catalog, on: date, marks: list[Unverified]) -> list[CoverageRow]:
    rows = []
    for code in catalog.codes():
        combined = catalog.is_combined(code)
        group = catalog.combined_versions(code) if combined else catalog.versions(code)
        current = next((entry for entry in group if entry.in_force_on(on)), None)
        level = "" if combined or current is None else str(getattr(current, "level", ""))
        rows.append(
            CoverageRow(
                code=code,
                combined=combined,
                versions=tuple(
                    f"{entry.version} ({entry.effective_from} to {entry.effective_to or 'open'})"
                    for entry in group
                ),
                in_force=current.version if current else None,
                level=level,
                limit=str(current.limit) if current else "",
                unverified=sum(1 for mark in marks if mark.subject.split("@")[0] == code),
            )
        )
    return rows


def check_catalog(root: Path = DEFAULT_ROOT, on: date | None = None) -> CatalogReport:
    """Load and validate the catalog under ``root`` and its calendar overrides; report.

    Args:
        root: The catalog directory.
        on: The day for the coverage column and the ending-soon warnings.
    """
    report = CatalogReport(on=on or date.today())
    catalog: Catalog | None = None
    try:
        catalog = load_catalog(root)
    except CatalogError as error:
        report.problems.extend(str(problem) for problem in error.problems)
    overrides = root / "calendar-overrides.yaml"
    if overrides.exists():
        try:
            load_overrides(overrides)
        except CalendarError as error:
            report.problems.append(str(CatalogProblem(overrides.name, "", "", str(error))))
    report.unverified = unverified_marks(root)
    if catalog is not None:
        report.coverage = _coverage(catalog, report.on, report.unverified)
        ending: list[EndingSoon] = catalog.ending_soon(report.on)
        report.warnings.extend(str(warning) for warning in ending)
    return report
