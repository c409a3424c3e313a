"""Driving the console in a real browser: Playwright on Debian's Chromium
(/usr/bin/chromium; never a browser of Playwright's own download), a server handle,
signing in, axe-core. The fixtures are in tests/console/conftest.py; see web/README.md."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page
from servers import CLI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


def sign_in(page: Page, email: str, password: str = PASSWORD, next_path: str = "/") -> None:
    """Through the sign-in form, as a person would."""
    page.goto(f"/signin?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


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
