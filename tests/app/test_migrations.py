"""The migrations build exactly the schema the code declares (models.py), on the
database under test: a column or index added to one and not the other fails here."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from activecommerce.models import metadata

# Each database's own objects, made by migration 0005 and not declarable portably: the
# FTS5 table (and its shadow tables) on SQLite, the trigram indexes on PostgreSQL.
DIALECT_OWN = {
    "contacts_fts",
    "ix_contacts_email_trgm",
    "ix_contacts_first_name_trgm",
    "ix_contacts_last_name_trgm",
}


def _name(diff: Any) -> str:
    return str(getattr(diff[1], "name", diff[1]))


def test_migrations_match_the_declared_schema(database_url: str) -> None:
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (lower(email)); alembic says so.
            warnings.simplefilter("ignore")
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    unexpected = [d for d in diffs if not any(_name(d).startswith(own) for own in DIALECT_OWN)]
    assert unexpected == []
