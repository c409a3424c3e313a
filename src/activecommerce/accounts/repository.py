"""Queries for accounts, API keys and server secrets."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped, system


async def insert_account(conn: Connection, *, name: str, plan: str, now: str) -> int:
    row = await conn.fetchone(
        "INSERT INTO accounts (name, plan, created_at, updated_at)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        (name, plan, now, now),
    )
    assert row is not None
    return int(row["id"])


async def get_account(db: Database | Connection, account_id: int) -> Row | None:
    return await db.fetchone("SELECT * FROM accounts WHERE id = ?", (account_id,))


async def list_accounts(db: Database) -> list[Row]:
    """Every account, oldest first (the command line's `accounts list`)."""
    return await db.fetchall("SELECT id, name, plan, created_at FROM accounts ORDER BY id")


async def count_accounts(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM accounts")
    return int(row["n"]) if row else 0


async def set_postal_address(
    conn: Connection, account_id: int, address: str | None, now: str
) -> Row | None:
    """The account's default postal address (None clears it): its row after."""
    return await conn.fetchone(
        "UPDATE accounts SET postal_address = ?, updated_at = ? WHERE id = ? RETURNING *",
        (address, now, account_id),
    )


async def set_plan(conn: Connection, account_id: int, plan: str, now: str) -> int:
    return await conn.execute(
        "UPDATE accounts SET plan = ?, updated_at = ? WHERE id = ?", (plan, now, account_id)
    )


async def insert_key(
    conn: Connection,
    *,
    account_id: int,
    env: str,
    key_hash: str,
    prefix: str,
    now: str,
    name: str | None = None,
) -> Row:
    row = await conn.fetchone(
        "INSERT INTO api_keys (account_id, env, key_hash, prefix, created_at, name)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        (account_id, env, key_hash, prefix, now, name),
    )
    assert row is not None
    return row


AUTH_SQL = (
    "SELECT k.id, k.account_id, k.env, k.last_used_at, a.plan FROM api_keys k"
    " JOIN accounts a ON a.id = k.account_id"
    " WHERE k.key_hash = ? AND k.revoked_at IS NULL"
)


@system
async def system_find_active_key(db: Database, key_hash: str) -> Row | None:
    """The key presented, by its keyed hash: what tells whose it is."""
    return await db.fetchone(AUTH_SQL, (key_hash,))


async def touch_key(scope: Scoped, key_id: int, now: str) -> None:
    await scope.execute(
        "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND @tenant", (now, key_id)
    )


async def get_secret(db: Database | Connection, name: str) -> str | None:
    row = await db.fetchone("SELECT value FROM server_secrets WHERE name = ?", (name,))
    return str(row["value"]) if row else None


async def put_secret_if_absent(conn: Connection, name: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, value),
    )


KEY_COLUMNS = "id, env, name, prefix, created_at, last_used_at, revoked_at"


async def list_keys(
    scope: Scoped, limit: int, offset: int, *, revoked: bool = False
) -> tuple[int, list[Row]]:
    """A page of the environment's keys, oldest first; with `revoked`, revoked ones too."""
    where = "@tenant" + ("" if revoked else " AND revoked_at IS NULL")
    total = await scope.fetchone(f"SELECT count(*) AS n FROM api_keys WHERE {where}")
    rows = await scope.fetchall(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE {where}"
        " ORDER BY created_at, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return (int(total["n"]) if total else 0), rows


async def list_account_keys(db: Database, account_id: int) -> list[Row]:
    return await db.fetchall(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = ? AND revoked_at IS NULL"
        " ORDER BY created_at, id",
        (account_id,),
    )


async def revoke_key(
    conn: Connection, key_id: int, account_id: int, env: str | None, now: str
) -> int:
    sql = (
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL"
    )
    params: tuple[Any, ...] = (now, key_id, account_id)
    if env is not None:
        sql += " AND env = ?"
        params += (env,)
    return await conn.execute(sql, params)
