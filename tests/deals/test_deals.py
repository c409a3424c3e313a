"""Deals: the rules of their references, sorting, concurrent writes, and the events their
references' deletion records."""

from __future__ import annotations

import asyncio

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import EMAIL, field_errors, problem
from helpers import created as _created
from helpers import deal_setup as _deal_setup
from helpers import new_pipeline as _pipeline
from helpers import new_stage as _stage
from helpers import recorded_events as _events


async def test_racing_writes_and_deletes_never_fail_with_500(api: httpx.AsyncClient) -> None:
    for round_ in range(6):
        p = (await api.post("/v3/pipelines", json={"name": f"race{round_}"})).json()
        s = (await api.post("/v3/dealStages", json={"pipelineId": p["id"], "name": "S"})).json()
        deal = {"name": "D", "pipelineId": p["id"], "stageId": s["id"]}
        results = await asyncio.gather(
            *(api.post("/v3/deals", json=deal) for _ in range(4)),
            api.delete(f"/v3/dealStages/{s['id']}"),
            api.delete(f"/v3/pipelines/{p['id']}"),
        )
        for r in results:
            assert r.status_code < 500, r.text
        contact = (await api.post("/v3/contacts", json={"email": f"r{round_}@race.io"})).json()
        tag = (await api.post("/v3/contactTags", json={"name": f"race{round_}"})).json()
        results = await asyncio.gather(
            *(api.put(f"/v3/contacts/{contact['id']}/tags/{tag['id']}") for _ in range(3)),
            api.delete(f"/v3/contactTags/{tag['id']}"),
            api.delete(f"/v3/contacts/{contact['id']}"),
        )
        for r in results:
            assert r.status_code < 500, r.text


async def test_parallel_patches_of_a_deal_all_survive(api: httpx.AsyncClient) -> None:
    pipeline = await _created(api, "/v3/pipelines", {"name": "Sales"})
    stage = await _created(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Won"})
    deals = [
        await _created(
            api,
            "/v3/deals",
            {"name": f"D{i}", "pipelineId": pipeline["id"], "stageId": stage["id"]},
        )
        for i in range(20)
    ]
    changes = ({"value": 500}, {"closeDate": "2027-01-31"}, {"duration": 9})
    await asyncio.gather(
        *(api.patch(f"/v3/deals/{d['id']}", json=body) for d in deals for body in changes)
    )
    for d in deals:
        now = (await api.get(f"/v3/deals/{d['id']}")).json()
        assert (now["value"], now["closeDate"], now["duration"]) == (500, "2027-01-31", 9)


async def test_deleting_what_a_deal_refers_to_records_its_update(
    app: FastAPI, account: Account
) -> None:
    api = account.sandbox
    _pipeline, _stage, status, deal = await _deal_setup(api)
    assert (await api.delete(f"/v3/dealStatuses/{status['id']}")).status_code == 204
    assert (await api.delete(f"/v3/contacts/{deal['contact']}")).status_code == 204
    now = (await api.get(f"/v3/deals/{deal['id']}")).json()
    assert now["status"] is None
    assert now["contact"] is None
    updates = await _events(app, account, "deal.updated", "deal.status_changed")
    assert [(t, d["id"], d["status"], d["contact"]) for t, d in updates] == [
        ("deal.updated", deal["id"], None, deal["contact"]),
        ("deal.status_changed", deal["id"], None, deal["contact"]),
        ("deal.updated", deal["id"], None, None),
    ]

    brand = await _created(api, "/v3/brands", {"name": "Shop"})
    campaign = await _created(api, "/v3/emailCampaigns", {**EMAIL, "brandId": brand["id"]})
    assert (await api.delete(f"/v3/brands/{brand['id']}")).status_code == 204
    changed = await _events(app, account, "emailCampaign.updated")
    assert [(d["id"], d["brandId"]) for _t, d in changed] == [(campaign["id"], None)]


async def test_deal_rules(api: httpx.AsyncClient) -> None:
    p1 = await _pipeline(api, "One", currency="EUR")
    p2 = await _pipeline(api, "Two")
    s1, s2 = await _stage(api, p1["id"]), await _stage(api, p2["id"])
    st2 = (await api.post("/v3/dealStatuses", json={"pipelineId": p2["id"], "name": "Won"})).json()
    contact = (await api.post("/v3/contacts", json={"email": "buyer@x.io"})).json()

    base = {"name": "Big", "pipelineId": p1["id"], "stageId": s1["id"]}
    assert field_errors(await api.post("/v3/deals", json={**base, "stageId": s2["id"]})) == {
        "stageId"
    }
    assert field_errors(await api.post("/v3/deals", json={**base, "status": st2["id"]})) == {
        "status"
    }
    assert field_errors(await api.post("/v3/deals", json={**base, "value": -1})) == {"value"}
    assert field_errors(await api.post("/v3/deals", json={**base, "duration": -2})) == {"duration"}
    assert field_errors(await api.post("/v3/deals", json={**base, "closeDate": "2026-02-30"})) == {
        "closeDate"
    }
    assert field_errors(await api.post("/v3/deals", json={**base, "contact": "999999"})) == {
        "contact"
    }
    assert field_errors(await api.post("/v3/deals", json={**base, "currency": "EURO"})) == {
        "currency"
    }

    r = await api.post(
        "/v3/deals",
        json={**base, "value": 12345, "closeDate": "2026-12-31", "contact": contact["id"]},
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    assert deal["currency"] == "EUR"  # the pipeline's
    assert deal["value"] == 12345
    assert deal["closeDate"] == "2026-12-31"
    assert deal["contact"] == contact["id"]

    moved = await api.patch(
        f"/v3/deals/{deal['id']}",
        json={"pipelineId": p2["id"], "stageId": s2["id"], "status": st2["id"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == st2["id"]
    assert moved.json()["currency"] == "EUR"

    listed = (await api.get("/v3/deals", params={"stageId": s2["id"]})).json()
    assert [d["id"] for d in listed["data"]] == [deal["id"]]
    assert (await api.get("/v3/deals", params={"contact": contact["id"]})).json()["meta"][
        "total"
    ] == 1

    problem(await api.delete(f"/v3/pipelines/{p2['id']}"), 409)
    problem(await api.delete(f"/v3/dealStages/{s2['id']}"), 409)
    assert (await api.delete(f"/v3/contacts/{contact['id']}")).status_code == 204
    assert (await api.get(f"/v3/deals/{deal['id']}")).json()["contact"] is None
    assert (await api.delete(f"/v3/deals/{deal['id']}")).status_code == 204
    assert (await api.delete(f"/v3/pipelines/{p2['id']}")).status_code == 204
    problem(await api.get(f"/v3/dealStages/{s2['id']}"), 404)  # went with its pipeline


async def test_deal_sorting_by_value(api: httpx.AsyncClient) -> None:
    p = await _pipeline(api)
    s = await _stage(api, p["id"])
    for value in (300, 100, 200):
        r = await api.post(
            "/v3/deals",
            json={"name": f"d{value}", "pipelineId": p["id"], "stageId": s["id"], "value": value},
        )
        assert r.status_code == 201
    desc = (await api.get("/v3/deals", params={"sortBy": "value", "sortOrder": "desc"})).json()
    assert [d["value"] for d in desc["data"]] == [300, 200, 100]
