"""`activecommerce inbound` as operators run it: a process of its own on the deployment's
database and secret, refusing to start without a bounce domain."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from conftest import Account
from fastapi import FastAPI
from servers import CLI, free_port, server_env

from activecommerce.deliverability.verp import Verp

from .samples import new_contact, postfix_dsn, sent_message, status_of
from .test_inbound import relay

DOMAIN = "bounces.shop.io"


def test_it_needs_a_bounce_domain(database_url: str, data_dir: Path) -> None:
    out = subprocess.run(
        [*CLI, "inbound", "--port", str(free_port())],
        env=server_env(database_url, data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "ACTIVECOMMERCE_BOUNCE_DOMAIN" in out.stderr


async def test_the_inbound_command_applies_a_bounce(
    app: FastAPI, account: Account, database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    address = "gone.cli@example.org"
    contact_id = await new_contact(account.sandbox, address)
    message_id = await sent_message(app.state.services.db, account, contact_id, address)
    # The same secret as the app's (the tests' ACTIVECOMMERCE_SECRET_KEY).
    return_path = Verp(b"test-secret", DOMAIN).return_path(message_id, "sandbox")
    port = free_port()
    log = tmp_path / "inbound.log"
    env = server_env(database_url, data_dir, ACTIVECOMMERCE_BOUNCE_DOMAIN=DOMAIN)
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "inbound",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):  # up to 30 s for the process to listen
            assert proc.returncode is None, log.read_text()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        await relay(port, return_path, postfix_dsn(return_path, address))
        assert await status_of(account.sandbox, contact_id) == "bounced"
    finally:
        proc.terminate()
        code = await asyncio.wait_for(proc.wait(), 10)
    assert code == 0, log.read_text()
    assert "Receiving reports for bounces.shop.io" in log.read_text()
