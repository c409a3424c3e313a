"""Every code block of the tutorials and guides (docs/**/*.md) runs against a live server.

Which blocks run
    Fenced blocks in ```sh or ```bash (run with `bash -euo pipefail`), ```python (the
    test venv's python) and ```js (node, as an ES module; Node 20 runs no TypeScript, so
    examples are plain JS). Any other language (text, json, nginx, caddy, csv, ...) is
    not run. An HTML comment on the line before a block changes it:
    `<!-- norun -->` (not run; keep these rare) and `<!-- file: NAME -->` (saved as NAME
    in the page's directory instead of being run: a later block runs it).

One page, one session
    A page's blocks run in order, in a temporary directory of the page's own (their
    working directory), each as a process of its own. Shell blocks run with `set -a`, so
    every variable (and function) they set is exported, and the environment a shell
    block exits with is what the next block, in any language, starts with. Python and
    Node blocks pass state on through files in the directory. Processes a block leaves
    in the background are ended when the page is done (each block is a process group).
    A block that must fail on purpose (an error demo) checks its own outcome.

What a page starts with
    One server for all pages (`activecommerce serve`, which migrates, on a database of its
    own: SQLite, or PostgreSQL when the suite runs on it, with the embedded worker), and
    for each page a fresh account on plan plus, in the environment:
    ACTIVECOMMERCE_URL (the server's base URL), ACTIVECOMMERCE_API_KEY (the account's
    sandbox key), ACTIVECOMMERCE_LIVE_API_KEY, ACTIVECOMMERCE_ACCOUNT_ID,
    ACTIVECOMMERCE_OWNER_EMAIL and ACTIVECOMMERCE_OWNER_PASSWORD (its owner, who signs
    in), and the server's own configuration (ACTIVECOMMERCE_DATABASE_URL, _DATA_DIR,
    _SECRET_KEY) so that `activecommerce` commands act on its database. PATH starts
    with the venv's bin (python, activecommerce).

The Python SDK
    A Python block that imports activecommerce_sdk is skipped (saying why) only while the
    SDK is not in this repository (sdk/python); once it is, it must be installed and the
    block must run. Such blocks show an alternative: no later block depends on them.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import own_database
from servers import running_server, server_env

from activecommerce.accounts.service import create_account, server_secret
from activecommerce.kit.db import connect
from activecommerce.users.passwords import Passwords
from activecommerce.users.service import owner_hook

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
RUN = {"sh": "sh", "bash": "sh", "python": "python", "js": "js", "javascript": "js"}
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(norun|file:\s*(\S+))\s*-->\s*$")
BLOCK_TIMEOUT = 60
PASSWORD = "docs owner password"


@dataclass
class Block:
    line: int
    kind: str  # sh, python, js, file, skip
    code: str
    file: str | None = None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found: list[Block] = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, match.start()) + 1
        lang = match.group(1).lower()
        marker = MARKER.search(before)
        if lang == "ts" and not marker:
            pytest.fail(f"{page}:{line}: Node runs no TypeScript here; write the block in js")
        if marker and marker.group(2):
            found.append(Block(line, "file", match.group(2), marker.group(2)))
        elif marker or lang not in RUN:
            continue
        else:
            found.append(Block(line, RUN[lang], match.group(2)))
    return found


PAGES = sorted(
    p.relative_to(DOCS).as_posix()
    for p in DOCS.rglob("*.md")
    if not p.is_relative_to(DOCS / "decisions") and blocks(p)
)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    database_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if shutil.which("jq") is None:
        pytest.fail("the docs' shell examples use jq: install it (apt-get install jq)")
    tmp = tmp_path_factory.mktemp("docs-server")
    with own_database(tmp) as database_url:
        env = server_env(
            database_url,
            tmp / "data",
            ACTIVECOMMERCE_RATE_LIMIT_ENABLED="true",
            ACTIVECOMMERCE_EMBEDDED_WORKER="true",
            ACTIVECOMMERCE_JOB_POLL_INTERVAL="0.02",
            ACTIVECOMMERCE_WEBHOOK_RETRY_SCHEDULE="1s,1s,1s",
        )
        with running_server(env, tmp / "server.log") as (url, _log):
            yield Server(url, env, database_url)


def new_account(server: Server) -> dict[str, str]:
    """A fresh account on plan plus with its owner; the environment a page starts with."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"

    async def make() -> dict[str, Any]:
        db = await connect(server.database_url)
        try:
            secret = await server_secret(db, server.env["ACTIVECOMMERCE_SECRET_KEY"])
            hashed = Passwords(1).hash_now(PASSWORD)
            made = await create_account(
                db, secret, name="Docs", plan="plus", on_created=owner_hook(email, hashed)
            )
            return dict(made)
        finally:
            await db.close()

    info = asyncio.run(make())
    keep = ("ACTIVECOMMERCE_DATABASE_URL", "ACTIVECOMMERCE_DATA_DIR", "ACTIVECOMMERCE_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECOMMERCE_")}
    env.update({k: server.env[k] for k in keep})
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ACTIVECOMMERCE_URL=server.url,
        ACTIVECOMMERCE_API_KEY=info["sandboxApiKey"],
        ACTIVECOMMERCE_LIVE_API_KEY=info["liveApiKey"],
        ACTIVECOMMERCE_ACCOUNT_ID=str(info["accountId"]),
        ACTIVECOMMERCE_OWNER_EMAIL=email,
        ACTIVECOMMERCE_OWNER_PASSWORD=PASSWORD,
    )
    env.pop("VIRTUAL_ENV", None)
    return env


@functools.cache
def sdk_missing() -> str | None:
    """Why SDK blocks are skipped, or None when they must run."""
    found = subprocess.run(
        [sys.executable, "-c", "import activecommerce_sdk"], capture_output=True, text=True
    )
    if found.returncode == 0:
        return None
    if (ROOT / "sdk" / "python").exists():
        pytest.fail(f"sdk/python exists but activecommerce_sdk does not import:\n{found.stderr}")
    return "the Python SDK (sdk/python) is not in this repository yet"


ENV_DUMP = "__docs_env__"
HIDDEN = {"_", "SHLVL", "PWD", "OLDPWD"}


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in path.read_bytes().split(b"\0"):
        name, sep, value = item.decode().partition("=")
        if sep and name not in HIDDEN:
            env[name] = value
    return env


def run_block(
    block: Block, index: int, work: Path, env: dict[str, str], groups: list[int]
) -> dict[str, str]:
    """Run one block; the environment the next block starts with."""
    dump = work / ENV_DUMP
    if block.kind == "sh":
        script = work / f".block-{index}.sh"
        # set -a: every variable set is exported; at exit the environment is kept.
        script.write_text(f"set -a\ntrap 'env -0 > {ENV_DUMP}' EXIT\n{block.code}")
        command = ["bash", "-euo", "pipefail", script.name]
    elif block.kind == "python":
        script = work / f".block-{index}.py"
        script.write_text(block.code)
        command = [sys.executable, script.name]
    else:
        script = work / f".block-{index}.mjs"
        script.write_text(block.code)
        command = ["node", script.name]
    # Output to a file, not a pipe: a process left in the background keeps its copy open.
    log = work / f".block-{index}.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    groups.append(proc.pid)
    try:
        proc.wait(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"line {block.line}: timed out\n{block.code}\n--- output\n{log.read_text()}")
    output = log.read_text()
    print(f"--- block at line {block.line} ({block.kind}) ---\n{output}")
    if proc.returncode != 0:
        pytest.fail(
            f"the block at line {block.line} failed ({proc.returncode}):\n{block.code}\n"
            f"--- output\n{output}"
        )
    if block.kind == "sh" and dump.exists():
        env = read_env(dump)
        dump.unlink()
    return env


def end_groups(groups: list[int]) -> None:
    """End what the page's blocks left running in the background (a block's children
    stay in its process group)."""
    for group in groups:
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            continue


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_run(page: str, server: Server, tmp_path: Path) -> None:
    env = new_account(server)
    skipped: list[str] = []
    work = tmp_path / "work"
    work.mkdir()
    groups: list[int] = []
    try:
        for index, block in enumerate(blocks(DOCS / page)):
            if block.kind == "file":
                assert block.file is not None
                (work / block.file).write_text(block.code)
                continue
            if block.kind == "js" and shutil.which("node") is None:
                skipped.append(f"line {block.line}: node is not installed")
                continue
            if block.kind == "python" and "activecommerce_sdk" in block.code:
                missing = sdk_missing()
                if missing:
                    skipped.append(f"line {block.line}: {missing}")
                    continue
            env = run_block(block, index, work, env, groups)
    finally:
        end_groups(groups)
    for reason in skipped:
        print(f"SKIPPED the block at {page} {reason}")
