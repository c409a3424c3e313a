"""Run alembic migrations programmatically (serve does it on start; `db upgrade` by hand)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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
