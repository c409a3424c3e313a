"""Imports' queries: the import row (its progress) and its staged rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.pagination import offset
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, lock_clause, tenant

STAGED_COLUMNS = ("import_id", "line", "data", "error")


async def insert_import(
    conn: Connection, principal: Principal, format: str, update: bool, now: str
) -> int:
    row = await conn.fetchone(
        "INSERT INTO contact_imports (account_id, env, status, format, update_existing, total,"
        " processed, created, updated, skipped, failed, position, errors, created_at,"
        " updated_at) VALUES (?, ?, 'receiving', ?, ?, 0, 0, 0, 0, 0, 0, 0, '[]', ?, ?)"
        " RETURNING id",
        (*tenant(principal), format, update, now, now),
    )
    assert row is not None
    return int(row["id"])


async def stage(
    conn: Connection, import_id: int, rows: Sequence[tuple[int, str | None, str | None]], now: str
) -> None:
    """Store rows as they arrived (COPY on PostgreSQL) and count them in `total`."""
    if rows:
        await conn.copy("contact_import_rows", STAGED_COLUMNS, [(import_id, *row) for row in rows])
    await conn.execute(
        "UPDATE contact_imports SET total = total + ?, updated_at = ? WHERE id = ?",
        (len(rows), now, import_id),
    )


async def set_status(
    conn: Connection,
    import_id: int,
    status: str,
    now: str,
    *,
    was: Sequence[str],
    finished: bool = False,
    errors: str | None = None,
) -> bool:
    """Move the import to `status` if it is in one of `was`; whether it moved."""
    changed = await conn.execute(
        f"UPDATE contact_imports SET status = ?, updated_at = ?,"
        f" finished_at = CASE WHEN ? THEN ? ELSE finished_at END,"
        f" errors = COALESCE(?, errors)"
        f" WHERE id = ? AND status IN ({', '.join('?' for _ in was)})",
        (status, now, finished, now, errors, import_id, *was),
    )
    return changed > 0


async def by_id(db: Database | Connection, import_id: int, *, lock: bool = False) -> Row | None:
    sql = "SELECT * FROM contact_imports WHERE id = ?"
    return await db.fetchone(sql + (lock_clause(db) if lock else ""), (import_id,))


async def get(db: Database, principal: Principal, import_id: int) -> Row | None:
    return await db.fetchone(
        f"SELECT * FROM contact_imports WHERE id = ? AND {TENANT}",
        (import_id, *tenant(principal)),
    )


async def page(
    db: Database, principal: Principal, page: int, page_size: int
) -> tuple[int, list[Row]]:
    """The caller's imports, newest first, and how many there are."""
    total = await db.fetchone(
        f"SELECT count(*) AS n FROM contact_imports WHERE {TENANT}", tenant(principal)
    )
    rows = await db.fetchall(
        f"SELECT * FROM contact_imports WHERE {TENANT} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*tenant(principal), page_size, offset(page, page_size)),
    )
    return (int(total["n"]) if total else 0), rows


async def staged(db: Database, import_id: int, after_line: int, limit: int) -> list[Row]:
    """The next staged rows after `after_line`, in line order (off the event loop on
    SQLite: a range of the primary key)."""
    return await db.scan(
        "SELECT line, data, error FROM contact_import_rows WHERE import_id = ? AND line > ?"
        " ORDER BY line LIMIT ?",
        (import_id, after_line, limit),
    )


async def advance(
    conn: Connection,
    import_id: int,
    lines: tuple[int, int],
    counts: dict[str, int],
    errors: str,
    now: str,
) -> None:
    """A batch is done (the staged rows after lines[0], through lines[1]): its staged
    rows go, and the import counts them. The range has a lower bound too: on PostgreSQL
    the rows deleted before stay in the index as dead entries until a vacuum, and a
    range from the start would walk past all of them every batch."""
    await drop_staged(conn, import_id, *lines)
    await conn.execute(
        "UPDATE contact_imports SET status = 'running', position = ?, errors = ?, updated_at = ?,"
        " processed = processed + ?, created = created + ?, updated = updated + ?,"
        " skipped = skipped + ?, failed = failed + ? WHERE id = ?",
        (
            lines[1],
            errors,
            now,
            counts["processed"],
            counts["created"],
            counts["updated"],
            counts["skipped"],
            counts["failed"],
            import_id,
        ),
    )


async def line_after(db: Database, import_id: int, after_line: int, count: int) -> int | None:
    """The line `count` staged rows after `after_line` (None: fewer are left)."""
    row = await db.fetchone(
        "SELECT line FROM contact_import_rows WHERE import_id = ? AND line > ?"
        " ORDER BY line LIMIT 1 OFFSET ?",
        (import_id, after_line, count - 1),
    )
    return None if row is None else int(row["line"])


async def drop_staged(
    conn: Connection, import_id: int, after_line: int, through: int | None
) -> int:
    """Delete staged rows after `after_line` (through `through`, or all)."""
    sql = "DELETE FROM contact_import_rows WHERE import_id = ? AND line > ?"
    params: list[Any] = [import_id, after_line]
    if through is not None:
        sql += " AND line <= ?"
        params.append(through)
    return await conn.execute(sql, params)


async def stale_uploads(db: Database, before: str) -> list[Row]:
    """Imports still receiving a body that has not moved since `before`."""
    return await db.fetchall(
        "SELECT id FROM contact_imports WHERE status = 'receiving' AND updated_at < ? ORDER BY id",
        (before,),
    )
