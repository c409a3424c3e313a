"""The forms' own queries: a form by its public id (any account's: the hosted page),
its submissions, and the forms that name a group, tag or custom field."""

from __future__ import annotations

from typing import Any

import orjson

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped, lock_clause, system


@system
async def system_by_public_id(db: Database | Connection, public_id: str) -> Row | None:
    """The form with this public id, of whatever account: the public id is the form's
    whole address (random, unguessable), and the row names its account and env."""
    return await db.fetchone("SELECT * FROM forms WHERE public_id = ?", (public_id,))


@system
async def system_submission(db: Database | Connection, submission_id: int) -> Row | None:
    """A submission by id with its form's settings (a signed link names only the id)."""
    return await db.fetchone(
        "SELECT s.*, f.name AS form_name, f.group_ids, f.tag_ids, f.confirmation_email,"
        " f.success_message, f.public_id FROM form_submissions s"
        " JOIN forms f ON f.id = s.form_id WHERE s.id = ?",
        (submission_id,),
    )


async def locked_submission(scope: Scoped, submission_id: int) -> Row | None:
    return await scope.fetchone(
        f"SELECT * FROM form_submissions WHERE id = ? AND @tenant{lock_clause(scope.db)}",
        (submission_id,),
    )


async def insert_submission(
    scope: Scoped,
    form_id: int,
    contact_id: int | None,
    email: str,
    data: dict[str, Any],
    ip: str | None,
    user_agent: str | None,
    status: str,
) -> int:
    stamp = now()
    row = await scope.db.fetchone(
        "INSERT INTO form_submissions (account_id, env, form_id, contact_id, email, data, ip,"
        " user_agent, status, confirmed_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            *scope.values,
            form_id,
            contact_id,
            email,
            orjson.dumps(data).decode(),
            ip,
            user_agent,
            status,
            stamp if status == "confirmed" else None,
            stamp,
            stamp,
        ),
    )
    assert row is not None
    return int(row["id"])


async def mark_confirmed(scope: Scoped, submission_id: int, contact_id: int) -> bool:
    """Whether this call confirmed it (a link works once)."""
    stamp = now()
    changed = await scope.execute(
        "UPDATE form_submissions SET status = 'confirmed', confirmed_at = ?, contact_id = ?,"
        " updated_at = ? WHERE id = ? AND @tenant AND status = 'pending'",
        (stamp, contact_id, stamp, submission_id),
    )
    return changed > 0


async def submissions_page(
    scope: Scoped, form_id: int, limit: int, offset: int
) -> tuple[int, list[Row]]:
    total = await scope.fetchone(
        "SELECT count(*) AS n FROM form_submissions WHERE @tenant AND form_id = ?", (form_id,)
    )
    rows = await scope.fetchall(
        "SELECT * FROM form_submissions WHERE @tenant AND form_id = ?"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        (form_id, limit, offset),
    )
    return (int(total["n"]) if total else 0), rows


async def stats(scope: Scoped, form_id: int) -> tuple[int, int]:
    row = await scope.fetchone(
        "SELECT count(*) AS n, coalesce(sum(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END),"
        " 0) AS confirmed FROM form_submissions WHERE @tenant AND form_id = ?",
        (form_id,),
    )
    assert row is not None
    return int(row["n"]), int(row["confirmed"])


async def mentioning(scope: Scoped, column: str, fragment: str) -> list[Row]:
    """The forms whose `column` (JSON text) contains `fragment`, by id."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return await scope.fetchall(
        f"SELECT id, name, {column} AS value FROM forms WHERE @tenant"
        f" AND {column} LIKE ? ESCAPE '\\' ORDER BY id",
        (f"%{escaped}%",),
    )


@system
async def system_tenants(db: Database) -> list[tuple[int, str]]:
    """Every account's environments (the retention walks each through its index)."""
    rows = await db.fetchall("SELECT id FROM accounts ORDER BY id")
    return [(int(row["id"]), env) for row in rows for env in ("live", "sandbox")]


async def unconfirmed_before(scope: Scoped, cutoff: str, limit: int) -> list[Row]:
    """The caller's contacts still `unconfirmed` made before `cutoff`, oldest first."""
    return await scope.fetchall(
        "SELECT id FROM contacts WHERE @tenant AND status = 'unconfirmed'"
        " AND created_at < ? ORDER BY created_at LIMIT ?",
        (cutoff, limit),
    )
