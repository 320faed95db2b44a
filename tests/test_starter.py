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
    assert result["version"] == "2025-07"
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
    codes = {row["code"] for row in json.loads(out)}
    assert "certified-copy" in codes
    assert "land-first-certificate" not in codes  # no version of it is catalogued for 2023
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
