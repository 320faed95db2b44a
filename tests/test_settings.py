"""Settings: embedded defaults, URL normalisation, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import SettingsError, load_settings, mask_url


def test_registry_defaults_to_a_sqlite_file_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'lienthong.db'}"
    assert settings.is_sqlite


@pytest.mark.parametrize(
    "given",
    [
        "postgres://u:p@db:5432/x",
        "postgresql://u:p@db:5432/x",
        "postgresql+psycopg://u:p@db:5432/x",
    ],
)
def test_postgres_urls_are_normalised_to_psycopg3(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == "postgresql+psycopg://u:p@db:5432/x"


def test_malformed_database_url_names_the_variable_and_an_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/x")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "DATABASE_URL:" in message
    assert "example: DATABASE_URL=postgresql://" in message


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_DESK_CODE", "dong-da")
    monkeypatch.setenv("LIENTHONG_LOG_LEVEL", "loud")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "LIENTHONG_DESK_CODE: must be 2-20 characters" in message
    assert "LIENTHONG_LOG_LEVEL:" in message
    assert "example: LIENTHONG_LOG_LEVEL=info" in message


def test_passwords_are_masked_in_messages() -> None:
    assert mask_url("postgresql+psycopg://app:s3cr:et@db:5432/x") == (
        "postgresql+psycopg://app:***@db:5432/x"
    )
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
