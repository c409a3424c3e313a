"""The sending domains' queries."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Row
from activecommerce.kit.repository import Scoped


async def get(scope: Scoped, domain_id: int) -> Row | None:
    return await scope.fetchone(
        "SELECT * FROM sending_domains WHERE @tenant AND id = ?", (domain_id,)
    )


async def insert(
    scope: Scoped,
    domain: str,
    selector: str,
    private_key: str,
    public_key: str,
    stamp: str,
) -> Row:
    conn: Connection = scope.db  # type: ignore[assignment]
    row = await conn.fetchone(
        "INSERT INTO sending_domains (account_id, env, domain, selector, private_key,"
        " public_key, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING *",
        (*scope.values, domain, selector, private_key, public_key, stamp, stamp),
    )
    assert row is not None
    return row


async def delete(scope: Scoped, domain_id: int) -> bool:
    changed = await scope.execute(
        "DELETE FROM sending_domains WHERE @tenant AND id = ?", (domain_id,)
    )
    return changed > 0


async def record_check(
    scope: Scoped,
    domain_id: int,
    status: str,
    records: str,
    verified_at: str | None,
    stamp: str,
) -> Row | None:
    """The outcome of a verification; None if the domain was deleted meanwhile."""
    return await scope.fetchone(
        "UPDATE sending_domains SET status = ?, records = ?, verified_at = ?, checked_at = ?,"
        " updated_at = ? WHERE @tenant AND id = ? RETURNING *",
        (status, records, verified_at, stamp, stamp, domain_id),
    )


async def verified(scope: Scoped, domain: str) -> Row | None:
    """The verified sending domain of this name (id, selector, key, updated_at)."""
    return await scope.fetchone(
        "SELECT id, domain, selector, private_key, updated_at FROM sending_domains"
        " WHERE @tenant AND domain = ? AND status = 'verified'",
        (domain,),
    )
