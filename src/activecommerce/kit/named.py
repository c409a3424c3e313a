"""Collections whose only field is a unique name (contact groups, contact tags)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, create_model
from sqlalchemy import Table

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Row
from activecommerce.kit.fields import Input, Name, Output, patch_model_of
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, in_list, insert_many, list_param, tenant
from activecommerce.kit.resource import Resource

NAME_SORTS = {"createdAt": "created_at", "updatedAt": "updated_at", "name": "name"}


def named_resource(
    *,
    collection: str,
    table: Table,
    title: str,
    model_name: str,
    event_name: str,
    flags: dict[str, str] | None = None,
) -> Resource:
    """`flags`: boolean fields beside the name (false unless set), with their descriptions."""
    extra: dict[str, Any] = {
        name: (bool, Field(default=False, description=text)) for name, text in (flags or {}).items()
    }
    create: type[BaseModel] = create_model(
        f"{model_name}In", __base__=Input, name=(Name, ...), **extra
    )
    shown: dict[str, Any] = {
        "id": (str, ...),
        "name": (str, ...),
        **{name: (bool, ...) for name in extra},
        "createdAt": (datetime, ...),
        "updatedAt": (datetime, ...),
    }
    out: type[BaseModel] = create_model(f"{model_name}Out", __base__=Output, **shown)
    return Resource(
        collection=collection,
        table=table,
        event_name=event_name,
        title=title,
        create_model=create,
        patch_model=patch_model_of(create),
        out_model=out,
        sortable=NAME_SORTS,
        unique_messages={"name": f"A {title} with this name already exists."},
    )


async def by_names(
    conn: Connection, principal: Principal, resource: Resource, names: Collection[str]
) -> tuple[dict[str, Row], list[Row]]:
    """The caller's objects of a named collection with these names, made when missing (a
    bulk import's tags and groups): every one by name, and those made now (whose
    `.created` events the caller records). A name made by a concurrent request in between
    is read, not made twice."""
    wanted = sorted(set(names))
    if not wanted:
        return {}, []
    select = f"SELECT * FROM {resource.table_name} WHERE {TENANT} AND {in_list(conn, 'name')}"
    found = {
        row["name"]: row
        for row in await conn.fetchall(select, (*tenant(principal), list_param(conn, wanted)))
    }
    missing = [name for name in wanted if name not in found]
    stamp = now()
    made = await insert_many(
        conn,
        resource.table_name,
        NAMED_COLUMNS,
        [(*tenant(principal), name, stamp, stamp) for name in missing],
        "ON CONFLICT DO NOTHING RETURNING *",
    )
    found.update((row["name"], row) for row in made)
    if len(found) < len(wanted):  # made by someone else since the read
        rest = [name for name in wanted if name not in found]
        rows = await conn.fetchall(select, (*tenant(principal), list_param(conn, rest)))
        found.update((row["name"], row) for row in rows)
    return found, made


NAMED_COLUMNS = (
    ("account_id", "bigint"),
    ("env", "text"),
    ("name", "text"),
    ("created_at", "text"),
    ("updated_at", "text"),
)
