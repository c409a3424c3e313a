"""Builds the ASGI app: routers, the body limit, error handlers, the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from activecommerce import __version__
from activecommerce.accounts.router import account_router
from activecommerce.accounts.router import router as keys_router
from activecommerce.accounts.service import KeyAuthenticator, server_secret
from activecommerce.api import docs
from activecommerce.api.cors import ApiCors
from activecommerce.api.examples import add_examples
from activecommerce.api.head import HeadAsGet
from activecommerce.auth.deps import (
    RATE_STATE,
    SECURITY_SCHEMES,
    authenticate_before_errors,
    count_unrouted,
    operation_security,
)
from activecommerce.automations.router import router as automations_router
from activecommerce.brands.router import router as brands_router
from activecommerce.campaigns.router import router as campaigns_router
from activecommerce.config import Settings, get_settings
from activecommerce.consent.router import consents_router
from activecommerce.consent.router import router as suppressions_router
from activecommerce.contacts.router import router as contacts_router
from activecommerce.deals.router import router as deals_router
from activecommerce.deliverability.router import build_router as report_hooks_router
from activecommerce.email import templates
from activecommerce.email.config import EmailConfig
from activecommerce.email.router import public_router, sandbox_router
from activecommerce.fields.router import router as fields_router
from activecommerce.forms.router import public_router as forms_public_router
from activecommerce.forms.router import router as forms_router
from activecommerce.groups.router import router as groups_router
from activecommerce.imports.router import IMPORTS_PATH
from activecommerce.imports.router import router as imports_router
from activecommerce.kit import problems
from activecommerce.kit.db import connect
from activecommerce.kit.problems import PROBLEM_JSON, FieldError, Problem, ProblemDetails
from activecommerce.kit.security import SecretBox
from activecommerce.kit.services import services
from activecommerce.oauth.endpoints import router as oauth_endpoints
from activecommerce.oauth.router import router as oauth_clients_router
from activecommerce.oauth.server import OAuthServer
from activecommerce.oauth.service import TokenAuthenticator
from activecommerce.pipelines.router import routers as pipeline_routers
from activecommerce.privacy.router import router as privacy_router
from activecommerce.ratelimit.service import RateLimiter
from activecommerce.segments.router import router as segments_router
from activecommerce.sendingdomains.router import router as sending_domains_router
from activecommerce.tags.router import router as tags_router
from activecommerce.users.passwords import Passwords
from activecommerce.users.service import Sessions
from activecommerce.web.contact_imports import UPLOAD_PATH
from activecommerce.web.routes import install as install_console
from activecommerce.webhooks.router import build_router as webhooks_router
from activecommerce.webhooks.service import WebhookConfig, WebhookService
from activecommerce.wiring import ProcessServices, wire
from activecommerce.worker import build_worker, configure

log = logging.getLogger("activecommerce")

OPENAPI_URL = "/v3/openapi.json"

DESCRIPTION = """
The ActiveCommerce REST API: contacts, groups and tags, segments, deal pipelines, brands,
email campaigns and automations, webhooks.

Authenticate with `Api-Token: <key>` or `Authorization: Bearer <key>`. Errors are
`application/problem+json` (RFC 9457). Send `Idempotency-Key` on any POST to make it safe
to retry (except a contact import, whose body is streamed rather than kept).
"""


class BodyLimit:
    """413 for a body over the limit, before any of it reaches the app.

    A pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task per request). A
    body of unknown length is read up to the limit and replayed to the app. Bodies sent to
    the `streamed` paths (contact imports) pass untouched: their handler reads them as
    they arrive, with a limit of its own. `larger` paths (the console's CSV upload) take
    a body of declared length up to their own limit."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        streamed: frozenset[str] = frozenset(),
        larger: dict[str, int] | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or scope["path"] in self.streamed:
            await self.app(scope, receive, send)  # the API never reads these bodies
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            limit = self.larger.get(scope["path"], self.max_bytes)
            if not length.isdigit() or int(length) > limit:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Problem(413, f"The body is over the limit of {self.max_bytes} bytes.").response()
        await response(scope, receive, send)


class RateLimitHeaders:
    """Adds RateLimit-* headers to every response whose request was counted (set by the
    auth dependency in the request state), errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(RATE_STATE)
                if decision is not None:
                    message["headers"] = [*message.get("headers", []), *decision.headers()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="ActiveCommerce API",
        version=__version__,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ProblemDetails"] = ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components["ProblemDetails"].pop("$defs", None)
    components["FieldError"] = FieldError.model_json_schema()
    # Every error is problem+json: FastAPI's own 422 entry describes a body we never send.
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            params = operation.get("parameters", [])
            if "requestBody" not in operation and all(p["in"] == "path" for p in params):
                operation.get("responses", {}).pop("422", None)  # path ids are any text
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {
                        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                    }
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    for route_path, path in schema.get("paths", {}).items():
        if route_path.startswith("/v3/") and route_path != "/v3/openapi.json":
            for method, operation in path.items():
                operation["security"] = operation_security(route_path, method)
                answers = operation.setdefault("responses", {})
                # Any operation may refuse an OAuth token that lacks its scope.
                answers.setdefault("403", {"description": "Forbidden", "content": problem})
                # Any operation may meet a database that does not answer (503 with
                # Retry-After); any write may race another one on the same objects (409,
                # safe to retry).
                answers.setdefault(
                    "503", {"description": "Service Unavailable: retry", "content": problem}
                )
                if method in ("post", "put", "patch", "delete"):
                    answers.setdefault(
                        "409",
                        {"description": "Conflict with a concurrent change", "content": problem},
                    )
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    add_examples(schema)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    wire()

    # Made now (the routes need it), completed at start-up (the secret is in the database).
    webhooks = WebhookConfig()
    email = EmailConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await connect(
            settings.effective_database_url,
            acquire_timeout=settings.db_acquire_timeout_seconds,
            statement_timeout=settings.db_statement_timeout_seconds,
            retry_after=settings.db_retry_after_seconds,
        )
        secret = await server_secret(db, settings.secret_key)
        passwords = Passwords(settings.password_hash_threads)
        app.state.services = ProcessServices(
            settings=settings,
            db=db,
            authenticator=KeyAuthenticator(db, secret),
            limiter=RateLimiter(settings),
            box=SecretBox(secret),
            trusted_proxies=settings.trusted_networks(),
            webhooks=webhooks,
            email=email,
            tokens=TokenAuthenticator(db, secret),
            oauth_server=OAuthServer(
                db,
                secret,
                issuer=settings.links_base,
                access_seconds=settings.oauth_access_token_seconds,
                refresh_seconds=settings.oauth_refresh_token_seconds,
                code_seconds=settings.oauth_code_seconds,
            ),
            sessions=Sessions(db, secret, passwords, settings.session_seconds),
        )
        configure(settings, secret, webhooks, email)
        if settings.smtp_url is None:
            log.warning(
                "no SMTP relay configured (ACTIVECOMMERCE_SMTP_URL): live mail is captured,"
                " not delivered (no email reaches anyone)"
            )
        worker = None
        if settings.runs_embedded_worker:
            worker = build_worker(db, settings, webhooks, email)
            worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
                await worker_task
                await worker.close()
            passwords.close()
            templates.close()
            await app.state.services.limiter.close()
            await db.close()

    # The document and the docs are added after the API's routes (not by FastAPI first):
    # routes are matched in order, and the API's are the ones called thousands of times.
    app = FastAPI(
        title="ActiveCommerce API",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's OpenTelemetry hooks look up the global providers (and the environment)
        # on every request unless told they are off; they are on only when asked for.
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    problems.install(
        app,
        authenticate_before_errors=authenticate_before_errors,
        count_unrouted=count_unrouted,
    )
    for router in (
        # The signup forms' public pages first: a submission would otherwise be tried
        # against every API route (~0.3 ms); an API request pays one prefix check.
        forms_public_router,
        report_hooks_router(settings),  # /hooks/...: sending services' delivery reports
        imports_router,  # before the contacts' routes: /v3/contacts/export is not an id
        privacy_router,  # before the contacts' routes, like imports
        contacts_router,
        consents_router,
        suppressions_router,
        fields_router,
        keys_router,
        account_router,
        groups_router,
        tags_router,
        *pipeline_routers,
        deals_router,
        brands_router,
        campaigns_router,
        automations_router,
        segments_router,
        sending_domains_router,
        forms_router,
        webhooks_router(WebhookService(webhooks)),
        sandbox_router,
        public_router,
        oauth_clients_router,
        oauth_endpoints,
    ):
        app.include_router(router)
    install_console(app)  # the sign-in pages, the console and /static
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]

    async def openapi_document(request: Request) -> Response:
        return JSONResponse(app.openapi())

    async def healthz(request: Request) -> Response:
        """The process is up (no database, no credentials)."""
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """The database answers a trivial query in time (else 503 problem+json)."""
        await services(request).db.ping()
        return JSONResponse({"status": "ready"})

    # Probes for load balancers and orchestrators: outside /v3, without credentials and
    # not rate limited, and not in the API's document.
    app.add_route("/healthz", healthz, include_in_schema=False)
    app.add_route("/readyz", readyz, include_in_schema=False)
    app.add_route(OPENAPI_URL, openapi_document, include_in_schema=False)
    docs.install(app, OPENAPI_URL)  # /docs and /redoc, from the server's own copies
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        streamed=frozenset({IMPORTS_PATH}),
        larger={UPLOAD_PATH: settings.max_import_bytes},
    )
    if settings.cors_origin_list:
        # Outermost: a preflight is answered before limits and credentials are looked at,
        # and every answer (errors and 429s included) carries the CORS headers.
        app.add_middleware(ApiCors, origins=settings.cors_origin_list)
    app.add_middleware(HeadAsGet)  # outermost: every layer within sees the GET it stands for
    return app
