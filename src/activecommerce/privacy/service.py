"""Personal data: a person's preferences on the unsubscribe page (leave a public group,
stay subscribed), the export of everything held about a contact, and its erasure.

Erasure, in two steps:

1. at once, in one transaction: the address goes on the suppression list keeping only
   its keyed hash (consent.service.erase), the contact's emails (their tracking) and
   form submissions go, the contact itself is deleted (its activity, consents and
   memberships with it) without a `contact.deleted` event that would carry its data, and
   `contact.erased` is recorded with the id only; a `privacy.erase` job is queued;
2. the job walks the account's events, captured mail, test copies, form submissions,
   stored idempotent replies and imported lines in batches (reads outside any write
   transaction) and deletes or clears, a batch per short transaction, every row that
   names the contact or holds its address. The job's own payload holds the address and
   names until it finishes (seconds): it is deleted then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypedDict, cast

import orjson

from activecommerce.consent import service as consent
from activecommerce.contacts import service as contacts
from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped
from activecommerce.privacy import repository

ERASE = "privacy.erase"
# Each list of an export is cut at this many entries (its oldest ones are kept).
EXPORT_LIMIT = 5000
BATCH = 500


# ---------------------------------------------------------------- preferences


async def public_groups(
    db: Database | Connection, principal: Principal, contact_id: int
) -> list[Row]:
    """The contact's groups that are marked public, by name."""
    return await repository.public_groups_of(Scoped(db, principal), contact_id)


async def contact_status(db: Database, principal: Principal, contact_id: int) -> str | None:
    """The contact's status, None when it is gone."""
    return await repository.contact_status(Scoped(db, principal), contact_id)


async def sender_name(
    db: Database, principal: Principal, campaign_id: int | None, automation_id: int | None
) -> str | None:
    return await repository.sender_name(Scoped(db, principal), campaign_id, automation_id)


async def leave_groups(
    conn: Connection, principal: Principal, contact_id: int, keep: Iterable[str]
) -> int:
    """The contact leaves its public groups not in `keep` (ids as text; any other id, of
    a private group or of none, is passed over), with the usual
    `contact.removed_from_group` events. How many it left."""
    kept = set(keep)
    left = 0
    for group in await repository.public_groups_of(Scoped(conn, principal), contact_id):
        if str(group["id"]) not in kept:
            await contacts.contact_group_membership.remove(
                conn, principal, str(contact_id), str(group["id"])
            )
            left += 1
    return left


# ---------------------------------------------------------------- export


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _ref(value: Any) -> str | None:
    return None if value is None else str(value)


async def export(db: Database, principal: Principal, contact_id: str) -> dict[str, Any]:
    """Everything held about the contact (404 if not the caller's), as one document."""
    row = await contacts.contacts.get_row(db, principal, contact_id)
    contact = await contacts.contacts.present_row(db, principal, row)
    cid = int(row["id"])
    scope = Scoped(db, principal)
    limit = EXPORT_LIMIT
    groups = await repository.groups_of(scope, cid)
    tags = await repository.tags_of(scope, cid)
    consents = await repository.consents_of(scope, cid, limit + 1)
    deals = await repository.deals_of(scope, cid, limit + 1)
    emails = await repository.emails_of(scope, cid, limit + 1)
    activity = await repository.activity_of(scope, cid, limit + 1)
    submissions = await repository.submissions_of(scope, cid, str(row["email"]), limit + 1)
    truncated = any(len(x) > limit for x in (consents, deals, emails, activity, submissions))
    return {
        "exportedAt": now(),
        "contact": contact,
        "groups": [
            {"id": str(g["id"]), "name": g["name"], "addedAt": g["created_at"]} for g in groups
        ],
        "tags": [{"id": str(t["id"]), "name": t["name"], "addedAt": t["created_at"]} for t in tags],
        "consents": [
            {
                "action": c["action"],
                "source": c["source"],
                "formId": _ref(c["form_id"]),
                "ip": c["ip"],
                "userAgent": c["user_agent"],
                "createdAt": c["created_at"],
            }
            for c in consents[:limit]
        ],
        "deals": [
            {
                "id": str(d["id"]),
                "name": d["name"],
                "value": d["value"],
                "currency": d["currency"],
                "closeDate": d["close_date"],
                "createdAt": d["created_at"],
                "updatedAt": d["updated_at"],
            }
            for d in deals[:limit]
        ],
        "sentEmails": [
            {
                "id": str(m["id"]),
                "campaignId": _ref(m["campaign_id"]),
                "automationId": _ref(m["automation_id"]),
                "name": m["campaign_name"] or m["automation_name"],
                "subject": m["campaign_subject"] or m["automation_subject"],
                "status": m["status"],
                "sentAt": m["sent_at"],
                "bouncedAt": m["bounced_at"],
                "unsubscribedAt": m["unsubscribed_at"],
                "openedAt": m["opened_at"],
                "openCount": int(m["open_count"]),
                "clickedAt": m["clicked_at"],
                "clickCount": int(m["click_count"]),
            }
            for m in emails[:limit]
        ],
        "activity": [
            {"type": a["type"], "data": _json(a["data"]), "createdAt": a["created_at"]}
            for a in activity[:limit]
        ],
        "formSubmissions": [
            {
                "id": str(s["id"]),
                "formId": str(s["form_id"]),
                "formName": s["form_name"],
                "email": s["email"],
                "data": _json(s["data"]),
                "ip": s["ip"],
                "userAgent": s["user_agent"],
                "status": s["status"],
                "confirmedAt": s["confirmed_at"],
                "createdAt": s["created_at"],
            }
            for s in submissions[:limit]
        ],
        "truncated": truncated,
    }


# ---------------------------------------------------------------- erasure


class Erasure(TypedDict):
    """`privacy.erase`: the traces of an erased contact to find and remove. `needles` are
    its address and names (lower-cased), kept only while the job runs."""

    account_id: int
    env: str
    contact_id: int
    address: str
    needles: list[str]


async def erase(db: Database, principal: Principal, contact_id: str) -> int:
    """Erase the contact (404 if not the caller's): gone at once, its traces within
    seconds (the job). Its id."""
    async with db.transaction() as conn:
        # The address before the contact's row, as every write that lists an address or
        # makes it mailable takes them (no two writers wait for each other in a cycle).
        seen = await contacts.contacts.get_row(conn, principal, contact_id)
        await consent.lock_addresses(conn, [str(seen["email"])])
        row = await contacts.contacts.get_row(conn, principal, contact_id, lock=True)
        cid = int(row["id"])
        address = str(row["email"])
        scope = Scoped(conn, principal)
        await consent.erase(conn, principal, address)
        await repository.delete_messages_of(scope, cid)
        await repository.delete_submissions_of(scope, cid)
        await contacts.contacts.delete(conn, principal, str(cid), record=False)
        await events.record(conn, principal, [("contact.erased", {"id": str(cid)})], activity=False)
        needles = [address.strip().lower()]
        for name in (row["first_name"], row["last_name"]):
            if name and len(name.strip()) >= 3:
                needles.append(name.strip().lower())
        payload: Erasure = {
            "account_id": principal.account_id,
            "env": principal.env,
            "contact_id": cid,
            "address": address.strip().lower(),
            "needles": needles,
        }
        await queue.enqueue(conn, ERASE, payload, account_id=principal.account_id)
    return cid


def _names(event_type: str, data: Any, contact_id: int) -> bool:
    """Whether an event's data is about the contact (kit.events' reference rules)."""
    if not isinstance(data, dict):
        return False
    return events.contact_of(event_type, data) == contact_id or _deleted_contact(
        event_type, data, contact_id
    )


def _deleted_contact(event_type: str, data: dict[str, Any], contact_id: int) -> bool:
    return event_type == "contact.deleted" and str(data.get("id")) == str(contact_id)


class ErasureRunner:
    """The `privacy.erase` job handler: each table walked by id in batches, the rows that
    name the contact or hold its address removed a batch per transaction. Idempotent: a
    run taken over by another worker does it again from the start."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, job: Job, worker_id: str) -> None:
        payload = cast(Erasure, dict(job.payload))
        principal = Principal.acting_for(payload["account_id"], payload["env"])
        scope = Scoped(self.db, principal)
        cid = int(payload["contact_id"])
        address = payload["address"]
        needles = [n for n in payload["needles"] if n]

        exact = address_pattern(address)

        def holds_address(*values: Any) -> bool:
            return any(v is not None and exact.search(str(v)) for v in values)

        async def delete(table: str, ids: list[int]) -> bool:
            async with self.db.transaction() as conn:
                if not await queue.system_lock_if_leased(conn, job, worker_id):
                    return False
                if ids:
                    await repository.delete_ids(Scoped(conn, principal), table, ids)
            return True

        # Events (and with them their webhook deliveries): those about the contact, and
        # any that quotes its address; `contact.erased` itself names only the id.
        after = 0
        while rows := await repository.events_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            found = [
                int(r["id"])
                for r in rows
                if r["type"] != "contact.erased"
                and (_names(r["type"], _json(r["data"]), cid) or holds_address(r["data"]))
            ]
            if not await delete("events", found):
                return
        # Captured mail sent to the contact or to its address.
        after = 0
        while rows := await repository.captured_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            found = [
                int(r["id"])
                for r in rows
                if (r["contact_id"] is not None and int(r["contact_id"]) == cid)
                or holds_address(r["to_email"], r["headers"], r["subject"], r["html"], r["text"])
            ]
            if not await delete("captured_emails", found):
                return
        # Form submissions by the address (those of the contact went at once).
        after = 0
        while rows := await repository.submissions_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            found = [int(r["id"]) for r in rows if holds_address(r["email"], r["data"])]
            if not await delete("form_submissions", found):
                return
        # Replies kept for idempotent retries that quote the contact.
        after = 0
        while rows := await repository.idempotent_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            found = [int(r["id"]) for r in rows if holds_address(r["body"])]
            if not await delete("idempotency_keys", found):
                return
        # Test copies sent to the address, and errors that quote it.
        after = 0
        while rows := await repository.test_copies_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            found = [int(r["id"]) for r in rows if holds_address(r["to_email"], r["error"])]
            if found:
                async with self.db.transaction() as conn:
                    if not await queue.system_lock_if_leased(conn, job, worker_id):
                        return
                    await repository.clear_message_texts(Scoped(conn, principal), found)
        # Imported lines that held the person, and import errors that quote them.
        position = (0, 0)
        while rows := await repository.import_rows_after(scope, position, BATCH):
            position = (int(rows[-1]["import_id"]), int(rows[-1]["line"]))
            lines = [r for r in rows if holds_address(r["data"], r["error"])]
            if lines:
                async with self.db.transaction() as conn:
                    if not await queue.system_lock_if_leased(conn, job, worker_id):
                        return
                    for r in lines:
                        await repository.clear_import_row(
                            Scoped(conn, principal), int(r["import_id"]), int(r["line"])
                        )
        after = 0
        while rows := await repository.imports_after(scope, after, BATCH):
            after = int(rows[-1]["id"])
            for r in rows:
                if holds_address(r["errors"]):
                    async with self.db.transaction() as conn:
                        await repository.set_import_errors(
                            Scoped(conn, principal), int(r["id"]), _redacted(r["errors"], needles)
                        )
        async with self.db.transaction() as conn:
            await queue.system_finish(conn, job, worker_id)


def address_pattern(address: str) -> re.Pattern[str]:
    """The address as a whole, in any case: not `an@x.com` inside `jan@x.com` or
    `an@x.com.au` (another person's), but at the end of a sentence too."""
    return re.compile(
        r"(?<![A-Za-z0-9._%+\-])" + re.escape(address) + r"(?![A-Za-z0-9_\-]|\.[A-Za-z0-9])",
        re.IGNORECASE,
    )


def _redacted(text: str, needles: list[str]) -> str:
    """`text` with every whole-word occurrence of the needles (any case) replaced."""
    for needle in needles:
        pattern = address_pattern(needle) if "@" in needle else rf"\b{re.escape(needle)}\b"
        text = re.sub(pattern, "[erased]", text, flags=0 if "@" in needle else re.IGNORECASE)
    return text
