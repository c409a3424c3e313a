"""The suppression list's and the consent records' queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped, in_list, insert_many, list_param, system


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
    conn: Connection = scope.db  # type: ignore[assignment]
    changed = await conn.execute(
        "INSERT INTO suppressions (account_id, env, email, email_hash, reason, source,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (*scope.values, email, email_hash, reason, source, stamp, stamp),
    )
    return changed > 0


async def upgrade_manual(
    scope: Scoped, email_hashes: Sequence[str], reason: str, source: str, stamp: str
) -> None:
    """Manual entries of these addresses take `reason` (the person's own stop, or an
    erasure, arrived since): a manual entry can be removed by the account; these cannot."""
    db: Connection | Database = scope.db
    await scope.execute(
        "UPDATE suppressions SET reason = ?, source = ?, updated_at = ?"
        f" WHERE @tenant AND reason = 'manual' AND {in_list(db, 'email_hash')}",
        (reason, source, stamp, list_param(db, list(email_hashes))),
    )


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
    conn: Connection = scope.db  # type: ignore[assignment]
    await conn.execute(
        "INSERT INTO consents (account_id, env, contact_id, action, source, form_id, ip,"
        " user_agent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*scope.values, contact_id, action, source, form_id, ip, user_agent, stamp),
    )


async def lock_addresses(conn: Connection, keys: Sequence[int]) -> None:
    """PostgreSQL: transaction-level advisory locks on these keys (buckets of addresses),
    taken in order so that two writers never wait for each other in a cycle. SQLite has
    one writer: every write transaction already holds what it reads."""
    if conn.dialect != "postgresql" or not keys:
        return
    await conn.fetchall(
        "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(? AS bigint[])) AS k ORDER BY k",
        (sorted(set(keys)),),
    )


async def consents_of(scope: Scoped, contact_id: int, before: int | None, limit: int) -> list[Row]:
    """A contact's consent records, newest first, those with an id below `before`."""
    if before is None:
        return await scope.fetchall(
            "SELECT * FROM consents WHERE @tenant AND contact_id = ? ORDER BY id DESC LIMIT ?",
            (contact_id, limit),
        )
    return await scope.fetchall(
        "SELECT * FROM consents WHERE @tenant AND contact_id = ? AND id < ?"
        " ORDER BY id DESC LIMIT ?",
        (contact_id, before, limit),
    )


async def count_consents(scope: Scoped, contact_id: int) -> int:
    row = await scope.fetchone(
        "SELECT count(*) AS n FROM consents WHERE @tenant AND contact_id = ?", (contact_id,)
    )
    return int(row["n"]) if row is not None else 0


async def delete_suppression_by_id(scope: Scoped, suppression_id: int) -> bool:
    changed = await scope.execute(
        "DELETE FROM suppressions WHERE @tenant AND id = ?", (suppression_id,)
    )
    return changed > 0


async def insert_consents(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Many consent records at once: (account_id, env, contact_id, action, source,
    created_at) each."""
    await insert_many(
        conn,
        "consents",
        [
            ("account_id", "bigint"),
            ("env", "text"),
            ("contact_id", "bigint"),
            ("action", "text"),
            ("source", "text"),
            ("created_at", "text"),
        ],
        rows,
    )


async def insert_suppressions(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Row]:
    """Many entries at once: (account_id, env, email, email_hash, reason, source,
    created_at, updated_at) each; the new ones' hashes (an address keeps its first)."""
    return await insert_many(
        conn,
        "suppressions",
        [
            ("account_id", "bigint"),
            ("env", "text"),
            ("email", "text"),
            ("email_hash", "text"),
            ("reason", "text"),
            ("source", "text"),
            ("created_at", "text"),
            ("updated_at", "text"),
        ],
        rows,
        "ON CONFLICT DO NOTHING RETURNING email_hash",
    )


async def erase_address(scope: Scoped, email_hash: str, stamp: str) -> bool:
    """The entry keeps only the keyed hash of its address (an erasure): still found by
    the address (`email_hash`), nothing readable left. Whether there was an entry."""
    changed = await scope.execute(
        "UPDATE suppressions SET email = NULL, updated_at = ? WHERE @tenant AND email_hash = ?",
        (stamp, email_hash),
    )
    return changed > 0


async def withdrawn_since(
    scope: Scoped, contact_id: int | None, email_hash: str, stamp: str
) -> bool:
    listed = await scope.fetchone(
        # updated_at: an entry made since, or one made stronger since (an erasure, or the
        # person's own stop after a manual entry)
        "SELECT 1 AS one FROM suppressions WHERE @tenant AND email_hash = ? AND updated_at > ?",
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


@system
async def system_stopped_after(db: Database, after: int, limit: int) -> list[Row]:
    """The next `limit` contacts of any account, by id after `after`, that are
    unsubscribed, bounced or complained (id, account_id, env, email, status)."""
    return await db.scan(
        "SELECT id, account_id, env, email, status FROM contacts WHERE id > ?"
        " AND status IN ('unsubscribed', 'bounced', 'complained') ORDER BY id LIMIT ?",
        (after, limit),
    )
