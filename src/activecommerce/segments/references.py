"""What segments name, as other domains' deletes must honour: a custom field that a
segment's conditions compare is not deleted (409 naming the segments). Registered by the
composition root (`activecommerce.wiring.wire`) through `guard_references`."""

from __future__ import annotations

from typing import Any

import orjson

from activecommerce.fields.definitions import key_of
from activecommerce.fields.service import contact_fields
from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict
from activecommerce.kit.repository import Scoped


def names_field(conditions: Any, key: str) -> bool:
    """Whether a condition tree (all / any / not, and leaves) has a leaf on
    `fields.<key>`."""
    wanted = f"fields.{key}"
    if isinstance(conditions, dict):
        if conditions.get("field") == wanted:
            return True
        return any(names_field(value, key) for value in conditions.values())
    if isinstance(conditions, list):
        return any(names_field(value, key) for value in conditions)
    return False


async def segments_naming_field(conn: Connection, principal: Principal, key: str) -> list[str]:
    """`id ('name')` of the caller's segments whose conditions compare the field `key`:
    a LIKE on the stored JSON finds the candidates (a key has no quote or backslash, so
    its text is as written; `_` matching any character only widens the net), then each
    tree is walked to confirm (the text may appear as a compared value)."""
    rows = await Scoped(conn, principal).fetchall(
        "SELECT id, name, conditions FROM segments WHERE @tenant AND conditions LIKE ? ORDER BY id",
        (f'%"fields.{key}"%',),
    )
    return [
        f"{row['id']} ({row['name']!r})"
        for row in rows
        if names_field(orjson.loads(row["conditions"]), key)
    ]


async def _refuse_if_segment_uses(conn: Connection, principal: Principal, field_id: int) -> None:
    key = await key_of(conn, principal, field_id)
    if key is None:
        return
    named = await segments_naming_field(conn, principal, key)
    if named:
        raise conflict(
            f"This contact field is used by segments {', '.join(named)}; change their"
            " conditions or delete them first."
        )


def guard_references() -> None:
    """A field a segment compares stays. Called once per process by `wiring.wire`."""
    contact_fields.guard_delete(_refuse_if_segment_uses)
