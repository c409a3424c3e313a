"""The console (web/) sits on top: OAuth's pages and every domain render through the
page shell in api/html.py, and only the composition roots (app.py, cli.py) import web/."""

import ast
from pathlib import Path

import activecommerce

SRC = Path(activecommerce.__file__).parent
ROOTS = {"app.py", "cli.py"}


def web_imports(source: str) -> list[str]:
    """The modules of web/ that `source` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "activecommerce":
                names = [f"activecommerce.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [
            n for n in names if n == "activecommerce.web" or n.startswith("activecommerce.web.")
        ]
    return found


def test_only_web_and_the_composition_roots_import_web() -> None:
    outside = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("web/") or relative in ROOTS:
            continue
        outside += [f"{relative}: {name}" for name in web_imports(path.read_text())]
    assert outside == [], "modules outside web/ that import it:\n" + "\n".join(outside)


def test_the_check_sees_an_import_of_web() -> None:
    assert web_imports("from activecommerce.web.pages import render") == [
        "activecommerce.web.pages"
    ]
    assert web_imports("from activecommerce import web") == ["activecommerce.web"]
    assert web_imports("import activecommerce.web.console as c") == ["activecommerce.web.console"]
    assert web_imports("from activecommerce.api.html import render") == []
