"""Apply the Alembic migrations programmatically (demo, CLI, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.settings import REPO_ROOT, mask_url
from store.db import check_connection, sync_engine


class MigrationRefused(RuntimeError):
    """The database is at a revision this code does not know (it is newer than the code)."""


def alembic_config(url: str) -> Config:
    """The project's Alembic configuration, pointed at ``url``."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    return config


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """Bring the database to the newest revision and return it.

    Raises:
        StoreUnavailable: the database cannot be reached.
        MigrationRefused: the database was migrated by newer code; running old code on it
            could corrupt data, so nothing is touched.
    """
    check_connection(url)
    config = alembic_config(url)
    scripts = ScriptDirectory.from_config(config)
    current = current_revision(url)
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise MigrationRefused(
            f"the database at {mask_url(url)} is at revision {current}, newer than this code "
            f"knows (newest: {scripts.get_current_head()}); upgrade the code, not the database"
        )
    command.upgrade(config, "head")
    head = scripts.get_current_head()
    assert head is not None
    return head
