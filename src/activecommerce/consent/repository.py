"""The suppression list's and the consent records' queries."""

from __future__ import annotations

from collections.abc import Sequence

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped, in_list, list_param


async def suppression(scope: Scoped, email_hash: str) -> Row | None:
    return await scope.fetchone(
        "SELECT * FROM suppressions WHERE @tenant AND email_hash = ?", (email_hash,)
    )


async def suppressions_among(scope: Scoped, hashes: Sequence[str]) -> list[Row]:
    """The entries among these address hashes (an import's batch)."""
    db: Connection | Database = scope.db
    return await scope.fetchall(
        f"SELECT * FROM suppressions WHERE @tenant AND {in_list(db, 'email_hash')}",
        (list_param(db, list(hashes)),),
    )


async def insert_suppression(
    scope: Scoped, email: str | None, email_hash: str, reason: str, source: str, stamp: str
) -> bool:
    """Whether the entry is new (an address already on the list keeps its first entry)."""
    changed = await scope.db.execute(  # type: ignore[union-attr]
        "INSERT INTO suppressions (account_id, env, email, email_hash, reason, source,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (*scope.values, email, email_hash, reason, source, stamp, stamp),
    )
    return changed > 0


async def delete_suppression(scope: Scoped, email_hash: str) -> bool:
    changed = await scope.execute(
        "DELETE FROM suppressions WHERE @tenant AND email_hash = ?", (email_hash,)
    )
    return changed > 0


async def insert_consent(
    scope: Scoped,
    contact_id: int,
    action: str,
    source: str,
    form_id: int | None,
    ip: str | None,
    user_agent: str | None,
    stamp: str,
) -> None:
    await scope.db.execute(  # type: ignore[union-attr]
        "INSERT INTO consents (account_id, env, contact_id, action, source, form_id, ip,"
        " user_agent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*scope.values, contact_id, action, source, form_id, ip, user_agent, stamp),
    )


async def withdrawn_since(
    scope: Scoped, contact_id: int | None, email_hash: str, stamp: str
) -> bool:
    listed = await scope.fetchone(
        "SELECT 1 AS one FROM suppressions WHERE @tenant AND email_hash = ? AND created_at > ?",
        (email_hash, stamp),
    )
    if listed is not None or contact_id is None:
        return listed is not None
    withdrawn = await scope.fetchone(
        "SELECT 1 AS one FROM consents WHERE @tenant AND contact_id = ? AND action = 'withdrawn'"
        " AND created_at > ? LIMIT 1",
        (contact_id, stamp),
    )
    return withdrawn is not None
