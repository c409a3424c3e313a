"""Personal data (preferences on the unsubscribe page, the export, erasure), through
HTTP on the capture transport, on both databases."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, created, problem, recorded_events, wait_for

from activecommerce.consent import service as consent
from activecommerce.kit.principal import Principal
from activecommerce.kit.tables import metadata


async def _emails(api: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    r = await api.get("/v3/sandbox/emails", params={"pageSize": "100", **query})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def _links(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _unsubscribe_path(mail: dict[str, Any]) -> str:
    return str(urlsplit(mail["headers"]["List-Unsubscribe"].strip("<>")).path)


async def _group(api: httpx.AsyncClient, name: str, public: bool) -> dict[str, Any]:
    return dict(await created(api, "/v3/contactGroups", {"name": name, "public": public}))


async def _join(api: httpx.AsyncClient, contact: dict[str, Any], group: dict[str, Any]) -> None:
    r = await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
    assert r.status_code == 204, r.text


async def _group_ids(api: httpx.AsyncClient, contact: dict[str, Any]) -> set[str]:
    r = await api.get(f"/v3/contacts/{contact['id']}/groups")
    assert r.status_code == 200, r.text
    return {g["id"] for g in r.json()["data"]}


async def _mail_to(
    api: httpx.AsyncClient, address: str, group: dict[str, Any], **campaign: Any
) -> dict[str, Any]:
    brand = await created(api, "/v3/brands", {"name": "Acme <News>", "postalAddress": "1 Main St"})
    made = await created(api, "/v3/emailCampaigns", {**EMAIL, "brandId": brand["id"], **campaign})
    r = await api.post(
        f"/v3/emailCampaigns/{made['id']}/send", json={"audience": {"groupIds": [group["id"]]}}
    )
    assert r.status_code == 202, r.text

    async def arrived() -> bool:
        return len(await _emails(api, to=address)) >= 1

    await wait_for(arrived, what="the email")
    return (await _emails(api, to=address))[0]


async def _setup(api: httpx.AsyncClient) -> dict[str, Any]:
    news = await _group(api, "News", True)
    offers = await _group(api, "Offers & deals", True)
    staff = await _group(api, "Staff only", False)
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com", "firstName": "Ann"})
    for group in (news, offers, staff):
        await _join(api, ann, group)
    mail = await _mail_to(api, "ann@example.com", news)
    return {"news": news, "offers": offers, "staff": staff, "ann": ann, "mail": mail}


async def _status(api: httpx.AsyncClient, contact: dict[str, Any]) -> str:
    return str((await api.get(f"/v3/contacts/{contact['id']}")).json()["status"])


async def test_preferences_leave_one_public_group_and_stay_subscribed(
    app: FastAPI, account: Account, api: httpx.AsyncClient, other: Account
) -> None:
    s = await _setup(api)
    foreign = await _group(other.sandbox, "Theirs", True)
    path = _unsubscribe_path(s["mail"])
    async with _links(app) as links:
        page = await links.get(path)
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script" not in page.text
        assert "style=" not in page.text
        assert "News" in page.text
        assert "Offers &amp; deals" in page.text
        assert "Acme &lt;News&gt;" in page.text  # the brand, escaped
        assert "Staff only" not in page.text  # a private group is not shown
        assert "Save preferences" in page.text
        assert "Unsubscribe from all" in page.text
        # A GET changes nothing.
        assert await _group_ids(api, s["ann"]) == {
            s["news"]["id"],
            s["offers"]["id"],
            s["staff"]["id"],
        }
        saved = await links.post(
            path,
            data={
                "action": "save",
                # News kept; Offers unticked; forged ids (a private group, another
                # account's, none) are passed over.
                "keep": [s["news"]["id"], "999999", foreign["id"]],
            },
        )
        assert saved.status_code == 200, saved.text
        assert "Preferences saved" in saved.text
    assert await _status(api, s["ann"]) == "active"
    assert await _group_ids(api, s["ann"]) == {s["news"]["id"], s["staff"]["id"]}
    removed = await recorded_events(app, account, "contact.removed_from_group")
    assert [d["contactGroup"]["id"] for _, d in removed] == [s["offers"]["id"]]
    assert await recorded_events(app, account, "contact.unsubscribed") == []


async def test_unsubscribe_from_all_and_one_click(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    s = await _setup(api)
    path = _unsubscribe_path(s["mail"])
    async with _links(app) as links:
        done = await links.post(path, data={"action": "all", "keep": [s["news"]["id"]]})
        assert done.status_code == 200
        assert "Unsubscribed" in done.text
        assert (await links.post(path[:-2] + "xx", data={"action": "all"})).status_code == 404
        assert (await links.get(path[:-2] + "xx")).status_code == 404
        huge = await links.post(
            path,
            content=b"keep=" + b"1" * 70_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert huge.status_code == 413
    assert await _status(api, s["ann"]) == "unsubscribed"
    # Groups stay as they were (the person is unsubscribed from everything anyway).
    assert len(await _group_ids(api, s["ann"])) == 3
    bob = await created(api, "/v3/contacts", {"email": "bob@example.com"})
    await _join(api, bob, s["offers"])
    mail = await _mail_to(api, "bob@example.com", s["offers"])
    async with _links(app) as links:
        one_click = await links.post(
            _unsubscribe_path(mail),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
    assert await _status(api, bob) == "unsubscribed"


async def test_an_unsubscribe_after_the_contact_was_deleted_still_lists_the_address(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    news = await _group(api, "News", True)
    cy = await created(api, "/v3/contacts", {"email": "cy@example.com"})
    await _join(api, cy, news)
    mail = await _mail_to(api, "cy@example.com", news)
    assert (await api.delete(f"/v3/contacts/{cy['id']}")).status_code == 204
    async with _links(app) as links:
        done = await links.post(_unsubscribe_path(mail), data={"action": "all"})
        assert done.status_code == 200, done.text
    r = await api.get("/v3/suppressions", params={"email": "cy@example.com"})
    assert [e["reason"] for e in r.json()["data"]] == ["unsubscribed"]
    again = await created(api, "/v3/contacts", {"email": "cy@example.com"})
    assert again["status"] == "unsubscribed"


async def test_a_test_copys_link_says_so_and_changes_nothing(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    news = await _group(api, "News", True)
    ann = await created(api, "/v3/contacts", {"email": "ann@example.com", "firstName": "Ann"})
    await _join(api, ann, news)
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": ["ann@example.com"]}
    )
    assert r.status_code == 202, r.text

    async def arrived() -> bool:
        return len(await _emails(api, campaignId=campaign["id"])) == 1

    await wait_for(arrived, what="the test copy")
    path = _unsubscribe_path((await _emails(api, campaignId=campaign["id"]))[0])
    async with _links(app) as links:
        page = await links.get(path)
        assert page.status_code == 200
        assert "test email" in page.text
        assert "<form" not in page.text
        for body in ({"action": "all"}, {"action": "save"}):
            answer = await links.post(path, data=body)
            assert answer.status_code == 200
            assert "test email" in answer.text
        one_click = await links.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert "test email" in one_click.text
    assert await _status(api, ann) == "active"
    assert await _group_ids(api, ann) == {news["id"]}


async def test_the_export_holds_everything_and_only_the_callers(
    app: FastAPI, api: httpx.AsyncClient, other: Account
) -> None:
    field = await created(
        api, "/v3/contactFields", {"name": "Shoe size", "key": "shoe_size", "type": "text"}
    )
    assert field["key"] == "shoe_size"
    news = await _group(api, "News", True)
    tag = await created(api, "/v3/contactTags", {"name": "VIP"})
    ann = await created(
        api,
        "/v3/contacts",
        {"email": "ann@example.com", "firstName": "Ann", "fields": {"shoe_size": "38"}},
    )
    await _join(api, ann, news)
    assert (await api.put(f"/v3/contacts/{ann['id']}/tags/{tag['id']}")).status_code == 204
    pipeline = await created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Lead"})
    await created(
        api,
        "/v3/deals",
        {"name": "Big", "pipelineId": pipeline["id"], "stageId": stage["id"], "contact": ann["id"]},
    )
    mail = await _mail_to(api, "ann@example.com", news)
    pixel = urlsplit(str(mail["html"]).split('src="')[-1].split('"')[0]).path
    if pixel.startswith("/e/o/"):
        async with _links(app) as links:
            assert (await links.get(pixel)).status_code == 200

    r = await api.get(f"/v3/contacts/{ann['id']}/dataExport")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["contact"]["email"] == "ann@example.com"
    assert doc["contact"]["fields"] == {"shoe_size": "38"}
    assert [g["name"] for g in doc["groups"]] == ["News"]
    assert [t["name"] for t in doc["tags"]] == ["VIP"]
    assert [d["name"] for d in doc["deals"]] == ["Big"]
    assert len(doc["sentEmails"]) == 1
    assert doc["sentEmails"][0]["name"] == EMAIL["name"]
    if pixel.startswith("/e/o/"):
        assert doc["sentEmails"][0]["openCount"] == 1
    types = {a["type"] for a in doc["activity"]}
    assert {"contact.created", "contact.added_to_group", "contact.tagged"} <= types
    assert doc["truncated"] is False
    assert doc["formSubmissions"] == []
    # Another account's contact is a 404, for the export and the erasure.
    problem(await other.sandbox.get(f"/v3/contacts/{ann['id']}/dataExport"), 404)
    problem(await other.sandbox.post(f"/v3/contacts/{ann['id']}/erase"), 404)
    problem(await api.get("/v3/contacts/nope/dataExport"), 404)
    assert await _status(api, ann) == "active"


async def _dump(app: FastAPI) -> list[tuple[str, str, str]]:
    """Every text value of every table: (table, column, value)."""
    db = app.state.services.db
    found: list[tuple[str, str, str]] = []
    for table in metadata.sorted_tables:
        columns = [
            c.name
            for c in table.columns
            if any(k in str(c.type).upper() for k in ("CHAR", "TEXT", "JSON"))
        ]
        if not columns:
            continue
        rows = await db.fetchall(f"SELECT {', '.join(columns)} FROM {table.name}")
        for row in rows:
            for column in columns:
                if row[column] is not None:
                    found.append((table.name, column, str(row[column]).lower()))
    return found


async def test_erase_leaves_no_trace_but_the_keyed_hash(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    unique = uuid.uuid4().hex[:10]
    address = f"Erin.{unique}@Example.com"
    first, last = f"Erinfirst{unique}", f"Erinlast{unique}"
    news = await _group(api, "News", True)
    tag = await created(api, "/v3/contactTags", {"name": "VIP"})
    r = await api.post(
        "/v3/contacts",
        json={"email": address, "firstName": first, "lastName": last},
        headers={"Idempotency-Key": f"k-{unique}"},
    )
    assert r.status_code == 201, r.text
    erin = r.json()
    await _join(api, erin, news)
    assert (await api.put(f"/v3/contacts/{erin['id']}/tags/{tag['id']}")).status_code == 204
    pipeline = await created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Lead"})
    deal = await created(
        api,
        "/v3/deals",
        {
            "name": "Big",
            "pipelineId": pipeline["id"],
            "stageId": stage["id"],
            "contact": erin["id"],
        },
    )
    mail = await _mail_to(
        api, address.lower(), news, subject="Hi {{ contact.firstName }} {{ contact.lastName }}"
    )
    assert first in mail["subject"]
    # A test copy to the address, and an import line that held it.
    campaign = await created(api, "/v3/emailCampaigns", EMAIL)
    r = await api.post(f"/v3/emailCampaigns/{campaign['id']}/test", json={"emails": [address]})
    assert r.status_code == 202, r.text
    csv = f"email,firstName,lastName\n{address},{first},{last}\nkeep{unique}@x.io,Kim,Keep\n"
    r = await api.post(
        "/v3/contactImports", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 202, r.text
    imported = r.json()

    async def settled() -> bool:
        done = (await api.get(f"/v3/contactImports/{imported['id']}")).json()["status"]
        copies = await _emails(api, campaignId=campaign["id"])
        return done not in ("queued", "running") and len(copies) == 1

    await wait_for(settled, what="the import and the test copy")
    # A form submission of the address (the forms domain's rows).
    db = app.state.services.db
    principal = Principal.acting_for(int(account.id), "sandbox")
    async with db.transaction() as conn:
        form = await conn.fetchone(
            "INSERT INTO forms (account_id, env, public_id, name, fields, group_ids, tag_ids,"
            " double_opt_in, created_at, updated_at) VALUES (?, ?, ?, 'Signup', '[]', '[]',"
            " '[]', ?, 'now', 'now') RETURNING id",
            (int(account.id), "sandbox", unique, True),
        )
        assert form is not None
        for contact_id in (int(erin["id"]), None):
            await conn.execute(
                "INSERT INTO form_submissions (account_id, env, form_id, contact_id, email,"
                " data, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'confirmed',"
                " 'now', 'now')",
                (
                    int(account.id),
                    "sandbox",
                    int(form["id"]),
                    contact_id,
                    address,
                    orjson.dumps({"firstName": first, "email": address}).decode(),
                ),
            )
    needles = (address.lower(), first.lower(), last.lower())
    assert any(n in v for _, _, v in await _dump(app) for n in needles)

    r = await api.post(f"/v3/contacts/{erin['id']}/erase")
    assert r.status_code == 202, r.text
    assert r.json() == {"id": erin["id"], "status": "erasing"}
    problem(await api.get(f"/v3/contacts/{erin['id']}"), 404)  # gone at once
    erased = await recorded_events(app, account, "contact.erased")
    assert erased == [("contact.erased", {"id": erin["id"]})]
    assert await recorded_events(app, account, "contact.deleted") == []

    async def clean() -> bool:
        return not [t for t, c, v in await _dump(app) if any(n in v for n in needles)]

    await wait_for(clean, timeout=30, what="every trace of the person to go")
    # Only the keyed hash is kept: found by the address, nothing readable.
    entry = await consent.suppression_of(db, principal, address.upper())
    assert entry is not None
    assert entry["email"] is None
    assert entry["reason"] == "erased"
    # The rest of the account is untouched: the deal stays (without its contact), and
    # the other imported contact too.
    assert (await api.get(f"/v3/deals/{deal['id']}")).json().get("contact") is None
    r = await api.get("/v3/contacts", params={"email": f"keep{unique}@x.io"})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 1


async def test_an_address_already_suppressed_keeps_its_reason_without_the_address(
    app: FastAPI, account: Account, api: httpx.AsyncClient
) -> None:
    db = app.state.services.db
    principal = Principal.acting_for(int(account.id), "sandbox")
    bea = await created(api, "/v3/contacts", {"email": "bea@example.com", "status": "bounced"})
    # Created bounced by the account: on the list already, with that reason.
    before = await consent.suppression_of(db, principal, "bea@example.com")
    assert before is not None
    assert before["reason"] == "bounced"
    r = await api.post(f"/v3/contacts/{bea['id']}/erase")
    assert r.status_code == 202, r.text
    entry = await consent.suppression_of(db, principal, "BEA@example.com")
    assert entry is not None
    assert entry["email"] is None
    assert entry["reason"] == "bounced"
