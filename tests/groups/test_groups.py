"""Contact groups (and tags): unique names."""

from __future__ import annotations

import httpx
from helpers import problem


async def test_group_and_tag_names_are_unique(api: httpx.AsyncClient) -> None:
    for collection in ("contactGroups", "contactTags"):
        a = (await api.post(f"/v3/{collection}", json={"name": "Same"})).json()
        problem(await api.post(f"/v3/{collection}", json={"name": "Same"}), 409)
        b = (await api.post(f"/v3/{collection}", json={"name": "Other"})).json()
        problem(await api.patch(f"/v3/{collection}/{b['id']}", json={"name": "Same"}), 409)
        assert (await api.get(f"/v3/{collection}/{a['id']}")).json()["name"] == "Same"
