"""Sending domains: the API (CRUD, isolation, validation, secrecy of the key), the
verification against a real DNS server on loopback, and the record states."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from conftest import Account, _new_account, running_app
from dnsserver import Zone, dns_server
from fastapi import FastAPI
from helpers import created, field_errors, problem

from activecommerce.config import Settings
from activecommerce.kit.db import Database

BOUNCES = "bounces.sender.test"
SPF = "_spf.sender.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[Zone, str]]:
    with dns_server() as served:
        yield served


@pytest.fixture(scope="module")
async def domains_app(settings: Settings, dns: tuple[Zone, str]) -> AsyncIterator[FastAPI]:
    """The app with its DNS lookups sent to the test's server, a bounce domain and an SPF
    host (no worker of its own: the session app's is enough)."""
    overrides = {
        "dns_servers": dns[1],
        "dns_timeout_seconds": 1.0,
        "bounce_domain": BOUNCES,
        "spf_include": SPF,
        "embedded_worker": False,
    }
    async with running_app(settings, **overrides) as application:
        yield application


@pytest.fixture
async def acct(domains_app: FastAPI) -> AsyncIterator[Account]:
    account = await _new_account(domains_app)
    yield account
    await account.close()


def publish(zone: Zone, domain: dict[str, Any]) -> None:
    """Every record of the domain, as it asks."""
    for record in domain["records"]:
        zone.set(record["name"], record["type"], record["value"])


def states(domain: dict[str, Any]) -> dict[str, str]:
    """Record kind (by its name's first label) -> state."""
    out = {}
    for record in domain["records"]:
        if record["type"] == "CNAME":
            out["return_path"] = record["state"]
        elif record["name"].startswith("_dmarc."):
            out["dmarc"] = record["state"]
        elif "._domainkey." in record["name"]:
            out["dkim"] = record["state"]
        else:
            out["spf"] = record["state"]
    return out


async def test_create_get_list_delete(acct: Account) -> None:
    api = acct.live
    r = await api.post("/v3/sendingDomains", json={"domain": "Mail.Shop-One.test"})
    assert r.status_code == 201, r.text
    domain = r.json()
    assert r.headers["location"] == f"/v3/sendingDomains/{domain['id']}"
    assert domain["domain"] == "mail.shop-one.test"
    assert domain["status"] == "pending"
    assert domain["verifiedAt"] is None
    assert domain["checkedAt"] is None
    records = {(rec["type"], rec["name"]): rec for rec in domain["records"]}
    assert len(records) == 4
    dkim = next(rec for rec in domain["records"] if "._domainkey." in rec["name"])
    assert dkim["name"].endswith("._domainkey.mail.shop-one.test")
    assert dkim["value"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # RSA-2048 SPKI
    assert records[("TXT", "mail.shop-one.test")]["value"] == f"v=spf1 include:{SPF} ~all"
    assert records[("TXT", "_dmarc.mail.shop-one.test")]["value"].startswith("v=DMARC1; p=")
    assert records[("CNAME", "bounces.mail.shop-one.test")]["value"] == BOUNCES
    assert {rec["state"] for rec in domain["records"]} == {"missing"}
    assert "privateKey" not in domain
    assert "PRIVATE" not in r.text

    got = await api.get(f"/v3/sendingDomains/{domain['id']}")
    assert got.status_code == 200
    assert got.json() == domain
    listed = (await api.get("/v3/sendingDomains")).json()
    assert [d["id"] for d in listed["data"]] == [domain["id"]]
    assert listed["meta"]["total"] == 1
    # The same domain again (whatever its case or IDNA spelling) is a 409.
    again = await api.post("/v3/sendingDomains", json={"domain": "MAIL.shop-one.test."})
    problem(again, 409)
    # The sandbox is another environment: it may have the same domain.
    r = await acct.sandbox.post("/v3/sendingDomains", json={"domain": "mail.shop-one.test"})
    assert r.status_code == 201, r.text

    assert (await api.delete(f"/v3/sendingDomains/{domain['id']}")).status_code == 204
    problem(await api.delete(f"/v3/sendingDomains/{domain['id']}"), 404)
    problem(await api.get(f"/v3/sendingDomains/{domain['id']}"), 404)


async def test_idna_names_are_stored_in_ascii(acct: Account) -> None:
    domain = await created(acct.live, "/v3/sendingDomains", {"domain": "Bücher.test"})
    assert domain["domain"] == "xn--bcher-kva.test"


@pytest.mark.parametrize(
    "body",
    [
        {"domain": "localhost"},
        {"domain": "a..b.test"},
        {"domain": "-a.test"},
        {"domain": "under_score.test"},
        {"domain": "*.shop.test"},
        {"domain": "10.0.0.1"},
        {"domain": "a b.test"},
        {"domain": ""},
        {"domain": "x" * 64 + ".test"},
        {"domain": ("a" * 60 + ".") * 5 + "test"},
        {"domain": 12},
        {},
    ],
)
async def test_invalid_domains_are_422(acct: Account, body: dict[str, Any]) -> None:
    r = await acct.live.post("/v3/sendingDomains", json=body)
    problem(r, 422)
    assert "domain" in field_errors(r)


async def test_unknown_fields_and_other_accounts(acct: Account, domains_app: FastAPI) -> None:
    problem(await acct.live.post("/v3/sendingDomains", json={"domain": "a.test", "x": 1}), 422)
    domain = await created(acct.live, "/v3/sendingDomains", {"domain": "iso.test"})
    other = await _new_account(domains_app)
    try:
        for r in (
            await other.live.get(f"/v3/sendingDomains/{domain['id']}"),
            await other.live.post(f"/v3/sendingDomains/{domain['id']}/verify"),
            await other.live.delete(f"/v3/sendingDomains/{domain['id']}"),
            await acct.sandbox.get(f"/v3/sendingDomains/{domain['id']}"),
        ):
            problem(r, 404)
        assert (await other.live.get("/v3/sendingDomains")).json()["data"] == []
        problem(await acct.live.get("/v3/sendingDomains/nope"), 404)
    finally:
        await other.close()


async def test_the_private_key_is_encrypted_and_never_shown(
    acct: Account, domains_app: FastAPI
) -> None:
    domain = await created(acct.live, "/v3/sendingDomains", {"domain": "secret.test"})
    db: Database = domain_db(domains_app)
    row = await db.fetchone(
        "SELECT private_key, public_key FROM sending_domains WHERE id = ? AND account_id = ?",
        (int(domain["id"]), int(acct.id)),
    )
    assert row is not None
    stored = row["private_key"]
    assert "PRIVATE KEY" not in stored
    assert not stored.startswith("MII")
    assert stored.startswith("gAAAAA")  # a Fernet token
    # The public half is what the DKIM record publishes; the private half nowhere.
    dkim = next(rec for rec in domain["records"] if "._domainkey." in rec["name"])
    assert dkim["value"].endswith(row["public_key"])
    listed = await acct.live.get("/v3/sendingDomains")
    assert stored not in listed.text
    assert "private" not in listed.text.lower()


def domain_db(app: FastAPI) -> Database:
    db: Database = app.state.services.db
    return db


async def test_verification_found_missing_wrong(acct: Account, dns: tuple[Zone, str]) -> None:
    zone = dns[0]
    domain = await created(acct.live, "/v3/sendingDomains", {"domain": "verify.test"})
    path = f"/v3/sendingDomains/{domain['id']}/verify"

    # Nothing published: everything missing, still pending.
    r = await acct.live.post(path)
    assert r.status_code == 200, r.text
    checked = r.json()
    assert checked["status"] == "pending"
    assert checked["checkedAt"] is not None
    assert states(checked) == dict.fromkeys(("dkim", "spf", "dmarc", "return_path"), "missing")

    # Records of each kind that are not ours: wrong.
    dkim_name = next(rec["name"] for rec in domain["records"] if "._domainkey." in rec["name"])
    zone.set(dkim_name, "TXT", "v=DKIM1; k=rsa; p=MIIBIjANotOurKey")
    zone.set("verify.test", "TXT", "v=spf1 include:_spf.elsewhere.test -all", "site-check=1")
    zone.set("_dmarc.verify.test", "TXT", "not a dmarc record")
    zone.set("bounces.verify.test", "CNAME", "bounces.elsewhere.test")
    checked = (await acct.live.post(path)).json()
    assert states(checked) == dict.fromkeys(("dkim", "spf", "dmarc", "return_path"), "wrong")
    assert checked["status"] == "pending"

    # A TXT record at the domain that is not SPF: the SPF record is missing, not wrong.
    zone.set("verify.test", "TXT", "site-check=1")
    assert states((await acct.live.post(path)).json())["spf"] == "missing"

    # Ours (the SPF record may include others too; any DMARC policy will do): found.
    publish(zone, domain)
    zone.set("verify.test", "TXT", f"v=spf1 include:_spf.other.test include:{SPF} ~all")
    zone.set("_dmarc.verify.test", "TXT", "v=DMARC1; p=reject; rua=mailto:d@verify.test")
    verified = (await acct.live.post(path)).json()
    assert states(verified) == dict.fromkeys(("dkim", "spf", "dmarc", "return_path"), "found")
    assert verified["status"] == "verified"
    assert verified["verifiedAt"] is not None
    assert (await acct.live.get(f"/v3/sendingDomains/{domain['id']}")).json() == verified

    # Verified again: stays verified, same verifiedAt.
    again = (await acct.live.post(path)).json()
    assert again["status"] == "verified"
    assert again["verifiedAt"] == verified["verifiedAt"]

    # The DKIM record removed: pending again (mail from it is no longer signed).
    zone.set(dkim_name, "TXT")
    lost = (await acct.live.post(path)).json()
    assert lost["status"] == "pending"
    assert lost["verifiedAt"] is None
    assert states(lost)["dkim"] == "missing"
    assert states(lost)["spf"] == "found"


async def test_a_dns_failure_records_nothing(acct: Account, dns: tuple[Zone, str]) -> None:
    zone = dns[0]
    domain = await created(acct.live, "/v3/sendingDomains", {"domain": "fails.test"})
    zone.servfail.add("_dmarc.fails.test")
    try:
        r = await acct.live.post(f"/v3/sendingDomains/{domain['id']}/verify")
    finally:
        zone.servfail.discard("_dmarc.fails.test")
    body = problem(r, 503)
    assert "_dmarc.fails.test" in body["detail"]
    assert int(r.headers["retry-after"]) >= 1
    after = (await acct.live.get(f"/v3/sendingDomains/{domain['id']}")).json()
    assert after["checkedAt"] is None
    assert after == domain


async def test_a_dns_server_that_never_answers(settings: Settings) -> None:
    """Bounded by the DNS timeout: a 503 with Retry-After, in about the timeout."""
    with dns_server(silent=True) as (_, address):
        overrides = {"dns_servers": address, "dns_timeout_seconds": 0.5, "embedded_worker": False}
        async with running_app(settings, **overrides) as application:
            account = await _new_account(application)
            try:
                domain = await created(account.live, "/v3/sendingDomains", {"domain": "q.test"})
                started = time.monotonic()
                r = await account.live.post(f"/v3/sendingDomains/{domain['id']}/verify")
                took = time.monotonic() - started
            finally:
                await account.close()
    body = problem(r, 503)
    assert "did not answer in time" in body["detail"]
    assert took < 3.0, took


async def test_without_a_bounce_domain_no_return_path(api: httpx.AsyncClient) -> None:
    """The session app has no bounce domain: three records; the SPF host is the public
    URL's (`_spf.` and its host)."""
    domain = await created(api, "/v3/sendingDomains", {"domain": "plain.test"})
    assert [rec["type"] for rec in domain["records"]] == ["TXT", "TXT", "TXT"]
    spf = domain["records"][1]
    assert spf["name"] == "plain.test"
    assert spf["value"] == "v=spf1 include:_spf.127.0.0.1 ~all"
