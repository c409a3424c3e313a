"""Automations' own queries (the table itself goes through the generic flow)."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Row
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, Scoped, lock_clause, tenant


async def naming_in_trigger(
    conn: Connection, principal: Principal, key: str, object_id: int
) -> list[Row]:
    """The automations whose trigger names `object_id` under `key` (tagId, groupId,
    stageId). Triggers are stored as compact JSON with string ids, and ids have no
    leading zeros, so the pattern matches that id only."""
    return await conn.fetchall(
        f"SELECT id, name FROM email_automations WHERE {TENANT} AND trigger_spec LIKE ?"
        " ORDER BY id",
        (*tenant(principal), f'%"{key}":"{object_id}"%'),
    )


async def active_with_trigger(
    conn: Connection, principal: Principal, trigger_type: str
) -> list[Row]:
    """The active automations whose trigger has this type (a prefilter on the stored
    compact JSON; the caller checks the trigger itself)."""
    return await conn.fetchall(
        "SELECT id, trigger_spec, delay_seconds FROM email_automations"
        f" WHERE {TENANT} AND status = 'active' AND trigger_spec LIKE ? ORDER BY id",
        (*tenant(principal), f'%"type":"{trigger_type}"%'),
    )


async def by_id(scope: Scoped, automation_id: int, lock: str | None = None) -> Row | None:
    """An automation; with `lock`, locked in that mode ("SHARE", "UPDATE") until the
    transaction ends."""
    locking = lock_clause(scope.db, lock) if lock is not None else ""
    return await scope.fetchone(
        f"SELECT * FROM email_automations WHERE id = ? AND @tenant{locking}", (automation_id,)
    )


async def contact_matches(
    conn: Connection, principal: Principal, contact_id: int, where: Condition
) -> bool:
    """Whether the contact matches `where` (a condition on `contacts`) now: one statement."""
    row = await conn.fetchone(
        "SELECT 1 AS one FROM contacts WHERE contacts.account_id = ? AND contacts.env = ?"
        f" AND contacts.id = ? AND ({where.sql})",
        (*tenant(principal), contact_id, *where.params),
    )
    return row is not None
