"""A contact's tags and groups: idempotent, listed, cleaned up with either side."""

from __future__ import annotations

import httpx
from helpers import problem


async def test_memberships_are_idempotent_and_cleaned_up(api: httpx.AsyncClient) -> None:
    cid = (await api.post("/v3/contacts", json={"email": "m@x.io"})).json()["id"]
    tags = [(await api.post("/v3/contactTags", json={"name": f"t{i}"})).json() for i in range(3)]
    for tag in tags:
        for _ in range(2):
            assert (await api.put(f"/v3/contacts/{cid}/tags/{tag['id']}")).status_code == 204
    listed = (await api.get(f"/v3/contacts/{cid}/tags", params={"pageSize": 2})).json()
    assert listed["meta"]["total"] == 3
    assert len(listed["data"]) == 2
    assert [t["name"] for t in listed["data"]] == ["t0", "t1"]  # the first page, oldest first
    for _ in range(2):
        assert (await api.delete(f"/v3/contacts/{cid}/tags/{tags[0]['id']}")).status_code == 204
    assert (await api.delete(f"/v3/contactTags/{tags[1]['id']}")).status_code == 204
    listed = (await api.get(f"/v3/contacts/{cid}/tags")).json()
    assert [t["id"] for t in listed["data"]] == [tags[2]["id"]]
    problem(await api.put(f"/v3/contacts/{cid}/tags/999999"), 404)
    problem(await api.get("/v3/contacts/999999/tags"), 404)

    group = (await api.post("/v3/contactGroups", json={"name": "g"})).json()
    assert (await api.put(f"/v3/contacts/{cid}/groups/{group['id']}")).status_code == 204
    assert (await api.get(f"/v3/contacts/{cid}/groups")).json()["meta"]["total"] == 1
    assert (await api.delete(f"/v3/contacts/{cid}")).status_code == 204
    members = (await api.get("/v3/contacts", params={"groupId": group["id"]})).json()
    assert members["meta"]["total"] == 0
