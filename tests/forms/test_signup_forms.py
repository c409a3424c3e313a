"""Signup forms through the API and the hosted page: the collection's rules, a
submission with and without double opt-in, the confirmation (a GET shows a button, a
POST confirms once), and what confirming does (active, groups and tags, consent,
contact.subscribed, the form's automations)."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Account
from fastapi import FastAPI
from formkit import (
    confirmation_link,
    contact_by_email,
    emails_to,
    new_form,
    path_of,
    visitor,
)
from helpers import created, field_errors, problem, recorded_events, wait_for

from activecommerce.consent import service as consent
from activecommerce.kit.principal import Principal


async def _consents(app: FastAPI, contact_id: str) -> list[dict[str, Any]]:
    rows = await app.state.services.db.fetchall(
        "SELECT * FROM consents WHERE contact_id = ? ORDER BY id", [int(contact_id)]
    )
    return [dict(row) for row in rows]


async def test_crud_public_id_and_checks(app: FastAPI, account: Account, other: Account) -> None:
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "News"})
    tag = await created(api, "/v3/contactTags", {"name": "web"})
    await created(api, "/v3/contactFields", {"name": "City", "key": "city", "type": "text"})
    form = await new_form(
        api,
        fields=[{"key": "firstName", "required": True}, {"key": "fields.city"}],
        groupIds=[group["id"], group["id"]],
        tagIds=[tag["id"]],
    )
    assert len(form["publicId"]) >= 16
    assert form["doubleOptIn"] is True
    assert form["groupIds"] == [group["id"]]
    assert form["fields"][1] == {"key": "fields.city", "required": False}
    # Read-only publicId: a PATCH that sends it is a 422; one that does not keeps it.
    r = await api.patch(f"/v3/forms/{form['id']}", json={"publicId": "mine"})
    assert r.status_code == 422
    r = await api.patch(f"/v3/forms/{form['id']}", json={"name": "Renamed"})
    assert r.status_code == 200
    assert r.json()["publicId"] == form["publicId"]
    # Unknown custom field, another account's group, a bad template: 422s naming them.
    foreign = await created(other.sandbox, "/v3/contactGroups", {"name": "Theirs"})
    r = await api.post(
        "/v3/forms",
        json={
            "name": "Bad",
            "fields": [{"key": "fields.nope"}],
        },
    )
    assert "fields.0.key" in field_errors(r)
    r = await api.post("/v3/forms", json={"name": "Bad", "groupIds": [foreign["id"]]})
    assert "groupIds.0" in field_errors(r)
    r = await api.post(
        "/v3/forms",
        json={
            "name": "Bad",
            "confirmationEmail": {"subject": "Hi {{", "htmlContent": "<p>{{ confirm_url }}</p>"},
        },
    )
    assert "confirmationEmail.subject" in field_errors(r)
    r = await api.post("/v3/forms", json={"name": "Bad", "redirectUrl": "javascript:alert(1)"})
    assert r.status_code == 422
    # Another account's form is a 404.
    problem(await other.sandbox.get(f"/v3/forms/{form['id']}"), 404)
    # What a form names stays: deleting its group, tag or field is a 409 naming it.
    for path in (f"/v3/contactGroups/{group['id']}", f"/v3/contactTags/{tag['id']}"):
        body = problem(await api.delete(path), 409)
        assert "Renamed" in body["detail"]
    field = (await api.get("/v3/contactFields")).json()["data"][0]
    problem(await api.delete(f"/v3/contactFields/{field['id']}"), 409)
    # Embed: a plain form posting to the hosted page.
    embed = (await api.get(f"/v3/forms/{form['id']}/embed")).json()
    assert embed["url"].endswith(f"/f/{form['publicId']}")
    assert f'action="{embed["url"]}"' in embed["html"]
    assert "<script" not in embed["html"]
    assert 'name="fields.city"' in embed["html"]
    events = await recorded_events(app, account, "form.created")
    assert events
    assert (await api.delete(f"/v3/forms/{form['id']}")).status_code == 204
    assert (await api.delete(f"/v3/contactGroups/{group['id']}")).status_code == 204


async def test_double_opt_in_end_to_end(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "News"})
    tag = await created(api, "/v3/contactTags", {"name": "web"})
    await created(api, "/v3/contactFields", {"name": "Age", "key": "age", "type": "number"})
    form = await new_form(
        api,
        fields=[{"key": "firstName", "required": True}, {"key": "fields.age"}],
        groupIds=[group["id"]],
        tagIds=[tag["id"]],
        confirmationEmail={
            "subject": "Confirm, {{ contact.firstName }}",
            "htmlContent": '<p>Hi {{ contact.firstName }}</p><a href="{{ confirm_url }}">Yes</a>',
        },
    )
    automation = await created(
        api,
        "/v3/emailAutomations",
        {
            "name": "Welcome",
            "subject": "Welcome",
            "fromEmail": "hi@shop.io",
            "htmlContent": "<p>Welcome</p>",
            "trigger": {"type": "form_submitted", "formId": form["id"]},
        },
    )
    page = visitor(app)
    r = await page.get(f"/f/{form['publicId']}")
    assert r.status_code == 200
    assert "Newsletter" in r.text
    assert "content-security-policy" in r.headers
    assert "set-cookie" not in r.headers
    r = await page.post(
        f"/f/{form['publicId']}",
        data={"email": "Ann@Example.com", "firstName": "Ann", "fields.age": "42"},
    )
    assert r.status_code == 200, r.text
    assert "Check your inbox" in r.text
    contact = await contact_by_email(api, "ann@example.com")
    assert contact is not None
    assert contact["status"] == "unconfirmed"
    assert contact["firstName"] == "Ann"
    assert contact["fields"] == {"age": 42}
    link = await confirmation_link(api, "Ann@Example.com")
    mails = await emails_to(api, "Ann@Example.com")
    assert mails[0]["subject"] == "Confirm, Ann"
    assert mails[0]["contactId"] == contact["id"]
    # A GET never confirms.
    r = await page.get(path_of(link))
    assert r.status_code == 200
    assert "Confirm my subscription" in r.text
    assert (await contact_by_email(api, "ann@example.com"))["status"] == "unconfirmed"  # type: ignore[index]
    stats = (await api.get(f"/v3/forms/{form['id']}/stats")).json()
    assert stats == {"submissions": 1, "confirmed": 0, "conversion": 0.0}
    r = await page.post(path_of(link))
    assert r.status_code == 200
    assert "confirmed" in r.text
    contact = await contact_by_email(api, "ann@example.com")
    assert contact is not None
    assert contact["status"] == "active"
    groups = (await api.get(f"/v3/contacts/{contact['id']}/groups")).json()["data"]
    tags = (await api.get(f"/v3/contacts/{contact['id']}/tags")).json()["data"]
    assert [g["id"] for g in groups] == [group["id"]]
    assert [t["id"] for t in tags] == [tag["id"]]
    granted = await _consents(app, contact["id"])
    assert [(c["action"], c["source"], c["form_id"]) for c in granted][-1] == (
        "granted",
        "form",
        int(form["id"]),
    )
    assert granted[-1]["ip"] == "127.0.0.1"
    assert granted[-1]["user_agent"]
    subscribed = await recorded_events(app, account, "contact.subscribed")
    assert subscribed
    assert subscribed[-1][1]["formId"] == form["id"]
    # The form's automation enrolled the contact (its welcome email goes out).
    await wait_for(lambda: _welcomed(api, automation["id"]), what="the form's automation email")
    stats = (await api.get(f"/v3/forms/{form['id']}/stats")).json()
    assert stats == {"submissions": 1, "confirmed": 1, "conversion": 1.0}
    listed = (await api.get(f"/v3/forms/{form['id']}/submissions")).json()
    assert listed["meta"]["total"] == 1
    assert listed["data"][0]["status"] == "confirmed"
    assert listed["data"][0]["data"]["fields"] == {"age": 42}
    # Confirming again does nothing more.
    r = await page.post(path_of(link))
    assert r.status_code == 200
    assert len(await recorded_events(app, account, "contact.subscribed")) == 1


async def _welcomed(api: httpx.AsyncClient, automation_id: str) -> bool:
    r = await api.get("/v3/sandbox/emails", params={"pageSize": "100"})
    return any(m["automationId"] == automation_id for m in r.json()["data"])


async def test_active_never_downgraded_stopped_stays(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api, fields=[{"key": "firstName"}])
    active = await created(api, "/v3/contacts", {"email": "bo@x.io", "firstName": "Bo"})
    stopped = await created(api, "/v3/contacts", {"email": "cy@x.io", "status": "unsubscribed"})
    page = visitor(app)
    for address in ("bo@x.io", "cy@x.io"):
        r = await page.post(
            f"/f/{form['publicId']}", data={"email": address, "firstName": "<b>Evil</b>"}
        )
        assert r.status_code == 200
    assert (await contact_by_email(api, "bo@x.io")) == {
        **active,
        "updatedAt": (await contact_by_email(api, "bo@x.io"))["updatedAt"],  # type: ignore[index]
    }
    assert (await contact_by_email(api, "bo@x.io"))["firstName"] == "Bo"  # type: ignore[index]
    assert (await contact_by_email(api, "cy@x.io"))["status"] == "unsubscribed"  # type: ignore[index]
    # The stopped contact gets the confirmation email (and only that), then confirms.
    link = await confirmation_link(api, "cy@x.io")
    r = await visitor(app).post(path_of(link))
    assert r.status_code == 200
    after = await contact_by_email(api, "cy@x.io")
    assert after is not None
    assert after["status"] == "active"
    assert after["id"] == stopped["id"]
    assert after["firstName"] == "<b>Evil</b>"  # stored as text


async def test_without_double_opt_in(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    group = await created(api, "/v3/contactGroups", {"name": "News"})
    form = await new_form(
        api,
        doubleOptIn=False,
        groupIds=[group["id"]],
        successMessage="Welcome aboard!",
    )
    page = visitor(app)
    r = await page.post(f"/f/{form['publicId']}", data={"email": "dee@x.io"})
    assert r.status_code == 200
    assert "Welcome aboard!" in r.text
    contact = await contact_by_email(api, "dee@x.io")
    assert contact is not None
    assert contact["status"] == "active"
    assert await emails_to(api, "dee@x.io") == []
    # A suppressed address is asked to confirm instead.
    principal = Principal.acting_for(int(account.id), "sandbox")
    async with app.state.services.db.transaction() as conn:
        await consent.suppress(conn, principal, "eve@x.io", "manual", "api")
    r = await page.post(f"/f/{form['publicId']}", data={"email": "eve@x.io"})
    assert r.status_code == 200
    eve = await contact_by_email(api, "eve@x.io")
    assert eve is not None
    assert eve["status"] == "unsubscribed"
    link = await confirmation_link(api, "eve@x.io")
    await visitor(app).post(path_of(link))
    eve = await contact_by_email(api, "eve@x.io")
    assert eve is not None
    assert eve["status"] == "active"
    assert await consent.suppression_of(app.state.services.db, principal, "eve@x.io") is None


async def test_redirect_and_json_from_allowed_origin(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api, redirectUrl="https://shop.example/thanks")
    page = visitor(app)
    r = await page.post(f"/f/{form['publicId']}", data={"email": "fay@x.io"})
    assert r.status_code == 303
    assert r.headers["location"] == "https://shop.example/thanks"
    assert "https://shop.example/thanks" in r.headers["content-security-policy"]
    # JSON from an origin not listed (none is, in these settings): refused.
    r = await page.post(
        f"/f/{form['publicId']}",
        json={"email": "gus@x.io"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert await contact_by_email(api, "gus@x.io") is None
