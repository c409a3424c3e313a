"""The probes: /healthz and /readyz answer without credentials, outside the document."""

from __future__ import annotations

import httpx


async def test_healthz_and_readyz_without_credentials(anon: httpx.AsyncClient) -> None:
    health = await anon.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    document = (await anon.get("/v3/openapi.json")).json()
    assert "/healthz" not in document["paths"]
    assert "/readyz" not in document["paths"]
