"""The OAuth 2.0 endpoints (RFC 6749, 7009, 8414): authorize (sign-in, then a consent
page), token, revoke and the server's metadata. HTTP only: authlib decides (server.py)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from activecommerce.accounts.plans import has_live
from activecommerce.api.html import (
    allow_form_target,
    csrf_binding,
    error_page,
    form_target_source,
    read_form,
    render,
    sessions,
    signed_in,
)
from activecommerce.auth.deps import client_address_of
from activecommerce.auth.scopes import SCOPES, parse_scopes
from activecommerce.kit.services import services
from activecommerce.oauth.server import (
    OWNER_ONLY_SCOPES,
    Answer,
    GrantUser,
    OAuthServer,
    StarletteOAuth2Request,
)
from activecommerce.users.service import Membership

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
URL_SAFE = ":/%#?=@[]!$&'()*+,;"  # what stays as it is in a header's URL (as Starlette's)


def _server(request: Request) -> OAuthServer:
    return services(request).part(OAuthServer)


def _oauth_request(
    request: Request, server: OAuthServer, form: list[tuple[str, str]]
) -> StarletteOAuth2Request:
    # The URI authlib sees (and checks for TLS) is the public one.
    uri = server.issuer + request.url.path
    if request.url.query:
        uri += "?" + request.url.query
    query = parse_qsl(request.url.query, keep_blank_values=True)
    return StarletteOAuth2Request(request.method, uri, request.headers, query, form)


def _json(answer: Answer) -> Response:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    return Response(
        orjson.dumps(answer.body),
        status_code=answer.status,
        media_type="application/json",
        headers={**headers, **NO_STORE},
    )


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(
        orjson.dumps({"error": error, "error_description": description}),
        status_code=status,
        media_type="application/json",
        headers=NO_STORE,
    )


async def _form_pairs(request: Request) -> list[tuple[str, str]] | None:
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None


async def _limited(request: Request) -> Response | None:
    """The token and revocation endpoints: a budget per client address."""
    built = services(request)
    decision = await built.limiter.hit_budget(
        "oauth-token", built.settings.oauth_token_rate, 60, client_address_of(request)
    )
    if decision is None or decision.allowed:
        return None
    response = _oauth_error(429, "slow_down", "Too many token requests from this address.")
    response.headers["Retry-After"] = str(decision.retry_after)
    return response


def _undecodable_basic(request: Request) -> Response | None:
    """`Authorization: Basic` whose value is not base64 of UTF-8 (`////`, empty, not
    ASCII): invalid_client (RFC 6749 §5.2), where authlib would raise."""
    scheme, _, value = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        if value.strip():
            base64.b64decode(value.strip(), validate=True).decode("utf-8")
            return None
    except ValueError:  # binascii.Error, UnicodeDecodeError, not ASCII
        pass
    response = _oauth_error(401, "invalid_client", "The Basic credentials cannot be decoded.")
    response.headers["WWW-Authenticate"] = 'Basic error="invalid_client"'
    return response


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    if (refused := await _limited(request) or _undecodable_basic(request)) is not None:
        return refused
    form = await _form_pairs(request)
    if form is None:
        return _oauth_error(
            400, "invalid_request", "Send application/x-www-form-urlencoded (RFC 6749 §4)."
        )
    server = _server(request)
    try:
        oauth_request = _oauth_request(request, server, form)
    except OAuth2Error as error:
        return _oauth_error(400, error.error, error.description or "")
    answer: Answer = await server.run(server.create_token_response, oauth_request)
    return _json(answer)


@router.post("/oauth/revoke")
async def revoke(request: Request) -> Response:
    if (refused := await _limited(request) or _undecodable_basic(request)) is not None:
        return refused
    form = await _form_pairs(request)
    if form is None:
        return _oauth_error(400, "invalid_request", "Send application/x-www-form-urlencoded.")
    server = _server(request)
    try:
        oauth_request = _oauth_request(request, server, form)
    except OAuth2Error as error:
        return _oauth_error(400, error.error, error.description or "")
    answer: Answer = await server.run(server.create_endpoint_response, "revocation", oauth_request)
    return _json(answer)


@router.get("/.well-known/oauth-authorization-server")
async def metadata(request: Request) -> Response:
    return Response(orjson.dumps(_server(request).metadata()), media_type="application/json")


def _eligible(memberships: list[Membership], env: str) -> list[Membership]:
    """The accounts whose `env` a token may act in (a developer account has no live)."""
    return [m for m in memberships if env == "sandbox" or has_live(m.plan)]


async def _validated(
    request: Request, server: OAuthServer, form: list[tuple[str, str]]
) -> tuple[StarletteOAuth2Request, Any] | Response:
    """authlib validates the authorization request: an error with a redirect URI it has
    checked goes back to the client; any other is shown here (never a redirect to a URI
    the client did not register)."""
    try:
        oauth_request = _oauth_request(request, server, form)
    except OAuth2Error as error:
        return error_page(400, "Not allowed", error.description or error.error)
    try:
        grant = await server.run(server.get_consent_grant, oauth_request)
    except OAuth2Error as error:
        answer: Answer = server.handle_error_response(oauth_request, error)
        if answer.status == 302 and answer.location:
            return RedirectResponse(answer.location, status_code=302)
        return error_page(
            400, "This app's request is not valid", f"{error.error}: {error.description or ''}"
        )
    except ValueError:
        # authlib's own error could not be made: it refuses to put characters outside
        # printable ASCII in an error's description, and an unregistered redirect URI
        # (`%00`, `é`, `"`) is quoted in it. Not a URI to send anyone to, either.
        return error_page(
            400, "This app's request is not valid", "invalid_request: a parameter is malformed."
        )
    return oauth_request, grant


@router.get("/oauth/authorize")
async def authorize_page(request: Request) -> Response:
    server = _server(request)
    validated = await _validated(request, server, [])
    if isinstance(validated, Response):
        return validated
    oauth_request, grant = validated
    user = await signed_in(request)
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    if user is None:
        return RedirectResponse("/signin?next=" + quote(here, safe=""), status_code=303)
    client = oauth_request.client
    accounts = _eligible(await sessions(request).memberships(user.user_id), client.env)
    scopes = parse_scopes(oauth_request.scope)
    # With no account to choose, the page says so (not a redirect: this page may follow
    # the sign-in form, whose form-action allows this site only) and its one button goes
    # back to the app with access_denied.
    page = render(
        "consent.html",
        client_name=client.name,
        email=user.email,
        environment=client.env,
        scopes=[
            {"name": s, "description": SCOPES[s], "owner_only": s in OWNER_ONLY_SCOPES}
            for s in scopes
        ],
        all_owner=all(a.role == "owner" for a in accounts),
        accounts=accounts,
        action=here,
        csrf_token=sessions(request).csrf_token(csrf_binding(request) or ""),
    )
    # Allow, Deny: the answer redirects to the redirect URI authlib validated.
    return allow_form_target(page, grant.redirect_uri)


@router.post("/oauth/authorize")
async def authorize(request: Request) -> Response:
    form = await read_form(request)
    if form is None:
        return error_page(400, "Bad request", "Send the consent form.")
    if not sessions(request).csrf_ok(csrf_binding(request), form.get("csrf_token")):
        return error_page(403, "Forbidden", "The form expired; reload the page and try again.")
    server = _server(request)
    validated = await _validated(request, server, [])
    if isinstance(validated, Response):
        return validated
    oauth_request, grant = validated
    user = await signed_in(request)
    if user is None:
        here = request.url.path + "?" + request.url.query
        return RedirectResponse("/signin?next=" + quote(here, safe=""), status_code=303)
    grant_user = None
    if form.get("decision") == "allow":
        accounts = _eligible(
            await sessions(request).memberships(user.user_id), oauth_request.client.env
        )
        chosen = next((a for a in accounts if str(a.account_id) == form.get("account")), None)
        if chosen is None:
            return error_page(400, "Bad request", "Choose one of your accounts.")
        grant_user = GrantUser(user.user_id, chosen.account_id, chosen.role)
    return await _decide(request, server, oauth_request, grant, grant_user)


async def _decide(
    request: Request,
    server: OAuthServer,
    oauth_request: StarletteOAuth2Request,
    grant: Any,
    grant_user: GrantUser | None,
) -> Response:
    answer: Answer = await server.run(
        server.create_authorization_response, oauth_request, grant_user, grant
    )
    if answer.location:
        return _back_to_app(answer.location, oauth_request.client.name)
    return error_page(400, "Not allowed", str(answer.body))


def _back_to_app(location: str, client_name: str) -> Response:
    """The answer to the consent form: to the app's redirect URI. A redirect when the
    consent page's form-action names that URI (`allow_form_target`); when CSP has no
    source for it (an IPv6 loopback address, an app's own scheme), a page that goes on by
    itself: a Refresh is not a redirect of the form's submission, which form-action would
    stop."""
    if form_target_source(location) is not None:
        return RedirectResponse(location, status_code=302)
    page = render("oauth_return.html", client_name=client_name, location=location)
    page.headers["Refresh"] = "0; url=" + quote(location, safe=URL_SAFE)
    return page
