"""Contact imports and the export (SPEC §10), through HTTP: CSV and NDJSON, bad rows,
duplicates, update=false, tags and groups, events, limits, progress, the round trip."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from conftest import Account, fresh_database, running_app
from contract import asgi_client
from fastapi import FastAPI
from helpers import EMAIL, created, problem, recorded_events, wait_for
from receiver import Receiver

from activecommerce.accounts.service import create_account
from activecommerce.config import Settings
from activecommerce.imports import service
from activecommerce.jobs import queue
from activecommerce.kit.principal import Principal

CSV = {"content-type": "text/csv"}
NDJSON = {"content-type": "application/x-ndjson"}


async def started(
    api: httpx.AsyncClient,
    body: bytes | AsyncIterator[bytes],
    headers: dict[str, str] = CSV,
    **q: str,
) -> dict[str, Any]:
    r = await api.post("/v3/contactImports", content=body, headers=headers, params=q)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v3/contactImports/{r.json()['id']}"
    return dict(r.json())


async def finished(api: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {}

    async def done() -> bool:
        r = await api.get(f"/v3/contactImports/{import_id}")
        assert r.status_code == 200, r.text
        state.update(r.json())
        return state["status"] in ("completed", "failed")

    await wait_for(done, timeout=30, what=f"import {import_id} to finish")
    return state


async def imported(
    api: httpx.AsyncClient, body: bytes, headers: dict[str, str] = CSV, **q: str
) -> dict[str, Any]:
    return await finished(api, (await started(api, body, headers, **q))["id"])


async def contacts_by_email(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    r = await api.get("/v3/contacts", params={"pageSize": "100"})
    return {c["email"]: c for c in r.json()["data"]}


async def names(api: httpx.AsyncClient, contact_id: str, kind: str) -> list[str]:
    r = await api.get(f"/v3/contacts/{contact_id}/{kind}", params={"pageSize": "100"})
    return sorted(t["name"] for t in r.json()["data"])


async def staged_rows(db: Any) -> int:
    """How many staged rows are left, of every import."""
    row = await db.fetchone("SELECT count(*) AS n FROM contact_import_rows")
    return int(row["n"]) if row is not None else -1


async def none_staged(db: Any) -> bool:
    return await staged_rows(db) == 0


def counts(state: dict[str, Any]) -> tuple[int, ...]:
    keys = ("total", "processed", "created", "updated", "skipped", "failed")
    return tuple(state[k] for k in keys)


async def test_csv_import_makes_contacts_tags_groups_and_memberships(
    api: httpx.AsyncClient,
) -> None:
    await created(api, "/v3/contactTags", {"name": "vip"})  # an existing tag is reused
    body = (
        b"email,firstName,lastName,phone,status,tags,groups\r\n"
        b"ann@example.com,Ann,Lee,+1 555 0100,active,vip; new,Customers\r\n"
        b"bob@example.com,Bob,,,unsubscribed,,Customers;Newsletter\r\n"
        b"cy@example.com,,,,,,\r\n"
    )
    state = await imported(api, body)
    assert state["status"] == "completed"
    assert counts(state) == (3, 3, 3, 0, 0, 0)
    assert state["errors"] == []
    assert state["finishedAt"] >= state["createdAt"]
    found = await contacts_by_email(api)
    ann, bob, cy = found["ann@example.com"], found["bob@example.com"], found["cy@example.com"]
    assert (ann["firstName"], ann["lastName"], ann["phone"]) == ("Ann", "Lee", "+1 555 0100")
    assert (bob["lastName"], bob["status"]) == (None, "unsubscribed")
    assert (cy["firstName"], cy["status"]) == (None, "active")  # empty status: the default
    assert await names(api, ann["id"], "tags") == ["new", "vip"]
    assert await names(api, ann["id"], "groups") == ["Customers"]
    assert await names(api, bob["id"], "groups") == ["Customers", "Newsletter"]
    assert await names(api, cy["id"], "tags") == []
    tags = (await api.get("/v3/contactTags")).json()
    assert sorted(t["name"] for t in tags["data"]) == ["new", "vip"]  # made once, by name


async def test_bom_quotes_commas_and_line_breaks(api: httpx.AsyncClient) -> None:
    body = (
        b'\xef\xbb\xbf"email","firstName","lastName"\n'
        b'ann@example.com,"Lee, Ann","the ""best"" one"\n'
        b'bob@example.com,"Bob\nSmith",x\n'  # a line break: no name may hold one (422 too)
        b"cy@example.com,Cy,\xc3\xa9l\xc3\xa8ve\n"
    )
    state = await imported(api, body)
    assert counts(state) == (3, 3, 2, 0, 0, 1)
    assert state["errors"] == [
        {"line": 3, "message": "firstName: must not contain control characters"}
    ]
    found = await contacts_by_email(api)
    assert found["ann@example.com"]["firstName"] == "Lee, Ann"
    assert found["ann@example.com"]["lastName"] == 'the "best" one'
    assert found["cy@example.com"]["lastName"] == "élève"  # line 5: the count went on right


async def test_bad_rows_are_counted_with_their_lines_and_the_rest_imported(
    api: httpx.AsyncClient,
) -> None:
    body = (
        b"email,firstName,status,tags\n"
        b"not-an-email,Ann,,\n"
        b"\n"  # blank lines are skipped, and counted as lines
        b"bob@example.com,Bob,asleep,\n"
        b"cy@example.com,Cy,,\n"
        b"dee@example.com,Dee,,,extra\n"
        b",,,\n"  # a row of empty cells is skipped
        b"eve@example.com,Eve,,x\x01y\n"
        b"\xffbad@example.com,Bad,,\n"
        b"fay@example.com,Fay,,"  # no line break at the end
    )
    state = await imported(api, body)
    assert counts(state) == (7, 7, 2, 0, 0, 5)
    assert [(e["line"], e["message"].split(":")[0]) for e in state["errors"]] == [
        (2, "email"),
        (4, "status"),
        (6, "has 5 fields; the header has 4"),
        (8, "tags.0"),
        (9, "is not valid UTF-8"),
    ]
    assert sorted(await contacts_by_email(api)) == ["cy@example.com", "fay@example.com"]


async def test_duplicate_emails_in_a_file_apply_in_order(api: httpx.AsyncClient) -> None:
    body = (
        b"email,firstName,lastName,tags\n"
        b"ann@example.com,Ann,Lee,a\n"
        b"ANN@example.com,Annie,,b\n"
        b"bob@example.com,Bob,,\n"
    )
    state = await imported(api, body)
    assert counts(state) == (3, 3, 2, 1, 0, 0)
    ann = (await contacts_by_email(api))["ann@example.com"]  # the first spelling stays
    assert (ann["firstName"], ann["lastName"]) == ("Annie", None)  # the last row wins
    assert await names(api, ann["id"], "tags") == ["a", "b"]  # tags add up

    # Without update, the first row of a new email makes it; the others are skipped.
    body = b"email,firstName\ncy@example.com,Cy\ncy@example.com,Other\nann@example.com,X\n"
    state = await imported(api, body, update="false")
    assert counts(state) == (3, 3, 1, 0, 2, 0)
    found = await contacts_by_email(api)
    assert found["cy@example.com"]["firstName"] == "Cy"
    assert found["ann@example.com"]["firstName"] == "Annie"


async def test_update_false_skips_existing_emails(api: httpx.AsyncClient) -> None:
    ann = await created(api, "/v3/contacts", {"email": "Ann@Example.com", "firstName": "Ann"})
    body = b"email,firstName,tags\nann@example.com,Changed,vip\nbob@example.com,Bob,\n"
    state = await imported(api, body, update="false")
    assert counts(state) == (2, 2, 1, 0, 1, 0)
    found = await contacts_by_email(api)
    assert found["Ann@Example.com"] == ann  # untouched, and no tag added
    assert await names(api, ann["id"], "tags") == []
    # With update (the default), the row applies to the existing contact.
    state = await imported(api, body)
    assert counts(state) == (2, 2, 0, 2, 0, 0)
    again = (await contacts_by_email(api))["Ann@Example.com"]
    assert again["firstName"] == "Changed"
    assert again["updatedAt"] > ann["updatedAt"]
    assert await names(api, ann["id"], "tags") == ["vip"]


async def test_ndjson(api: httpx.AsyncClient) -> None:
    body = (
        b'{"email": "ann@example.com", "firstName": "Ann", "tags": ["vip"], "groups": ["G"]}\n'
        b"\n"
        b'{"email": "bob@example.com", "status": "bounced"}\r\n'
        b"[1, 2]\n"
        b'{"email": "cy@example.com", "age": 3}\n'
        b"{not json\n"
        b'{"email": "dee@example.com", "tags": "vip"}\n'
    )
    state = await imported(api, body, NDJSON)
    assert counts(state) == (6, 6, 2, 0, 0, 4)
    assert [(e["line"], e["message"]) for e in state["errors"]] == [
        (4, "is not a JSON object"),
        (5, "age: Extra inputs are not permitted"),
        (6, "is not valid JSON"),
        (7, "tags: Input should be a valid list"),
    ]
    found = await contacts_by_email(api)
    assert found["bob@example.com"]["status"] == "bounced"
    assert await names(api, found["ann@example.com"]["id"], "groups") == ["G"]


async def test_refused_bodies(api: httpx.AsyncClient) -> None:
    for body, fragment in (
        (b"email,first_name,Company\na@b.io,A,B\n", "'first_name', 'Company'"),
        (b"firstName\nAnn\n", "no email column"),
        (b"email,email\na@b.io,a@b.io\n", "named twice"),
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "empty"),
    ):
        detail = problem(await api.post("/v3/contactImports", content=body, headers=CSV), 422)
        assert fragment in detail["detail"], detail
    detail = problem(await api.post("/v3/contactImports", content=b"\n\n", headers=NDJSON), 422)
    assert "empty" in detail["detail"]
    for content_type in ("application/json", "text/plain", "text/csv; charset=latin-1", ""):
        r = await api.post(
            "/v3/contactImports", content=b"email\n", headers={"content-type": content_type}
        )
        problem(r, 415)
    listed = (await api.get("/v3/contactImports")).json()
    assert listed["meta"]["total"] == 0  # nothing was left behind
    # A header alone is an import of nothing.
    state = await imported(api, b"email,firstName\r\n", {"content-type": "text/csv; charset=utf-8"})
    assert (state["status"], counts(state)) == ("completed", (0, 0, 0, 0, 0, 0))


async def test_the_app_body_limit_does_not_apply(api: httpx.AsyncClient) -> None:
    rows = b"".join(b"user%d@example.com,%s\n" % (i, b"x" * 200) for i in range(6000))
    assert len(rows) > 1024 * 1024  # over ACTIVECOMMERCE_MAX_BODY_BYTES
    state = await imported(api, b"email,firstName\n" + rows)
    assert counts(state) == (6000, 6000, 6000, 0, 0, 0)


async def test_a_body_over_the_import_limit_is_413_and_leaves_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        fresh_database(tmp_path) as url,
        running_app(settings, database_url=url, max_import_bytes=200_000) as small,
    ):
        db = small.state.services.db
        info = await create_account(
            db, small.state.services.authenticator.secret, name="L", plan="plus"
        )
        api = asgi_client(small, headers={"Api-Token": info["sandboxApiKey"]})
        row = b"someone.with.a.long.address@example.com,Name\n"
        r = await api.post(
            "/v3/contactImports", content=b"email,firstName\n" + row * 5000, headers=CSV
        )
        assert "200000 bytes" in problem(r, 413)["detail"]  # declared: refused at once

        async def stream() -> AsyncIterator[bytes]:  # no length: found out while reading
            yield b"email,firstName\n"
            for _ in range(50):
                yield row * 200

        r = await api.post("/v3/contactImports", content=stream(), headers=CSV)
        problem(r, 413)
        listed = (await api.get("/v3/contactImports")).json()["data"]
        assert [i["status"] for i in listed] == ["failed"]  # it had staged rows
        assert listed[0]["errors"][0]["message"].startswith("The body is over the limit")
        assert listed[0]["processed"] == listed[0]["created"] == 0

        await wait_for(lambda: none_staged(db), what="the staged rows to be deleted")
        assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 0
        await api.aclose()


async def test_a_cut_off_body_fails_its_import_and_the_sweep_fails_stopped_ones(
    settings: Settings, tmp_path: Path
) -> None:
    async with fresh_database(tmp_path) as url, running_app(settings, database_url=url) as one:
        db = one.state.services.db
        info = await create_account(
            db, one.state.services.authenticator.secret, name="C", plan="plus"
        )
        principal = Principal(int(info["accountId"]), "sandbox", "plus", 0)
        api = asgi_client(one, headers={"Api-Token": info["sandboxApiKey"]})

        class Gone(Exception):
            pass

        async def cut_off() -> AsyncIterator[bytes]:
            yield b"email\n" + b"".join(b"u%d@example.com\n" % i for i in range(5000))
            raise Gone

        try:
            await service.receive(db, principal, "csv", True, cut_off())
        except Gone:
            pass
        else:
            raise AssertionError("the body's end was not noticed")
        [cut] = (await api.get("/v3/contactImports")).json()["data"]
        assert cut["status"] == "failed"
        assert cut["errors"][0]["message"].startswith("The body was cut off")

        # A process that died while receiving leaves its import `receiving` (shown as
        # queued); the worker's sweep fails it once it has not moved for a while.
        upload = service._Upload(db, principal, "csv", True)
        stopped = upload.read(_lines(b"email\n", 3000), None, None)
        task = asyncio.create_task(stopped)
        await wait_for(lambda: upload.import_id is not None, what="the first staged rows")
        task.cancel()
        listed = (await api.get("/v3/contactImports")).json()["data"]
        assert listed[0]["status"] == "queued"
        assert await service.sweep(db, stale_seconds=3600) == 0
        assert await service.sweep(db, stale_seconds=0) == 1
        stale = (await api.get(f"/v3/contactImports/{upload.import_id}")).json()
        assert stale["status"] == "failed"

        await wait_for(lambda: none_staged(db), what="the staged rows to be deleted")
        assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 0
        await api.aclose()


async def _lines(header: bytes, count: int) -> AsyncIterator[bytes]:
    yield header + b"".join(b"s%d@example.com\n" % i for i in range(count))
    await asyncio.Event().wait()  # and then nothing more, ever


async def test_many_batches_progress_and_duplicates_across_batches(
    settings: Settings, tmp_path: Path
) -> None:
    """Batches of 3 rows, the job run by hand: the import's progress is readable after
    every batch, and rows of one email in different batches still apply in order."""
    async with (
        fresh_database(tmp_path) as url,
        running_app(settings, database_url=url, embedded_worker=False) as quiet,
    ):
        db = quiet.state.services.db
        info = await create_account(
            db, quiet.state.services.authenticator.secret, name="P", plan="plus"
        )
        api = asgi_client(quiet, headers={"Api-Token": info["sandboxApiKey"]})
        rows = [b"u%d@example.com,First%d" % (i, i) for i in range(10)]
        rows[7] = b"u1@example.com,Again"  # line 9: u1 again, two batches later
        rows[4] = b"nope,Bad"  # line 6
        body = b"email,firstName\n" + b"\n".join(rows) + b"\n"
        state = await started(api, body)
        assert (state["status"], state["total"], state["processed"]) == ("queued", 10, 0)
        [job] = await queue.system_claim(db, "test-worker", 10, 30)
        seen: list[service.ImportView] = []
        await service.run(db, job, "test-worker", 3, progress=seen.append)
        assert [(s["status"], s["processed"]) for s in seen] == [
            ("running", 3),
            ("running", 6),
            ("running", 9),
            ("running", 10),
            ("completed", 10),
        ]
        assert seen[1]["errors"] == [{"line": 6, "message": seen[1]["errors"][0]["message"]}]
        final = (await api.get(f"/v3/contactImports/{state['id']}")).json()
        assert counts(final) == (10, 10, 8, 1, 0, 1)
        assert final == seen[-1]
        assert (await contacts_by_email(api))["u1@example.com"]["firstName"] == "Again"
        assert await staged_rows(db) == 0
        assert await queue.system_pending(db) == 0
        await api.aclose()


async def test_events_are_recorded_when_someone_listens(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    types = ("contact.created", "contact.updated", "contact.tagged", "contactTag.created")
    await imported(api, b"email,tags\nquiet@example.com,t\n")
    assert await recorded_events(app, account, *types) == []  # nobody listens: none

    receiver = Receiver()
    try:
        hook = await created(
            api, "/v3/webhooks", {"url": receiver.url, "events": ["contact.created"]}
        )
        await imported(api, b"email,firstName,tags\nann@example.com,Ann,vip\n")
        events = await recorded_events(app, account, *types)
        assert [t for t, _ in events] == ["contactTag.created", "contact.created", "contact.tagged"]
        made = events[1][1]
        contact = (await contacts_by_email(api))["ann@example.com"]
        assert made == contact  # the same object the API shows, as a created one's event
        assert events[2][1]["contactTag"]["name"] == "vip"
        await wait_for(lambda: len(receiver.received) == 1, what="the delivery")
        assert orjson.loads(receiver.received[0].body)["data"]["email"] == "ann@example.com"
        assert (await api.delete(f"/v3/webhooks/{hook['id']}")).status_code == 204
    finally:
        receiver.close()

    # An active automation with a contact_created trigger enrols imported contacts.
    automation = await created(
        api, "/v3/emailAutomations", {**EMAIL, "trigger": {"type": "contact_created"}}
    )
    state = await imported(api, b"email,firstName\nann@example.com,Annie\nbob@example.com,Bob\n")
    assert counts(state) == (2, 2, 1, 1, 0, 0)
    updated = [d for t, d in await recorded_events(app, account, "contact.updated")]
    assert [d["firstName"] for d in updated] == ["Annie"]

    async def enrolled() -> bool:
        report = (await api.get(f"/v3/emailAutomations/{automation['id']}/report")).json()
        return bool(report["enrolled"] == 1)

    await wait_for(enrolled, what="bob's enrolment")


async def test_export_round_trip_into_another_account(account: Account, other: Account) -> None:
    api = account.sandbox
    body = (
        b"email,firstName,lastName,phone,status,tags,groups\n"
        b'ann@example.com,"Lee, Ann",,+1 555,active,vip;new,G1\n'
        b"bob@example.com,Bob,B,,unsubscribed,,G1;G2\n"
        b'cy@example.com,"the ""one""",,,bounced,x,\n'
    )
    assert (await imported(api, body))["created"] == 3
    await created(api, "/v3/contacts", {"email": "dee@example.com"})
    r = await api.get("/v3/contacts/export")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    exported = r.content
    rows = list(csv.reader(io.StringIO(exported.decode())))
    assert rows[0] == ["email", "firstName", "lastName", "phone", "status", "tags", "groups"]
    assert rows[1] == ["ann@example.com", "Lee, Ann", "", "'+1 555", "active", "new;vip", "G1"]
    assert [row[0] for row in rows[1:]] == [
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
        "dee@example.com",
    ]

    again = await imported(other.sandbox, exported)
    assert counts(again) == (4, 4, 4, 0, 0, 0)
    assert (await other.sandbox.get("/v3/contacts/export")).content == exported

    def fields(found: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        keys = ("firstName", "lastName", "phone", "status")
        return {email: tuple(c[k] for k in keys) for email, c in found.items()}

    assert fields(await contacts_by_email(other.sandbox)) == fields(await contacts_by_email(api))

    # The list's filters apply.
    r = await api.get("/v3/contacts/export", params={"status": "unsubscribed"})
    assert [row[0] for row in csv.reader(io.StringIO(r.text))] == ["email", "bob@example.com"]
    tag = (await api.get("/v3/contactTags", params={"pageSize": "100"})).json()["data"]
    vip = next(t for t in tag if t["name"] == "vip")
    r = await api.get("/v3/contacts/export", params={"tagId": vip["id"], "q": "ann"})
    assert [row[0] for row in csv.reader(io.StringIO(r.text))] == ["email", "ann@example.com"]


async def test_export_pages_through_many_contacts(app: FastAPI, account: Account) -> None:
    from activecommerce.contacts.export import export_csv

    api = account.sandbox
    body = b"email,tags\n" + b"".join(b"p%d@example.com,t%d\n" % (i, i % 3) for i in range(2500))
    assert (await imported(api, body))["created"] == 2500
    principal = Principal(int(account.id), "sandbox", "plus", 0)
    chunks = [c async for c in export_csv(app.state.services.db, principal, {}, chunk=1000)]
    assert len(chunks) == 4  # the header, then one chunk of rows per 1,000 contacts
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 2501
    assert len({row[0] for row in rows[1:]}) == 2500
    assert {row[5] for row in rows[1:]} == {"t0", "t1", "t2"}
    r = await api.get("/v3/contacts/export", params={"q": "p1999@"})
    assert r.text.splitlines()[1:] == ["p1999@example.com,,,,active,t1,"]


async def test_another_accounts_import_is_404(account: Account, other: Account) -> None:
    mine = await started(account.sandbox, b"email\na@example.com\n")
    problem(await other.sandbox.get(f"/v3/contactImports/{mine['id']}"), 404)
    problem(await account.live.get(f"/v3/contactImports/{mine['id']}"), 404)  # other env
    problem(await account.sandbox.get("/v3/contactImports/x1"), 404)
    assert (await other.sandbox.get("/v3/contactImports")).json()["meta"]["total"] == 0
    assert (await finished(account.sandbox, mine["id"]))["created"] == 1
    assert (await other.sandbox.get("/v3/contacts")).json()["meta"]["total"] == 0


async def test_list_newest_first(api: httpx.AsyncClient) -> None:
    first = await imported(api, b"email\na@example.com\n")
    second = await imported(api, b"email\nb@example.com\n")
    listed = (await api.get("/v3/contactImports", params={"pageSize": "1"})).json()
    assert [i["id"] for i in listed["data"]] == [second["id"]]
    assert listed["meta"] == {"page": 1, "pageSize": 1, "total": 2, "totalPages": 2}
    page2 = (await api.get("/v3/contactImports", params={"pageSize": "1", "page": "2"})).json()
    assert [i["id"] for i in page2["data"]] == [first["id"]]


def test_batches_shrink_while_sqlite_transactions_are_slow() -> None:
    class Dialect:
        def __init__(self, dialect: str) -> None:
            self.dialect = dialect

    size = service.Sizer(Dialect("sqlite"), 500)  # type: ignore[arg-type]
    sizes = []
    for seconds in (0.03, 0.03, 0.03, 0.03, 0.03, 0.02, 0.001, 0.001, 0.001, 0.001, 0.001):
        size.took(seconds)
        sizes.append(size.rows)
    assert sizes == [250, 125, 62, 31, 25, 25, 50, 100, 200, 400, 500]
    small = service.Sizer(Dialect("sqlite"), 3)  # type: ignore[arg-type]
    small.took(1.0)
    assert small.rows == 3  # never more than asked for
    postgres = service.Sizer(Dialect("postgresql"), 5000)  # type: ignore[arg-type]
    postgres.took(1.0)
    assert postgres.rows == 5000  # its transactions do not hold the event loop


# ---------------------------------------------------------------- custom fields


async def _fields_of(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {email: c["fields"] for email, c in (await contacts_by_email(api)).items()}


async def _make_fields(api: httpx.AsyncClient) -> None:
    for body in (
        {"name": "City", "key": "city", "type": "text"},
        {"name": "Score", "key": "score", "type": "number"},
        {"name": "Birthday", "key": "born", "type": "date"},
        {"name": "VIP", "key": "vip", "type": "boolean", "defaultValue": False},
        {"name": "Plan", "key": "plan", "type": "dropdown", "options": ["Free", "Gold"]},
        {"name": "Topics", "key": "topics", "type": "multiselect", "options": ["a", "b", "c"]},
    ):
        await created(api, "/v3/contactFields", body)


async def test_csv_import_of_custom_fields(api: httpx.AsyncClient) -> None:
    await _make_fields(api)
    body = (
        # by key, by name (any case), by fields.<key>
        b"email,city,SCORE,Birthday,fields.vip,plan,topics\n"
        b"ann@example.com,=Oslo,-1.5,2024-02-29,yes,Gold,c; a;c\n"
        b"bob@example.com,,42,,0,,\n"
        b"cy@example.com,Rome,many,,,,\n"
        b"dee@example.com,,,2024-02-30,,,\n"
        b"eve@example.com,,,,maybe,,\n"
        b"fay@example.com,,,,,Silver,\n"
        b"gus@example.com,,,,,,a;z\n"
    )
    state = await imported(api, body)
    assert counts(state) == (7, 7, 2, 0, 0, 5)
    assert [e["line"] for e in state["errors"]] == [4, 5, 6, 7, 8]
    messages = [e["message"] for e in state["errors"]]
    for message, key in zip(messages, ("score", "born", "vip", "plan", "topics"), strict=True):
        assert message.startswith(f"fields.{key}: "), message
    found = await _fields_of(api)
    assert found["ann@example.com"] == {
        "city": "=Oslo",
        "score": -1.5,
        "born": "2024-02-29",
        "vip": True,
        "plan": "Gold",
        "topics": ["a", "c"],
    }
    assert found["bob@example.com"] == {"score": 42, "vip": False}
    # An update changes the columns given; an empty cell clears.
    again = b"email,city,score\nann@example.com,Bergen,\n"
    assert (await imported(api, again))["updated"] == 1
    assert (await _fields_of(api))["ann@example.com"] == {
        "city": "Bergen",
        "born": "2024-02-29",
        "vip": True,
        "plan": "Gold",
        "topics": ["a", "c"],
    }


async def test_unknown_field_column_is_refused(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/contactImports", content=b"email,city\na@example.com,x\n", headers=CSV)
    assert "'city'" in problem(r, 422)["detail"]


async def test_ndjson_import_of_custom_fields_and_required(api: httpx.AsyncClient) -> None:
    await _make_fields(api)
    await created(
        api,
        "/v3/contactFields",
        {"name": "Region", "key": "region", "type": "text", "required": True},
    )
    body = (
        b'{"email": "ann@example.com", "fields": {"region": "EU", "score": 3, "topics": ["b"]}}\n'
        b'{"email": "bob@example.com", "fields": {"score": 3}}\n'
        b'{"email": "cy@example.com", "fields": {"region": "EU", "score": "3"}}\n'
        b'{"email": "dee@example.com", "fields": {"region": "EU", "nope": 1}}\n'
    )
    state = await imported(api, body, NDJSON)
    assert counts(state) == (4, 4, 1, 0, 0, 3)
    assert [e["message"].split(":")[0] for e in state["errors"]] == [
        "fields.region",
        "fields.score",
        "fields.nope",
    ]
    assert (await _fields_of(api))["ann@example.com"] == {
        "region": "EU",
        "score": 3,
        "vip": False,
        "topics": ["b"],
    }
    # An existing contact may be updated without its required field in the row.
    state = await imported(api, b'{"email": "ann@example.com", "fields": {"score": 4}}\n', NDJSON)
    assert state["updated"] == 1
    assert (await _fields_of(api))["ann@example.com"]["score"] == 4


async def test_export_round_trip_of_custom_fields(account: Account, other: Account) -> None:
    api = account.sandbox
    await _make_fields(api)
    await _make_fields(other.sandbox)
    values: list[dict[str, Any]] = [
        {
            "city": '=HYPERLINK("x")',
            "score": -3,
            "born": "1999-12-31",
            "vip": True,
            "plan": "Gold",
            "topics": ["a", "c"],
        },
        {"city": 'Lee, "Ann"\nline two', "score": 2.5, "vip": False, "topics": ["b"]},
        {"score": 3.0, "vip": False},
    ]
    for i, fields in enumerate(values):
        await created(api, "/v3/contacts", {"email": f"p{i}@example.com", "fields": fields})
    r = await api.get("/v3/contacts/export")
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0][7:] == ["city", "score", "born", "vip", "plan", "topics"]
    assert rows[1][7:] == ['\'=HYPERLINK("x")', "'-3", "1999-12-31", "true", "Gold", "a;c"]
    again = await imported(other.sandbox, r.content)
    assert again["created"] == 3, again
    assert await _fields_of(other.sandbox) == await _fields_of(api)
    assert (await other.sandbox.get("/v3/contacts/export")).content == r.content


async def test_a_field_keyed_like_a_column_round_trips(account: Account, other: Account) -> None:
    for client in (account.sandbox, other.sandbox):
        await created(
            client, "/v3/contactFields", {"name": "Work email", "key": "email", "type": "text"}
        )
    await created(
        account.sandbox, "/v3/contacts", {"email": "a@example.com", "fields": {"email": "w@x.io"}}
    )
    r = await account.sandbox.get("/v3/contacts/export")
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0][7:] == ["fields.email"]
    assert (await imported(other.sandbox, r.content))["created"] == 1
    assert await _fields_of(other.sandbox) == {"a@example.com": {"email": "w@x.io"}}
