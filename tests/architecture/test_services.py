"""`Services` sits below the domains (`kit.services`, a Protocol the composition root
satisfies): the HTTP glue and the domains' routers reach the database, the settings and
the rest without importing what builds them, so `api/` depends on the domains and not
the other way round. Read statically (each module's top-level imports), and checked once
at run time in a fresh interpreter."""

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import activecommerce

SRC = Path(activecommerce.__file__).parent
ROOT = "activecommerce"
# The composition roots and the layers above the domains.
ROOTS = ("activecommerce.app", "activecommerce.wiring", "activecommerce.worker")
ABOVE = ("activecommerce.api", "activecommerce.auth.deps", "activecommerce.web", *ROOTS)
HTTP = ("router", "endpoints")  # a domain's HTTP modules, above its own service
NOT_DOMAINS = {"kit", "api", "auth", "web", "migrations", "config", "ratelimit"}


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


@cache
def imports_of(module: str) -> frozenset[str]:
    """The activecommerce modules `module` imports when it is imported (top level)."""
    names: set[str] = set()
    for statement in ast.parse(modules()[module].read_text()).body:
        if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            wanted = [statement.module] + [f"{statement.module}.{a.name}" for a in statement.names]
        elif isinstance(statement, ast.Import):
            wanted = [alias.name for alias in statement.names]
        else:
            continue
        for name in wanted:
            parts = name.split(".")
            names.update(
                ".".join(parts[:n])
                for n in range(2, len(parts) + 1)
                if ".".join(parts[:n]) in modules()
            )
    return frozenset(names - {module})


def loaded_by(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imports_of(name) - seen)
    return seen


def domain_modules(http: bool) -> list[str]:
    return sorted(
        name
        for name in modules()
        if name.count(".") >= 2
        and name.split(".")[1] not in NOT_DOMAINS
        and (name.split(".")[2] in HTTP) == http
    )


def above(name: str) -> bool:
    return any(name == top or name.startswith(f"{top}.") for top in ABOVE)


def test_no_domain_module_reaches_the_http_layer_or_the_composition_root() -> None:
    """A domain's services, repositories, models and jobs load no part of `api/`, the
    console, the authentication dependency or the composition roots."""
    reached = {
        module: sorted(name for name in loaded_by(module) if above(name))
        for module in domain_modules(http=False)
    }
    assert {module: names for module, names in reached.items() if names} == {}


def test_the_http_glue_loads_only_the_domains_that_authenticate() -> None:
    """`api.routes` (every collection's routes) and `kit.services` load no domain but the
    two that say who is calling (an API key's plan, an OAuth token): not the users',
    webhooks', email's or OAuth server's modules, as when `Services` named their types."""
    for glue in ("activecommerce.api.routes", "activecommerce.kit.services"):
        domains = {
            name.split(".")[1]
            for name in loaded_by(glue)
            if name.count(".") >= 1 and name.split(".")[1] not in NOT_DOMAINS
        }
        assert domains <= {"accounts", "oauth"}, (glue, domains)


def test_the_routers_import_without_the_composition_root() -> None:
    routers = domain_modules(http=True)
    assert "activecommerce.deals.router" in routers
    code = (
        "import importlib, sys\n"
        f"for name in {routers!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(name for name in sys.modules if name in {ROOTS!r}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
