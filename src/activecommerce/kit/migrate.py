"""Run alembic migrations programmatically (serve does it on start; `db upgrade` by hand)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from activecommerce.kit.db import is_sqlite, sqlalchemy_url, sqlite_path

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    if is_sqlite(url):
        Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def has_schema(url: str, connect_timeout: float = 10.0) -> bool:
    """Whether a migrated database is at `url` (at any revision), creating nothing: a
    SQLite file that does not exist, or a database without alembic's version, has none.
    A database that cannot be reached raises (SQLAlchemy's `OperationalError`)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    if is_sqlite(url):
        path = Path(sqlite_path(url)).resolve()
        if not path.is_file():
            return False
        # Read-only: opening the file must never make or change anything.
        uri = f"{path.as_uri()}?mode=ro"
        engine = create_engine(
            "sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(uri, uri=True)
        )
    else:
        engine = create_engine(
            sqlalchemy_url(url),
            poolclass=NullPool,
            connect_args={"connect_timeout": max(1, int(connect_timeout))},
        )
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() is not None
    finally:
        engine.dispose()
