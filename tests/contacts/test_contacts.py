"""Contacts: create, read, replace, patch, delete, list, filter; ids, case, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from helpers import created as _created
from helpers import field_errors, problem

ODD_TEXT = [
    'O\'Brien "quoted" \\ back',
    "Robert'); DROP TABLE contacts;--",
    "<script>alert(1)</script> &amp;",
    "emoji 😀🎉 and ZWJ 👩‍👩‍👧",
    "עברית مرحبا right-to-left",
    "  leading and trailing spaces  ",
    "Ünïcödé NFC vs NFD: é é",
]


async def test_create_get_and_location(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/contacts", json={"email": "Ann@Example.com", "firstName": "Ann"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["id"], str)
    assert r.headers["location"] == f"/v3/contacts/{body['id']}"
    assert body["email"] == "Ann@Example.com"
    assert body["status"] == "active"
    assert body["lastName"] is None
    assert body["createdAt"].endswith("Z")
    assert body["createdAt"] == body["updatedAt"]
    got = await api.get(r.headers["location"])
    assert got.status_code == 200
    assert got.json() == body


async def test_duplicate_email_is_case_insensitive(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v3/contacts", json={"email": "dup@example.com"})).status_code == 201
    r = await api.post("/v3/contacts", json={"email": "DUP@example.COM"})
    problem(r, 409)
    listed = (await api.get("/v3/contacts")).json()
    assert listed["meta"]["total"] == 1


async def test_racing_duplicates_create_one(api: httpx.AsyncClient) -> None:
    results = await asyncio.gather(
        *(
            api.post("/v3/contacts", json={"email": "RACE@x.io" if i % 2 else "race@x.io"})
            for i in range(8)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1
    assert codes.count(409) == 7


async def test_text_is_stored_byte_for_byte(api: httpx.AsyncClient) -> None:
    for i, text in enumerate(ODD_TEXT):
        r = await api.post(
            "/v3/contacts",
            json={"email": f"odd{i}@example.com", "firstName": text, "lastName": text},
        )
        assert r.status_code == 201, r.text
        got = (await api.get(f"/v3/contacts/{r.json()['id']}")).json()
        assert got["firstName"] == text
        assert got["lastName"] == text
    found = await api.get("/v3/contacts", params={"q": "drop table"})
    assert [c["firstName"] for c in found.json()["data"]] == [ODD_TEXT[1]]


async def test_control_characters_and_nul_are_refused(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/contacts", json={"email": "c@x.io", "firstName": "a\x00b"})
    assert field_errors(r) == {"firstName"}
    r = await api.post("/v3/contacts", json={"email": "c@x.io", "firstName": "line\nbreak"})
    assert field_errors(r) == {"firstName"}


async def test_put_replaces_every_field(api: httpx.AsyncClient) -> None:
    created = (
        await api.post(
            "/v3/contacts",
            json={"email": "p@x.io", "firstName": "F", "lastName": "L", "status": "bounced"},
        )
    ).json()
    r = await api.put(f"/v3/contacts/{created['id']}", json={"email": "p2@x.io"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == "p2@x.io"
    assert body["firstName"] is None
    assert body["lastName"] is None
    # A status the account cannot set back (bounced) is kept when the PUT leaves it out
    # (consent: no account write makes a bounced contact active).
    assert body["status"] == "bounced"
    assert body["createdAt"] == created["createdAt"]
    assert body["updatedAt"] >= created["updatedAt"]
    assert field_errors(
        await api.put(f"/v3/contacts/{created['id']}", json={"firstName": "x"})
    ) == {"email"}


async def test_patch_changes_only_what_is_sent(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v3/contacts", json={"email": "q@x.io", "firstName": "F"})).json()
    cid = created["id"]
    r = await api.patch(f"/v3/contacts/{cid}", json={"lastName": "L"})
    assert r.status_code == 200
    assert r.json()["firstName"] == "F"
    assert r.json()["lastName"] == "L"
    r = await api.patch(f"/v3/contacts/{cid}", json={"firstName": None})
    assert r.json()["firstName"] is None
    assert r.json()["lastName"] == "L"
    assert field_errors(await api.patch(f"/v3/contacts/{cid}", json={"status": None})) == {"status"}
    assert field_errors(await api.patch(f"/v3/contacts/{cid}", json={"email": None})) == {"email"}
    assert field_errors(await api.patch(f"/v3/contacts/{cid}", json={"bogus": 1})) == {"bogus"}
    assert field_errors(await api.patch(f"/v3/contacts/{cid}", json={"status": "gone"})) == {
        "status"
    }
    assert (await api.get(f"/v3/contacts/{cid}")).json()["lastName"] == "L"


async def test_delete_then_404(api: httpx.AsyncClient) -> None:
    cid = (await api.post("/v3/contacts", json={"email": "d@x.io"})).json()["id"]
    assert (await api.delete(f"/v3/contacts/{cid}")).status_code == 204
    problem(await api.delete(f"/v3/contacts/{cid}"), 404)
    problem(await api.get(f"/v3/contacts/{cid}"), 404)


async def test_malformed_and_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for bad in ("abc", "0", "-1", "1.5", "99999999999999999999999", "%20", "1e3", "007"):
        problem(await api.get(f"/v3/contacts/{bad}"), 404)
        problem(await api.patch(f"/v3/contacts/{bad}", json={}), 404)
        problem(await api.delete(f"/v3/contacts/{bad}"), 404)


async def test_list_pagination_sorting_and_ties(api: httpx.AsyncClient) -> None:
    for i in range(7):
        r = await api.post(
            "/v3/contacts",
            json={"email": f"user{i}@x.io", "firstName": "Same" if i % 2 else f"N{i}"},
        )
        assert r.status_code == 201
    page1 = (await api.get("/v3/contacts", params={"pageSize": 3})).json()
    meta = page1["meta"]
    cursor = meta.pop("nextCursor")
    assert meta == {"page": 1, "pageSize": 3, "total": 7, "totalPages": 3, "totalExact": True}
    assert isinstance(cursor, str)
    seen: list[str] = []
    for page in (1, 2, 3):
        data = (
            await api.get(
                "/v3/contacts", params={"pageSize": 3, "page": page, "sortBy": "firstName"}
            )
        ).json()["data"]
        seen += [c["id"] for c in data]
    assert len(seen) == 7
    assert len(set(seen)) == 7
    past = (await api.get("/v3/contacts", params={"page": 9})).json()
    assert past["data"] == []
    assert past["meta"]["total"] == 7
    assert past["meta"]["nextCursor"] is None
    desc = (await api.get("/v3/contacts", params={"sortBy": "email", "sortOrder": "desc"})).json()
    emails = [c["email"] for c in desc["data"]]
    assert emails == sorted(emails, reverse=True)


async def test_emails_sort_case_insensitively_by_page_and_by_cursor(
    api: httpx.AsyncClient,
) -> None:
    for email in ("bob@x.io", "Alice@x.io", "carl@x.io", "ALAN@x.io", "Bea@x.io"):
        assert (await api.post("/v3/contacts", json={"email": email})).status_code == 201
    expected = ["ALAN@x.io", "Alice@x.io", "Bea@x.io", "bob@x.io", "carl@x.io"]
    for order, wanted in (("asc", expected), ("desc", expected[::-1])):
        params: dict[str, Any] = {"sortBy": "email", "sortOrder": order}
        listed = (await api.get("/v3/contacts", params=params)).json()["data"]
        assert [c["email"] for c in listed] == wanted
        walked: list[str] = []
        params["pageSize"] = 2
        while True:
            body = (await api.get("/v3/contacts", params=params)).json()
            walked += [c["email"] for c in body["data"]]
            if body["meta"]["nextCursor"] is None:
                break
            params["cursor"] = body["meta"]["nextCursor"]
        assert walked == wanted


async def test_list_filters(api: httpx.AsyncClient) -> None:
    a = (await api.post("/v3/contacts", json={"email": "Alpha@x.io", "lastName": "Zed"})).json()
    b = (
        await api.post("/v3/contacts", json={"email": "beta@x.io", "status": "unsubscribed"})
    ).json()
    await api.post("/v3/contacts", json={"email": "gamma_1%@x.io"})

    async def ids(**params: str) -> list[str]:
        r = await api.get("/v3/contacts", params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]]

    assert await ids(email="ALPHA@X.IO") == [a["id"]]
    assert await ids(status="unsubscribed") == [b["id"]]
    assert await ids(q="zed") == [a["id"]]
    assert len(await ids(q="%")) == 1  # wildcards are literal
    assert await ids(q="nobody") == []
    assert field_errors(await api.get("/v3/contacts", params={"status": "weird"})) == {"status"}

    tag = (await api.post("/v3/contactTags", json={"name": "vip"})).json()
    group = (await api.post("/v3/contactGroups", json={"name": "newsletter"})).json()
    assert (await api.put(f"/v3/contacts/{a['id']}/tags/{tag['id']}")).status_code == 204
    assert (await api.put(f"/v3/contacts/{b['id']}/groups/{group['id']}")).status_code == 204
    assert await ids(tagId=tag["id"]) == [a["id"]]
    assert await ids(groupId=group["id"]) == [b["id"]]
    assert await ids(tagId="not-an-id") == []


async def test_ids_are_never_reused(api: httpx.AsyncClient) -> None:
    first = (await api.post("/v3/contacts", json={"email": "a@reuse.io"})).json()
    assert (await api.delete(f"/v3/contacts/{first['id']}")).status_code == 204
    second = (await api.post("/v3/contacts", json={"email": "b@reuse.io"})).json()
    assert second["id"] != first["id"]
    problem(await api.delete(f"/v3/contacts/{first['id']}"), 404)
    assert (await api.get(f"/v3/contacts/{second['id']}")).status_code == 200


async def test_filter_values_are_checked(api: httpx.AsyncClient) -> None:
    await api.post("/v3/contacts", json={"email": "f@filter.io"})
    for params in ({"q": "\x00"}, {"email": "a\x00b"}, {"q": "a" * 300}, {"q": "%" * 300}):
        r = await api.get("/v3/contacts", params=params)
        assert field_errors(r) == set(params), (params, r.status_code)
    assert (await api.get("/v3/contacts", params={"q": "f@filter"})).json()["meta"]["total"] == 1


async def test_email_case_is_folded_beyond_ascii(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v3/contacts", json={"email": "Änn@example.com"})).status_code == 201
    problem(await api.post("/v3/contacts", json={"email": "änn@example.com"}), 409)
    found = await api.get("/v3/contacts", params={"email": "äNN@EXAMPLE.com"})
    assert [c["email"] for c in found.json()["data"]] == ["Änn@example.com"]
    assert (await api.get("/v3/contacts", params={"q": "ÄNN"})).json()["meta"]["total"] == 1


async def test_parallel_patches_of_different_fields_all_survive(api: httpx.AsyncClient) -> None:
    contacts = [await _created(api, "/v3/contacts", {"email": f"p{i}@race.io"}) for i in range(30)]

    async def patch(contact: dict[str, Any], body: dict[str, Any]) -> None:
        r = await api.patch(f"/v3/contacts/{contact['id']}", json=body)
        assert r.status_code == 200, r.text

    await asyncio.gather(
        *(
            patch(c, body)
            for c in contacts
            for body in ({"status": "unsubscribed"}, {"firstName": "Ann"}, {"phone": "+1 555"})
        )
    )
    for c in contacts:
        now = (await api.get(f"/v3/contacts/{c['id']}")).json()
        assert (now["status"], now["firstName"], now["phone"]) == ("unsubscribed", "Ann", "+1 555")
