"""Queries for users, memberships and sessions."""

from __future__ import annotations

from activecommerce.kit.db import Connection, Database, Row


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


async def memberships(db: Database | Connection, user_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT m.account_id, m.role, a.name, a.plan FROM account_memberships m"
        " JOIN accounts a ON a.id = m.account_id WHERE m.user_id = ? ORDER BY m.account_id",
        (user_id,),
    )


async def insert_session(
    conn: Connection, token_hash: str, user_id: int, now: str, expires_at: str
) -> None:
    await conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?)",
        (token_hash, user_id, now, expires_at),
    )


async def find_session(db: Database, token_hash: str, now: str) -> Row | None:
    return await db.fetchone(
        "SELECT s.id, s.user_id, s.account_id, u.email FROM user_sessions s"
        " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        (token_hash, now),
    )


async def delete_session(conn: Connection, token_hash: str) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE token_hash = ?", (token_hash,))


async def delete_expired_sessions(conn: Connection, now: str) -> int:
    return await conn.execute("DELETE FROM user_sessions WHERE expires_at <= ?", (now,))
