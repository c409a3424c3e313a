"""The account's settings (`GET`/`PATCH /v3/account`): its default postal address, which
the footer of marketing email shows when its brand has none."""

from __future__ import annotations

from conftest import Account
from helpers import field_errors, problem


async def test_get_and_patch_the_postal_address(account: Account, other: Account) -> None:
    api = account.live
    got = (await api.get("/v3/account")).json()
    assert got["id"] == account.id
    assert (got["plan"], got["postalAddress"]) == ("plus", None)
    r = await api.patch("/v3/account", json={"postalAddress": "1 Main St\nSpringfield"})
    assert r.status_code == 200, r.text
    assert r.json()["postalAddress"] == "1 Main St\nSpringfield"
    # One account, both environments; another account's is its own.
    assert (await account.sandbox.get("/v3/account")).json()["postalAddress"] == (
        "1 Main St\nSpringfield"
    )
    assert (await other.live.get("/v3/account")).json()["postalAddress"] is None
    # Merge patch: a body without the field changes nothing; null or blank clears it.
    assert (await api.patch("/v3/account", json={})).json()["postalAddress"] is not None
    assert (await api.patch("/v3/account", json={"postalAddress": "  "})).json()[
        "postalAddress"
    ] is None
    await api.patch("/v3/account", json={"postalAddress": "2 Mill Lane"})
    assert (await api.patch("/v3/account", json={"postalAddress": None})).json()[
        "postalAddress"
    ] is None


async def test_bad_settings_are_422s(account: Account) -> None:
    api = account.live
    r = await api.patch("/v3/account", json={"postalAddress": 12})
    assert "postalAddress" in field_errors(r)
    r = await api.patch("/v3/account", json={"postalAddress": "x" * 1_000_001})
    assert r.status_code in (413, 422)
    r = await api.patch("/v3/account", json={"plan": "enterprise"})  # not a setting
    assert "plan" in field_errors(r)
    problem(
        await api.patch("/v3/account", content=b"{", headers={"content-type": "application/json"}),
        400,
    )
    assert (await api.get("/v3/account")).json()["plan"] == "plus"
