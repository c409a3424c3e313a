"""Driving the console in a real browser: Playwright on Debian's Chromium
(/usr/bin/chromium; never a browser of Playwright's own download), a real `activecommerce
serve` on the test database, signing in, axe-core, screenshots. A pytest plugin of
tests/conftest.py (`pytest_plugins`): its fixtures are everyone's. Not a
tests/console/conftest.py: a second module named `conftest` would take the place of
tests/conftest.py for every test module imported after it. See web/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from servers import CHROMIUM, CHROMIUM_ARGS, CLI, running_server, server_env

from activecommerce.kit.migrate import upgrade

# Assertions wait as long as actions do: on a loaded 2-core CI machine running tests in
# parallel, a live preview or a redirect can take longer than the default 5 s.
expect.set_options(timeout=15_000)

AXE = Path(__file__).parent / "console" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PASSWORD = "correct horse battery"


@dataclass
class Server:
    base: str
    env: dict[str, str]  # the environment of the server's CLI (its database, its secret)

    def cli(self, *args: str) -> dict[str, Any]:
        """`activecommerce <args> --json` on the server's database: its one JSON object."""
        out = subprocess.run(
            [*CLI, *args, "--json"], env=self.env, capture_output=True, text=True, check=True
        )
        return dict(json.loads(out.stdout))

    def new_account(self, plan: str = "plus", name: str | None = None) -> Owner:
        """An account with an owner whose password is `PASSWORD` (the CLI's way)."""
        email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
        info = self.cli(
            "accounts",
            "create",
            "--name",
            name or f"Shop {uuid.uuid4().hex[:4]}",
            "--plan",
            plan,
            "--owner-email",
            email,
            "--owner-password",
            PASSWORD,
        )
        return Owner(email=email, account=info)

    def add_user(self, account_id: str, role: str = "member", email: str | None = None) -> str:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        self.cli(
            "users", "create", "--account", account_id, "--email", email,
            "--password", PASSWORD, "--role", role,
        )  # fmt: skip
        return email


@dataclass
class Owner:
    email: str
    account: dict[str, Any]  # `accounts create --json`: accountId, the keys, owner

    @property
    def account_id(self) -> str:
        return str(self.account["accountId"])


@dataclass
class Signed:
    """A signed-in browser page; `csp_violations` collects what the CSP refused."""

    page: Page
    owner: Owner
    server: Server
    csp_violations: list[str] = field(default_factory=list)


def api_client(signed: Signed, env: str = "live") -> httpx.Client:
    """The API as the signed-in owner's account, in `env` (to set up or check a page)."""
    key = signed.owner.account[f"{env}ApiKey"]
    return httpx.Client(base_url=signed.server.base, headers={"Api-Token": key}, timeout=10)


def made(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` to `path`: the object made (201 or 202)."""
    answer = api.post(path, json=body)
    assert answer.status_code in (201, 202), answer.text
    return dict(answer.json())


def open_page(browser: Browser, server: Server, width: int = 1280) -> tuple[Page, list[str]]:
    """A fresh browser context (no cookies) and a page in it, collecting CSP refusals."""
    context = browser.new_context(base_url=server.base, viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []

    def seen(message: Any) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", seen)
    return page, violations


def status_of(page: Page, path: str) -> int:
    """Open `path` in the page: the HTTP status of its answer."""
    answer = page.goto(path)
    assert answer is not None
    return answer.status


def sign_in(page: Page, email: str, password: str = PASSWORD, next_path: str = "/") -> None:
    """Through the sign-in form, as a person would."""
    page.goto(f"/signin?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


PHONE = 390


def fits(page: Page, width: int = PHONE) -> None:
    """The page does not scroll sideways at `width`, measured once it has loaded: before
    its stylesheets apply, a textarea or a table is as wide as its content."""
    page.wait_for_load_state("load")
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


def axe(page: Page) -> None:
    """Run axe-core on the page; fail on serious or critical violations. Injected through
    the DevTools protocol (page.evaluate), which the page's CSP does not apply to."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate("async () => await window.axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A served console on a database of its own: its worker (on PostgreSQL too, for the
    pages' webhook deliveries and emails) never takes the jobs of the suite's database,
    whose tests count on no worker running (tests/jobs/test_worker_durability.py)."""
    from conftest import own_database  # conftest loads this module as its plugin

    folder = tmp_path_factory.mktemp("console")
    with own_database(folder) as database_url:
        upgrade(database_url)
        env = server_env(database_url, folder, ACTIVECOMMERCE_EMBEDDED_WORKER="true")
        with running_server(env, folder / "serve.log") as (base, _):
            yield Server(base, env)


# Per module, not per session: while Playwright's synchronous API runs, its event loop is
# the thread's running loop, and the suite's async tests (after this module) could not
# run theirs. So a module of browser tests holds only synchronous tests.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            "the console's browser tests need /usr/bin/chromium (apt-get install chromium;"
            " .ci/run installs it)"
        )
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
