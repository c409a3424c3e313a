"""Queries for OAuth clients, authorization codes and tokens.

A client, a code or a token presented to the authorization server is found by its id or
keyed hash before its account is known (`system_*`); what is then done to it is done
within its account and environment (`tenant`: the two, as `kit.repository.tenant` gives
them)."""

from __future__ import annotations

from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import TENANT, TENANT_CHECKED, Scoped, system

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


@system
async def system_find_client(db: Database, client_id: str) -> Row | None:
    """The client a request names, by its public client id."""
    return await db.fetchone(
        f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?", (client_id,)
    )


async def list_clients(scope: Scoped, limit: int, offset: int) -> tuple[int, list[Row]]:
    total = await scope.fetchone("SELECT count(*) AS n FROM oauth_clients WHERE @tenant")
    rows = await scope.fetchall(
        f"SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE @tenant"
        " ORDER BY created_at, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return (int(total["n"]) if total else 0), rows


async def delete_client(scope: Scoped, client_pk: int) -> int:
    # Its codes and tokens go with it (ON DELETE CASCADE): they stop working at once.
    return await scope.execute("DELETE FROM oauth_clients WHERE id = ? AND @tenant", (client_pk,))


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


@system
async def system_find_code(db: Database, code_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = ?", (code_hash,)
    )


async def claim_code(conn: Connection, tenant: tuple[int, str], code_pk: int, now: str) -> bool:
    """Mark a code used; False if it already was (the single use is the database's)."""
    changed = await conn.execute(
        f"UPDATE oauth_codes SET used_at = ? WHERE id = ? AND {TENANT} AND used_at IS NULL",
        (now, code_pk, *tenant),
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


@system
async def system_find_active_token(db: Database, access_hash: str) -> Row | None:
    """The access token presented, by its keyed hash: what tells whose it is."""
    return await db.fetchone(AUTH_SQL, (access_hash,))


async def insert_token(conn: Connection, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    await conn.execute(
        f"INSERT INTO oauth_tokens ({columns}) VALUES ({marks})", tuple(values.values())
    )


@system
async def system_find_by_refresh(db: Database, refresh_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {ISSUED_COLUMNS} FROM oauth_tokens WHERE refresh_hash = ?", (refresh_hash,)
    )


@system
async def system_find_by_access(db: Database, access_hash: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {ISSUED_COLUMNS} FROM oauth_tokens WHERE access_hash = ?", (access_hash,)
    )


async def claim_refresh(conn: Connection, tenant: tuple[int, str], token_pk: int, now: str) -> bool:
    """Rotate: the refresh token (and its access token) stop working; False if it had
    been used or revoked already."""
    changed = await conn.execute(
        "UPDATE oauth_tokens SET refreshed_at = ?, revoked_at = ?"
        f" WHERE id = ? AND {TENANT} AND refreshed_at IS NULL AND revoked_at IS NULL",
        (now, now, token_pk, *tenant),
    )
    return changed == 1


async def revoke_token(conn: Connection, tenant: tuple[int, str], token_pk: int, now: str) -> None:
    await conn.execute(
        f"UPDATE oauth_tokens SET revoked_at = ? WHERE id = ? AND {TENANT} AND revoked_at IS NULL",
        (now, token_pk, *tenant),
    )


async def revoke_grant(conn: Connection, tenant: tuple[int, str], grant_id: int, now: str) -> int:
    """Every token a grant (its authorization code) gave stops working. Found by the
    grant's index: on SQLite the tenant is checked on each row (not an index to walk)."""
    checked = TENANT_CHECKED if conn.dialect == "sqlite" else TENANT
    return await conn.execute(
        f"UPDATE oauth_tokens SET revoked_at = ? WHERE grant_id = ? AND {checked}"
        " AND revoked_at IS NULL",
        (now, grant_id, *tenant),
    )
