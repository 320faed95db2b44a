"""The operator's command line: output shapes and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from starter import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_due_date_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "due-date", "--procedure", "land-first-certificate",
        "--received", "2026-02-12T09:00+07:00", "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["procedure"] == "land-first-certificate"
    assert result["version"] == "2025-08"  # Decree 151 with Decree 226/2025 from 2025-08-15
    assert result["clock_starts"] == "2026-02-12T09:00:00+07:00"
    assert result["appointment"].endswith("+07:00")
    assert {"step", "agency", "due"} <= set(result["steps"][0])


def test_due_date_accepts_pauses_and_other_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "due-date", "--procedure", "house-building-permit",
        "--received", "2026-03-02T01:00Z",
        "--pause", "2026-03-03T08:00+07:00/2026-03-05T08:00+07:00", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["clock_starts"] == "2026-03-02T08:00:00+07:00"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--procedure", "nope", "--received", "2026-02-12T09:00+07:00"],
         "unknown procedure 'nope'"),
        (["--procedure", "certified-copy", "--received", "2026-02-12T09:00"],
         "no time-zone offset"),
        (["--procedure", "certified-copy", "--received", "yesterday"], "not an ISO 8601"),
        (
            [
                "--procedure", "certified-copy", "--received", "2026-02-12T09:00+07:00",
                "--pause", "2026-02-13T09:00+07:00/2026-02-12T09:00+07:00",
            ],
            "ends before it starts",
        ),
        (["--procedure", "land-first-certificate", "--received", "2019-01-02T09:00+07:00"], "2019"),
    ],
)  # fmt: skip
def test_bad_due_date_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, "due-date", *argv)
    assert code == 2
    assert out == ""
    assert needle in err
    assert err.count("\n") == 1


def test_catalog_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "list", "--on", "2023-10-01", "--json")
    assert code == 0
    rows = {row["code"]: row for row in json.loads(out)}
    # The article's year under its own law: every procedure it names has a 2023 version.
    assert {code: rows[code]["version"] for code in rows} == {
        "certified-copy": "2015-04",
        "signature-certification": "2015-04",
        "marital-status-confirmation": "2016-01",
        "house-building-permit": "2021-01",
        "land-first-certificate": "2021-02",
        "land-and-permit": "2023-01",
    }
    code, out, _ = run(capsys, "catalog", "show", "land-first-certificate", "--on", "2025-01-01")
    assert code == 0
    assert "land-first-certificate@2024-08" in out
    assert "district-committee" in out
    code, out, _ = run(capsys, "catalog", "show", "land-and-permit", "--json")
    assert code == 0
    assert json.loads(out)["components"] == ["land-first-certificate", "house-building-permit"]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--help"],
        ["due-date", "--help"],
        ["catalog", "show", "--help"],
        ["submit", "--help"],
    ):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "usage:" in out


def test_catalog_check_validates_and_lists_every_unverified_fact(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "catalog", "check", "--on", "2027-01-29")
    assert code == 0
    assert "Mọi tệp hợp lệ / every file is valid." in out
    # The coverage table: one row per code, the version in force that day and its level.
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("land-first"))
    assert row[:3] == ["land-first-certificate", "2025-08", "commune"]
    assert "(còn 30 ngày)" in out  # Decree 151 ends on 2027-02-28 with no successor
    # Each [unverified] fact with its file, line and version.
    assert "catalog/procedures/land-first-certificate.yaml:" in out
    assert "land-first-certificate@2025-08: effective_to: 2027-02-28" in out
    code, out, _ = run(capsys, "catalog", "check", "--json")
    report = json.loads(out)
    assert report["ok"] and report["problems"] == []
    assert all(item["line"] > 0 and "[unverified" in item["text"] for item in report["unverified"])


def test_catalog_check_exits_1_naming_the_broken_file(tmp_path: pytest.TempPathFactory) -> None:
    import shutil
    from pathlib import Path

    from domain.catalog import DEFAULT_ROOT
    from domain.catalog_check import check_catalog

    root = Path(str(tmp_path)) / "catalog"
    shutil.copytree(DEFAULT_ROOT, root)
    broken = root / "procedures" / "certified-copy.yaml"
    broken.write_text(broken.read_text("utf-8").replace("receipt_cutoff: ", "receipt_cutof: "))
    report = check_catalog(root)
    assert not report.ok
    assert any(p.startswith("catalog/procedures/certified-copy.yaml: ") for p in report.problems)
    assert report.unverified  # still listed, so the check is useful while fixing


def test_exemption_answers_instead_of_a_dossier(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "exemption", "--floors", "3", "--floor-area", "240", "--on", "2026-07-01"
    )
    assert code == 0 and out.startswith("Không cần nộp hồ sơ")
    code, out, _ = run(
        capsys,
        "exemption", "--floors", "3", "--floor-area", "240", "--planned-urban-area",
        "--on", "2026-07-01", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["exempt"] is False
    code, _, err = run(capsys, "exemption", "--floors", "0", "--floor-area", "240")
    assert code == 2 and "floors" in err


def test_due_date_says_when_the_calendar_is_provisional_or_the_rules_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "due-date", "--procedure", "land-first-certificate",
        "--received", "2027-01-29T09:00+07:00",
    )  # fmt: skip
    assert code == 0
    assert "LỊCH TẠM THỜI / provisional calendar: Lịch nghỉ lễ, Tết năm 2027" in out
    assert "chỉ tiếp nhận hồ sơ đến hết ngày 28/02/2027" in out
    code, out, _ = run(
        capsys,
        "due-date", "--procedure", "certified-copy", "--received", "2026-03-06T09:00+07:00",
    )  # fmt: skip
    assert "appointment   2026-03-06T17:00:00+07:00" in out
    assert "desk target   2026-03-06T11:00:00+07:00" in out and "LỊCH TẠM THỜI" not in out
    code, out, err = run(
        capsys,
        "due-date", "--procedure", "land-first-certificate",
        "--received", "2027-03-01T09:00+07:00",
    )  # fmt: skip
    assert code == 2 and "hết hiệu lực sau ngày 28/02/2027" in err


def test_due_date_answers_for_a_2023_receipt_across_tet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "due-date", "--procedure", "land-and-permit",
        "--received", "2023-01-19T09:00+07:00", "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert (result["version"], result["limit_working_hours"]) == ("2023-01", 24 * 8)
    assert [c["version"] for c in result["components"]] == ["2021-02", "2021-01"]
    assert result["calendar_notes_vi"] == [] and result["warnings"] == []
    # Tết 2023 (20-26 January) and the 15-day notice are not counted.
    assert result["appointment"].startswith("2023-03-")


def test_an_online_only_bundle_at_the_counter_exits_2_before_a_code_is_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "registry.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    code, out, err = run(
        capsys, "submit", "--procedure", "land-and-permit", "--all-documents",
        "--parcel", "phuong-lien/12/345", "--received", "2026-03-02T09:00+07:00",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "land-and-permit" in err and "online only" in err and "--online-for-applicant" in err
    assert err.count("\n") == 1
    assert not database.exists()  # refused before the registry was asked for a code


def test_a_simulation_as_json_keeps_stdout_a_json_document_and_logs_on_stderr(
    tmp_path: Path,
) -> None:
    # Run as a script, a simulation's log lines (warnings) must not land in the JSON on stdout.
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "starter.py", "simulate", "--profile", "dong-da-2023",
         "--scale", "0.002", "--months", "4", "--json", "--quiet",
         "--chart", str(tmp_path / "weekly.png")],
        cwd=root, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    document = json.loads(done.stdout)
    assert document["profile"] == "dong-da-2023" and document["dossiers"] > 0
    # Today that slice logs dossiers_not_receivable (no land version from March 2027); whatever
    # is logged is a JSON record on stderr.
    assert all("event" in json.loads(line) for line in done.stderr.splitlines())
