"""Signup forms under attack: forged and altered confirmation links, a confirmation
replayed after an unsubscribe, floods from one address and from many, a post to another
account's form, huge and malformed bodies, a filled honeypot, and HTML in every field."""

from __future__ import annotations

import asyncio
import secrets
import time

import orjson
from conftest import Account, running_app
from fastapi import FastAPI
from formkit import confirmation_link, contact_by_email, emails_to, new_form, path_of, visitor
from helpers import created

from activecommerce.config import Settings
from activecommerce.consent import service as consent
from activecommerce.forms import service as forms
from activecommerce.kit.principal import Principal


async def test_forged_and_altered_links_are_404(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api)
    page = visitor(app)
    for address in ("a1@x.io", "a2@x.io"):
        await page.post(f"/f/{form['publicId']}", data={"email": address})
    link = path_of(await confirmation_link(api, "a1@x.io"))
    other = path_of(await confirmation_link(api, "a2@x.io"))
    _, _, _, sid, sig = link.split("/")
    _, _, _, other_sid, _ = other.split("/")
    forged = [
        f"/f/confirm/{sid}/{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",  # altered signature
        f"/f/confirm/{other_sid}/{sig}",  # another submission with this signature
        f"/f/confirm/{int(sid) + 1000}/{sig}",
        f"/f/confirm/{sid}/",
        f"/f/confirm/-1/{sig}",
        f"/f/confirm/{sid}x/{sig}",
        f"/f/confirm/{'9' * 40}/{sig}",
    ]
    for path in forged:
        for method in ("GET", "POST"):
            r = await page.request(method, path)
            assert r.status_code == 404, (method, path, r.status_code)
    contact = await contact_by_email(api, "a1@x.io")
    assert contact is not None
    assert contact["status"] == "unconfirmed"
    problem_page = await page.get("/f/no-such-form-id")
    assert problem_page.status_code == 404


async def test_replay_after_unsubscribe_does_not_reactivate(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api)
    page = visitor(app)
    await page.post(f"/f/{form['publicId']}", data={"email": "rep@x.io"})
    link = path_of(await confirmation_link(api, "rep@x.io"))
    assert (await page.post(link)).status_code == 200
    contact = await contact_by_email(api, "rep@x.io")
    assert contact is not None
    assert contact["status"] == "active"
    # The person unsubscribes later (an account's write may always stop mail).
    r = await api.patch(f"/v3/contacts/{contact['id']}", json={"status": "unsubscribed"})
    assert r.status_code == 200
    for _ in range(2):
        r = await page.post(link)
        assert r.status_code == 200
        unsubscribed = await contact_by_email(api, "rep@x.io")
        assert unsubscribed is not None
        assert unsubscribed["status"] == "unsubscribed"
    # A link sent before the address went on the suppression list no longer stands.
    await page.post(f"/f/{form['publicId']}", data={"email": "old@x.io"})
    stale = path_of(await confirmation_link(api, "old@x.io"))
    await asyncio.sleep(0.002)  # the entry's time is after the submission's
    principal = Principal.acting_for(int(account.id), "sandbox")
    async with app.state.services.db.transaction() as conn:
        await consent.suppress(conn, principal, "old@x.io", "unsubscribed", "unsubscribe")
    r = await page.post(stale)
    assert r.status_code == 200
    assert "no longer valid" in r.text
    old = await contact_by_email(api, "old@x.io")
    assert old is not None
    assert old["status"] != "active"


async def test_floods_are_limited(settings: Settings, account: Account, app: FastAPI) -> None:
    api = account.sandbox
    form = await new_form(api)
    async with running_app(
        settings, rate_limit_enabled=True, form_rate=3, embedded_worker=False
    ) as limited:
        # Addresses of this run only (a shared Redis keeps budgets between runs).
        net = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        one = visitor(limited, f"{net}.1")
        codes = [
            (await one.post(f"/f/{form['publicId']}", data={"email": f"f{i}@x.io"})).status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        # Another address is not limited by that one.
        r = await visitor(limited, f"{net}.2").post(
            f"/f/{form['publicId']}", data={"email": "g@x.io"}
        )
        assert r.status_code == 200
        # Many addresses at once: every answer is a page (no 5xx), and another
        # account's reads stay fast meanwhile.
        reader = await created(api, "/v3/contacts", {"email": "reader@x.io"})

        async def flood(i: int) -> int:
            client = visitor(limited, f"11.{net[3:]}.{i + 1}")
            r = await client.post(f"/f/{form['publicId']}", data={"email": f"m{i}@x.io"})
            return r.status_code

        started = time.monotonic()
        task = asyncio.gather(*(flood(i) for i in range(150)))
        slowest = 0.0
        while not task.done():
            t0 = time.monotonic()
            r = await account.sandbox.get(f"/v3/contacts/{reader['id']}")
            slowest = max(slowest, time.monotonic() - t0)
            assert r.status_code == 200
            await asyncio.sleep(0.01)
        statuses = await task
        assert set(statuses) <= {200, 429}
        assert slowest < 1.0, slowest
        assert time.monotonic() - started < 60


async def test_post_to_another_accounts_form(
    app: FastAPI, account: Account, other: Account
) -> None:
    mine = await new_form(account.sandbox)
    theirs = await new_form(other.sandbox)
    page = visitor(app)
    r = await page.post(
        f"/f/{theirs['publicId']}",
        data={"email": "cross@x.io"},
        headers={
            "Origin": "http://test",
            "Referer": f"http://test/f/{mine['publicId']}",
        },
    )
    assert r.status_code == 200
    # It is that account's submission, and only theirs.
    assert await contact_by_email(account.sandbox, "cross@x.io") is None
    assert await contact_by_email(other.sandbox, "cross@x.io") is not None
    stats = (await account.sandbox.get(f"/v3/forms/{mine['id']}/stats")).json()
    assert stats["submissions"] == 0
    # The other account's form id through this account's API: 404.
    r = await account.sandbox.get(f"/v3/forms/{theirs['id']}/submissions")
    assert r.status_code == 404


async def test_huge_and_malformed_bodies(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    await created(api, "/v3/contactFields", {"name": "Age", "key": "age", "type": "number"})
    form = await new_form(api, fields=[{"key": "fields.age"}, {"key": "firstName"}])
    url = f"/f/{form['publicId']}"
    page = visitor(app)
    r = await page.post(url, data={"email": "big@x.io", "firstName": "x" * 100_000})
    assert r.status_code == 413
    r = await page.post(
        url,
        content=b"email=a%40x.io&" + b"a=1&" * 300,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    cases: list[tuple[bytes, str, int]] = [
        (b"email=%ff%fe", "application/x-www-form-urlencoded", 422),
        (b"\xff\xfe\x00", "application/x-www-form-urlencoded", 400),
        (b"<xml/>", "text/xml", 400),
        (b"email=not-an-address", "application/x-www-form-urlencoded", 422),
        (b"email=", "application/x-www-form-urlencoded", 422),
        (b"email=n%40x.io&fields.age=abc", "application/x-www-form-urlencoded", 422),
        (b"email=n%40x.io&firstName=a%0Ab", "application/x-www-form-urlencoded", 422),
        (b"email=n%40x.io&email=%00", "application/x-www-form-urlencoded", 200),
    ]
    for body, kind, status in cases:
        r = await page.post(url, content=body, headers={"Content-Type": kind})
        assert r.status_code == status, (body, r.status_code, r.text[:300])
    r = await page.post(url, data={"email": "n2@x.io", "fields.age": "abc"})
    assert "must be a number" in r.text
    assert 'value="abc"' in r.text  # shown again


async def test_json_from_allowed_origin(settings: Settings, account: Account, app: FastAPI) -> None:
    api = account.sandbox
    await created(api, "/v3/contactFields", {"name": "Age", "key": "age", "type": "number"})
    form = await new_form(api, fields=[{"key": "fields.age"}])
    origin = "https://shop.example"
    async with running_app(settings, cors_origins=origin, embedded_worker=False) as allowed:
        page = visitor(allowed)
        url = f"/f/{form['publicId']}"
        r = await page.options(
            url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        headers = {"Origin": origin}
        r = await page.post(url, json={"email": "js@x.io", "fields": {"age": 7}}, headers=headers)
        assert r.status_code == 202, r.text
        assert r.json() == {"status": "pending"}
        r = await page.post(url, json={"email": "js2@x.io", "fields.age": "x"}, headers=headers)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        for body in (b"[1]", b"{", b'"x"', b"null"):
            r = await page.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            assert r.status_code == 422, body
        r = await page.post(
            url,
            content=b"{" + b" " * 20_000 + b"}",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        r = await page.post(
            url, json={"email": "js3@x.io"}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403
        r = await page.post(url, json={"email": "js3@x.io"})
        assert r.status_code == 403
    contact = await contact_by_email(api, "js@x.io")
    assert contact is not None
    assert contact["fields"] == {"age": 7}
    assert await contact_by_email(api, "js3@x.io") is None


async def test_honeypot_pretends_success(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api)
    r = await visitor(app).post(
        f"/f/{form['publicId']}", data={"email": "bot@x.io", forms.HONEYPOT: "http://spam"}
    )
    assert r.status_code == 200
    assert "Thank you" in r.text
    assert await contact_by_email(api, "bot@x.io") is None
    stats = (await api.get(f"/v3/forms/{form['id']}/stats")).json()
    assert stats["submissions"] == 0


async def test_html_in_every_field_is_text(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    await created(api, "/v3/contactFields", {"name": "Note", "key": "note", "type": "text"})
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    form = await new_form(
        api,
        name=f"Form {evil}",
        fields=[
            {"key": "firstName"},
            {"key": "lastName"},
            {"key": "phone"},
            {"key": "fields.note"},
        ],
        successMessage=evil,
        confirmationEmail={
            "subject": "Hi {{ contact.firstName }}",
            "htmlContent": "<p>{{ contact.firstName }} {{ contact.lastName }} {{ contact.phone }}"
            " {{ contact.fields.note }}</p>",
        },
    )
    page = visitor(app)
    r = await page.get(f"/f/{form['publicId']}")
    assert "<script>" not in r.text
    assert "&lt;script&gt;" in r.text
    r = await page.post(
        f"/f/{form['publicId']}",
        data={
            "email": "h@x.io",
            "firstName": evil[:200],
            "lastName": evil[:200],
            "phone": evil[:200],
            "fields.note": evil,
        },
    )
    assert r.status_code == 200
    assert "<script>" not in r.text
    link = await confirmation_link(api, "h@x.io")  # appended: the template does not place it
    assert "/f/confirm/" in link
    mail = (await emails_to(api, "h@x.io"))[0]
    assert "<script>" not in mail["html"]
    assert "onerror=" not in mail["html"].replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "&lt;script&gt;" in mail["html"]
    listed = (await api.get(f"/v3/forms/{form['id']}/submissions")).json()
    assert listed["data"][0]["data"]["fields"]["note"] == evil  # the API returns the text


async def test_unconfirmed_contacts_expire(app: FastAPI, account: Account) -> None:
    api = account.sandbox
    form = await new_form(api)
    page = visitor(app)
    await page.post(f"/f/{form['publicId']}", data={"email": "old-u@x.io"})
    await page.post(f"/f/{form['publicId']}", data={"email": "new-u@x.io"})
    link = path_of(await confirmation_link(api, "old-u@x.io"))
    db = app.state.services.db
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE contacts SET created_at = '2000-01-01T00:00:00.000000Z' WHERE email = ?",
            ["old-u@x.io"],
        )
        await conn.execute(
            "UPDATE form_submissions SET created_at = '2000-01-01T00:00:00.000000Z'"
            " WHERE email = ?",
            ["old-u@x.io"],
        )
    assert await forms.prune_unconfirmed(db, 30) >= 1
    assert await contact_by_email(api, "old-u@x.io") is None
    assert await contact_by_email(api, "new-u@x.io") is not None
    # Its link has expired with it.
    r = await page.post(link)
    assert "no longer valid" in r.text
    assert await contact_by_email(api, "old-u@x.io") is None
    data = orjson.loads(
        (await db.fetchone("SELECT data FROM form_submissions WHERE email = ?", ["old-u@x.io"]))[
            "data"
        ]
    )
    assert data["email"] == "old-u@x.io"
