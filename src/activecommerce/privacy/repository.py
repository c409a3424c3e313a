"""The queries of personal data: what one contact's export reads (each list bounded),
the public groups of the unsubscribe page, and what an erasure deletes.

Erasure crosses the tables of several domains on purpose: it is the one place that must
know every table where a person's data lands. The contact row itself is deleted by its
own domain (contacts.service.erase); what is here deletes the traces around it."""

from __future__ import annotations

from collections.abc import Sequence

from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped, in_list, list_param

# ---------------------------------------------------------------- the export


async def groups_of(scope: Scoped, contact_id: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT g.id, g.name, g.public, m.created_at FROM contact_group_members m"
        " JOIN contact_groups g ON g.id = m.group_id"
        " WHERE m.contact_id = ? AND @tenant(m) ORDER BY g.id",
        (contact_id,),
    )


async def tags_of(scope: Scoped, contact_id: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT t.id, t.name, m.created_at FROM contact_tag_members m"
        " JOIN contact_tags t ON t.id = m.tag_id"
        " WHERE m.contact_id = ? AND @tenant(m) ORDER BY t.id",
        (contact_id,),
    )


async def consents_of(scope: Scoped, contact_id: int, limit: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT * FROM consents WHERE contact_id = ? AND @tenant ORDER BY id LIMIT ?",
        (contact_id, limit),
    )


async def deals_of(scope: Scoped, contact_id: int, limit: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT id, name, value, currency, close_date, created_at, updated_at FROM deals"
        " WHERE contact_id = ? AND @tenant ORDER BY id LIMIT ?",
        (contact_id, limit),
    )


async def emails_of(scope: Scoped, contact_id: int, limit: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT m.*, c.name AS campaign_name, c.subject AS campaign_subject,"
        " a.name AS automation_name, a.subject AS automation_subject"
        " FROM email_messages m"
        " LEFT JOIN email_campaigns c ON c.id = m.campaign_id"
        " LEFT JOIN email_automations a ON a.id = m.automation_id"
        " WHERE m.contact_id = ? AND @tenant(m) AND NOT m.is_test ORDER BY m.id LIMIT ?",
        (contact_id, limit),
    )


async def activity_of(scope: Scoped, contact_id: int, limit: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT id, type, data, created_at FROM contact_activity"
        " WHERE contact_id = ? AND @tenant ORDER BY id LIMIT ?",
        (contact_id, limit),
    )


async def submissions_of(scope: Scoped, contact_id: int, address: str, limit: int) -> list[Row]:
    return await scope.fetchall(
        "SELECT s.id, s.form_id, f.name AS form_name, s.email, s.data, s.ip, s.user_agent,"
        " s.status, s.confirmed_at, s.created_at FROM form_submissions s"
        " JOIN forms f ON f.id = s.form_id"
        " WHERE @tenant(s) AND (s.contact_id = ? OR lower(s.email) = ?) ORDER BY s.id LIMIT ?",
        (contact_id, address.lower(), limit),
    )


# ---------------------------------------------------------------- preferences


async def public_groups_of(scope: Scoped, contact_id: int) -> list[Row]:
    """The contact's groups marked public (what the unsubscribe page lists)."""
    return await scope.fetchall(
        "SELECT g.id, g.name FROM contact_group_members m"
        " JOIN contact_groups g ON g.id = m.group_id"
        " WHERE m.contact_id = ? AND @tenant(m) AND g.public ORDER BY g.name, g.id",
        (contact_id,),
    )


# ---------------------------------------------------------------- erasure, at once


async def delete_messages_of(scope: Scoped, contact_id: int) -> int:
    """The contact's emails (their tracking: sends, opens, clicks), test copies aside
    (they name no contact)."""
    return await scope.execute(
        "DELETE FROM email_messages WHERE contact_id = ? AND @tenant", (contact_id,)
    )


async def delete_submissions_of(scope: Scoped, contact_id: int) -> int:
    return await scope.execute(
        "DELETE FROM form_submissions WHERE contact_id = ? AND @tenant", (contact_id,)
    )


# ---------------------------------------------------------------- erasure, in the job
# Reads walk one table of the account by id in batches (no write transaction open);
# the rows found are deleted by id, a batch per short transaction.


async def events_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, type, data FROM events WHERE @tenant AND id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )


async def captured_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, contact_id, to_email, headers, subject, html, text FROM captured_emails"
        " WHERE @tenant AND id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )


async def test_copies_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, to_email, error FROM email_messages WHERE @tenant AND id > ?"
        " AND (to_email IS NOT NULL OR error IS NOT NULL) ORDER BY id LIMIT ?",
        (after, limit),
    )


async def submissions_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, email, data FROM form_submissions WHERE @tenant AND id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )


async def idempotent_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, body, location FROM idempotency_keys WHERE @tenant AND id > ?"
        " ORDER BY id LIMIT ?",
        (after, limit),
    )


async def import_rows_after(scope: Scoped, after: tuple[int, int], limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT r.import_id, r.line, r.data, r.error FROM contact_import_rows r"
        " JOIN contact_imports i ON i.id = r.import_id"
        " WHERE @tenant(i) AND (r.import_id > ? OR (r.import_id = ? AND r.line > ?))"
        " ORDER BY r.import_id, r.line LIMIT ?",
        (after[0], after[0], after[1], limit),
    )


async def imports_after(scope: Scoped, after: int, limit: int) -> list[Row]:
    return await scope.scan(
        "SELECT id, errors FROM contact_imports WHERE @tenant AND id > ? ORDER BY id LIMIT ?",
        (after, limit),
    )


# Tables whose rows are deleted whole by id when they hold the person's data.
DELETABLE = ("events", "captured_emails", "form_submissions", "idempotency_keys")


async def delete_ids(scope: Scoped, table: str, ids: Sequence[int]) -> int:
    if table not in DELETABLE:
        raise ValueError(table)
    db: Connection | Database = scope.db
    return await scope.execute(
        f"DELETE FROM {table} WHERE @tenant AND {in_list(db, 'id')}",
        (list_param(db, list(ids)),),
    )


async def clear_message_texts(scope: Scoped, ids: Sequence[int]) -> int:
    """A test copy's address and any error that quoted it."""
    db: Connection | Database = scope.db
    return await scope.execute(
        f"UPDATE email_messages SET to_email = NULL, error = NULL WHERE @tenant"
        f" AND {in_list(db, 'id')}",
        (list_param(db, list(ids)),),
    )


async def clear_import_row(scope: Scoped, import_id: int, line: int) -> int:
    """An imported line that held the person: its text goes, its place stays (counts)."""
    return await scope.execute(
        "UPDATE contact_import_rows SET data = NULL, error = NULL WHERE import_id = ?"
        " AND line = ? AND import_id IN (SELECT id FROM contact_imports WHERE @tenant)",
        (import_id, line),
    )


async def set_import_errors(scope: Scoped, import_id: int, errors: str | None) -> int:
    return await scope.execute(
        "UPDATE contact_imports SET errors = ? WHERE id = ? AND @tenant", (errors, import_id)
    )


async def sender_name(
    scope: Scoped, campaign_id: int | None, automation_id: int | None
) -> str | None:
    """Who an email was from, as its page names it: its brand's name, else its sender's."""
    if campaign_id is not None:
        table, oid = "email_campaigns", campaign_id
    elif automation_id is not None:
        table, oid = "email_automations", automation_id
    else:
        return None
    row = await scope.fetchone(
        f"SELECT coalesce(b.name, e.from_name) AS name FROM {table} e"
        " LEFT JOIN brands b ON b.id = e.brand_id WHERE e.id = ? AND @tenant(e)",
        (oid,),
    )
    return None if row is None or row["name"] is None else str(row["name"])


async def contact_status(scope: Scoped, contact_id: int) -> str | None:
    row = await scope.fetchone(
        "SELECT status FROM contacts WHERE id = ? AND @tenant", (contact_id,)
    )
    return None if row is None else str(row["status"])
