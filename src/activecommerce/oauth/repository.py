"""Queries for OAuth clients, authorization codes and tokens."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Connection, Database, Row

CLIENT_COLUMNS = (
    "id, account_id, env, client_id, secret_hash, name, redirect_uris, scopes, public,"
    " created_at, updated_at"
)


async def insert_client(conn: Connection, **values: Any) -> Row:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    row = await conn.fetchone(
        f"INSERT INTO oauth_clients ({columns}) VALUES ({marks}) RETURNING {CLIENT_COLUMNS}",
        tuple(values.values()),
    )
    assert row is not None
    return row


async def find_client(db: Database | Connection, client_id: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?", (client_id,)
    )


async def list_clients(
    db: Database, account_id: int, env: str, limit: int, offset: int
) -> tuple[int, list[Row]]:
    scope = (account_id, env)
    where = "account_id = ? AND env = ?"
    total = await db.fetchone(f"SELECT count(*) AS n FROM oauth_clients WHERE {where}", scope)
    rows = await db.fetchall(
        f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE {where}"
        " ORDER BY created_at, id LIMIT ? OFFSET ?",
        (*scope, limit, offset),
    )
    return (int(total["n"]) if total else 0), rows


async def delete_client(conn: Connection, client_pk: int, account_id: int, env: str) -> int:
    # Its codes and tokens go with it (ON DELETE CASCADE): they stop working at once.
    return await conn.execute(
        "DELETE FROM oauth_clients WHERE id = ? AND account_id = ? AND env = ?",
        (client_pk, account_id, env),
    )


# ---------------------------------------------------------------- codes

CODE_COLUMNS = (
    "id, account_id, env, client_pk, user_id, redirect_uri, scope, code_challenge,"
    " code_challenge_method, expires_at, used_at"
)


async def insert_code(conn: Connection, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    await conn.execute(
        f"INSERT INTO oauth_codes ({columns}) VALUES ({marks})", tuple(values.values())
    )


async def find_code(db: Database | Connection, code_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = ?", (code_hash,)
    )


async def claim_code(conn: Connection, code_pk: int, now: str) -> bool:
    """Mark a code used; False if it already was (the single use is the database's)."""
    changed = await conn.execute(
        "UPDATE oauth_codes SET used_at = ? WHERE id = ? AND used_at IS NULL", (now, code_pk)
    )
    return changed == 1


# ---------------------------------------------------------------- tokens

AUTH_SQL = (
    "SELECT t.id, t.account_id, t.env, t.scope, t.expires_at, a.plan FROM oauth_tokens t"
    " JOIN accounts a ON a.id = t.account_id"
    " WHERE t.access_hash = ? AND t.revoked_at IS NULL"
)

ISSUED_COLUMNS = (
    "id, account_id, env, client_pk, user_id, grant_id, scope, expires_at,"
    " refresh_expires_at, refreshed_at, revoked_at"
)


async def find_active_token(db: Database, access_hash: str) -> Row | None:
    return await db.fetchone(AUTH_SQL, (access_hash,))


async def insert_token(conn: Connection, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    await conn.execute(
        f"INSERT INTO oauth_tokens ({columns}) VALUES ({marks})", tuple(values.values())
    )


async def find_by_refresh(db: Database | Connection, refresh_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {ISSUED_COLUMNS} FROM oauth_tokens WHERE refresh_hash = ?", (refresh_hash,)
    )


async def find_by_access(db: Database | Connection, access_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {ISSUED_COLUMNS} FROM oauth_tokens WHERE access_hash = ?", (access_hash,)
    )


async def claim_refresh(conn: Connection, token_pk: int, now: str) -> bool:
    """Rotate: the refresh token (and its access token) stop working; False if it had
    been used or revoked already."""
    changed = await conn.execute(
        "UPDATE oauth_tokens SET refreshed_at = ?, revoked_at = ?"
        " WHERE id = ? AND refreshed_at IS NULL AND revoked_at IS NULL",
        (now, now, token_pk),
    )
    return changed == 1


async def revoke_token(conn: Connection, token_pk: int, now: str) -> None:
    await conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (now, token_pk),
    )


async def revoke_grant(conn: Connection, grant_id: int, now: str) -> int:
    return await conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
        (now, grant_id),
    )
