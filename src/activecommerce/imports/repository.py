"""Imports' queries: the import row (its progress), within the caller's account and
environment, and its staged rows (reached through their import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.pagination import offset
from activecommerce.kit.repository import Scoped, lock_clause, system

STAGED_COLUMNS = ("import_id", "line", "data", "error")


async def insert_import(scope: Scoped, format: str, update: bool, now: str) -> int:
    row = await scope.db.fetchone(
        "INSERT INTO contact_imports (account_id, env, status, format, update_existing, total,"
        " processed, created, updated, skipped, failed, position, errors, created_at,"
        " updated_at) VALUES (?, ?, 'receiving', ?, ?, 0, 0, 0, 0, 0, 0, 0, '[]', ?, ?)"
        " RETURNING id",
        (*scope.values, format, update, now, now),
    )
    assert row is not None
    return int(row["id"])


async def stage(
    conn: Connection, import_id: int, rows: Sequence[tuple[int, str | None, str | None]]
) -> None:
    """Store rows as they arrived (COPY on PostgreSQL); `count_staged` counts them."""
    if rows:
        await conn.copy("contact_import_rows", STAGED_COLUMNS, [(import_id, *row) for row in rows])


async def count_staged(scope: Scoped, import_id: int, rows: int, now: str) -> None:
    """Add `rows` staged rows to the import's `total`."""
    await scope.execute(
        "UPDATE contact_imports SET total = total + ?, updated_at = ? WHERE id = ? AND @tenant",
        (rows, now, import_id),
    )


async def set_status(
    scope: Scoped,
    import_id: int,
    status: str,
    now: str,
    *,
    was: Sequence[str],
    finished: bool = False,
    errors: str | None = None,
) -> bool:
    """Move the import to `status` if it is in one of `was`; whether it moved."""
    changed = await scope.execute(
        f"UPDATE contact_imports SET status = ?, updated_at = ?,"
        f" finished_at = CASE WHEN ? THEN ? ELSE finished_at END,"
        f" errors = COALESCE(?, errors)"
        f" WHERE id = ? AND @tenant AND status IN ({', '.join('?' for _ in was)})",
        (status, now, finished, now, errors, import_id, *was),
    )
    return changed > 0


async def get(scope: Scoped, import_id: int, *, lock: bool = False) -> Row | None:
    sql = "SELECT * FROM contact_imports WHERE id = ? AND @tenant"
    return await scope.fetchone(sql + (lock_clause(scope.db) if lock else ""), (import_id,))


@system
async def system_by_id(db: Database, import_id: int) -> Row | None:
    """An import's row by id alone, for its job (which knows the import, not its
    account and environment: the row tells them)."""
    return await db.fetchone("SELECT * FROM contact_imports WHERE id = ?", (import_id,))


async def page(scope: Scoped, page: int, page_size: int) -> tuple[int, list[Row]]:
    """The caller's imports, newest first, and how many there are."""
    total = await scope.fetchone("SELECT count(*) AS n FROM contact_imports WHERE @tenant")
    rows = await scope.fetchall(
        "SELECT * FROM contact_imports WHERE @tenant ORDER BY id DESC LIMIT ? OFFSET ?",
        (page_size, offset(page, page_size)),
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
    scope: Scoped,
    import_id: int,
    lines: tuple[int, int],
    counts: dict[str, int],
    errors: str,
    now: str,
) -> None:
    """A batch is done (the staged rows after lines[0], through lines[1], dropped by
    `drop_staged`): the import counts them and moves its position."""
    await scope.execute(
        "UPDATE contact_imports SET status = 'running', position = ?, errors = ?, updated_at = ?,"
        " processed = processed + ?, created = created + ?, updated = updated + ?,"
        " skipped = skipped + ?, failed = failed + ? WHERE id = ? AND @tenant",
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


@system
async def system_stale_uploads(db: Database, before: str) -> list[Row]:
    """Imports (of every account) still receiving a body that has not moved since
    `before`: their ids, accounts and environments."""
    return await db.fetchall(
        "SELECT id, account_id, env FROM contact_imports"
        " WHERE status = 'receiving' AND updated_at < ? ORDER BY id",
        (before,),
    )
