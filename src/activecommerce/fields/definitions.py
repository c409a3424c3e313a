"""An account's custom contact fields as the rest of the code reads them.

A contact's values are stored in `contacts.fields`, a JSON object keyed by the field's
id (as text), not by its key: a field's values go with it when it is deleted, and a new
field given the same key never sees them (docs/decisions/013-custom-fields-storage.md).
The API speaks in keys; `FieldDef` maps between the two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from activecommerce.kit.db import Connection, Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped

FieldType = Literal["text", "number", "date", "boolean", "dropdown", "multiselect"]
FIELD_TYPES: tuple[FieldType, ...] = (
    "text",
    "number",
    "date",
    "boolean",
    "dropdown",
    "multiselect",
)


@dataclass(frozen=True)
class FieldDef:
    id: int
    key: str
    name: str
    type: FieldType
    options: tuple[str, ...]
    required: bool
    default: object  # the JSON value, None when there is none

    @property
    def slot(self) -> str:
        """The field's key in `contacts.fields`."""
        return str(self.id)


async def definitions(db: Connection | Database, principal: Principal) -> dict[str, FieldDef]:
    """The account's fields by key."""
    rows = await Scoped(db, principal).fetchall(
        "SELECT id, key, name, type, options, required, default_value FROM contact_fields"
        " WHERE @tenant ORDER BY id"
    )
    return {
        row["key"]: FieldDef(
            id=int(row["id"]),
            key=row["key"],
            name=row["name"],
            type=row["type"],
            options=tuple(orjson.loads(row["options"])) if row["options"] else (),
            required=bool(row["required"]),
            default=orjson.loads(row["default_value"]) if row["default_value"] else None,
        )
        for row in rows
    }


async def key_of(db: Connection | Database, principal: Principal, field_id: int) -> str | None:
    """The key of the caller's field with this id (None: no such field)."""
    row = await Scoped(db, principal).fetchone(
        "SELECT key FROM contact_fields WHERE id = ? AND @tenant", (field_id,)
    )
    return None if row is None else str(row["key"])
