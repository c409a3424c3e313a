"""The API's interactive documentation: `/docs` (Swagger UI) and `/redoc` (ReDoc).

Both are built by FastAPI's helpers around the server's own copies of the two
(web/static/vendor/, served under /static), so they work without internet and load
nothing from elsewhere. Their Content-Security-Policy allows only this origin's files,
plus, by their hashes, exactly the inline code they need: the page's start-up script or
style, and for ReDoc the style sheet its bundle inserts and the empty `<style>` elements
it then fills through the CSSOM (which the policy does not govern). ReDoc runs its search
in a worker made from its own bundled code, through a `blob:` URL of this origin; its
sidebar's "API docs by Redocly" logo, from cdn.redoc.ly, is refused (it then hides)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

TITLE = "ActiveCommerce API"
SWAGGER_UI = "/static/vendor/swagger-ui-5.36.0"
REDOC = "/static/vendor/redoc-2.5.4"
FAVICON = f"{SWAGGER_UI}/favicon-32x32.png"
INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)
# What redoc.standalone.js itself inserts: perfect-scrollbar's style sheet, and empty
# `<style>` elements (styled-components) whose rules it adds through the CSSOM. A new
# version changes the first: the browser test (tests/docs/test_api_docs_browser.py) says so.
REDOC_STYLES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)


def sha256(code: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'"


def page(
    html: HTMLResponse, styles: tuple[str, ...] = (), workers: str = "'none'"
) -> tuple[bytes, dict[str, str]]:
    """The page and its headers; its policy allows this origin, and its inline code by
    hash."""
    inline: dict[str, list[str]] = {"script": [], "style": list(styles)}
    text = bytes(html.body).decode()
    for kind, code in INLINE.findall(text):
        inline[kind].append(sha256(code))
    script, style = (" ".join(["'self'", *inline[kind]]) for kind in ("script", "style"))
    policy = (
        f"default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data:;"
        f" font-src 'self'; connect-src 'self'; worker-src {workers}; frame-ancestors 'none';"
        " form-action 'self'; base-uri 'none'; object-src 'none'"
    )
    return bytes(html.body), {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


def swagger_ui(openapi_url: str) -> tuple[bytes, dict[str, str]]:
    html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=TITLE,
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        # No badge from validator.swagger.io: nothing is fetched from elsewhere.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return page(html)


def redoc(openapi_url: str) -> tuple[bytes, dict[str, str]]:
    html = get_redoc_html(
        openapi_url=openapi_url,
        title=TITLE,
        redoc_js_url=f"{REDOC}/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
    return page(html, REDOC_STYLES, workers="blob:")


def serve(body: bytes, headers: dict[str, str]) -> Callable[[Request], Awaitable[Response]]:
    async def show(request: Request) -> Response:
        return HTMLResponse(body, headers=headers)

    return show


def install(app: FastAPI, openapi_url: str) -> None:
    """Add `/docs` and `/redoc` to the app (outside the API's document)."""
    app.add_route("/docs", serve(*swagger_ui(openapi_url)), include_in_schema=False)
    app.add_route("/redoc", serve(*redoc(openapi_url)), include_in_schema=False)
