"""No process of ours outlives its parent: the template checker's processes (the parser
and multiprocessing's resource tracker) go with `serve`, whether it is killed (-9) or
stopped (SIGTERM)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest
from helpers import wait_until
from servers import CLI, cli_env, free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a live process, None when it is gone (a zombie,
    never reaped by a container's init, counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    state, ppid, start = fields[0], int(fields[1]), fields[19]
    return None if state in "ZX" else (ppid, state, start)


def _descendants(root: int) -> dict[int, str]:
    """The live descendants of `root`: pid -> start time (so a reused pid is not taken for
    the same process)."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)] = (stat[0], stat[2])
    found: dict[int, str] = {}
    wanted = {root}
    while wanted:
        children = {pid for pid, (ppid, _) in parents.items() if ppid in wanted}
        children -= found.keys()
        found |= {pid: parents[pid][1] for pid in children}
        wanted = children
    return found


def _alive(processes: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start:
            alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return alive


def _none_alive(processes: dict[int, str]) -> bool:
    return not _alive(processes)


def _start(data: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`serve` on a SQLite data dir of its own: the process, its URL and its log."""
    port = free_port()
    log = data.with_suffix(".log")
    env = cli_env(ACTIVECOMMERCE_DATA_DIR=str(data))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return proc, f"http://127.0.0.1:{port}", log


def _parser_started(proc: subprocess.Popen[bytes], base: str, log: Path) -> dict[int, str]:
    """Once `serve` answers, a campaign saved (its templates are checked in the parser
    process): the server's descendants then."""

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, timeout=60, what="the server to answer")
    key = re.search(r"(ac_test_[A-Za-z0-9_-]+)", log.read_text())
    assert key, log.read_text()
    campaign = {"name": "C", "subject": "Hi {{ contact.firstName }}", "fromEmail": "a@b.io"}
    r = httpx.post(
        f"{base}/v3/emailCampaigns", json=campaign, headers={"Api-Token": key.group(1)}, timeout=30
    )
    assert r.status_code == 201, r.text
    children = _descendants(proc.pid)
    commands = _alive(children).values()
    assert any("spawn_main" in c for c in commands), commands  # the parser
    assert any("resource_tracker" in c for c in commands), commands
    return children


def test_the_template_checkers_processes_go_with_the_server(tmp_path: Path) -> None:
    # Two servers started at once (a start takes seconds): one killed, one stopped.
    servers = {stop: _start(tmp_path / stop.name) for stop in (signal.SIGKILL, signal.SIGTERM)}
    try:
        for stop, (proc, base, log) in servers.items():
            children = _parser_started(proc, base, log)
            proc.send_signal(stop)
            proc.wait(15)
            gone = partial(_none_alive, children)
            wait_until(gone, timeout=5, what=f"the children of a server stopped by {stop!r} to go")
    finally:
        for proc, _base, _log in servers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
