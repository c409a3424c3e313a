"""The TypeScript SDK (sdk/typescript) against a live server: its Node tests, its types
against the OpenAPI document, and a page in Chromium calling the API across origins."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import own_database
from servers import CHROMIUM, CHROMIUM_ARGS, cli_account, running_server, server_env

from activecommerce.kit.migrate import upgrade

SDK = Path(__file__).resolve().parents[2] / "sdk" / "typescript"


def _npm(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    npm = shutil.which("npm")
    assert npm is not None
    done = subprocess.run(
        [npm, *args],
        cwd=SDK,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"npm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdk() -> Path:
    """The SDK installed (npm ci, once) and built (dist/)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the TypeScript SDK (Node 20+)")
    if not (SDK / "node_modules").exists():
        _npm("ci", "--no-audit", "--no-fund")
    _npm("run", "build")
    return SDK


@contextmanager
def _sdk_server(tmp_path: Path, **overrides: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """`activecommerce serve` on a fresh database of its own, with two accounts: one with
    a high rate limit, one (`free`) limited to 2 requests per second."""
    with own_database(tmp_path) as url:
        upgrade(url)
        env = server_env(
            url,
            tmp_path,
            ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
            ACTIVECOMMERCE_PLAN_RATES=json.dumps({"free": 2}),
            ACTIVECOMMERCE_EMBEDDED_WORKER="true",
            **overrides,
        )
        accounts = {"main": cli_account(env, "enterprise"), "limited": cli_account(env, "free")}
        with running_server(env, tmp_path / "serve.log") as (base, _):
            yield base, accounts


def test_generated_types_match_the_document(sdk: Path) -> None:
    out = _npm("run", "gen", "--", "--check", env={"ACTIVECOMMERCE_PYTHON": sys.executable})
    assert "up to date" in out


def test_node_tests_against_a_live_server(sdk: Path, tmp_path: Path) -> None:
    with _sdk_server(tmp_path) as (base, accounts):
        env = {
            "ACTIVECOMMERCE_URL": base,
            "ACTIVECOMMERCE_API_KEY": accounts["main"]["sandboxApiKey"],
            "ACTIVECOMMERCE_LIMITED_API_KEY": accounts["limited"]["sandboxApiKey"],
        }
        out = _npm("test", env=env)
    assert "# fail 0" in out, out
    passed = re.search(r"^# pass (\d+)$", out, re.MULTILINE)
    assert passed, out
    assert int(passed.group(1)) >= 15, out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _page_origin(directory: Path) -> Iterator[str]:
    """A static server on a port of its own (another origin than the API's)."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


CALL_THE_API = """
async ([baseUrl, apiKey]) => {
  const { ActiveCommerce } = await import("/sdk/index.js");
  const client = new ActiveCommerce({ baseUrl, apiKey, maxRetries: 0 });
  try {
    const made = await client.contacts.create({ email: "browser@example.com" });
    const page = await client.contacts.list({ email: "browser@example.com" });
    return { ok: true, id: made.id, total: page.meta.total };
  } catch (error) {
    return { ok: false, name: error.name, message: String(error) };
  }
}
"""


def test_a_page_from_a_listed_origin_calls_the_api(sdk: Path, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>SDK</title><p>SDK page</p>")
    shutil.copytree(sdk / "dist", site / "sdk")
    with (
        _page_origin(site) as listed,
        _page_origin(site) as unlisted,
        _sdk_server(tmp_path, ACTIVECOMMERCE_CORS_ORIGINS=listed) as (base, accounts),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            key = accounts["main"]["sandboxApiKey"]
            page = browser.new_page()
            page.goto(f"{listed}/index.html")
            answer = page.evaluate(CALL_THE_API, [base, key])
            assert answer["ok"], answer
            assert answer["total"] == 1

            page.goto(f"{unlisted}/index.html")
            refused = page.evaluate(CALL_THE_API, [base, key])
            assert not refused["ok"]
            assert refused["name"] == "NetworkError", refused  # the browser's CORS refusal
        finally:
            browser.close()
