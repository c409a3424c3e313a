"""Who may import whom, read statically from the sources (the layers of
docs/decisions/007-layers.md):

- a domain asks another domain's service, never its repository;
- HTTP (every `router.py`, `api/`) and the console (`web/`) reach the data through the
  domains' services, never a domain's repository;
- `kit/` imports no domain.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import activecommerce

SRC = Path(activecommerce.__file__).parent
ROOT = "activecommerce"
# The packages under activecommerce/ that are not a domain: shared code, HTTP glue, the
# console, the database's migrations.
LAYERS = frozenset({"kit", "api", "web", "migrations"})


def imported(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in `source`, the source of `module` (a dotted
    name), relative imports made absolute. `from <package> import name` yields
    `<package>.name` for a package of activecommerce (the name may be a module:
    `from activecommerce.contacts import repository`)."""
    package = module.rsplit(".", 1)[0].split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if len(base.split(".")) <= 2:
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"
            else:
                yield node.lineno, base


def part(module: str) -> str | None:
    """The package of activecommerce a module belongs to (a domain or a layer), or None
    for a top-level module (app, worker, cli...) or one outside the project."""
    parts = module.split(".")
    if parts[0] != ROOT or len(parts) < 3:
        return None
    return parts[1]


def repository_of(module: str) -> str | None:
    """The domain whose repository `module` names (activecommerce.<domain>.repository,
    or a name in it), else None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == ROOT and parts[2] == "repository":
        return None if parts[1] in LAYERS else parts[1]
    return None


KIT = "kit/ imports no domain"
HTTP = "HTTP and the console go through services"
DOMAINS = "another domain's repository: call its service"


def offences(source: str, module: str) -> list[str]:
    """The imports of `module` (its `source`) that break a rule, as
    "module:line imports name (rule)"."""
    own = part(module)
    http = own in ("api", "web") or module.endswith(".router")
    found = []
    for line, name in imported(source, module):
        where = f"{module}:{line} imports {name}"
        target = part(name)
        if own == "kit" and target is not None and target != "kit":
            found.append(f"{where} ({KIT})")
            continue
        domain = repository_of(name)
        if domain is None:
            continue
        if http:
            found.append(f"{where} ({HTTP})")
        elif own is not None and own not in LAYERS and domain != own:
            found.append(f"{where} ({DOMAINS})")
    return sorted(set(found))


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(relative.parts)  # a package's is <package>.__init__
        if part(name) == "migrations":
            continue
        yield name, path


def broken(rule: str) -> list[str]:
    return [
        found
        for name, path in modules()
        for found in offences(path.read_text(), name)
        if found.endswith(f"({rule})")
    ]


def test_kit_imports_no_domain() -> None:
    found = broken(KIT)
    assert not found, "kit/ imports a domain:\n" + "\n".join(found)


def test_http_and_the_console_import_no_repository() -> None:
    found = broken(HTTP)
    assert not found, "A router, api/ or web/ module imports a repository:\n" + "\n".join(found)


def test_no_domain_imports_another_domains_repository() -> None:
    found = broken(DOMAINS)
    assert not found, "A domain imports another's repository:\n" + "\n".join(found)


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("activecommerce.deals.service", "from activecommerce.contacts import repository"),
        ("activecommerce.deals.service", "from activecommerce.contacts.repository import x"),
        ("activecommerce.deals.service", "import activecommerce.contacts.repository"),
        ("activecommerce.deals.service", "def f():\n    from ..contacts import repository"),
        ("activecommerce.contacts.router", "from activecommerce.contacts import repository"),
        ("activecommerce.contacts.router", "from . import repository"),
        ("activecommerce.web.home", "from activecommerce.deals.repository import totals"),
        ("activecommerce.api.routes", "from activecommerce.email import repository as r"),
        ("activecommerce.kit.resource", "from activecommerce.contacts.service import c"),
        ("activecommerce.kit.resource", "from ..contacts import service"),
        ("activecommerce.web.__init__", "from ..email import repository"),
    ],
)
def test_a_broken_rule_is_reported(module: str, source: str) -> None:
    found = offences(source, module)
    assert len(found) == 1
    assert found[0].startswith(f"{module}:")


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("activecommerce.contacts.service", "from activecommerce.contacts import repository"),
        ("activecommerce.contacts.service", "from . import repository"),
        ("activecommerce.deals.service", "from activecommerce.contacts.service import c"),
        ("activecommerce.web.home", "from activecommerce.deals.service import totals"),
        ("activecommerce.web.home", "from activecommerce.kit import events"),
        ("activecommerce.contacts.repository", "from activecommerce.kit.repository import T"),
        ("activecommerce.kit.resource", "from activecommerce.kit.repository import TENANT"),
        ("activecommerce.kit.resource", "from .db import Database"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert offences(source, module) == []


def test_the_failure_lists_the_offending_imports() -> None:
    source = "import os\nfrom activecommerce.email import repository\n"
    assert offences(source, "activecommerce.web.contacts") == [
        "activecommerce.web.contacts:2 imports activecommerce.email.repository"
        " (HTTP and the console go through services)"
    ]
