"""Contacts' own queries: memberships in tags and groups (the contacts table itself is
read and written through the generic `kit.resource` flow)."""

from __future__ import annotations

from activecommerce.kit.db import Connection
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import tenant


async def add_member(
    conn: Connection,
    principal: Principal,
    table: str,
    column: str,
    contact_id: int,
    target_id: int,
    now: str,
) -> bool:
    """Whether the membership is new (adding an existing one changes nothing)."""
    changed = await conn.execute(
        f"INSERT INTO {table} (contact_id, {column}, account_id, env, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (contact_id, target_id, *tenant(principal), now),
    )
    return changed > 0


async def remove_member(
    conn: Connection, table: str, column: str, contact_id: int, target_id: int
) -> bool:
    """Whether there was such a membership. The ids were read in the caller's scope."""
    changed = await conn.execute(
        f"DELETE FROM {table} WHERE contact_id = ? AND {column} = ?", (contact_id, target_id)
    )
    return changed > 0


def members_of(table: str, column: str) -> str:
    """The condition (one `?`: the contact's id) on a tag or group list that keeps one
    contact's."""
    return f"id IN (SELECT {column} FROM {table} WHERE contact_id = ?)"
