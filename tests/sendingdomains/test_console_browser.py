"""The sending domains' pages in Chromium: add a domain, see its records, verify it against
a real DNS server on loopback (the served process asks it: ACTIVECOMMERCE_DNS_SERVERS),
delete it; accessibility and phone width."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import PHONE, Server, axe, fits, open_page, sign_in
from dnsserver import Zone, dns_server
from playwright.sync_api import Browser, expect
from servers import running_server, server_env

from activecommerce.kit.migrate import upgrade


@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[Zone, str]]:
    with dns_server() as served:
        yield served


@pytest.fixture(scope="module")
def domains_server(
    tmp_path_factory: pytest.TempPathFactory, dns: tuple[Zone, str]
) -> Iterator[Server]:
    from conftest import own_database

    folder = tmp_path_factory.mktemp("domains-console")
    with own_database(folder) as database_url:
        upgrade(database_url)
        env = server_env(
            database_url,
            folder,
            ACTIVECOMMERCE_DNS_SERVERS=dns[1],
            ACTIVECOMMERCE_DNS_TIMEOUT_SECONDS="1",
            ACTIVECOMMERCE_BOUNCE_DOMAIN="bounces.sender.test",
        )
        with running_server(env, folder / "serve.log") as (base, _):
            yield Server(base, env)


def test_add_verify_and_delete_a_domain(
    chromium: Browser, domains_server: Server, dns: tuple[Zone, str]
) -> None:
    zone = dns[0]
    page, violations = open_page(chromium, domains_server)
    owner = domains_server.new_account()
    sign_in(page, owner.email)
    page.get_by_role("link", name="Sending domains").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sending domains")
    axe(page)
    page.get_by_role("textbox", name="Domain").fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_role("textbox", name="Domain")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("textbox", name="Domain").fill("News.Browser-Shop.test")
    page.get_by_role("button", name="Add domain").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("news.browser-shop.test")
    expect(page.get_by_test_id("status")).to_contain_text("Pending")
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(4)  # DKIM, SPF, DMARC, return path
    expect(page.locator("td[data-state=missing]")).to_have_count(4)
    axe(page)

    # Publish what the page shows, then verify.
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        zone.set(cells.nth(1).inner_text(), cells.nth(0).inner_text(), cells.nth(2).inner_text())
    page.get_by_role("button", name="Verify DNS records").click()
    expect(page.get_by_role("status")).to_contain_text("is verified")
    expect(page.get_by_test_id("status")).to_contain_text("Verified")
    expect(page.locator("td[data-state=found]")).to_have_count(4)
    axe(page)

    # At phone width: the long DKIM value wraps, nothing scrolls sideways.
    page.set_viewport_size({"width": PHONE, "height": 800})
    page.reload()
    fits(page)
    page.goto("/sending-domains")
    fits(page)
    expect(page.get_by_role("row", name="news.browser-shop.test")).to_contain_text("Verified")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="news.browser-shop.test").click()
    page.get_by_role("button", name="Delete news.browser-shop.test").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.get_by_text("No sending domains yet.")).to_be_visible()
    page.context.close()
    assert not violations, violations
