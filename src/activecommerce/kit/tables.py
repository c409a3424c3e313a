"""The schema's shared parts: one MetaData, id and tenant columns, timestamps.

Every table of account data carries `account_id` and `env`, and its indexes lead with
them, so that every query is scoped in one place (kit.resource) and the data can later be
sharded by account.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, MetaData, String, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# BIGINT on PostgreSQL; INTEGER on SQLite so that it is the rowid and autoincrements.
IdType = BigInteger().with_variant(Integer(), "sqlite")


def id_column() -> Column[Any]:
    return Column("id", IdType, primary_key=True, autoincrement=True)


def tenant_columns() -> list[Column[Any]]:
    return [
        Column("account_id", IdType, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        Column("env", String(8), nullable=False),
    ]


def timestamp_columns() -> list[Column[Any]]:
    # RFC 3339 text in UTC with fixed width, so that text order is time order on both
    # databases and the API returns it untouched.
    return [
        Column("created_at", String(32), nullable=False),
        Column("updated_at", String(32), nullable=False),
    ]


def ref_column(
    name: str, table: str, ondelete: str, nullable: bool = True, api: str | None = None
) -> Column[Any]:
    """A reference to another table's object; `api` names its API field when the
    camelCase of `name` would not (see kit.resource.field_of)."""
    return Column(
        name,
        IdType,
        ForeignKey(f"{table}.id", ondelete=ondelete),
        nullable=nullable,
        info={"api": api} if api else {},
    )


__all__ = ["BigInteger", "Column", "Integer", "String", "Text", "metadata"]
