"""Custom fields in the console over HTTP, in process: the fields page's create, edit and
delete with the API's refusals on the form; a contact's form and page with its custom
fields (PATCH merges, an emptied input clears, errors at the input); the import mapping
offers and guesses the account's fields; other accounts stay invisible."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created, wait_for
from oauthflow import browser, field, new_user, sign_in


async def _signed_in(app: FastAPI, account: Account, b: httpx.AsyncClient) -> str:
    email = await new_user(app, account.id)
    assert (await sign_in(b, email, "/contacts")).status_code == 303
    return str(field((await b.get("/contacts/new")).text, "csrf_token"))


async def _post(b: httpx.AsyncClient, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    """A form with repeated names (the shown keys, a multiselect's ticks)."""
    return await b.post(
        path,
        content=urlencode(pairs),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def _help(page: str, name: str) -> str:
    """The error text shown under the input named `name`."""
    found = re.search(rf'<small id="f-{re.escape(name)}-help" class="field-error">([^<]*)<', page)
    assert found is not None, f"no error shown for {name}"
    return html.unescape(found.group(1))


async def test_fields_page_creates_edits_and_deletes_with_the_apis_refusals(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    theirs = await created(
        other.live, "/v3/contactFields", {"name": "X", "key": "x", "type": "text"}
    )
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        listed = await b.get("/contacts")
        assert 'href="/contacts/fields"' in listed.text
        empty = await b.get("/contacts/fields")
        assert empty.status_code == 200
        assert "No custom fields yet." in empty.text

        made = await b.post(
            "/contacts/fields",
            data={
                "csrf_token": token,
                "name": "Plan",
                "key": "plan",
                "type": "dropdown",
                "options": "Free\r\n\r\n Gold \r\nPro\r\nTeam",
                "required": "on",
                "default_value": "Free",
            },
        )
        assert made.status_code == 303, made.text
        (plan,) = (await api.get("/v3/contactFields")).json()["data"]
        assert plan["options"] == ["Free", "Gold", "Pro", "Team"]
        assert plan["required"] is True
        assert plan["defaultValue"] == "Free"
        page = (await b.get("/contacts/fields")).text
        assert "<code>plan</code>" in page
        assert "Free, Gold, Pro and 1 more" in page

        # The API's rules, on the form's fields, the values kept.
        bad = await b.post(
            "/contacts/fields",
            data={"csrf_token": token, "name": "Bad", "key": "Bad Key", "type": "text"},
        )
        assert bad.status_code == 422
        assert _help(bad.text, "key")
        assert 'value="Bad Key"' in bad.text
        taken = await b.post(
            "/contacts/fields",
            data={"csrf_token": token, "name": "Plan 2", "key": "plan", "type": "text"},
        )
        assert taken.status_code == 409
        assert _help(taken.text, "key") == "Key is taken by another field"
        options = await b.post(
            "/contacts/fields",
            data={
                "csrf_token": token,
                "name": "Age",
                "key": "age",
                "type": "number",
                "options": "a",
            },
        )
        assert options.status_code == 422
        assert "has no options" in _help(options.text, "options")
        default = await b.post(
            "/contacts/fields",
            data={
                "csrf_token": token,
                "name": "Age",
                "key": "age",
                "type": "number",
                "default_value": "old",
            },
        )
        assert default.status_code == 422
        assert "must be a number" in _help(default.text, "default_value")
        vip = await b.post(
            "/contacts/fields",
            data={
                "csrf_token": token,
                "name": "VIP",
                "key": "vip",
                "type": "boolean",
                "default_value": "yes",
            },
        )
        assert vip.status_code == 303
        vip_field = next(
            f for f in (await api.get("/v3/contactFields")).json()["data"] if f["key"] == "vip"
        )
        assert vip_field["defaultValue"] is True

        # Edit: the key and type are shown, not editable.
        edit = await b.get(f"/contacts/fields/{plan['id']}")
        assert edit.status_code == 200
        assert 'name="key"' not in edit.text
        assert 'name="type"' not in edit.text
        assert "<code>plan</code>" in edit.text
        refused = await b.post(
            f"/contacts/fields/{plan['id']}",
            data={
                "csrf_token": token,
                "name": "Plan",
                "options": "Free\nGold",
                "default_value": "Pro",
            },
        )
        assert refused.status_code == 422
        assert "not one of the field's options" in _help(refused.text, "default_value")
        saved = await b.post(
            f"/contacts/fields/{plan['id']}",
            data={
                "csrf_token": token,
                "name": "Tier",
                "options": "Free\nGold\nPro",
                "default_value": "",
            },
        )
        assert saved.status_code == 303
        now = (await api.get(f"/v3/contactFields/{plan['id']}")).json()
        assert (now["name"], now["key"], now["options"], now["required"], now["defaultValue"]) == (
            "Tier",
            "plan",
            ["Free", "Gold", "Pro"],
            False,
            None,
        )

        # A field a segment compares stays: the 409's message is shown.
        segment = await created(
            api,
            "/v3/segments",
            {
                "name": "Gold",
                "conditions": {"all": [{"field": "fields.plan", "op": "eq", "value": "Gold"}]},
            },
        )
        kept = await b.post(f"/contacts/fields/{plan['id']}/delete", data={"csrf_token": token})
        assert kept.status_code == 409
        assert 'role="alert"' in kept.text
        assert "Gold" in html.unescape(kept.text)
        assert (await api.delete(f"/v3/segments/{segment['id']}")).status_code == 204
        confirm = await b.get(f"/contacts/fields/{plan['id']}/delete")
        assert confirm.status_code == 200
        gone = await b.post(f"/contacts/fields/{plan['id']}/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        assert (await api.get(f"/v3/contactFields/{plan['id']}")).status_code == 404

        # Another account's field is a 404 page.
        for path in (f"/contacts/fields/{theirs['id']}", f"/contacts/fields/{theirs['id']}/delete"):
            answer = await b.get(path)
            assert answer.status_code == 404, path
            assert "text/html" in answer.headers["content-type"]
        post = await b.post(f"/contacts/fields/{theirs['id']}/delete", data={"csrf_token": token})
        assert post.status_code == 404
    assert (await other.live.get(f"/v3/contactFields/{theirs['id']}")).status_code == 200


async def _fields(api: httpx.AsyncClient) -> None:
    for body in (
        {"name": "City", "key": "city", "type": "text"},
        {"name": "Score", "key": "score", "type": "number"},
        {"name": "Birthday", "key": "birthday", "type": "date"},
        {"name": "VIP", "key": "vip", "type": "boolean"},
        {
            "name": "Plan",
            "key": "plan",
            "type": "dropdown",
            "options": ["Free", "Gold"],
            "defaultValue": "Free",
        },
        {
            "name": "Topics",
            "key": "topics",
            "type": "multiselect",
            "options": ["news", "offers", "events"],
        },
    ):
        await created(api, "/v3/contactFields", body)


async def test_the_contact_form_and_page_carry_the_custom_fields(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    await _fields(api)
    theirs = await created(other.live, "/v3/contacts", {"email": "theirs@example.com"})
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        new = (await b.get("/contacts/new")).text
        assert 'name="cf-city" type="text"' in new
        assert 'name="cf-score" type="number"' in new
        assert 'name="cf-birthday" type="date"' in new
        assert re.search(
            r'<select id="f-cf-vip" name="cf-vip">\s*<option value="" selected>Not set', new
        )
        assert '<option value="Free" selected>Free</option>' in new  # the default, shown
        assert new.count('name="cf-topics"') == 3
        made = await _post(
            b,
            "/contacts/new",
            [
                ("csrf_token", token),
                ("email", "ann@example.com"),
                *[("cf_shown", k) for k in ("city", "score", "birthday", "vip", "plan", "topics")],
                ("cf-city", "Oslo"),
                ("cf-score", "42"),
                ("cf-birthday", "1990-02-28"),
                ("cf-vip", "true"),
                ("cf-plan", "Gold"),
                ("cf-topics", "offers"),
                ("cf-topics", "news"),
            ],
        )
        assert made.status_code == 303, made.text
        contact_id = made.headers["location"].rsplit("/", 1)[1]
        ann = (await api.get(f"/v3/contacts/{contact_id}")).json()
        assert ann["fields"] == {
            "city": "Oslo",
            "score": 42,
            "birthday": "1990-02-28",
            "vip": True,
            "plan": "Gold",
            "topics": ["news", "offers"],
        }
        shown = (await b.get(f"/contacts/{contact_id}")).text
        assert re.search(
            r"<dt>Birthday</dt><dd[^>]*><time datetime=\"1990-02-28\">28 Feb 1990</time>", shown
        )
        assert re.search(r"<dt>VIP</dt><dd[^>]*>Yes</dd>", shown)
        assert re.search(r"<dt>Topics</dt><dd[^>]*>news, offers</dd>", shown)
        assert re.search(r"<dt>Score</dt><dd[^>]*>42</dd>", shown)

        edit = (await b.get(f"/contacts/{contact_id}/edit")).text
        assert 'value="Oslo"' in edit
        assert '<option value="true" selected>Yes</option>' in edit
        assert re.search(r'value="offers" checked', edit)

        # A field made since the form was shown (no input for it) keeps its value.
        await created(api, "/v3/contactFields", {"name": "Notes", "key": "notes", "type": "text"})
        patched = await api.patch(f"/v3/contacts/{contact_id}", json={"fields": {"notes": "hi"}})
        assert patched.status_code == 200
        saved = await _post(
            b,
            f"/contacts/{contact_id}/edit",
            [
                ("csrf_token", token),
                ("email", "ann@example.com"),
                *[("cf_shown", k) for k in ("city", "score", "birthday", "vip", "plan", "topics")],
                ("cf-city", "Oslo"),  # unchanged
                ("cf-score", ""),  # emptied: cleared
                ("cf-birthday", "1990-02-28"),
                ("cf-vip", ""),  # unset
                ("cf-plan", "Gold"),
                # no topic ticked: cleared
            ],
        )
        assert saved.status_code == 303, saved.text
        ann = (await api.get(f"/v3/contacts/{contact_id}")).json()
        assert ann["fields"] == {
            "city": "Oslo",
            "birthday": "1990-02-28",
            "plan": "Gold",
            "notes": "hi",
        }

        # An option since removed from the field stays ticked, and an unchanged save
        # keeps it (it is not sent).
        topics = await _field_id(api, "topics")
        assert (
            await api.patch(f"/v3/contacts/{contact_id}", json={"fields": {"topics": ["news"]}})
        ).status_code == 200
        assert (
            await api.patch(f"/v3/contactFields/{topics}", json={"options": ["offers", "events"]})
        ).status_code == 200
        edit = (await b.get(f"/contacts/{contact_id}/edit")).text
        assert re.search(r'value="news" checked', edit)
        kept = await _post(
            b,
            f"/contacts/{contact_id}/edit",
            [
                ("csrf_token", token),
                ("email", "ann@example.com"),
                ("cf_shown", "topics"),
                ("cf-topics", "news"),
            ],
        )
        assert kept.status_code == 303, kept.text
        ann = (await api.get(f"/v3/contacts/{contact_id}")).json()
        assert ann["fields"]["topics"] == ["news"]

        # A value the field cannot take: the API's error, at its input.
        bad = await _post(
            b,
            f"/contacts/{contact_id}/edit",
            [
                ("csrf_token", token),
                ("email", "ann@example.com"),
                ("cf_shown", "score"),
                ("cf-score", "lots"),
                ("cf_shown", "birthday"),
                ("cf-birthday", "2023-02-30"),
            ],
        )
        assert bad.status_code == 422
        assert "must be a number" in _help(bad.text, "cf-score")
        assert "real date" in _help(bad.text, "cf-birthday")
        assert 'value="lots"' in bad.text
        # A required field emptied on a new contact: its error.
        assert (
            await api.patch(
                f"/v3/contactFields/{(await _field_id(api, 'city'))}", json={"required": True}
            )
        ).status_code == 200
        missing = await _post(
            b,
            "/contacts/new",
            [
                ("csrf_token", token),
                ("email", "bob@example.com"),
                ("cf_shown", "city"),
                ("cf-city", ""),
            ],
        )
        assert missing.status_code == 422
        assert _help(missing.text, "cf-city")
        assert "City (required)" in missing.text

        # Another account's contact stays a 404, its edit included.
        for path in (f"/contacts/{theirs['id']}", f"/contacts/{theirs['id']}/edit"):
            assert (await b.get(path)).status_code == 404
        post = await b.post(
            f"/contacts/{theirs['id']}/edit",
            data={
                "csrf_token": token,
                "email": "x@example.com",
                "cf_shown": "city",
                "cf-city": "Rome",
            },
        )
        assert post.status_code == 404
    assert (await other.live.get(f"/v3/contacts/{theirs['id']}")).json()["fields"] == {}


async def _field_id(api: httpx.AsyncClient, key: str) -> str:
    rows = (await api.get("/v3/contactFields")).json()["data"]
    return str(next(f["id"] for f in rows if f["key"] == key))


async def test_the_import_mapping_offers_and_guesses_the_accounts_fields(
    app: FastAPI, account: Account
) -> None:
    api = account.live
    await _fields(api)
    async with browser(app) as b:
        token = await _signed_in(app, account, b)
        csv = (
            b"E-mail,CITY,Plan,the_topics,V-I-P,Notes\r\n"
            b"ann@example.com,Oslo,Gold,news;events,yes,x\r\n"
        )
        mapped = await b.post(
            "/contacts/imports/upload",
            data={"csrf_token": token, "update": "on"},
            files={"file": ("export.csv", csv, "text/csv")},
        )
        assert mapped.status_code == 200
        assert '<optgroup label="Custom fields">' in mapped.text
        assert '<option value="fields.topics">Topics (topics)</option>' in mapped.text
        chosen = re.findall(
            r'<select id="column-(\d)".*?<option value="([\w.]+)" selected>', mapped.text, re.S
        )
        assert chosen == [
            ("0", "email"),
            ("1", "fields.city"),
            ("2", "fields.plan"),
            ("3", "ignore"),
            ("4", "fields.vip"),
            ("5", "ignore"),
        ]
        upload = field(mapped.text, "token")
        started = await b.post(
            "/contacts/imports/start",
            data={
                "csrf_token": token,
                "token": upload,
                "column-0": "email",
                "column-1": "fields.city",
                "column-2": "fields.plan",
                "column-3": "fields.topics",
                "column-4": "fields.vip",
                "column-5": "ignore",
            },
        )
        assert started.status_code == 303, started.text
        progress = started.headers["location"]

        async def done() -> bool:
            return "completed" in (await b.get(progress)).text

        await wait_for(done, 30, "the import")
    (ann,) = (await api.get("/v3/contacts", params={"q": "ann@example.com"})).json()["data"]
    assert ann["fields"] == {
        "city": "Oslo",
        "plan": "Gold",
        "topics": ["news", "events"],
        "vip": True,
    }
