"""One owner per state: a campaign's status and a contact's are written by their own
domain only, the email repository writes only messages and captured mail, and the
sending domains ask other domains' services, never their repositories."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import activecommerce

SRC = Path(activecommerce.__file__).parent

# Where each table that carries a state may be written (by a statement naming it).
OWNERS = {
    "email_campaigns": "campaigns/repository.py",
    "email_automations": "automations/repository.py",
    "contacts": "contacts/repository.py",
}
WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)")


def _sources() -> dict[str, str]:
    return {path.relative_to(SRC).as_posix(): path.read_text() for path in SRC.rglob("*.py")}


def test_a_state_is_written_by_its_owner_only() -> None:
    strays = [
        f"{name} writes {table}"
        for name, text in _sources().items()
        for table in WRITE.findall(text)
        if table in OWNERS and name != OWNERS[table]
    ]
    assert strays == []


def test_the_email_repository_writes_only_messages_and_captured_mail() -> None:
    text = (SRC / "email" / "repository.py").read_text()
    assert set(WRITE.findall(text)) == {"email_messages", "captured_emails"}


# The packages whose cross-domain calls go through services.
SERVICE_CALLERS = ("campaigns", "automations", "email", "web/inbox.py")


def _imports(text: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_sending_domains_ask_services_not_repositories() -> None:
    strays = []
    for name, text in _sources().items():
        if not name.startswith(SERVICE_CALLERS):
            continue
        domain = name.split("/")[0]
        for module in _imports(text):
            parts = module.split(".")
            if parts[-1] == "repository" and len(parts) == 3 and parts[1] not in (domain, "kit"):
                strays.append(f"{name} imports {module}")
    assert strays == []
