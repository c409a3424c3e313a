"""The contacts pages over HTTP, in process (no browser): a contact's activity outlives
the pruned events and goes with the contact; forms' errors; isolation; bulk tagging;
the upload's checks; imports write activity whoever listens."""

from __future__ import annotations

import html
import re

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, deal_setup, wait_for
from oauthflow import browser, field, new_user, sign_in

from activecommerce.jobs.retention import system_prune_events


async def _signed_in(app: FastAPI, account: Account, b: httpx.AsyncClient) -> str:
    """Signs `b` in as a new owner of `account` (the console opens its live data); the
    CSRF token."""
    email = await new_user(app, account.id)
    assert (await sign_in(b, email, "/contacts")).status_code == 303
    return field((await b.get("/contacts/new")).text, "csrf_token")


async def _activity_count(app: FastAPI, contact_id: str) -> int:
    row = await app.state.services.db.fetchone(
        "SELECT count(*) AS n FROM contact_activity WHERE contact_id = ?", (int(contact_id),)
    )
    assert row is not None
    return int(row["n"])


async def test_activity_survives_event_pruning_and_goes_with_the_contact(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    _pipeline, _stage, _status, deal = await deal_setup(api)
    contact_id = deal["contact"]
    tag = await created(api, "/v3/contactTags", {"name": "vip"})
    assert (await api.put(f"/v3/contacts/{contact_id}/tags/{tag['id']}")).status_code == 204
    patched = await api.patch(f"/v3/contacts/{contact_id}", json={"firstName": "Ada"})
    assert patched.status_code == 200
    # contact.created, deal.created, contact.tagged, contact.updated
    assert await _activity_count(app, contact_id) == 4

    db = app.state.services.db
    assert await system_prune_events(db, -1) > 0  # every event is older than tomorrow
    left = await db.fetchone(
        "SELECT count(*) AS n FROM events WHERE account_id = ?", (int(account.id),)
    )
    assert left is not None
    assert left["n"] == 0
    assert await _activity_count(app, contact_id) == 4

    async with browser(app) as b:
        await _signed_in(app, account, b)
        shown = await b.get(f"/contacts/{contact_id}")
        assert shown.status_code == 200
        text = shown.text
        for kind in ("contact.created", "deal.created", "contact.tagged", "contact.updated"):
            assert kind in text
        # Newest first.
        assert text.index("contact.updated") < text.index("contact.created")
        assert "Big" in text
        assert "vip" in text
        # Paged, newest first: 24 entries are a page of 20 and one of 4.
        for i in range(20):
            await api.patch(f"/v3/contacts/{contact_id}", json={"phone": f"+1555000{i:02d}"})
        first = await b.get(f"/contacts/{contact_id}")
        # besides created / updated, and the consent record (its own section)
        assert first.text.count("<time datetime=") - 3 == 20
        older = re.search(r'href="(/contacts/\d+\?before=\d+)"', first.text)
        assert older is not None
        fragment = await b.get(html.unescape(older.group(1)), headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<div id="activity">')
        assert fragment.text.count("<li>") == 4
        assert "contact.created" in fragment.text
        assert "?before=" not in fragment.text

    assert (await api.delete(f"/v3/contacts/{contact_id}")).status_code == 204
    assert await _activity_count(app, contact_id) == 0


async def test_forms_show_the_apis_errors_and_other_accounts_are_404(
    app: FastAPI, account: Account, other: Account
) -> None:
    theirs = await created(other.live, "/v3/contacts", {"email": "theirs@example.com"})
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        bad = await b.post(
            "/contacts/new", data={"csrf_token": token, "email": "not-an-email", "status": "x"}
        )
        assert bad.status_code == 422
        assert 'id="f-email-help"' in bad.text
        assert 'id="f-status-help"' in bad.text
        assert 'value="not-an-email"' in bad.text  # the values are kept
        ok = await b.post("/contacts/new", data={"csrf_token": token, "email": "a@example.com"})
        assert ok.status_code == 303
        again = await b.post("/contacts/new", data={"csrf_token": token, "email": "A@example.com"})
        assert again.status_code == 409
        assert "already exists" in again.text
        for path in (
            f"/contacts/{theirs['id']}",
            f"/contacts/{theirs['id']}/edit",
            f"/contacts/{theirs['id']}/delete",
            "/contacts/nope",
        ):
            answer = await b.get(path)
            assert answer.status_code == 404, path
            assert "text/html" in answer.headers["content-type"]
        gone = await b.post(f"/contacts/{theirs['id']}/delete", data={"csrf_token": token})
        assert gone.status_code == 404
    assert (await other.live.get(f"/v3/contacts/{theirs['id']}")).status_code == 200


async def test_bulk_tag_and_untag_through_the_membership_service(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    ids = [
        (await created(api, "/v3/contacts", {"email": f"b{i}@example.com"}))["id"] for i in range(3)
    ]
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        tagged = await b.post(
            "/contacts/bulk",
            data={
                "csrf_token": token,
                "ids": ids[:2],
                "new_tag": "Summer",
                "action": "tag",
                "back": "/contacts?q=b",
            },
        )
        assert tagged.status_code == 303
        assert tagged.headers["location"] == "/contacts?q=b"
        tags = (await api.get("/v3/contactTags")).json()["data"]
        (summer,) = [t for t in tags if t["name"] == "Summer"]
        for contact_id, has in zip(ids, (True, True, False), strict=True):
            names = [
                t["name"] for t in (await api.get(f"/v3/contacts/{contact_id}/tags")).json()["data"]
            ]
            assert ("Summer" in names) is has
        listed = await b.get("/contacts", params={"tagId": summer["id"]})
        assert listed.text.count('name="ids"') == 2
        assert "2 contacts" in listed.text
        # htmx asks for the results only.
        fragment = await b.get(
            "/contacts", params={"tagId": summer["id"]}, headers={"HX-Request": "true"}
        )
        assert '<div id="results">' in fragment.text
        assert "<html" not in fragment.text
        untagged = await b.post(
            "/contacts/bulk",
            data={"csrf_token": token, "ids": ids[0], "tag": summer["id"], "action": "untag"},
        )
        assert untagged.status_code == 303
        names = [t["name"] for t in (await api.get(f"/v3/contacts/{ids[0]}/tags")).json()["data"]]
        assert names == []
        bad = await b.get("/contacts", params={"sortBy": "nope", "cursor": "!!"})
        assert bad.status_code == 200
        assert 'role="alert"' in bad.text


async def test_the_upload_is_checked_and_imports_record_activity(
    app: FastAPI, account: Account
) -> None:
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        empty = await b.post(
            "/contacts/imports/upload",
            data={"csrf_token": token},
            files={"file": ("empty.csv", b"\n\n", "text/csv")},
        )
        assert empty.status_code == 422
        assert "header row" in empty.text
        csv = b"E-mail,Given,Ignored\r\nann@example.com,Ann,x\r\nbob@example.com,Bob,y\r\n"
        mapped = await b.post(
            "/contacts/imports/upload",
            data={"csrf_token": token, "update": "on"},
            files={"file": ("people.csv", csv, "text/csv")},
        )
        assert mapped.status_code == 200
        upload = field(mapped.text, "token")
        assert re.search(r'<option value="email" selected>', mapped.text)  # guessed
        # A mapping without an email column is refused by the import's own checks.
        refused = await b.post(
            "/contacts/imports/start",
            data={"csrf_token": token, "token": upload, "column-0": "ignore"},
        )
        assert refused.status_code == 422
        assert "no email column" in html.unescape(refused.text)
        started = await b.post(
            "/contacts/imports/start",
            data={
                "csrf_token": token,
                "token": upload,
                "column-0": "email",
                "column-1": "firstName",
                "column-2": "ignore",
                "update": "on",
            },
        )
        assert started.status_code == 303
        progress_path = started.headers["location"]
        assert re.fullmatch(r"/contacts/imports/\d+", progress_path)
        shown = await b.get(progress_path)
        assert shown.status_code == 200
        assert "<progress" in shown.text
        # The temporary file is gone: the same token cannot start a second import.
        again = await b.post(
            "/contacts/imports/start",
            data={"csrf_token": token, "token": upload, "column-0": "email"},
        )
        assert again.headers["location"] == "/contacts/imports/new"

        async def done() -> bool:
            return "completed" in (await b.get(progress_path)).text

        await wait_for(done, 30, "the import")
        final = (await b.get(progress_path)).text
        assert re.search(r'data-testid="created">2<', final)
    contacts = (await account.live.get("/v3/contacts", params={"q": "example.com"})).json()
    ann = next(c for c in contacts["data"] if c["email"] == "ann@example.com")
    assert ann["firstName"] == "Ann"
    rows = await app.state.services.db.fetchall(
        "SELECT type, data FROM contact_activity WHERE contact_id = ?", (int(ann["id"]),)
    )
    assert [(r["type"], r["data"]) for r in rows] == [("contact.imported", '{"action":"created"}')]


async def test_the_mapping_is_filled_in_from_other_tools_headers(
    app: FastAPI, account: Account
) -> None:
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        csv = (
            b"Email Address,First Name,last_name,Phone Number,Mobile,Company\r\n"
            b"ann@example.com,Ann,Lee,+1 555 0100,+1 555 0101,ACME\r\n"
        )
        mapped = await b.post(
            "/contacts/imports/upload",
            data={"csrf_token": token, "update": "on"},
            files={"file": ("export.csv", csv, "text/csv")},
        )
        assert mapped.status_code == 200
        chosen = re.findall(
            r'<select id="column-(\d)".*?<option value="(\w+)" selected>', mapped.text, re.S
        )
        assert chosen == [
            ("0", "email"),
            ("1", "firstName"),
            ("2", "lastName"),
            ("3", "phone"),
            ("4", "ignore"),  # the phone is taken by the column before
            ("5", "ignore"),
        ]
        # The guesses start as they are.
        upload = field(mapped.text, "token")
        columns = {f"column-{i}": value for i, value in chosen}
        started = await b.post(
            "/contacts/imports/start",
            data={"csrf_token": token, "token": upload, "update": "on", **columns},
        )
        assert started.status_code == 303
        progress_path = started.headers["location"]

        async def done() -> bool:
            return "completed" in (await b.get(progress_path)).text

        await wait_for(done, 30, "the import")
    listed = (await account.live.get("/v3/contacts", params={"email": "ann@example.com"})).json()
    (ann,) = listed["data"]
    assert (ann["firstName"], ann["lastName"], ann["phone"]) == ("Ann", "Lee", "+1 555 0100")
