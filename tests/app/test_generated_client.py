"""A client generated from the OpenAPI document by openapi-python-client (installed by
dev.py in a venv of its own, .venv/generator) drives the API of a live server: the
document is good enough for a generator, with the names a generator user expects
(`create_contact`, `get_contact`, `list_contacts`), and no part of it refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from servers import cli_account, running_server, server_env

GENERATOR_BIN = Path(sys.prefix) / "generator" / "bin"
GENERATE = [
    str(GENERATOR_BIN / "openapi-python-client"),
    *("generate", "--path", "openapi.json", "--config", "config.json", "--meta", "none"),
]
RAW = {"text/csv": "application/octet-stream", "application/x-ndjson": "application/octet-stream"}

DRIVER = """
import json, sys
from active_commerce_api_client import AuthenticatedClient
from active_commerce_api_client.api.contacts import create_contact, get_contact, list_contacts
from active_commerce_api_client.models import ContactIn

client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])
made = create_contact.sync(client=client, body=ContactIn(email="gen@example.com", first_name="Gen"))
got = get_contact.sync(made.id, client=client)
listed = list_contacts.sync(client=client, page_size=5)
print(json.dumps({
    "made": made.to_dict(), "got": got.to_dict(),
    "listed": [c.id for c in listed.data], "total": listed.meta.total,
}))
"""


def test_a_generated_client_drives_the_api(database_url: str, tmp_path: Path) -> None:
    generator = GENERATOR_BIN / "openapi-python-client"
    assert generator.exists(), "run `python3 dev.py test` once: it installs the generator"
    env = server_env(database_url, tmp_path)
    key = cli_account(env, "lite", name="Generated")["sandboxApiKey"]
    with running_server(env, tmp_path / "serve.log") as (base, _log):
        document = httpx.get(f"{base}/v3/openapi.json").json()
        (tmp_path / "openapi.json").write_text(json.dumps(document))
        # The generator reads request bodies as JSON, forms or raw bytes; an import's CSV
        # and NDJSON bodies are raw bytes to it (its documented content_type_overrides).
        (tmp_path / "config.json").write_text(json.dumps({"content_type_overrides": RAW}))
        generated = subprocess.run(
            GENERATE,
            cwd=tmp_path,
            env={**os.environ, "PATH": f"{GENERATOR_BIN}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        report = generated.stdout + generated.stderr
        assert generated.returncode == 0, report
        assert "Warning" not in report, report  # nothing in the document was skipped
        driven = subprocess.run(
            [GENERATOR_BIN / "python", "-c", DRIVER, base, key],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert driven.returncode == 0, driven.stderr
    result = json.loads(driven.stdout)
    assert result["made"]["email"] == "gen@example.com"
    assert result["made"]["firstName"] == "Gen"
    assert result["got"] == result["made"]
    assert result["listed"] == [result["made"]["id"]]
    assert result["total"] == 1
