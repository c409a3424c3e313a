"""Live sends under database faults (decision 008, "Faults"): at most one message more per
SMTP connection in flight, and nothing lost.

- SQLite: another process holds the write lock (BEGIN IMMEDIATE) longer than a commit
  can wait for it, in the middle of a live send; and longer than the job's lease.
- PostgreSQL: every connection of the server is terminated (pg_terminate_backend) again
  and again for a few seconds; and longer than the job's lease.
- A worker stalled for longer than its job's lease, the job taken over meanwhile: it
  sends nothing more once it resumes.
- PostgreSQL: an automation (tag_added, delay 0) while 16 clients PUT and DELETE its tag
  on the same contacts: no second copy to anyone, and no 409 or 5xx to the clients.

A real SMTP server (aiosmtpd on loopback) counts what arrives.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import POSTGRES_ADMIN_URL, Account, _new_account, fresh_database, running_app
from helpers import created, give_postal_address, wait_for
from smtp import Inbox, smtp_server

from activecommerce.config import Settings
from activecommerce.email import repository
from activecommerce.email.sender import Committer, Mark
from activecommerce.email.service import email_view, principal_of
from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Database, DatabaseUnavailable, sqlite_path
from activecommerce.kit.repository import Scoped

RECIPIENTS = 400
CONNECTIONS = 4
ON_POSTGRES = bool(POSTGRES_ADMIN_URL)

CAMPAIGN = {
    "name": "Faults",
    "subject": "Hi {{ contact.firstName }}",
    "fromEmail": "news@shop.io",
    "htmlContent": "<p>Hello {{ contact.firstName }}</p>",
}


def _overrides(url: str, port: int, lease: float) -> dict[str, Any]:
    return {
        "database_url": url,
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "smtp_connections": CONNECTIONS,
        "smtp_timeout_seconds": 5.0,
        "email_retry_seconds": 0.1,
        "email_batch_size": 100,
        "job_lease_seconds": lease,
        "public_url": "https://mail.shop.io",
        # The production defaults (the suite's own are long, for its blocking tests).
        "db_acquire_timeout_seconds": 2.0,
        "db_statement_timeout_seconds": 5.0,
        "db_retry_after_seconds": 2.0,
    }


async def _contacts(db: Database, account: Account, count: int, group_id: int | None) -> None:
    """`count` active contacts of the account's live environment (written straight to the
    database: fast), in the group if one is given."""
    stamp = now()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO contacts (account_id, env, email, first_name, status, created_at,"
            " updated_at) VALUES (?, 'live', ?, ?, 'active', ?, ?)",
            [(int(account.id), f"r{i}@example.com", f"R{i}", stamp, stamp) for i in range(count)],
        )
        if group_id is not None:
            await conn.execute(
                "INSERT INTO contact_group_members (contact_id, group_id, account_id, env,"
                " created_at) SELECT id, ?, account_id, env, created_at FROM contacts"
                " WHERE account_id = ? AND env = 'live'",
                (group_id, int(account.id)),
            )


async def _send_to_everyone(db: Database, account: Account) -> dict[str, Any]:
    """A live campaign sent to RECIPIENTS new contacts; the campaign."""
    api = account.live
    group = await created(api, "/v3/contactGroups", {"name": "All"})
    await _contacts(db, account, RECIPIENTS, int(group["id"]))
    campaign = await created(api, "/v3/emailCampaigns", CAMPAIGN)
    await give_postal_address(api)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send",
        json={"audience": {"groupIds": [group["id"]]}},
    )
    assert r.status_code == 202, r.text
    return dict(campaign)


async def _tag_automation(
    api: httpx.AsyncClient, delay: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tag, and an automation that emails whoever gets it, `delay` seconds later."""
    await give_postal_address(api)
    tag = await created(api, "/v3/contactTags", {"name": "Trial"})
    trigger = {"type": "tag_added", "tagId": tag["id"]}
    body = {**CAMPAIGN, "name": "Welcome", "trigger": trigger, "delaySeconds": delay}
    return tag, await created(api, "/v3/emailAutomations", body)


def _hold_sqlite_lock(url: str, seconds: float) -> None:
    """Another process's writer: the write lock taken and held for `seconds`."""
    conn = sqlite3.connect(sqlite_path(url), timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _cut_postgres(url: str, seconds: float) -> None:
    """Every other connection to the database terminated, again and again, for `seconds`."""
    import psycopg

    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as pg:
        while time.monotonic() < deadline:
            pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            time.sleep(0.05)


def _duplicates(inbox: Inbox) -> tuple[int, Counter[str]]:
    counts = Counter(inbox.recipients())
    return sum(n - 1 for n in counts.values()), counts


async def _status(db: Database, table: str, source_id: int) -> str | None:
    try:
        row = await db.fetchone(f"SELECT status FROM {table} WHERE id = ?", (source_id,))
    except DatabaseUnavailable:
        return None
    return None if row is None else str(row["status"])


@pytest.mark.parametrize(
    ("fault_seconds", "lease"),
    [(3.0, 30.0), (3.0, 2.0)],
    ids=["fault-longer-than-a-commit-waits", "fault-longer-than-the-lease"],
)
async def test_a_database_fault_mid_send_sends_no_batch_again(
    tmp_path: Path, settings: Settings, fault_seconds: float, lease: float
) -> None:
    inbox = Inbox()
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_overrides(url, port, lease)) as app:
                db = app.state.services.db
                account = await _new_account(app)
                campaign = await _send_to_everyone(db, account)
                await wait_for(lambda: inbox.count() >= 60, timeout=30, what="the send")
                # The fault, in a thread (the app's loop keeps running meanwhile).
                fault = _cut_postgres if ON_POSTGRES else _hold_sqlite_lock
                at_fault = inbox.count()
                await asyncio.to_thread(fault, url, fault_seconds)

                async def sent() -> bool:
                    return await _status(db, "email_campaigns", int(campaign["id"])) == "sent"

                await wait_for(sent, timeout=60, what="the campaign to be sent")
                await account.close()
    duplicates, counts = _duplicates(inbox)
    lost = RECIPIENTS - len(counts)
    assert at_fault < RECIPIENTS, "the send ended before the fault"
    assert lost == 0
    # At most one per connection in flight when the fault began.
    assert duplicates <= CONNECTIONS, f"{duplicates} duplicates: {counts.most_common(5)}"


@pytest.mark.skipif(not ON_POSTGRES, reason="deadlocks are PostgreSQL's (SQLite has one writer)")
async def test_tagging_while_an_automation_sends_makes_no_deadlock_and_no_second_copy(
    tmp_path: Path, settings: Settings
) -> None:
    inbox = Inbox()
    people = 150
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            async with running_app(settings, **_overrides(url, port, 30.0)) as app:
                db = app.state.services.db
                account = await _new_account(app)
                api = account.live
                tag, automation = await _tag_automation(api, delay=0)
                await _contacts(db, account, people, None)
                rows = await db.fetchall(
                    "SELECT id FROM contacts WHERE account_id = ? AND env = 'live'",
                    (int(account.id),),
                )
                ids = [int(r["id"]) for r in rows]
                statuses: Counter[int] = Counter()
                deadline = time.monotonic() + 4.0
                lock = threading.Lock()

                async def client(seed: int) -> None:
                    rng = random.Random(seed)
                    while time.monotonic() < deadline:
                        contact = rng.choice(ids)
                        path = f"/v3/contacts/{contact}/tags/{tag['id']}"
                        call = api.put if rng.random() < 0.6 else api.delete
                        response: httpx.Response = await call(path)
                        with lock:
                            statuses[response.status_code] += 1

                await asyncio.gather(*(client(seed) for seed in range(16)))

                async def settled() -> bool:
                    row = await db.fetchone(
                        "SELECT count(*) AS n FROM email_messages"
                        " WHERE automation_id = ? AND status = 'queued'",
                        (int(automation["id"]),),
                    )
                    return row is not None and int(row["n"]) == 0

                await wait_for(settled, timeout=60, what="every enrolled contact's email")
                enrolled = await db.fetchall(
                    "SELECT m.status, c.email FROM email_messages m"
                    " JOIN contacts c ON c.id = m.contact_id WHERE m.automation_id = ?",
                    (int(automation["id"]),),
                )
                await account.close()
    duplicates, counts = _duplicates(inbox)
    assert set(statuses) == {204}, statuses
    assert duplicates == 0, counts.most_common(5)
    assert {r["status"] for r in enrolled} == {"sent"}
    assert sorted(counts) == sorted(r["email"] for r in enrolled)


@pytest.mark.skipif(not ON_POSTGRES, reason="deadlocks are PostgreSQL's (SQLite has one writer)")
async def test_a_tag_put_while_its_email_is_recorded_waits_for_nothing(
    tmp_path: Path, settings: Settings
) -> None:
    """The interleaving behind those deadlocks, step by step: the worker's group commit
    has marked a contact's automation email sent and not yet committed when the contact
    is tagged again; then the group commit writes the contact's activity. Both commit."""
    async with (
        fresh_database(tmp_path) as url,
        running_app(settings, **_overrides(url, 1, 30.0)) as app,
    ):
        db = app.state.services.db
        account = await _new_account(app)
        api = account.live
        # Due in an hour: the worker leaves its email alone.
        tag, automation = await _tag_automation(api, delay=3600)
        eve = await created(api, "/v3/contacts", {"email": "eve@example.com"})
        path = f"/v3/contacts/{eve['id']}/tags/{tag['id']}"
        assert (await api.put(path)).status_code == 204  # enrolled: one message queued
        assert (await api.delete(path)).status_code == 204
        message = await db.fetchone(
            "SELECT id, account_id, env FROM email_messages WHERE automation_id = ?",
            (int(automation["id"]),),
        )
        assert message is not None
        async with db.transaction() as conn:
            # The group commit's first statement for this message...
            scope = Scoped(conn, principal_of(message))
            decided = await repository.decide(
                scope, int(message["id"]), "sent", to="eve@example.com"
            )
            assert decided is not None
            # ... the contact tagged again meanwhile (it used to wait for this
            # transaction, holding the contact's row) ...
            put = asyncio.create_task(api.put(path))
            await asyncio.wait({put}, timeout=0.5)
            # ... and the rest: the event and the contact's activity (whose foreign
            # key check used to wait for the tagging: a deadlock).
            await events.record(conn, principal_of(decided), [("email.sent", email_view(decided))])
        response = await put
        rows = await db.fetchall(
            "SELECT status FROM email_messages WHERE automation_id = ?",
            (int(automation["id"]),),
        )
        await account.close()
    assert response.status_code == 204, response.text
    assert [r["status"] for r in rows] == ["sent"]


@pytest.mark.skipif(ON_POSTGRES, reason="the lease is the queue's, whatever the database")
async def test_a_job_taken_over_after_its_lease_ran_out_sends_nothing_more(
    tmp_path: Path, settings: Settings
) -> None:
    """The worker stalls (its event loop blocked) for longer than the job's lease, and
    another worker takes the job over meanwhile: when it resumes, it sends nothing more
    than what was in flight. Given back, the job sends the rest, each message once."""
    inbox = Inbox()
    lease = 1.5
    async with fresh_database(tmp_path) as url:
        with smtp_server(inbox=inbox) as (_, port):
            overrides = {**_overrides(url, port, lease), "email_batch_size": RECIPIENTS}
            async with running_app(settings, **overrides) as app:
                db = app.state.services.db
                account = await _new_account(app)
                campaign = await _send_to_everyone(db, account)
                await wait_for(lambda: inbox.count() >= 40, timeout=30, what="the send")
                # The stall (this blocks the app's loop), then the takeover by "another
                # worker", as a claim would do it once the lease has run out.
                time.sleep(lease + 1.0)  # noqa: ASYNC251 - blocking the loop is the point
                conn = sqlite3.connect(sqlite_path(url), timeout=5, isolation_level=None)
                taken = conn.execute(
                    "UPDATE jobs SET locked_by = 'another', locked_until = ?"
                    " WHERE kind = 'email.send'",
                    ("9999-12-31T00:00:00.000000Z",),
                ).rowcount
                at_takeover = inbox.count()
                await asyncio.sleep(1.0)
                after_takeover = inbox.count() - at_takeover
                # The other worker gives the job back (it died): due again, for anyone.
                conn.execute("UPDATE jobs SET locked_by = NULL, locked_until = NULL")
                conn.close()

                async def sent() -> bool:
                    return await _status(db, "email_campaigns", int(campaign["id"])) == "sent"

                await wait_for(sent, timeout=60, what="the campaign to be sent")
                await account.close()
    duplicates, counts = _duplicates(inbox)
    assert taken == 1
    assert at_takeover < RECIPIENTS, "the send ended before the takeover"
    assert after_takeover <= CONNECTIONS, f"{after_takeover} sent by a job taken over"
    assert (duplicates, RECIPIENTS - len(counts)) == (0, 0)


async def test_an_outage_while_outcomes_are_isolated_keeps_their_order() -> None:
    """A batch with a bad outcome is committed one by one; when the database then fails,
    the outcomes not yet committed go back in their order and are retried together."""
    committed: list[list[str]] = []
    flaky = {"b"}

    class Scripted(Committer):
        async def _commit(self, batch: list[tuple[Mark, asyncio.Future[None]]]) -> None:
            names = [str(mark.to) for mark, _ in batch]
            if "bad" in names:
                raise ValueError("a bug in one outcome")
            if flaky & set(names):
                flaky.clear()
                raise DatabaseUnavailable(1)
            committed.append(names)

    committer = Scripted(None)  # type: ignore[arg-type]
    marks = [Mark({"id": i}, "sent", name) for i, name in enumerate(["a", "bad", "b", "c"])]
    outcomes = await asyncio.gather(
        *(committer.submit(mark) for mark in marks), return_exceptions=True
    )
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "ValueError",
        "NoneType",
        "NoneType",
    ]
    assert committed == [["a"], ["b", "c"]]
