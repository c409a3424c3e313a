"""Where webhooks may not go: private, metadata and loopback addresses in any spelling;
DNS that never answers times out on its own; refusals do not name the address."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from conftest import Account, Blackhole, _new_account
from fastapi import FastAPI
from helpers import field_errors, wait_for

from activecommerce.app import create_app
from activecommerce.config import Settings
from activecommerce.webhooks import ssrf
from activecommerce.webhooks.ssrf import Policy, UnsafeAddress, checked_address, refusal, target


@pytest.mark.parametrize(
    "address",
    ["2002:a9fe:a9fe::", "2002:0a00:0001::", "fec0::1", "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
)
def test_ipv4_inside_ipv6_and_site_local_are_judged(address: str) -> None:
    import ipaddress

    assert (
        refusal(ipaddress.ip_address(address), Policy())
        == {
            "2002:a9fe:a9fe::": "a link-local or cloud-metadata address",  # 6to4 of 169.254.169.254
            "2002:0a00:0001::": "a private address",  # 6to4 of 10.0.0.1
            "fec0::1": "a private (site-local) address",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe": "a private address",  # Teredo
        }[address]
    )


async def test_trailing_dots_do_not_hide_private_hosts(account: Account) -> None:
    assert target("http://10.0.0.1./x")[1] == "10.0.0.1"
    for url in ("http://192.168.1.1./", "http://10.0.0.1.:8080/", "http://169.254.169.254./"):
        r = await account.live.post("/v3/webhooks", json={"url": url, "events": ["*"]})
        assert field_errors(r) == {"url"}, url


@pytest.fixture(scope="module")
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The default address policy: loopback only in the sandbox, no private ranges."""
    strict = settings.model_copy(update={"webhook_allow_loopback": False, "embedded_worker": False})
    application = create_app(strict)
    async with application.router.lifespan_context(application):
        yield application


async def test_private_and_metadata_addresses_are_refused(strict_app: FastAPI) -> None:

    acct = await _new_account(strict_app)
    for url in (
        "http://10.0.0.8/hook",
        "http://192.168.1.20:8080/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0:8000/",
        "http://100.64.0.1/",
    ):
        for client in (acct.sandbox, acct.live):
            r = await client.post("/v3/webhooks", json={"url": url, "events": ["*"]})
            assert field_errors(r) == {"url"}, (url, r.text)
    # Loopback: the sandbox may, live may not (unless configured).
    assert (
        await acct.sandbox.post(
            "/v3/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]}
        )
    ).status_code == 201
    r = await acct.live.post("/v3/webhooks", json={"url": "http://localhost:9/", "events": ["*"]})
    assert field_errors(r) == {"url"}
    await acct.close()


async def test_delivery_checks_the_address_again() -> None:
    with pytest.raises(UnsafeAddress):
        await checked_address("http://localhost:80/hook", Policy())
    with pytest.raises(UnsafeAddress):
        await checked_address("http://no-such-host.invalid/hook", Policy(allow_loopback=True))
    address = await checked_address("http://localhost:80/hook", Policy(allow_loopback=True))
    assert str(address) in ("127.0.0.1", "::1")


async def test_blackhole_dns_times_out_on_its_own_and_blocks_no_other_lookup(
    blackhole_dns: Blackhole,
) -> None:
    resolver = ssrf.Resolver()
    resolver.configure(1.0, [blackhole_dns])
    policy = Policy(resolver=resolver)
    started = time.monotonic()
    lookups = [
        asyncio.ensure_future(checked_address(f"http://n{i}.blackhole.test/", policy))
        for i in range(60)
    ]
    await wait_for(
        lambda: all(blackhole_dns.lookups(f"n{i}.blackhole.test") for i in range(60)),
        1.0,
        "the 60 lookups under way",
    )
    # Meanwhile /etc/hosts still answers at once, and IP literals are never resolved.
    local = await checked_address("http://localhost:80/", Policy(allow_loopback=True))
    assert str(local) == "127.0.0.1"
    assert time.monotonic() - started < 0.5
    assert str(await checked_address("http://8.8.4.4/", policy)) == "8.8.4.4"
    results = await asyncio.gather(*lookups, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, UnsafeAddress) for r in results), results[:3]
    assert "does not resolve" in str(results[0])
    assert elapsed < 4.0, elapsed  # all at once, in about the 1 s timeout


async def test_refusal_does_not_name_the_resolved_address() -> None:
    with pytest.raises(UnsafeAddress) as refused:
        await checked_address("http://localhost:80/hook", Policy())
    message = str(refused.value)
    assert message == "localhost resolves to a loopback address"
    assert "127.0.0.1" not in message
    assert "::1" not in message
    reason = await ssrf.creation_refusal("http://localhost:80/", Policy())
    assert reason == "localhost resolves to a loopback address"
