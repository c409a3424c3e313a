"""The documentation site builds with `mkdocs build --strict` (any warning fails it), its
API reference is generated from the app's OpenAPI document, and it loads nothing from
elsewhere (it must work offline)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from activecommerce.app import create_app
from activecommerce.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr

    # Every page of the nav is there, the design decisions included.
    for page in (
        "tutorials/first-campaign/index.html",
        "guides/webhooks/index.html",
        "decisions/007-layers/index.html",
        "reference/index.html",
    ):
        assert (site / page).is_file(), page

    # The reference is the app's document, one page per tag, every operation in it.
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", secret_key="test-secret")
    document = create_app(settings).openapi()
    assert json.loads((site / "reference/openapi.json").read_text()) == json.loads(
        json.dumps(document)
    )
    rendered = "".join(p.read_text() for p in (site / "reference").glob("*/index.html"))
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert f"{method.upper()} {path}" in rendered, (method, path)
            assert op["operationId"] in rendered

    # Offline: no script, style sheet or font from another host.
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"<script[^>]+src=\"(https?:)?//", text), html
        assert not re.search(r"<link[^>]+rel=\"stylesheet\"[^>]+href=\"(https?:)?//", text), html
        assert "fonts.googleapis" not in text, html


def test_the_docs_stand_on_their_own() -> None:
    """The README and docs/ are the reference: none sends the reader to an internal
    document outside the repository."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = page.read_text()
        assert "SPEC" not in text, page
        assert "../shared" not in text, page
