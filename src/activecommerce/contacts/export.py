"""The contacts export: the caller's (filtered) contacts as CSV in the columns
an import reads, streamed.

Contacts are read in keyset chunks in creation order (created_at, id), on the
(account, env, created_at) index whatever the filters: with filters, the chunk's ids
first, then the contacts among them that meet them (so that a rare filter never makes one
read walk the whole account); without, the chunk's contacts at once. Then their tags and
groups. Each read is
a bounded index range, off the event loop on SQLite (`db.scan`), and only one chunk is in
memory at a time. It is not a snapshot: a contact created while the export runs may or
may not be in it.

After those columns comes one per custom contact field, named by its key (in the order the
fields were made; `fields.<key>` for a key that is another column's name), written so that
an import reads the same value back (`fields.values.to_text`: a multiselect's options
joined with `;`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from activecommerce.contacts import repository
from activecommerce.contacts.bulk import CSV_COLUMNS, LIST_SEPARATOR
from activecommerce.contacts.listing import ContactListQuery
from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.fields import values
from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.kit.csvcells import safe_cell
from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal

CHUNK = 2000
# The table's columns of CSV_COLUMNS but tags and groups, in order (the values are
# written as stored: that is what the API shows for them).
COLUMNS_OUT = ("email", "first_name", "last_name", "phone", "status")
COLUMNS = ", ".join(("id", "created_at", *COLUMNS_OUT, "fields"))


async def export_csv(
    db: Database, principal: Principal, filters: dict[str, Any], chunk: int = CHUNK
) -> AsyncIterator[bytes]:
    filtered = any(value is not None for value in filters.values())
    assert isinstance(contacts.lists, ContactListQuery)
    where, params = await contacts.lists.where_by_id(db, principal, filters)
    # The account's custom fields when the export starts (one read).
    fields = sorted((await definitions(db, principal)).values(), key=lambda f: f.id)
    yield _csv([[*CSV_COLUMNS, *(field_column(field) for field in fields)]])
    after: tuple[str, int] | None = None
    while True:
        keys = await repository.keys_after(
            db, principal, after, chunk, "id, created_at" if filtered else COLUMNS
        )
        if not keys:
            return
        after = (keys[-1]["created_at"], int(keys[-1]["id"]))
        rows = keys
        if filtered:
            ids = [int(key["id"]) for key in keys]
            rows = await repository.rows_among(db, where, params, ids)
        if rows:
            chosen = [int(row["id"]) for row in rows]
            tags = await _names(db, principal, contact_tag_membership, chosen)
            groups = await _names(db, principal, contact_group_membership, chosen)
            # Each cell safe to open in a spreadsheet (a name "=HYPERLINK(...)" is text);
            # an import reads it back as it was.
            yield _csv(
                [
                    safe_cell(cell)
                    for cell in (
                        *(row[column] or "" for column in COLUMNS_OUT),
                        LIST_SEPARATOR.join(tags.get(row["id"], ())),
                        LIST_SEPARATOR.join(groups.get(row["id"], ())),
                        *_field_cells(fields, row["fields"]),
                    )
                ]
                for row in rows
            )
        if len(keys) < chunk:
            return


def field_column(field: FieldDef) -> str:
    """A custom field's column: its key, or `fields.<key>` for a key that is one of the
    other columns' names (a field keyed `email`), which an import reads the same way."""
    return f"fields.{field.key}" if field.key in CSV_COLUMNS else field.key


def _field_cells(fields: list[FieldDef], stored: Any) -> list[str]:
    found = values.loads(stored) if stored else {}
    return [values.to_text(field, found.get(field.slot)) for field in fields]


async def _names(
    db: Database, principal: Principal, membership: Membership, ids: list[int]
) -> dict[Any, list[str]]:
    names: dict[Any, list[str]] = {}
    table = membership.target.table_name
    rows = await repository.member_names(
        db, principal, membership.table, membership.column, table, ids
    )
    for row in rows:
        names.setdefault(row["contact_id"], []).append(row["name"])
    return names


def _csv(rows: Iterable[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()
