"""The console's browser-test fixtures: a real `activecommerce serve` on the test
database, Chromium, a signed-in page, screenshots. Helpers: tests/browser.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Server, Signed, open_page, sign_in
from servers import running_server, server_env

if not CHROMIUM.exists():
    pytest.skip(
        "the console's browser tests need /usr/bin/chromium (apt-get install chromium;"
        " .ci/run installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="session")
def console_server(
    database_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = server_env(database_url, data_dir)
    log = tmp_path_factory.mktemp("console") / "serve.log"
    with running_server(env, log) as (base, _):
        yield Server(base, env)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def signed_in(chromium: Browser, console_server: Server) -> Iterator[Signed]:
    """The owner of a new account (plan plus: live and sandbox), signed in, on the home
    page. Fails at the end if the page's CSP refused anything (an inline script or
    style slipped into a template)."""
    page, violations = open_page(chromium, console_server)
    owner = console_server.new_account()
    sign_in(page, owner.email)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    signed = Signed(page, owner, console_server, violations)
    yield signed
    page.context.close()
    assert not violations, violations


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """`screenshot(page, name)`: a full-page PNG, in docs/screenshots/<name>.png when
    ACTIVECOMMERCE_SCREENSHOTS=1 (to refresh the README's pictures), else in the test's
    temporary folder (so that CI never changes the tree)."""

    def take(page: Page, name: str) -> Path:
        keep = os.environ.get("ACTIVECOMMERCE_SCREENSHOTS") == "1"
        folder = SCREENSHOTS if keep else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
