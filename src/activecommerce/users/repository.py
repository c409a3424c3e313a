"""Queries for users, memberships and sessions.

A user and their sessions are installation-wide: a user's memberships and a session
(found by its keyed hash, or ended with the user's others) cross accounts, so they are
read and written in `system_*` functions. A membership is one account's (its `account_id`;
memberships have no environment)."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import lock_clause, system


async def find_user_by_email(db: Database | Connection, email: str) -> Row | None:
    return await db.fetchone(
        "SELECT id, email, password_hash FROM users WHERE lower(email) = lower(?)", (email,)
    )


async def get_user(db: Database | Connection, user_id: int) -> Row | None:
    return await db.fetchone("SELECT id, email FROM users WHERE id = ?", (user_id,))


async def insert_user(conn: Connection, email: str, password_hash: str, now: str) -> int:
    row = await conn.fetchone(
        "INSERT INTO users (email, password_hash, created_at, updated_at)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        (email, password_hash, now, now),
    )
    assert row is not None
    return int(row["id"])


async def insert_membership(
    conn: Connection, account_id: int, user_id: int, role: str, now: str
) -> None:
    await conn.execute(
        "INSERT INTO account_memberships (account_id, user_id, role, created_at)"
        " VALUES (?, ?, ?, ?)",
        (account_id, user_id, role, now),
    )


@system
async def system_memberships(db: Database, user_id: int) -> list[Row]:
    """The user's accounts, and their role in each."""
    return await db.fetchall(
        "SELECT m.account_id, m.role, a.name, a.plan FROM account_memberships m"
        " JOIN accounts a ON a.id = m.account_id WHERE m.user_id = ? ORDER BY m.account_id",
        (user_id,),
    )


@system
async def system_insert_session(
    conn: Connection, token_hash: str, user_id: int, now: str, expires_at: str
) -> None:
    await conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?)",
        (token_hash, user_id, now, expires_at),
    )


@system
async def system_find_session(db: Database, token_hash: str, now: str) -> Row | None:
    return await db.fetchone(
        "SELECT s.id, s.user_id, s.account_id, u.email, u.time_zone FROM user_sessions s"
        " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        (token_hash, now),
    )


@system
async def system_delete_session(conn: Connection, token_hash: str) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE token_hash = ?", (token_hash,))


@system
async def system_delete_expired_sessions(conn: Connection, now: str) -> int:
    return await conn.execute("DELETE FROM user_sessions WHERE expires_at <= ?", (now,))


async def members(db: Database | Connection, account_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT u.id AS user_id, u.email, m.role, m.created_at FROM account_memberships m"
        " JOIN users u ON u.id = m.user_id WHERE m.account_id = ? ORDER BY lower(u.email)",
        (account_id,),
    )


async def lock_owners(conn: Connection, account_id: int) -> list[int]:
    """The account's owners (their user ids), locked for a change of roles."""
    rows = await conn.fetchall(
        "SELECT user_id FROM account_memberships WHERE account_id = ? AND role = 'owner'"
        + lock_clause(conn),
        (account_id,),
    )
    return [int(r["user_id"]) for r in rows]


async def set_role(conn: Connection, account_id: int, user_id: int, role: str) -> int:
    return await conn.execute(
        "UPDATE account_memberships SET role = ? WHERE account_id = ? AND user_id = ?",
        (role, account_id, user_id),
    )


async def delete_membership(conn: Connection, account_id: int, user_id: int) -> int:
    return await conn.execute(
        "DELETE FROM account_memberships WHERE account_id = ? AND user_id = ?",
        (account_id, user_id),
    )


async def password_hash(db: Database, user_id: int) -> str | None:
    row = await db.fetchone("SELECT password_hash FROM users WHERE id = ?", (user_id,))
    return str(row["password_hash"]) if row else None


async def set_password(conn: Connection, user_id: int, password_hash: str, now: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
        (password_hash, now, user_id),
    )


async def set_time_zone(conn: Connection, user_id: int, zone: str, now: str) -> None:
    await conn.execute(
        "UPDATE users SET time_zone = ?, updated_at = ? WHERE id = ?", (zone, now, user_id)
    )


@system
async def system_delete_sessions(conn: Connection, user_id: int) -> int:
    return await conn.execute("DELETE FROM user_sessions WHERE user_id = ?", (user_id,))


@system
async def system_delete_other_sessions(conn: Connection, user_id: int, keep_hash: str) -> int:
    return await conn.execute(
        "DELETE FROM user_sessions WHERE user_id = ? AND token_hash <> ?", (user_id, keep_hash)
    )


@system
async def system_set_session_account(conn: Connection, token_hash: str, account_id: int) -> None:
    await conn.execute(
        "UPDATE user_sessions SET account_id = ? WHERE token_hash = ?",
        (account_id, token_hash),
    )
