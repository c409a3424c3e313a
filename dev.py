#!/usr/bin/env python3
"""The two commands a fresh machine with only Python needs (see README):

    python3 dev.py serve [--host H] [--port P]   # install if needed, then serve (SQLite)
    python3 dev.py test                          # install if needed, lint, type-check, test

`test` runs the suite on SQLite, and again on PostgreSQL when
ACTIVECOMMERCE_TEST_POSTGRES_URL is set (each run makes and drops its own database).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SDK = ROOT / "sdk" / "python"  # the Python SDK, installed beside the server for its tests
# The client generator the OpenAPI test runs (tests/app/test_generated_client.py). It has
# a venv of its own: it requires typer<0.28, and the server pins a newer typer.
GENERATOR = ("openapi-python-client==0.29.1", "python-dateutil==2.9.0.post0")
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
GENERATOR_VENV = VENV / "generator"
PY = BIN / "python"


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_installed(extras: str) -> None:
    stamp = VENV / f".installed-{extras or 'base'}"
    sources = [ROOT / "pyproject.toml"] + ([SDK / "pyproject.toml"] if extras == "dev" else [])
    pins = " ".join(GENERATOR).encode() if extras == "dev" else b""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + pins).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not PY.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    target = f".[{extras}]" if extras else "."
    print(f"Installing ActiveCommerce ({target}) ...", flush=True)
    sdk = ["-e", str(SDK)] if extras == "dev" else []
    code = run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target, *sdk)
    if code:
        sys.exit(code)
    if extras == "dev":
        venv.create(GENERATOR_VENV, with_pip=True, clear=True)
        pip = GENERATOR_VENV / BIN.name / "python"
        code = run(pip, "-m", "pip", "install", "--disable-pip-version-check", "-q", *GENERATOR)
        if code:
            sys.exit(code)
    stamp.write_text(digest)


def serve(args: list[str]) -> int:
    ensure_installed("")
    return run(BIN / "activecommerce", "serve", *args)


def test(args: list[str]) -> int:
    ensure_installed("dev")
    for step in (
        (BIN / "ruff", "check", "src", "tests", "bench", "sdk/python"),
        (BIN / "ruff", "format", "--check", "src", "tests", "bench", "sdk/python"),
        (BIN / "mypy", "src", "tests", "sdk/python/src"),
    ):
        code = run(*step)
        if code:
            return code
    # One pytest worker a core (at most 4: the tests start servers and browsers of their
    # own), each module whole on one worker; `-n 0` (or any -n of your own) overrides it.
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        args = ["-n", str(min(4, max(1, os.cpu_count() or 1))), "--dist", "loadfile", *args]
    # The slowest tests are printed at the end, so that a run shows where its time goes.
    if not any(a.startswith("--durations") for a in args):
        args = ["--durations=25", *args]
    env = dict(os.environ)
    env.pop("ACTIVECOMMERCE_TEST_DATABASE_URL", None)
    print("== tests on SQLite ==", flush=True)
    code = run(PY, "-m", "pytest", *args, env=env)
    if code:
        return code
    postgres = os.environ.get("ACTIVECOMMERCE_TEST_POSTGRES_URL")
    if postgres:
        print("== tests on PostgreSQL ==", flush=True)
        env["ACTIVECOMMERCE_TEST_DATABASE_URL"] = postgres
        code = run(PY, "-m", "pytest", *args, env=env)
    return code


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("serve", "test"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    return serve(rest) if command == "serve" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
