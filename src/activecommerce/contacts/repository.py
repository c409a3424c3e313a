"""Contacts' own queries: memberships in tags and groups, and the many-at-once reads and
writes of imports and the export (one contact at a time, the contacts table is read and
written through the generic `kit.resource` flow)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.events import ACTIVITY_COLUMNS
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import (
    TENANT,
    TENANT_CHECKED,
    Scoped,
    in_list,
    insert_many,
    list_param,
    lock_clause,
    tenant,
)


async def add_member(
    conn: Connection,
    principal: Principal,
    table: str,
    column: str,
    contact_id: int,
    target_id: int,
    now: str,
) -> bool:
    """Whether the membership is new (adding an existing one changes nothing)."""
    changed = await conn.execute(
        f"INSERT INTO {table} (contact_id, {column}, account_id, env, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (contact_id, target_id, *tenant(principal), now),
    )
    return changed > 0


async def remove_member(
    scope: Scoped, table: str, column: str, contact_id: int, target_id: int
) -> bool:
    """Whether there was such a membership."""
    changed = await scope.execute(
        f"DELETE FROM {table} WHERE contact_id = ? AND {column} = ? AND @tenant",
        (contact_id, target_id),
    )
    return changed > 0


async def locked_among(
    conn: Connection, principal: Principal, ids: Sequence[int], mode: str
) -> list[Row]:
    """The caller's contacts among `ids` (those that still exist), locked in id order
    (`mode`: the row lock, as `lock_clause` takes it) until the transaction ends."""
    return await conn.fetchall(
        f"SELECT * FROM contacts WHERE {TENANT} AND {in_list(conn, 'id')}"
        f" ORDER BY id{lock_clause(conn, mode)}",
        (*tenant(principal), list_param(conn, list(ids))),
    )


async def remove_members(
    conn: Connection,
    principal: Principal,
    table: str,
    column: str,
    target_id: int,
    contact_ids: Sequence[int],
) -> list[int]:
    """Remove these contacts from a group (or a tag from them); the contacts that had it."""
    rows = await conn.fetchall(
        f"DELETE FROM {table} WHERE {column} = ? AND {TENANT} AND {in_list(conn, 'contact_id')}"
        " RETURNING contact_id",
        (target_id, *tenant(principal), list_param(conn, list(contact_ids))),
    )
    return [int(row["contact_id"]) for row in rows]


async def matching_after(
    db: Database,
    where: str,
    params: Sequence[Any],
    after: tuple[str, int] | None,
    limit: int,
) -> list[Row]:
    """The next `limit` contacts (id, created_at) that meet `where` (a list's condition,
    which starts with the tenant), in creation order after `after` (keyset paging on the
    (account, env, created_at) index; off the event loop on SQLite)."""
    sql = f"SELECT id, created_at FROM contacts WHERE {where}"
    args: list[Any] = [*params]
    if after is not None:
        sql += " AND created_at >= ? AND (created_at > ? OR id > ?)"
        args += [after[0], after[0], after[1]]
    return await db.scan(sql + " ORDER BY created_at, id LIMIT ?", (*args, limit))


def members_of(table: str, column: str) -> str:
    """The condition (one `?`: the contact's id) on a tag or group list that keeps one
    contact's."""
    return f"id IN (SELECT {column} FROM {table} WHERE contact_id = ?)"


# ---------------------------------------------------------------- many at once (imports)

CONTACT_COLUMNS = (
    ("account_id", "bigint"),
    ("env", "text"),
    ("email", "text"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("phone", "text"),
    ("status", "text"),
    ("fields", "jsonb"),  # JSON text (see fields/values.py); NULL when none
    ("created_at", "text"),
    ("updated_at", "text"),
)


async def by_emails(conn: Connection, principal: Principal, lowered: Sequence[str]) -> list[Row]:
    """The caller's contacts with these emails (given lower-cased), locked for update
    (PostgreSQL) in id order, so that concurrent writers take them in one order."""
    return await conn.fetchall(
        f"SELECT * FROM contacts WHERE {TENANT} AND {in_list(conn, 'lower(email)')}"
        f" ORDER BY id{lock_clause(conn)}",
        (*tenant(principal), list_param(conn, lowered)),
    )


async def insert_contacts(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Row]:
    """New contacts (values in CONTACT_COLUMNS order); an email another writer took in
    the meantime is left out of what is returned."""
    return await insert_many(
        conn, "contacts", CONTACT_COLUMNS, rows, "ON CONFLICT DO NOTHING RETURNING *"
    )


async def update_contacts(
    conn: Connection, principal: Principal, rows: Sequence[Sequence[Any]]
) -> None:
    """(first_name, last_name, phone, status, fields, updated_at, id) of the caller's
    contacts (fields: the JSON text)."""
    scope = tenant(principal)
    await conn.executemany(
        "UPDATE contacts SET first_name = ?, last_name = ?, phone = ?, status = ?,"
        f" fields = ?, updated_at = ? WHERE id = ? AND {TENANT}",
        [(*row, *scope) for row in rows],
    )


async def add_members(
    conn: Connection, table: str, column: str, rows: Sequence[Sequence[Any]]
) -> list[Row]:
    """Memberships (contact_id, target id, account_id, env, created_at); returns the new
    ones (contact_id and the target's id)."""
    columns = (
        ("contact_id", "bigint"),
        (column, "bigint"),
        ("account_id", "bigint"),
        ("env", "text"),
        ("created_at", "text"),
    )
    return await insert_many(
        conn, table, columns, rows, f"ON CONFLICT DO NOTHING RETURNING contact_id, {column}"
    )


async def keys_after(
    db: Database,
    principal: Principal,
    after: tuple[str, int] | None,
    limit: int,
    columns: str = "id, created_at",
) -> list[Row]:
    """The next `limit` contacts (`columns`, with id and created_at) of the caller in
    creation order, after `after` (keyset paging on the (account, env, created_at) index;
    off the event loop on SQLite)."""
    sql = f"SELECT {columns} FROM contacts WHERE {TENANT}"
    params: list[Any] = [*tenant(principal)]
    if after is not None:
        sql += " AND created_at >= ? AND (created_at > ? OR id > ?)"
        params += [after[0], after[0], after[1]]
    return await db.scan(sql + " ORDER BY created_at, id LIMIT ?", (*params, limit))


async def rows_among(db: Database, where: str, params: Sequence[Any], ids: list[int]) -> list[Row]:
    """The contacts among `ids` that meet `where` (a list's condition, which starts with
    the tenant check), by creation: read by id."""
    if db.dialect == "sqlite":
        where = where.replace(TENANT, TENANT_CHECKED, 1)
    return await db.scan(
        f"SELECT * FROM contacts WHERE {where} AND {in_list(db, 'id')} ORDER BY created_at, id",
        (*params, list_param(db, ids)),
    )


async def member_names(
    db: Database,
    principal: Principal,
    table: str,
    column: str,
    target: str,
    contact_ids: list[int],
) -> list[Row]:
    """(contact_id, name) of these contacts' tags or groups."""
    return await Scoped(db, principal).scan(
        f"SELECT m.contact_id, t.name FROM {table} m JOIN {target} t ON t.id = m.{column}"
        f" WHERE {in_list(db, 'm.contact_id')} AND @tenant(m) ORDER BY m.contact_id, t.name",
        (list_param(db, contact_ids),),
    )


async def count_all(db: Database, principal: Principal) -> int:
    """How many contacts the caller's account and environment has (the maintained count)."""
    row = await db.fetchone(
        f"SELECT sum(n) AS n FROM contact_counts WHERE {TENANT} AND key = 'all'",
        tenant(principal),
    )
    return int(row["n"]) if row and row["n"] is not None else 0


# PostgreSQL's trigram indexes of the contacts (migration 0005): the `q` search.
TEXT_INDEXES = (
    "ix_contacts_email_trgm",
    "ix_contacts_first_name_trgm",
    "ix_contacts_last_name_trgm",
)


async def settle_text_index(db: Database) -> None:
    """PostgreSQL: move the trigram indexes' pending entries into the indexes proper.
    GIN gathers new entries in a pending list (up to 4 MB) that every search reads
    whole until a vacuum clears it; after a bulk import that made a search at 1M rows
    3x slower (81 ms against 26 ms). Bounded work, safe beside other writers."""
    if db.dialect != "postgresql":
        return
    for index in TEXT_INDEXES:
        await db.fetchone("SELECT gin_clean_pending_list(CAST(? AS regclass))", (index,))


async def maintained_counts(
    db: Database, principal: Principal, keys: Sequence[str]
) -> dict[str, int]:
    """The maintained counts (contact_counts) of these keys: 'all', 'status:<status>',
    'group:<id>', 'tag:<id>'; a key never counted is 0."""
    rows = await db.fetchall(
        f"SELECT key, sum(n) AS n FROM contact_counts WHERE {TENANT} AND {in_list(db, 'key')}"
        " GROUP BY key",
        (*tenant(principal), list_param(db, list(keys))),
    )
    found = {row["key"]: int(row["n"]) for row in rows}
    return {key: found.get(key, 0) for key in keys}


async def count_active_members(
    db: Database,
    principal: Principal,
    group_ids: Sequence[int],
    tag_ids: Sequence[int],
    seconds: float,
) -> int | None:
    """The distinct active contacts in any of these groups or tags, in one query (driven by
    the memberships: its cost grows with the audience, not the account), or None when
    counting takes over `seconds`."""
    parts: list[str] = []
    params: list[Any] = [*tenant(principal)]
    for table, column, ids in (
        ("contact_group_members", "group_id", group_ids),
        ("contact_tag_members", "tag_id", tag_ids),
    ):
        if ids:
            parts.append(f"SELECT contact_id FROM {table} WHERE {TENANT} AND {in_list(db, column)}")
            params += [*tenant(principal), list_param(db, list(ids))]
    if not parts:
        return 0
    rows = await db.scan_within(
        f"SELECT count(*) AS n FROM contacts WHERE {TENANT} AND status = 'active'"
        f" AND id IN ({' UNION '.join(parts)})",
        params,
        seconds,
    )
    return None if rows is None else int(rows[0]["n"])


async def record_imported(
    conn: Connection, principal: Principal, contacts: Sequence[tuple[int, bool]], stamp: str
) -> None:
    """A `contact.imported` activity row for each of these contacts (id, whether the
    import made it), written or matched by an import's batch at `stamp`: one statement."""
    await insert_many(
        conn,
        "contact_activity",
        ACTIVITY_COLUMNS,
        [
            (*tenant(principal), contact_id, "contact.imported", IMPORTED[created], stamp)
            for contact_id, created in contacts
        ],
    )


IMPORTED = {True: '{"action":"created"}', False: '{"action":"updated"}'}


async def activity(
    db: Database, principal: Principal, contact_id: int, before: int | None, limit: int
) -> list[Row]:
    """A contact's activity, newest first, before the id `before` (keyset paging on the
    (contact_id, id) index)."""
    sql = (
        f"SELECT id, type, data, created_at FROM contact_activity WHERE contact_id = ? AND {TENANT}"
    )
    params: list[Any] = [contact_id, *tenant(principal)]
    if before is not None:
        sql += " AND id < ?"
        params.append(before)
    return await db.fetchall(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])


# ---------------------------------------------------------------- one contact


async def by_email(db: Database | Connection, principal: Principal, address: str) -> Row | None:
    """The contact with this address (compared case-insensitively), if there is one
    (fields: its custom fields as stored)."""
    return await Scoped(db, principal).fetchone(
        "SELECT id, email, first_name, last_name, phone, fields FROM contacts"
        " WHERE @tenant AND lower(email) = lower(?)",
        (address,),
    )


async def locked(scope: Scoped, contact_id: int) -> Row | None:
    """A contact, locked for update until the transaction ends."""
    return await scope.fetchone(
        f"SELECT * FROM contacts WHERE id = ? AND @tenant{lock_clause(scope.db)}", (contact_id,)
    )


async def set_status(scope: Scoped, contact_id: int, status: str) -> Row:
    row = await scope.fetchone(
        "UPDATE contacts SET status = ?, updated_at = ? WHERE id = ? AND @tenant RETURNING *",
        (status, now(), contact_id),
    )
    assert row is not None
    return row


# ---------------------------------------------------------------- contacts matching a condition

# What a segment or an audience compiles to (`segments.conditions`): one condition on
# `contacts`, read off the event loop (`scan`), with the tenant condition (`scope`) that
# its plan chose (`TENANT`, or `TENANT_CHECKED` when the rows come from a set of ids).


async def count_matching(
    db: Database,
    principal: Principal,
    where: Condition,
    *,
    scope: str = TENANT,
    seconds: float | None = None,
) -> int | None:
    """How many of the caller's contacts match `where`; None when `seconds` is given and
    counting takes longer."""
    sql = f"SELECT count(*) AS n FROM contacts WHERE {scope} AND ({where.sql})"
    params = (*tenant(principal), *where.params)
    if seconds is None:
        rows: list[Row] | None = await db.scan(sql, params)
    else:
        rows = await db.scan_within(sql, params, seconds)
    return None if rows is None else int(rows[0]["n"]) if rows else 0


async def ids_matching(
    db: Database, principal: Principal, where: Condition, after: int, upto: int, limit: int
) -> list[int]:
    """The ids of the next `limit` contacts matching `where` with an id in (after, upto],
    in id order."""
    rows = await db.scan(
        f"SELECT contacts.id FROM contacts WHERE {TENANT} AND contacts.id > ?"
        f" AND contacts.id <= ? AND ({where.sql}) ORDER BY contacts.id LIMIT ?",
        (*tenant(principal), after, upto, *where.params, limit),
    )
    return [int(row["id"]) for row in rows]


async def newest_matching(
    db: Database, principal: Principal, where: Condition, *, scope: str, limit: int
) -> list[Row]:
    """The newest `limit` contacts matching `where` (whole rows)."""
    return await db.scan(
        f"SELECT * FROM contacts WHERE {scope} AND ({where.sql})"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (*tenant(principal), *where.params, limit),
    )
