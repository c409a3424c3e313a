"""Delivery reports: what happened to a message after the relay took it (or when it
refused it), whoever reports it — the relay at send time, a delivery status notification
(RFC 3464) or an abuse report (RFC 5965) at `activecommerce inbound`, a sending service's
signed webhook, the sandbox's mailbox simulator. Every one of them ends here, in `apply`,
so that a bounce or a complaint changes the same things whichever way it came:

- `hard` (the mailbox does not exist): the message bounced, the contact `bounced` and its
  address suppressed (contacts' `set_status`, the consent rules), `email.bounced`;
- `soft` (a full mailbox, a temporary reason given up): the message bounced; the third
  soft bounce of a contact within 30 days makes it a hard one;
- `policy` (a policy or reputation refusal, content): the message failed with its reason;
  the contact is not blamed;
- `complaint`: the contact `complained`, suppressed, `email.complained`;
- `delivered`: the message's delivery confirmed.

A message has at most one report of each kind (`email_reports`' unique index): the same
report delivered twice changes nothing the second time.

Who is believed is decided before this: a report names its message by a signed return
path (VERP), or comes with the sending service's signature; this module trusts its caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from activecommerce.consent import service as consent
from activecommerce.contacts import service as contacts
from activecommerce.email.service import email_view, principal_of, system_message
from activecommerce.kit import events
from activecommerce.kit.clock import after, now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.repository import Scoped

from . import repository

Kind = Literal["delivered", "hard", "soft", "policy", "complaint"]
KINDS: frozenset[str] = frozenset({"delivered", "hard", "soft", "policy", "complaint"})
# Where a report came from.
Source = Literal["smtp", "dsn", "arf", "ses", "sendgrid", "postmark", "simulator"]

SOFT_BOUNCES_MAKE_HARD = 3
SOFT_BOUNCE_WINDOW_SECONDS = 30 * 86400.0


@dataclass(frozen=True)
class Report:
    """One report about one message."""

    message_id: int
    kind: Kind
    source: Source
    status_code: str | None = None  # the enhanced status code, e.g. "5.1.1"
    reason: str | None = None  # the remote server's words, for the report and the event
    # The environment the report names (a Message-ID names it): a report about a sandbox
    # message never changes a live one, and the other way round.
    env: str | None = None


# RFC 3463 enhanced status code: class.subject.detail.
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


def kind_of(status_code: str | None, *, permanent: bool) -> Kind:
    """A failure's kind by its enhanced status code: 5.1.x (but 5.1.7/5.1.8, the sender's
    own address) is a hard bounce; a full mailbox (x.2.2) or any temporary failure (4.x.x)
    a soft one; anything else permanent (5.7.x policy, content, routing) fails the
    message without blaming the mailbox. `permanent` says what the report itself calls it
    when it gives no usable code."""
    match = _STATUS.match((status_code or "").strip())
    if match is None:
        return "policy" if permanent else "soft"
    klass, subject, detail = int(match[1]), int(match[2]), int(match[3])
    if klass == 2:
        return "delivered"
    if klass == 4 or (subject, detail) == (2, 2):
        return "soft"
    if subject == 1 and detail not in (7, 8):
        return "hard"
    return "policy"


async def receive(db: Database, report: Report) -> bool:
    """Apply a report in a transaction of its own; whether it changed anything (False: no
    such message, another environment's, a test copy, or a report already received)."""
    async with db.transaction() as conn:
        return await apply(conn, report)


async def apply(conn: Connection, report: Report, message: Row | None = None) -> bool:
    """Apply a report inside the caller's transaction (the sender's, which decided the
    message's status at send time, passes the row it decided)."""
    if message is None:
        message = await system_message(conn, report.message_id, lock=True)
    if message is None or message["is_test"]:
        return False
    if report.env is not None and report.env != message["env"]:
        return False
    principal = principal_of(message)
    scope = Scoped(conn, principal)
    contact_id = None if message["contact_id"] is None else int(message["contact_id"])
    stamp = now()
    reason = None if report.reason is None else report.reason[:1000]
    new = await repository.insert_report(
        scope,
        report.message_id,
        contact_id,
        report.kind,
        report.source,
        report.status_code,
        reason,
        stamp,
    )
    if not new:
        return False
    if report.kind == "delivered":
        await repository.mark_delivered(scope, report.message_id)
        return True
    if report.kind == "complaint":
        row = await repository.mark_complained(scope, report.message_id)
        await _stop(conn, message, "complained")
        if row is not None:
            await events.record(conn, principal, [("email.complained", _view(row, report))])
        return True
    row = await repository.mark_bounced(scope, report.message_id, report.kind, reason)
    if report.kind == "policy":
        return True
    hard = report.kind == "hard"
    if not hard and contact_id is not None and await contacts.lock(conn, principal, contact_id):
        # The contact held first: two soft bounces reported at once both count.
        since = after(-SOFT_BOUNCE_WINDOW_SECONDS)
        hard = await repository.soft_bounces_since(scope, contact_id, since) >= (
            SOFT_BOUNCES_MAKE_HARD
        )
    if hard:
        await _stop(conn, message, "bounced")
    if row is not None:
        view = _view(row, report) | {"hardBounce": hard}
        await events.record(conn, principal, [("email.bounced", view)])
    return True


def _view(row: Row, report: Report) -> dict[str, object]:
    return email_view(row) | {
        "bounceType": report.kind if report.kind in ("hard", "soft") else None,
        "statusCode": report.status_code,
        "reason": None if report.reason is None else report.reason[:1000],
        "reportedBy": report.source,
    }


async def _stop(conn: Connection, message: Row, status: contacts.StoppedStatus) -> None:
    """The address the message went to is suppressed (also when its contact was deleted
    or has changed its address since: it must not be mailed again when it comes back),
    and the message's contact takes the status while it still has that address."""
    principal = principal_of(message)
    to = message["to_email"]
    if to:
        source = "complaint" if status == "complained" else "bounce"
        await consent.lock_addresses(conn, [str(to)])
        await consent.suppress(conn, principal, str(to), status, source)
    if message["contact_id"] is not None:
        address = None if not to else str(to)
        await contacts.set_status(
            conn, principal, int(message["contact_id"]), status, address=address
        )
