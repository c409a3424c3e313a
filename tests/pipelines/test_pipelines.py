"""Pipelines, their stages and statuses."""

from __future__ import annotations

import httpx
from helpers import field_errors
from helpers import new_pipeline as _pipeline
from helpers import new_stage as _stage


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
    assert r.status_code == 200
    assert r.json()["order"] is None
    assert r.json()["name"] == "Won"
    assert field_errors(
        await api.post("/v3/dealStages", json={"pipelineId": "999999", "name": "x"})
    ) == {"pipelineId"}
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
    assert r.status_code == 201
    assert r.json()["color"] == "#00ff00"
