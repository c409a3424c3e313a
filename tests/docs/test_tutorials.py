"""The tutorials (docs/tutorials/*.md), as a reader runs them: one after another, in any
order and more than once, on one server, the one `python3 dev.py serve` starts.

One server, as a reader has it
    `activecommerce serve` on a fresh data directory (SQLite, or a PostgreSQL database of
    its own when the suite runs on PostgreSQL, then with the embedded worker), rate
    limiting on at the plans' real rates, nothing else configured. What it prints on its
    first start is all a reader gets: the developer account's sandbox key and its owner's
    email and password. A page starts with only these, in the variables the tutorials
    tell the reader to export (ACTIVECOMMERCE_URL, ACTIVECOMMERCE_API_KEY,
    ACTIVECOMMERCE_OWNER_EMAIL, ACTIVECOMMERCE_OWNER_PASSWORD), and the venv's bin first
    on PATH (python3 with httpx and the SDK).

One page, one terminal
    A page's blocks run in order in one bash (`-euo pipefail`: an unset variable or a
    failed command stops the page), in a fresh directory of the page's own, as a reader
    pastes them into one terminal: a shell variable stays for the page's next shell
    blocks, and a Python or Node block, run from that shell, sees only what it exported.
    Blocks marked `<!-- norun -->` are not run (the exports a reader does by hand, given
    here), `<!-- file: NAME -->` ones are saved as NAME.

Within the developer plan's rate (10 requests in any second)
    The reader is quick but pastes one block at a time: a shell block starts once at most
    10 - BURST of the server's requests fall in the last second (`curl` is a shim on PATH
    that notes the time of each request to the server), so a block may make up to BURST
    requests at once, and a poll must sleep between its requests. A Python or Node block
    starts on an empty window and counts as a full one when it ends. A 429 fails curl -f
    (the SDK waits for `Retry-After`, as it should).

What is checked
    Every block succeeds (the pages check their own outcomes: `test`, `jq -e`), and each
    page's output holds the lines EXPECTED lists for it, in order. All four pages run in
    sequence, then again in reverse order, on the one server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import POSTGRES_ADMIN_URL, own_database
from servers import cli_env, running_server
from test_examples import DOCS, blocks

TUTORIALS = ["first-campaign", "first-automation", "webhook-receiver", "oauth-app"]
RATE = 10  # the developer plan's requests per second
BURST = 6  # the most requests a shell block may make at once
PAGE_TIMEOUT = 120

# What each page prints, in order (regular expressions, one per line they must match).
EXPECTED: dict[str, list[str]] = {
    "first-campaign": [
        r'"total": \d+',  # the key works
        r"^brand \d+$",
        r"^2$",  # the group's two members
        r"^2$",  # the segment's preview
        r"^Ann$",  # its contacts
        r"^Bob$",
        r'"status": "draft"',
        r'"status": "queued"',  # the test copy
        r'^"sending"$',
        r"^campaign \d+ is sent$",
        r"^ann-\d+@example\.com: Hi Ann, the spring sale is on$",
        r"^Hi Ann, the spring sale is on$",
        r"^<.*/e/u/.*>",  # List-Unsubscribe
        r"Everything is 20% off",
        r"^true$",
        r'"recipients": 2',
        r'"sent": 2',
        r"^(cy|di)-\d+@example\.com Hi (Cy|Di)$",  # the SDK
    ],
    "first-automation": [
        r'"status": "active"',
        r'"delaySeconds": 0',
        r"^to cara-\d+@example\.com: Welcome, Cara$",
        r'"enrolled": 1',
        r'"sent": 1',
        r"^paused$",
        r"'enrolled': 1",  # the SDK
    ],
    "webhook-receiver": [
        r'"active": true',
        r'"type": "contact.created"',
        r'"email": "eve-\d+@example\.com"',
        r"^true$",
        r'"outcome": "delivered"',
        r"^(\S+)\n\1$",  # the same webhook-id twice
        r"^forged request: 400$",
        r"^webhook deleted: 204$",
    ],
    "oauth-app": [
        r'"token_endpoint": "http://127\.0\.0\.1:\d+/oauth/token"',
        r'"environment": "sandbox"',
        r"^Open this in a browser: http://127\.0\.0\.1:\d+/oauth/authorize\?",
        r"^30[23] http://127\.0\.0\.1:8765/callback\?code=",
        r"'token_type': 'Bearer'",
        r"^\d+$",  # contacts, with the access token
        r"^revoked: 200$",
        r"^after revoking: 401$",
        r'"scope": "contacts:read"',
        r"sync-\d+@example\.com",  # the SDK, with client credentials
    ],
}


@dataclass
class Reader:
    """What `serve` printed on its first start, as a reader exports it."""

    env: dict[str, str]
    log: Path


# The requests to the server, one time a line (the shim's log): what pacing reads.
CURL_SHIM = """#!/bin/sh
case " $* " in *"$ACTIVECOMMERCE_URL"*) date +%s.%N >> "$TUTORIAL_REQUESTS";; esac
exec {curl} "$@"
"""
# Wait until at most $1 of the server's requests fall in the last second.
PACE = """__pace() {
  while [ "$(awk -v now="$(date +%s.%N)" '$1 > now - 1 {n++} END {print n+0}' \\
      "$TUTORIAL_REQUESTS")" -gt "$1" ]; do sleep 0.05; done
}
__full() { for _ in $(seq 1 {rate}); do date +%s.%N >> "$TUTORIAL_REQUESTS"; done; }
""".replace("{rate}", str(RATE))


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    if shutil.which("jq") is None:
        pytest.fail("the tutorials use jq: install it (apt-get install jq)")
    tmp = tmp_path_factory.mktemp("tutorials")
    real_curl = shutil.which("curl")
    assert real_curl, "the tutorials use curl"
    shims = tmp / "bin"
    shims.mkdir()
    (shims / "curl").write_text(CURL_SHIM.replace("{curl}", real_curl))
    (shims / "curl").chmod(0o755)
    (tmp / "requests.log").touch()
    with own_database(tmp) as database_url:
        env = cli_env(
            ACTIVECOMMERCE_DATA_DIR=str(tmp / "data"),
            ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
            COLUMNS="200",  # serve's lines unwrapped
        )
        if POSTGRES_ADMIN_URL:
            env["ACTIVECOMMERCE_DATABASE_URL"] = database_url
            env["ACTIVECOMMERCE_EMBEDDED_WORKER"] = "true"
        with running_server(env, tmp / "serve.log") as (url, log):
            printed = log.read_text()
            # The key stands on a line of its own (a PostgreSQL test database is named ac_test_...).
            key = re.search(r"^\s*(ac_test_[\w-]+)\s*$", printed, re.MULTILINE)
            email = re.search(r"\bemail:?\s+(\S+@\S+)", printed)
            password = re.search(r"\bpassword:?\s+(\S+)", printed)
            assert key, printed
            assert email, printed
            assert password, printed
            base = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECOMMERCE_")}
            base.pop("VIRTUAL_ENV", None)
            base.update(
                PATH=os.pathsep.join([str(shims), str(Path(sys.executable).parent), base["PATH"]]),
                TUTORIAL_REQUESTS=str(tmp / "requests.log"),
                ACTIVECOMMERCE_URL=url,
                ACTIVECOMMERCE_API_KEY=key.group(1),
                ACTIVECOMMERCE_OWNER_EMAIL=email.group(1),
                ACTIVECOMMERCE_OWNER_PASSWORD=password.group(1),
            )
            yield Reader(base, log)


def page_script(name: str, work: Path) -> str:
    """The page as one terminal session: its blocks in order, each paced (see above)."""
    lines = [PACE]
    for index, block in enumerate(blocks(DOCS / "tutorials" / f"{name}.md")):
        if block.kind == "file":
            assert block.file is not None
            (work / block.file).write_text(block.code)
            continue
        marker = f'echo "=== line {block.line} ({block.kind}) at $(date +%s.%N)"'
        if block.kind == "sh":
            lines += [f"__pace {RATE - BURST}", marker, block.code]
        else:
            suffix, command = (".py", "python3") if block.kind == "python" else (".mjs", "node")
            script = f".block-{index}{suffix}"
            (work / script).write_text(block.code)
            lines += ["__pace 0", marker, f"{command} {script}", "__full"]
    return "\n".join(lines) + "\n"


def run_page(name: str, reader: Reader, work: Path) -> str:
    work.mkdir(parents=True)
    (work / "page.sh").write_text(page_script(name, work))
    output = work / "output.txt"
    started = time.monotonic()
    bash = shutil.which("bash")
    assert bash
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [bash, "-euo", "pipefail", "page.sh"],
            cwd=work,
            env=reader.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the page's group: what it leaves running ends with it
        )
    try:
        code = proc.wait(timeout=PAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = output.read_text()
    print(f"=== {name}: {time.monotonic() - started:.1f} s ===\n{text}")
    if code != 0:
        server = reader.log.read_text()[-3000:]
        pytest.fail(f"{name} failed ({code or 'timed out'}):\n{text}\n--- server\n{server}")
    return text


def check_output(name: str, text: str) -> None:
    at = 0
    for pattern in EXPECTED[name]:
        found = re.compile(pattern, re.M).search(text, at)
        assert found, f"{name}: no line matching {pattern!r} after:\n{text[at:]}"
        at = found.end()


def test_every_tutorial_runs_in_any_order_twice_on_one_server(
    reader: Reader, tmp_path: Path
) -> None:
    assert sorted(TUTORIALS) == sorted(p.stem for p in (DOCS / "tutorials").glob("*.md"))
    for round_, order in enumerate([TUTORIALS, TUTORIALS[::-1]]):
        for name in order:
            text = run_page(name, reader, tmp_path / f"{round_}-{name}")
            check_output(name, text)
