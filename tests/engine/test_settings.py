"""Settings: embedded defaults, URL normalisation, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.crypto import new_key_spec
from engine.keys import load_key_ring
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


def test_data_keys_are_read_with_the_first_key_active_unless_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = f"{new_key_spec('k2025a')},{new_key_spec('k2026a')}"
    monkeypatch.setenv("LIENTHONG_DATA_KEYS", keys)
    monkeypatch.delenv("LIENTHONG_DATA_KEY_ID", raising=False)
    settings = load_settings()
    assert load_key_ring(settings).active_kid == "k2025a"
    assert keys not in repr(settings)  # a secret, never printed
    monkeypatch.setenv("LIENTHONG_DATA_KEY_ID", "k2026a")
    assert load_key_ring(load_settings()).kids == ("k2025a", "k2026a")
    assert load_key_ring(load_settings()).active_kid == "k2026a"


def test_a_malformed_data_key_names_the_variable_and_how_to_make_one_not_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = "c2hvcnQta2V5"  # 9 bytes
    monkeypatch.setenv("LIENTHONG_DATA_KEYS", f"{new_key_spec('k1')},k2:{short}")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "LIENTHONG_DATA_KEYS: entry 2 ('k2'): the key is 9 bytes, it must be 32" in message
    assert "python -m engine.crypto new-key" in message
    assert short not in message


def test_an_active_key_id_must_name_a_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_DATA_KEYS", raising=False)
    monkeypatch.setenv("LIENTHONG_DATA_KEY_ID", "k9")
    with pytest.raises(
        SettingsError, match="LIENTHONG_DATA_KEY_ID: is set but LIENTHONG_DATA_KEYS"
    ):
        load_settings()
    monkeypatch.setenv("LIENTHONG_DATA_KEYS", new_key_spec("k1"))
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "LIENTHONG_DATA_KEY_ID: names no key of LIENTHONG_DATA_KEYS" in str(error.value)
    assert "example: LIENTHONG_DATA_KEY_ID=" in str(error.value)
