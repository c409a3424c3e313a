"""Sending domains: a DKIM key pair per domain, the DNS records to publish, their
verification, and the signing key of a verified domain for the sender
(docs/guides/email-deliverability.md, "Sending domains").

- A domain is `verified` while its last verification found its DKIM record; a
  verification that finds it missing or wrong makes it `pending` again (mail from it is
  then sent unsigned: a signature that receivers cannot check is worth nothing).
- A verification's lookups run before any transaction opens. When DNS does not answer
  one of them (a timeout, SERVFAIL), nothing is recorded and the request is a 503 with
  Retry-After: a record is never reported missing that was not looked up.
- Private keys are stored encrypted with a key derived from the server's secret
  (`kit.security.SecretBox`) and never leave the process.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from typing import Any, Unpack

import orjson

from activecommerce.email.dkim import DkimKey, load_key, new_key_pair
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row, UniqueViolation
from activecommerce.kit.fields import parse_id
from activecommerce.kit.listing import ListQuery
from activecommerce.kit.pagination import CursorEnvelope, Paging
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, not_found
from activecommerce.kit.repository import Scoped
from activecommerce.kit.security import SecretBox
from activecommerce.kit.services import Settings
from activecommerce.sendingdomains import lookup, models, repository
from activecommerce.sendingdomains.names import mail_domain
from activecommerce.sendingdomains.records import Expected, expected_records, judge

TITLE = "sending domain"
SORTABLE = {"createdAt": "created_at", "updatedAt": "updated_at", "domain": "domain"}
lists = ListQuery(models.sending_domains, SORTABLE, ())


# ---------------------------------------------------------------- how a domain is shown


def _expected(row: Row, settings: Settings) -> list[Expected]:
    return expected_records(row["domain"], row["selector"], row["public_key"], settings)


def view(row: Row, settings: Settings) -> dict[str, Any]:
    """A domain as the API shows it: the records to publish as the settings make them
    now, each with the state its last verification found (missing if never looked up)."""
    checked = {
        (r["type"], r["name"], r["value"]): r["state"] for r in orjson.loads(row["records"] or "[]")
    }
    return {
        "id": str(row["id"]),
        "domain": row["domain"],
        "status": row["status"],
        "records": [
            {
                "type": r.type,
                "name": r.name,
                "value": r.value,
                "state": checked.get((r.type, r.name, r.value), "missing"),
            }
            for r in _expected(row, settings)
        ],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "verifiedAt": row["verified_at"],
        "checkedAt": row["checked_at"],
    }


# ---------------------------------------------------------------- the API's operations


async def _row(db: Database | Connection, principal: Principal, domain_id: str) -> Row:
    oid = parse_id(domain_id)
    row = await repository.get(Scoped(db, principal), oid) if oid is not None else None
    if row is None:
        raise not_found(TITLE)
    return row


async def get(
    db: Database, principal: Principal, settings: Settings, domain_id: str
) -> dict[str, Any]:
    return view(await _row(db, principal, domain_id), settings)


async def list_domains(
    db: Database, principal: Principal, settings: Settings, **page: Unpack[Paging]
) -> CursorEnvelope:
    meta, rows = await lists.page(db, principal, "*", filters={}, **page)
    return {"data": [view(row, settings) for row in rows], "meta": meta}


class NewKey:
    """A key pair made before the transaction that stores it (50-100 ms of CPU, in a
    thread), its private half already sealed."""

    def __init__(self, sealed: str, public_key: str) -> None:
        self.sealed = sealed
        self.public_key = public_key


async def new_key(box: SecretBox) -> NewKey:
    private, public = await asyncio.to_thread(new_key_pair)
    return NewKey(box.seal(base64.b64encode(private).decode("ascii")), public)


async def create(
    conn: Connection, principal: Principal, settings: Settings, domain: str, key: NewKey
) -> dict[str, Any]:
    # A selector of its own per key: a domain deleted and added again publishes a new
    # record rather than meeting its old one.
    selector = f"ac{secrets.token_hex(4)}"
    try:
        row = await repository.insert(
            Scoped(conn, principal), domain, selector, key.sealed, key.public_key, now()
        )
    except UniqueViolation:
        raise Problem(409, f"{domain} is already a sending domain of this account.") from None
    return view(row, settings)


async def delete(conn: Connection, principal: Principal, domain_id: str) -> None:
    row = await _row(conn, principal, domain_id)
    await repository.delete(Scoped(conn, principal), int(row["id"]))


async def verify(
    db: Database, principal: Principal, settings: Settings, domain_id: str
) -> dict[str, Any]:
    """Look the domain's records up (no transaction open meanwhile) and record what was
    found."""
    row = await _row(db, principal, domain_id)
    expected = _expected(row, settings)
    resolver = lookup.resolver(settings)  # the settings as they are now
    outcomes = await asyncio.gather(
        *(lookup.answers(resolver, record.name, record.type) for record in expected),
        return_exceptions=True,
    )
    failures = [str(o) for o in outcomes if isinstance(o, BaseException)]
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, lookup.LookupFailed):
            raise outcome
    if failures:
        retry = max(1, round(settings.dns_timeout_seconds))
        raise Problem(
            503,
            "DNS did not answer every lookup, so nothing was recorded; retry later ("
            + "; ".join(failures)
            + ").",
            headers={"Retry-After": str(retry)},
        )
    records = [
        {"type": r.type, "name": r.name, "value": r.value, "state": judge(r, answers)}
        for r, answers in zip(expected, outcomes, strict=True)
        if not isinstance(answers, BaseException)
    ]
    dkim_found = records[0]["state"] == "found"
    stamp = now()
    verified_at = (row["verified_at"] or stamp) if dkim_found else None
    if dkim_found and row["status"] != "verified":
        verified_at = stamp
    async with db.transaction() as conn:
        updated = await repository.record_check(
            Scoped(conn, principal),
            int(row["id"]),
            "verified" if dkim_found else "pending",
            orjson.dumps(records).decode(),
            verified_at,
            stamp,
        )
    if updated is None:
        raise not_found(TITLE)
    return view(updated, settings)


# ---------------------------------------------------------------- signing


async def signing_row(db: Database, principal: Principal, from_email: str) -> Row | None:
    """The verified sending domain of a From address (of the same account and
    environment), if any."""
    domain = mail_domain(from_email)
    if domain is None:
        return None
    return await repository.verified(Scoped(db, principal), domain)


def signing_key(row: Row, box: SecretBox) -> DkimKey:
    """The loaded key of a `signing_row` (decrypted: call once, keep the result)."""
    private = base64.b64decode(box.open(row["private_key"]))
    return load_key(row["domain"], row["selector"], private)
