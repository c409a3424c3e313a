"""Many contacts at once (imports): upserted by email, their tags and groups
made by name when missing, with the events the same changes through the API record.

One call is one batch, inside the caller's transaction: a handful of statements whatever
the number of contacts (one insert, whose unique index tells which emails exist; a read
and one update of those; one insert per membership table), so that a batch of a few
hundred holds SQLite's writer for a few milliseconds.

Within a batch, rows with the same email (compared case-insensitively) are applied in
file order: with `update`, later rows update what earlier ones made (fields given later
win; tags and groups add up); without it, the first row of a new email creates the
contact and the rest are skipped. Custom fields (`ContactRecord.custom`, checked by
`fields.values`) change only the keys a row gives (None clears one); a new contact gets
the fields' default values for the keys left without one, and a row that would make a
contact without a value for a required field fails (`fields.<key>: is required`).
Events are built and recorded only when someone could receive them (`events.listened`:
a webhook that wants them, an active automation they trigger): an import into an
account nobody listens to writes contacts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activecommerce.consent import service as consent
from activecommerce.contacts import repository
from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.fields import values
from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Row
from activecommerce.kit.events import Event
from activecommerce.kit.named import by_names
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import tenant

# The columns of an import's CSV and of the export, in order; tags and groups are names
# separated by LIST_SEPARATOR.
CSV_COLUMNS = ("email", "firstName", "lastName", "phone", "status", "tags", "groups")
LIST_SEPARATOR = ";"
# API field -> column, of the fields an import row may set besides the email.
FIELDS = {"firstName": "first_name", "lastName": "last_name", "phone": "phone", "status": "status"}

EVENT_TYPES = frozenset(
    {
        "contact.created",
        "contact.updated",
        "contact.unsubscribed",
        "contact.tagged",
        "contact.added_to_group",
        "contactTag.created",
        "contactGroup.created",
    }
)


@dataclass(slots=True)
class ContactRecord:
    """One valid row: its line in the file, the email, the fields it gives (API names; a
    field left out keeps its value), and the names of tags and groups to add."""

    line: int
    email: str
    fields: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)  # checked values by key; None clears


@dataclass(slots=True)
class Outcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    # Rows skipped for a reason the import reports (counted in `skipped`, not failed).
    refused: list[tuple[int, str]] = field(default_factory=list)


REFUSED = (
    "skipped: a mailable status refused: this contact is {status} or its address is on"
    " the suppression list; only the person can subscribe again"
)


@dataclass(slots=True)
class _Applied:
    """A contact this batch wrote (or matched), the rows that apply to it, and (when
    someone listens) the contact as the API shows it and the events of its changes."""

    contact_id: int
    records: list[ContactRecord]
    created: bool
    contact: dict[str, Any] | None = None
    changes: list[Event] = field(default_factory=list)


async def upsert(
    conn: Connection, principal: Principal, records: list[ContactRecord], *, update: bool
) -> Outcome:
    stamp = now()
    outcome = Outcome()
    by_email: dict[str, list[ContactRecord]] = {}
    for record in records:
        by_email.setdefault(record.email.lower(), []).append(record)
    # The consent rules (consent.service): a new contact of an address on the suppression
    # list gets the entry's status; a row that would make a stopped or suppressed contact
    # active is skipped. The addresses are held first, so that no entry is added between
    # this read and the batch's commit.
    await consent.lock_addresses(conn, list(by_email))
    entries = await consent.suppressions_of(conn, principal, list(by_email))
    defs = await definitions(conn, principal)
    new_fields = {key: _new_fields(defs, group, update) for key, group in by_email.items()}
    # A new contact must have its required fields: those groups that lack one are made
    # only if their email exists already (then they update it, or are skipped).
    lacking = [key for key, made in new_fields.items() if isinstance(made, str)]
    if lacking:
        found = {
            row["email"].lower() for row in await repository.by_emails(conn, principal, lacking)
        }
        for key in lacking:
            if key not in found:
                message = str(new_fields[key])
                outcome.failures += [(record.line, message) for record in by_email.pop(key)]
    # Insert first: the unique index on (account, env, lower(email)) decides what is new,
    # whatever another writer does meanwhile; only the emails that exist are read again.
    inserted = {
        row["email"].lower(): row
        for row in await repository.insert_contacts(
            conn,
            [
                _new_values(principal, group, update, stamp, new_fields[key], entries.get(key))
                for key, group in by_email.items()
                if not isinstance(new_fields[key], str)
            ],
        )
    }
    taken = [key for key in by_email if key not in inserted]
    existing: dict[str, Row] = {}
    if taken and update:
        for row in await repository.by_emails(conn, principal, taken):
            existing[row["email"].lower()] = row

    listening = await events.listened(conn, principal, EVENT_TYPES)
    applied: list[_Applied] = []
    updates: list[tuple[Any, ...]] = []
    for key, group in by_email.items():
        if key in inserted:
            row = inserted[key]
            kept = group if update else group[:1]
            outcome.created += 1
            outcome.updated += len(kept) - 1
            outcome.skipped += len(group) - len(kept)
            one = _Applied(int(row["id"]), kept, created=True)
            if listening:
                one.contact = _shown(row, defs)
                one.changes = contacts.rules.events("contact", "created", None, one.contact)
            applied.append(one)
        elif key in existing:
            row = existing[key]
            if row["status"] in consent.STOPPED or (key in entries and row["status"] != "active"):
                kept = [r for r in group if r.fields.get("status") not in consent.REVIVING]
                message = REFUSED.format(status=row["status"])
                outcome.refused += [(r.line, message) for r in group if r not in kept]
                outcome.skipped += len(group) - len(kept)
                group = kept
                if not group:
                    continue
            outcome.updated += len(group)
            before = {api: row[column] for api, column in FIELDS.items()}
            after = _merged(before, group)
            stored = values.loads(row["fields"])
            custom = _updated_fields(defs, stored, group)
            if after != before or custom != stored:
                text = values.dumps(custom) if custom != stored else row["fields"]
                updates.append((*after.values(), text, stamp, row["id"]))
            one = _Applied(int(row["id"]), group, created=False)
            if listening:
                shown = _shown(row, defs)
                one.contact = shown
                now_shown = {**after, "fields": values.shown(custom, defs)}
                if now_shown != {name: shown[name] for name in now_shown}:
                    one.contact = {**shown, **now_shown, "updatedAt": stamp}
                    one.changes = contacts.rules.events("contact", "updated", shown, one.contact)
            applied.append(one)
        elif not update:
            outcome.skipped += len(group)
        else:  # deleted since the insert found it, or its case folds otherwise in SQL
            message = "email: conflicts with an existing contact's email; try again"
            outcome.failures += [(record.line, message) for record in group]
    await repository.update_contacts(conn, principal, updates)
    await _follow_statuses(conn, principal, inserted, existing, updates, entries)
    made = await _add_to(conn, principal, contact_tag_membership, applied, stamp, listening)
    made += await _add_to(conn, principal, contact_group_membership, applied, stamp, listening)
    # The contacts' activity: one row per contact of the batch, whoever listens (the
    # events' own activity rows would exist only when someone does).
    imported = [(one.contact_id, one.created) for one in applied]
    await repository.record_imported(conn, principal, imported, stamp)
    if listening:
        changes = [change for one in applied for change in one.changes]
        await events.record(conn, principal, [*made, *changes], activity=False)
    return outcome


_BLANK = {"firstName": None, "lastName": None, "phone": None, "status": "active"}


async def _follow_statuses(
    conn: Connection,
    principal: Principal,
    inserted: dict[str, Row],
    existing: dict[str, Row],
    updates: list[tuple[Any, ...]],
    entries: dict[str, Row],
) -> None:
    """The batch's consent records and suppression entries: a grant for each contact made
    (or made) active, a withdrawal and an entry for each that the file stopped."""
    moves: list[tuple[int, str, str | None, str]] = []  # id, address, status before, after
    for key, row in inserted.items():
        if key not in entries:
            moves.append((int(row["id"]), str(row["email"]), None, str(row["status"])))
    by_id = {int(row["id"]): row for row in existing.values()}
    status_at = list(FIELDS).index("status")
    for update in updates:
        row = by_id[int(update[-1])]
        if update[status_at] != row["status"]:
            moves.append((int(row["id"]), str(row["email"]), row["status"], update[status_at]))
    granted: list[tuple[int, Any]] = [(cid, "granted") for cid, _, _, s in moves if s == "active"]
    stopped = [(cid, a, was, s) for cid, a, was, s in moves if s in consent.STOPPED]
    new = await consent.suppress_many(conn, principal, [(a, s) for _, a, _, s in stopped], "import")
    withdrawn: list[tuple[int, Any]] = [
        (cid, "withdrawn")
        for cid, address, was, _ in stopped
        if (was is None and address.lower() in new)
        or (was is not None and was not in consent.STOPPED)
    ]
    await consent.record_many(conn, principal, granted + withdrawn, "import")


def _new_values(
    principal: Principal,
    group: list[ContactRecord],
    update: bool,
    stamp: str,
    custom: dict[str, Any] | str,
    entry: Row | None = None,
) -> tuple[Any, ...]:
    merged = _merged(_BLANK, group if update else group[:1])
    if entry is not None:
        merged["status"] = consent.status_of(entry)
    assert not isinstance(custom, str)
    text = values.dumps(custom)
    return (*tenant(principal), group[0].email, *merged.values(), text, stamp, stamp)


def _new_fields(
    defs: dict[str, FieldDef], group: list[ContactRecord], update: bool
) -> dict[str, Any] | str:
    """The stored custom fields of a contact the group would make (the rows' values in
    order, then the defaults), or the failure of a required field left without one."""
    given: dict[str, Any] = {}
    for record in group if update else group[:1]:
        given.update(record.custom)
    made: dict[str, Any] = {}
    for one in defs.values():
        value = given.get(one.key)
        if value is None:
            value = one.default
        if value is not None:
            made[one.slot] = value
        elif one.required:
            return f"fields.{one.key}: is required"
    return made


def _updated_fields(
    defs: dict[str, FieldDef], stored: dict[str, Any], group: list[ContactRecord]
) -> dict[str, Any]:
    """An existing contact's stored custom fields once the group's rows are applied; a
    row that gives none leaves them as they are (values of deleted fields included)."""
    if not any(record.custom for record in group):
        return stored
    slots = {one.slot for one in defs.values()}
    after = {slot: value for slot, value in stored.items() if slot in slots}
    for record in group:
        for key, value in record.custom.items():
            one = defs.get(key)
            if one is None:
                continue  # deleted since the row was checked
            if value is None:
                after.pop(one.slot, None)
            else:
                after[one.slot] = value
    return after


def _shown(row: Row, defs: dict[str, FieldDef]) -> dict[str, Any]:
    """A contact's row as the API shows it (ContactRules.present, with the batch's
    definitions)."""
    contact = contacts.serialize(row)
    contact["fields"] = values.shown(contact.get("fields"), defs)
    return contact


def _merged(before: dict[str, Any], group: list[ContactRecord]) -> dict[str, Any]:
    """The fields (FIELDS, in that order) once the group's rows are applied in order."""
    after = dict(before)
    for record in group:
        for name, value in record.fields.items():
            if name != "status" or value is not None:  # a status cannot be cleared
                after[name] = value
    return after


async def _add_to(
    conn: Connection,
    principal: Principal,
    membership: Membership,
    applied: list[_Applied],
    stamp: str,
    listening: bool,
) -> list[Event]:
    """Add the tags (or groups) the rows name to their contacts, making the names that
    are missing. When someone listens: appends each contact's `tagged`
    (`added_to_group`) events to its changes, and returns the `.created` events of the
    names made."""
    target = membership.target
    tags = membership is contact_tag_membership
    wanted = [
        (one.contact_id, name)
        for one in applied
        for record in one.records
        for name in (record.tags if tags else record.groups)
    ]
    if not wanted:
        return []
    rows, made = await by_names(conn, principal, target, {name for _, name in wanted})
    pairs = sorted({(contact, int(rows[name]["id"])) for contact, name in wanted})
    added = await repository.add_members(
        conn,
        membership.table,
        membership.column,
        [(contact, other, *tenant(principal), stamp) for contact, other in pairs],
    )
    if not listening:
        return []
    targets = {int(row["id"]): target.serialize(row) for row in rows.values()}
    new: dict[int, list[int]] = {}
    for row in added:
        new.setdefault(int(row["contact_id"]), []).append(int(row[membership.column]))
    for one in applied:
        for other in sorted(new.get(one.contact_id, ())):
            data = {"contact": one.contact, target.event_name: targets[other]}
            one.changes.append((membership.added, data))
    return [
        change
        for row in made
        for change in target.rules.events(target.event_name, "created", None, target.serialize(row))
    ]
