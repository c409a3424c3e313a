"""Tags, groups and brands in the console over HTTP, in process: their lists with the
maintained counts (linked to the filtered contacts list), create, rename (a clash is the
name's error), delete (a tag an automation's trigger names stays: its 409 is shown),
paging, and another account's objects are 404 pages."""

from __future__ import annotations

import html
import re

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, give_postal_address
from oauthflow import browser, field, new_user, sign_in

CAMPAIGN = {"name": "Welcome", "subject": "Hi", "fromEmail": "a@example.com"}


async def _signed_in(app: FastAPI, account: Account, b: httpx.AsyncClient) -> str:
    """Signs `b` in as a new owner of `account` (live); the CSRF token."""
    email = await new_user(app, account.id)
    assert (await sign_in(b, email, "/contacts")).status_code == 303
    return field((await b.get("/contacts/tags")).text, "csrf_token")


def _text(response: httpx.Response) -> str:
    return html.unescape(response.text)


async def test_tags_and_groups_list_count_rename_and_delete(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    vip = await created(api, "/v3/contactTags", {"name": "vip"})
    await created(api, "/v3/contactTags", {"name": "cold"})
    staff = await created(api, "/v3/contactGroups", {"name": "staff"})
    people = [
        (await created(api, "/v3/contacts", {"email": f"t{i}@example.com"}))["id"] for i in range(3)
    ]
    for contact_id in people:
        assert (await api.put(f"/v3/contacts/{contact_id}/tags/{vip['id']}")).status_code == 204
    assert (await api.put(f"/v3/contacts/{people[0]}/groups/{staff['id']}")).status_code == 204
    theirs = await created(other.live, "/v3/contactTags", {"name": "theirs"})
    await give_postal_address(api)  # an active live automation sends marketing email
    automation = await created(
        api,
        "/v3/emailAutomations",
        CAMPAIGN | {"trigger": {"type": "tag_added", "tagId": vip["id"]}},
    )

    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        tags = await b.get("/contacts/tags")
        assert tags.status_code == 200
        counts = dict(re.findall(r'data-testid="count-(\d+)">(\d+)<', tags.text))
        assert counts[vip["id"]] == "3"
        assert f'href="/contacts?tagId={vip["id"]}"' in tags.text
        assert "theirs" not in tags.text
        # Names in order; the contacts list the count links to shows those contacts.
        assert tags.text.index(">cold<") < tags.text.index(">vip<")
        listed = await b.get("/contacts", params={"tagId": vip["id"]})
        assert "3 contacts" in listed.text
        groups = await b.get("/contacts/groups")
        assert re.search(rf'data-testid="count-{staff["id"]}">1<', groups.text)
        assert f'href="/contacts?groupId={staff["id"]}"' in groups.text

        # Create; a clash is the name's error, the value kept.
        made = await b.post("/contacts/tags", data={"csrf_token": token, "name": "warm"})
        assert made.status_code == 303
        assert "warm" in [t["name"] for t in (await api.get("/v3/contactTags")).json()["data"]]
        clash = await b.post("/contacts/tags", data={"csrf_token": token, "name": "vip"})
        assert clash.status_code == 409
        assert 'id="f-name-help"' in clash.text
        assert "is taken by another tag" in clash.text
        blank = await b.post("/contacts/groups", data={"csrf_token": token, "name": ""})
        assert blank.status_code == 422
        assert 'id="f-name-help"' in blank.text

        # Rename: a clash keeps what was typed; then a new name is saved.
        page = await b.get(f"/contacts/tags/{vip['id']}")
        assert page.status_code == 200
        assert 'data-testid="count">3 contacts<' in page.text
        taken = await b.post(
            f"/contacts/tags/{vip['id']}", data={"csrf_token": token, "name": "cold"}
        )
        assert taken.status_code == 409
        assert "is taken by another tag" in taken.text
        assert 'value="cold"' in taken.text
        renamed = await b.post(
            f"/contacts/tags/{vip['id']}", data={"csrf_token": token, "name": "VIP <b>"}
        )
        assert renamed.status_code == 303
        shown = (await api.get(f"/v3/contactTags/{vip['id']}")).json()
        assert shown["name"] == "VIP <b>"
        assert "VIP &lt;b&gt;" in (await b.get("/contacts/tags")).text

        # Delete: a tag the automation's trigger names stays, the 409 shown; then it goes.
        confirm = await b.get(f"/contacts/tags/{vip['id']}/delete")
        assert confirm.status_code == 200
        assert "3 contacts lose this tag" in confirm.text
        refused = await b.post(f"/contacts/tags/{vip['id']}/delete", data={"csrf_token": token})
        assert refused.status_code == 409
        assert 'role="alert"' in refused.text
        assert "Welcome" in _text(refused)
        assert (await api.get(f"/v3/contactTags/{vip['id']}")).status_code == 200
        assert (await api.delete(f"/v3/emailAutomations/{automation['id']}")).status_code == 204
        gone = await b.post(f"/contacts/tags/{vip['id']}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        assert (await api.get(f"/v3/contactTags/{vip['id']}")).status_code == 404
        left = await b.post(f"/contacts/groups/{staff['id']}/delete", data={"csrf_token": token})
        assert left.status_code == 303
        assert (await api.get(f"/v3/contacts/{people[0]}")).status_code == 200

        # Another account's tag is a 404 page, read or written.
        for path in (f"/contacts/tags/{theirs['id']}", f"/contacts/tags/{theirs['id']}/delete"):
            answer = await b.get(path)
            assert answer.status_code == 404, path
            assert "text/html" in answer.headers["content-type"]
        for path in (f"/contacts/tags/{theirs['id']}", f"/contacts/tags/{theirs['id']}/delete"):
            answer = await b.post(path, data={"csrf_token": token, "name": "mine"})
            assert answer.status_code == 404, path
    assert (await other.live.get(f"/v3/contactTags/{theirs['id']}")).json()["name"] == "theirs"


async def test_tags_are_paged_by_name(app: FastAPI, account: Account) -> None:
    api = account.live
    for i in range(27):
        await created(api, "/v3/contactTags", {"name": f"tag-{i:02d}"})
    async with browser(app) as b:
        await _signed_in(app, account, b)
        first = await b.get("/contacts/tags")
        assert "tag-00" in first.text
        assert "tag-24" in first.text
        assert "tag-25" not in first.text
        following = re.search(r'href="(/contacts/tags\?after=[^"]+)"', first.text)
        assert following is not None
        second = await b.get(html.unescape(following.group(1)), headers={"HX-Request": "true"})
        assert second.text.lstrip().startswith('<div id="results">')
        assert "tag-25" in second.text
        assert "tag-26" in second.text
        assert "tag-24" not in second.text
        assert 'href="/contacts/tags"' in second.text  # back to the first page


async def test_brands_create_edit_and_delete(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    theirs = await created(other.live, "/v3/brands", {"name": "Theirs"})
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        empty = await b.get("/campaigns/brands")
        assert empty.status_code == 200
        assert "No brands yet" in empty.text
        assert 'href="/campaigns/brands"' in (await b.get("/campaigns")).text
        bad = await b.post(
            "/campaigns/brands",
            data={"csrf_token": token, "name": "Shop", "from_email": "not-an-email"},
        )
        assert bad.status_code == 422
        assert 'id="f-from_email-help"' in bad.text
        assert 'value="Shop"' in bad.text
        made = await b.post(
            "/campaigns/brands",
            data={
                "csrf_token": token,
                "name": "Shop",
                "from_email": "news@shop.example",
                "from_name": "The Shop",
                "postal_address": "1 Main St\nSpringfield",
            },
        )
        assert made.status_code == 303
        (brand,) = (await api.get("/v3/brands")).json()["data"]
        assert brand["fromEmail"] == "news@shop.example"
        assert brand["postalAddress"] == "1 Main St\nSpringfield"
        listed = await b.get("/campaigns/brands")
        assert "The Shop &lt;news@shop.example&gt;" in listed.text
        clash = await b.post("/campaigns/brands", data={"csrf_token": token, "name": "Shop"})
        assert clash.status_code == 303  # brand names need not be unique

        edit = await b.get(f"/campaigns/brands/{brand['id']}")
        assert edit.status_code == 200
        assert "1 Main St\nSpringfield</textarea>" in edit.text
        saved = await b.post(
            f"/campaigns/brands/{brand['id']}",
            data={"csrf_token": token, "name": "Shop & Co", "from_email": "", "from_name": ""},
        )
        assert saved.status_code == 303
        after = (await api.get(f"/v3/brands/{brand['id']}")).json()
        assert after["name"] == "Shop & Co"
        assert after["fromEmail"] is None
        assert after["postalAddress"] is None  # the form is the whole brand (a PUT)
        refused = await b.post(
            f"/campaigns/brands/{brand['id']}",
            data={"csrf_token": token, "name": "", "from_email": "x@example.com"},
        )
        assert refused.status_code == 422
        assert 'id="f-name-help"' in refused.text
        assert 'value="x@example.com"' in refused.text

        confirm = await b.get(f"/campaigns/brands/{brand['id']}/delete")
        assert confirm.status_code == 200
        deleted = await b.post(
            f"/campaigns/brands/{brand['id']}/delete", data={"csrf_token": token}
        )
        assert deleted.status_code == 303
        assert (await api.get(f"/v3/brands/{brand['id']}")).status_code == 404

        for path in (
            f"/campaigns/brands/{theirs['id']}",
            f"/campaigns/brands/{theirs['id']}/delete",
        ):
            assert (await b.get(path)).status_code == 404, path
            posted = await b.post(path, data={"csrf_token": token, "name": "Mine"})
            assert posted.status_code == 404, path
    assert (await other.live.get(f"/v3/brands/{theirs['id']}")).json()["name"] == "Theirs"
