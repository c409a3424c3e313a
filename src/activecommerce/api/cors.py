"""CORS for browsers: pages from the origins in ACTIVECOMMERCE_CORS_ORIGINS may
call the API. Only the API's paths answer CORS; the console's pages never do."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The paths a browser app calls: the API, and the OAuth endpoints a public client (a
# single-page app with PKCE) exchanges and revokes its tokens at, and the signup forms'
# hosted pages (a JSON submission from a listed origin's page).
CORS_PREFIXES = ("/v3/", "/oauth/token", "/oauth/revoke", "/f/")
ALLOWED_HEADERS = ["Authorization", "Api-Token", "Content-Type", "Idempotency-Key"]
# The response headers a client reads besides the CORS-safelisted ones.
EXPOSED_HEADERS = [
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Idempotent-Replayed",
    "Content-Disposition",
]


class ApiCors:
    """Starlette's CORSMiddleware for the API's paths; other paths pass untouched.

    A request from any other origin (or none) goes straight to the app, as without CORS:
    no CORS headers, and a preflight gets the app's own 405 problem+json.
    Credentials travel in headers, never cookies: `allow_credentials` stays off, so a
    listed origin can reach the API only with a key or token it holds itself."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.origins = frozenset(origin.encode() for origin in origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(CORS_PREFIXES)
            and dict(scope["headers"]).get(b"origin") in self.origins
        ):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
