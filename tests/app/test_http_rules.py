"""SPEC §2's rules for bad input: 400, 401, 405, 413, 415, 422, never a 5xx; strict paging;
small answers; the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
from helpers import field_errors, problem


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    for body in (b'{"email":', b"{'email': 1}", b"\xff\xfe", b'{"email": "a@b.co",}'):
        r = await api.post(
            "/v3/contacts", content=body, headers={"content-type": "application/json"}
        )
        problem(r, 400)


async def test_empty_body_is_400(api: httpx.AsyncClient) -> None:
    r = await api.post("/v3/contacts", content=b"", headers={"content-type": "application/json"})
    problem(r, 400)


async def test_json_that_is_not_an_object_is_422(api: httpx.AsyncClient) -> None:
    for body in (b"[]", b'"x"', b"42", b"null"):
        r = await api.post(
            "/v3/contacts", content=body, headers={"content-type": "application/json"}
        )
        assert field_errors(r) == {"body"}, r.text


async def test_wrong_content_type_is_415(api: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        r = await api.post(
            "/v3/contacts", content=b'{"email": "a@b.co"}', headers={"content-type": content_type}
        )
        problem(r, 415)
    assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 0
    r = await api.post(
        "/v3/contacts",
        content=b'{"email": "a@b.co"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201


async def test_body_over_one_mebibyte_is_413(api: httpx.AsyncClient) -> None:
    big = b'{"email": "a@b.co", "firstName": "' + b"x" * (1024 * 1024) + b'"}'
    r = await api.post("/v3/contacts", content=big, headers={"content-type": "application/json"})
    problem(r, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(20):
            yield b"x" * 65536

    r = await api.post(
        "/v3/contacts", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(r, 413)
    assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 0


async def test_list_parameters_are_validated(api: httpx.AsyncClient) -> None:
    for params, field in (
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 101}, "pageSize"),
        ({"pageSize": "many"}, "pageSize"),
        ({"page": 0}, "page"),
        ({"page": -3}, "page"),
        ({"sortBy": "password"}, "sortBy"),
        ({"sortOrder": "sideways"}, "sortOrder"),
    ):
        assert field_errors(await api.get("/v3/contacts", params=params)) == {field}
    ok = await api.get("/v3/contacts", params={"pageSize": 100, "page": 1000000000})
    assert ok.status_code == 200
    assert ok.json()["data"] == []


async def test_field_validation(api: httpx.AsyncClient) -> None:
    for bad in ("plain", "a@", "@b.co", "a b@c.co", "x" * 250 + "@b.co", ""):
        assert field_errors(await api.post("/v3/contacts", json={"email": bad})) == {"email"}
    assert field_errors(await api.post("/v3/contacts", json={})) == {"email"}
    assert field_errors(await api.post("/v3/contacts", json={"email": 5})) == {"email"}
    r = await api.post("/v3/contacts", json={"email": "a@b.co", "unknown": True})
    assert field_errors(r) == {"unknown"}
    r = await api.post("/v3/pipelines", json={"name": "P", "currency": "usd"})
    assert field_errors(r) == {"currency"}
    r = await api.post("/v3/pipelines", json={"name": "P", "currency": "XYZ"})
    assert field_errors(r) == {"currency"}
    assert field_errors(await api.post("/v3/pipelines", json={"name": ""})) == {"name"}


async def test_missing_or_unknown_credentials_are_401(anon: httpx.AsyncClient) -> None:
    problem(await anon.get("/v3/contacts"), 401)
    problem(await anon.get("/v3/contacts", headers={"Api-Token": "ac_test_nope"}), 401)
    problem(await anon.get("/v3/contacts", headers={"Authorization": "Bearer ac_test_nope"}), 401)
    problem(await anon.get("/v3/contacts", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)
    problem(await anon.post("/v3/contacts", json={"email": "a@b.co"}), 401)


async def test_unknown_route_and_method(api: httpx.AsyncClient) -> None:
    problem(await api.get("/v3/nothing-here"), 404)
    problem(await api.delete("/v3/contacts"), 405)


async def test_openapi_documents_every_operation(anon: httpx.AsyncClient) -> None:
    doc = (await anon.get("/v3/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for collection in (
        "contacts",
        "contactGroups",
        "contactTags",
        "pipelines",
        "dealStages",
        "dealStatuses",
        "deals",
        "brands",
        "emailCampaigns",
        "emailAutomations",
        "webhooks",
    ):
        assert set(paths[f"/v3/{collection}"]) == {"get", "post"}
        assert set(paths[f"/v3/{collection}/{{id}}"]) == {"get", "put", "patch", "delete"}
        create = paths[f"/v3/{collection}"]["post"]
        assert "requestBody" in create
        assert set(create["responses"]) == {
            *("201", "400", "401", "403", "409", "413", "415", "422", "429", "503")
        }, collection
        error = create["responses"]["422"]["content"]
        assert list(error) == ["application/problem+json"]
    membership = paths["/v3/contacts/{id}/tags/{contactTagId}"]
    assert {"409", "503"} <= set(membership["put"]["responses"])  # races, outages
    assert "503" in paths["/v3/contacts/{id}"]["get"]["responses"]
    assert "/v3/contacts/{id}/groups" in paths
    docs = await anon.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_authentication_comes_before_body_errors(
    anon: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    for content, content_type in ((b"x", "text/plain"), (b"{", "application/json")):
        r = await anon.post(
            "/v3/contactTags", content=content, headers={"content-type": content_type}
        )
        problem(r, 401)
    problem(await anon.post("/v3/contactTags", json={"bogus": 1}), 401)
    r = await api.post(
        "/v3/contactTags", content=b"{", headers={"content-type": "application/json"}
    )
    problem(r, 400)


async def test_405_names_every_allowed_method(api: httpx.AsyncClient) -> None:
    r = await api.patch("/v3/contacts")
    problem(r, 405)
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = await api.patch("/v3/contacts/1/tags/1")
    assert set(r.headers["allow"].split(", ")) == {"PUT", "DELETE"}


async def test_paging_takes_plain_digits_only(api: httpx.AsyncClient) -> None:
    for bad in ("1_0", "+1", "1.0", " 1", "\u0661"):  # the last: ARABIC-INDIC DIGIT ONE
        assert field_errors(await api.get("/v3/contacts", params={"page": bad})) == {"page"}
    for path in ("/v3/apiKeys", "/v3/contactTags"):
        assert field_errors(await api.get(path, params={"pageSize": "2_0"})) == {"pageSize"}


async def test_many_unknown_fields_get_a_small_answer(api: httpx.AsyncClient) -> None:
    body = {"email": "x@y.io", **{f"k{i}": 1 for i in range(60_000)}}
    r = await api.post("/v3/contacts", content=orjson.dumps(body), headers=_json())
    details = problem(r, 422)
    assert len(details["errors"]) == 50
    assert "60000" in details["detail"]
    assert len(r.content) < 20_000


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}
