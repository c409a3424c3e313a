from __future__ import annotations

import httpx
from helpers import field_errors, problem


async def _pipeline(api: httpx.AsyncClient, name: str = "Sales", **extra: object) -> dict:
    r = await api.post("/v3/pipelines", json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def _stage(api: httpx.AsyncClient, pipeline_id: str, name: str = "Lead", order: int = 0):
    r = await api.post(
        "/v3/dealStages", json={"pipelineId": pipeline_id, "name": name, "order": order}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_pipeline_defaults_and_put(api: httpx.AsyncClient) -> None:
    p = await _pipeline(api)
    assert p["currency"] == "USD"
    p = (await api.patch(f"/v3/pipelines/{p['id']}", json={"currency": "EUR"})).json()
    assert p["currency"] == "EUR"
    p = (await api.put(f"/v3/pipelines/{p['id']}", json={"name": "Renamed"})).json()
    assert p == {**p, "name": "Renamed", "currency": "USD"}
    assert field_errors(await api.patch(f"/v3/pipelines/{p['id']}", json={"currency": None})) == {
        "currency"
    }


async def test_stages_belong_to_one_pipeline(api: httpx.AsyncClient) -> None:
    p1, p2 = await _pipeline(api, "One"), await _pipeline(api, "Two")
    s = await _stage(api, p1["id"])
    r = await api.patch(f"/v3/dealStages/{s['id']}", json={"pipelineId": p2["id"]})
    assert field_errors(r) == {"pipelineId"}
    r = await api.put(f"/v3/dealStages/{s['id']}", json={"pipelineId": p2["id"], "name": "x"})
    assert field_errors(r) == {"pipelineId"}
    r = await api.put(f"/v3/dealStages/{s['id']}", json={"pipelineId": p1["id"], "name": "Won"})
    assert r.status_code == 200 and r.json()["order"] is None and r.json()["name"] == "Won"
    assert field_errors(
        await api.post("/v3/dealStages", json={"pipelineId": "999999", "name": "x"})
    )
    r = await api.post("/v3/dealStages", json={"pipelineId": p1["id"], "name": "x", "order": -1})
    assert field_errors(r) == {"order"}
    await _stage(api, p2["id"], "Other")
    listed = (await api.get("/v3/dealStages", params={"pipelineId": p1["id"]})).json()
    assert [x["id"] for x in listed["data"]] == [s["id"]]


async def test_statuses_validate_color(api: httpx.AsyncClient) -> None:
    p = await _pipeline(api)
    for bad in ("red", "#12345", "#GGGGGG", "123456"):
        r = await api.post(
            "/v3/dealStatuses", json={"pipelineId": p["id"], "name": "W", "color": bad}
        )
        assert field_errors(r) == {"color"}
    r = await api.post(
        "/v3/dealStatuses", json={"pipelineId": p["id"], "name": "W", "color": "#00ff00"}
    )
    assert r.status_code == 201 and r.json()["color"] == "#00ff00"


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
    assert deal["value"] == 12345 and deal["closeDate"] == "2026-12-31"
    assert deal["contact"] == contact["id"]

    moved = await api.patch(
        f"/v3/deals/{deal['id']}",
        json={"pipelineId": p2["id"], "stageId": s2["id"], "status": st2["id"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == st2["id"] and moved.json()["currency"] == "EUR"

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
