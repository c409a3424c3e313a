"""`/docs` (Swagger UI) and `/redoc` (ReDoc) work without internet: every script, style
sheet, image and document they reference is this server's own and answers 200, and
their Content-Security-Policy lets nothing in from elsewhere. (In a browser:
test_api_docs_browser.py.)"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
from fastapi import FastAPI

BASE = "http://127.0.0.1:8000"
# src="...", href="...", ReDoc's spec-url="...", Swagger UI's start-up `url: '...'`.
REFERENCE = re.compile(r"""\b(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")
HASH = re.compile(r"^'sha256-[A-Za-z0-9+/]+=*'$")
# The sources a directive may name besides 'self', 'none' and hashes of inline code.
EXTRA = {"img-src": {"data:"}, "worker-src": {"blob:"}}


def policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


async def test_the_docs_pages_load_only_the_servers_own_files(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        for path, kinds in (
            ("/docs", {"javascript", "css", "png", "json"}),
            ("/redoc", {"javascript", "png", "json"}),
        ):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")

            seen = set()
            for match in REFERENCE.finditer(page.text):
                url = urljoin(f"{BASE}{path}", match.group(1) or match.group(2))
                assert urlsplit(url)[:2] == urlsplit(BASE)[:2], (path, url)
                answer = await client.get(url)
                assert answer.status_code == 200, (path, url)
                assert answer.content, (path, url)
                seen.add(answer.headers["content-type"].split(";")[0].split("/")[1])
            assert seen == kinds, (path, seen)

            csp = policy(page.headers["content-security-policy"])
            assert csp["default-src"] == ["'self'"], path
            assert csp["frame-ancestors"] == ["'none'"], path
            for directive in ("script-src", "style-src", "img-src", "connect-src"):
                assert "'self'" in csp[directive], (path, directive)
            for directive, sources in csp.items():
                for source in sources:
                    allowed = source in ("'self'", "'none'") or HASH.match(source)
                    assert allowed or source in EXTRA.get(directive, ()), (path, directive, source)
