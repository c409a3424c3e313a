"""`/docs` and `/redoc` in Chromium with every request beyond loopback refused: Swagger UI
shows the operations, ReDoc renders with its styles and search, and their
Content-Security-Policy refuses nothing of theirs. (Over HTTP: test_api_docs.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser import Server, open_page
from playwright.sync_api import Browser, Page, Route, expect

# ReDoc's sidebar shows "API docs by Redocly" with a logo from its CDN: the policy refuses
# it (nothing from elsewhere), and the image then hides itself.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


class Offline:
    """A page whose requests beyond loopback are refused, with what it tried and what its
    policy refused, and the errors its scripts threw."""

    def __init__(self, chromium: Browser, server: Server) -> None:
        self.page, self.csp_violations = open_page(chromium, server)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.page.context.route("**/*", self.route)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort("blockedbyclient")


@pytest.fixture
def offline(chromium: Browser, console_server: Server) -> Iterator[Offline]:
    offline = Offline(chromium, console_server)
    yield offline
    offline.page.context.close()


def test_swagger_ui_shows_the_operations_offline(offline: Offline) -> None:
    page: Page = offline.page
    # A deep link: with this many operations Swagger UI renders only those in view, so
    # the page is opened at this one (which it scrolls to and opens, from the document).
    page.goto("/docs#/Contacts/listContacts")
    operation = page.locator('[id$="-listContacts"]')  # e.g. operations-Contacts-listContacts
    expect(operation).to_be_visible()
    expect(operation).to_contain_text("/v3/contacts")
    expect(operation.get_by_text("Parameters")).to_be_visible()
    # Its style sheet applied: an operation is a bordered block.
    assert operation.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    assert offline.outside == []
    assert offline.csp_violations == []
    assert offline.errors == []


def test_redoc_renders_offline(offline: Offline) -> None:
    page: Page = offline.page
    page.goto("/redoc")
    # ReDoc renders the whole document at once: seconds on a busy machine.
    expect(page.locator('[id="operation/listContacts"]')).to_be_attached(timeout=30_000)
    expect(page.get_by_role("heading", name="ActiveCommerce API")).to_be_visible()
    # The styles it writes at run time are in force (the policy let their elements in).
    rules = page.evaluate(
        "() => [...document.querySelectorAll('style[data-styled]')]"
        ".reduce((n, s) => n + s.sheet.cssRules.length, 0)"
    )
    assert rules > 100
    # Search runs in its worker (made from a blob: URL; without it, no results).
    page.get_by_placeholder("Search...").fill("contact")
    found = page.locator('[data-role="search:results"] [role="menuitem"]')
    expect(found.first).to_be_attached(timeout=30_000)
    assert offline.outside == []
    assert all(REDOCLY_LOGO in v for v in offline.csp_violations), offline.csp_violations
    assert offline.errors == []
