"""Real server processes for the tests that talk HTTP over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-m", "activecommerce"]
# Debian's Chromium, for the browser tests (Playwright cannot download a browser here),
# with the switches a closed network and a root user need.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECOMMERCE_")}
    env["ACTIVECOMMERCE_RATE_LIMIT_ENABLED"] = "false"
    env.update(overrides)
    return env


def server_env(database_url: str, data_dir: Path | str, **overrides: str) -> dict[str, str]:
    """`cli_env` for a process of its own on the test database, with the tests' secret."""
    return cli_env(
        ACTIVECOMMERCE_DATABASE_URL=database_url,
        ACTIVECOMMERCE_DATA_DIR=str(data_dir),
        ACTIVECOMMERCE_SECRET_KEY="test-secret",
        **overrides,
    )


@contextmanager
def running_server(env: dict[str, str], log: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """`activecommerce serve` (with `args`) on a free port; yields its base URL once it
    answers."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/v3/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()}")
            time.sleep(0.1)  # a poll with a deadline (and the process's exit checked)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli_account(env: dict[str, str], plan: str = "lite", name: str = "Test") -> dict[str, Any]:
    """`activecommerce accounts create --json` in a subprocess: the account and its keys."""
    import json

    out = subprocess.run(
        [*CLI, "accounts", "create", "--name", name, "--plan", plan, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))
