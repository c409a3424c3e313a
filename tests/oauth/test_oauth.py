"""OAuth 2.0 (SPEC §7): every flow driven by authlib's client against the app, the sign-in
and consent forms posted as a browser would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from conftest import Account, running_app
from contract import asgi_client, contract_for
from fastapi import FastAPI
from helpers import created, problem
from oauthflow import (
    BASE,
    REDIRECT,
    app_client,
    authorize,
    browser,
    code_flow,
    field,
    new_user,
    sign_in,
)

from activecommerce.api.html import form_target_source
from activecommerce.config import Settings

ALL = "contacts:read contacts:write deals:read deals:write"


async def register(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Zapier-like")
    body.setdefault("scopes", ALL.split())
    body.setdefault("redirectUris", [REDIRECT])
    return await created(api, "/v3/oauthClients", body)


def bearer(app: FastAPI, token: dict[str, Any]) -> httpx.AsyncClient:
    return asgi_client(app, headers={"Authorization": f"Bearer {token['access_token']}"})


async def test_client_credentials_token_acts_in_the_registering_account_with_its_scopes(
    app: FastAPI, account: Account
) -> None:
    client = await register(account.sandbox, scopes=["contacts:read", "deals:write"])
    assert client["clientSecret"].startswith("ac_secret_")
    listed = (await account.sandbox.get("/v3/oauthClients")).json()
    assert [c["clientId"] for c in listed["data"]] == [client["clientId"]]
    assert "clientSecret" not in listed["data"][0]
    async with app_client(app, client) as oauth:
        token = await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    assert token["access_token"].startswith("ac_at_")
    assert token["expires_in"] == 3600
    assert "refresh_token" not in token
    mine = await created(account.sandbox, "/v3/contacts", {"email": "a@b.co"})
    async with bearer(app, token) as api:
        got = await api.get(f"/v3/contacts/{mine['id']}")
        assert got.status_code == 200
        assert got.headers.get("ratelimit-limit") is None  # limits are off in this suite
        assert "contacts:write" in problem(await api.post("/v3/contacts", json={}), 403)["detail"]
        assert (await api.post("/v3/pipelines", json={"name": "P"})).status_code == 201
        assert "deals:read" in problem(await api.get("/v3/pipelines"), 403)["detail"]
        # A sample of every area.
        for path, scope in (
            ("/v3/contactTags", "contacts:write"),
            ("/v3/brands", "campaigns:read"),
            ("/v3/emailCampaigns", "campaigns:read"),
            ("/v3/sandbox/emails", "campaigns:read"),
            ("/v3/emailAutomations", "automations:read"),
            ("/v3/webhooks", "webhooks:read"),
        ):
            method = "POST" if scope.endswith("write") else "GET"
            answer = await api.request(method, path, json={} if method == "POST" else None)
            assert scope in problem(answer, 403)["detail"], path
        # Keys and clients are never managed with an OAuth token.
        problem(await api.get("/v3/apiKeys"), 403)
        problem(await api.get("/v3/oauthClients"), 403)
        problem(await api.post("/v3/oauthClients", json={"name": "x", "scopes": []}), 403)


async def test_scopes_cover_their_areas(app: FastAPI, account: Account) -> None:
    client = await register(
        account.sandbox,
        scopes=["campaigns:read", "automations:read", "webhooks:read", "webhooks:write"],
    )
    async with app_client(app, client) as oauth:
        token = await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    async with bearer(app, token) as api:
        for path in ("/v3/brands", "/v3/emailCampaigns", "/v3/sandbox/emails"):
            assert (await api.get(path)).status_code == 200, path
        assert (await api.get("/v3/emailAutomations")).status_code == 200
        assert (await api.get("/v3/webhooks")).status_code == 200
        problem(await api.get("/v3/contacts"), 403)


async def test_client_credentials_refusals(app: FastAPI, account: Account) -> None:
    client = await register(account.sandbox, scopes=["contacts:read"])
    wrong = {**client, "clientSecret": "ac_secret_wrong"}
    async with app_client(app, wrong) as oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    async with app_client(app, client, scope="deals:read") as oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_scope"
    public = await register(account.sandbox, public=True)
    async with app_client(app, public) as oauth:
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    assert refused.value.error in ("unauthorized_client", "invalid_client")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        bad = await raw.post("/oauth/token", json={"grant_type": "client_credentials"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_request"
        none = await raw.post("/oauth/token", data={"grant_type": "password"})
        assert none.status_code in (400, 401)
        assert none.json()["error"] in ("unsupported_grant_type", "invalid_client")


async def test_code_flow_with_pkce_refresh_rotation_and_reuse(
    app: FastAPI, account: Account
) -> None:
    client = await register(account.sandbox, public=True, name="Public app")
    email = await new_user(app, account.id)
    oauth, token = await code_flow(app, client, email, "contacts:read contacts:write")
    assert token["refresh_token"].startswith("ac_rt_")
    assert token["scope"] == "contacts:read contacts:write"
    async with bearer(app, token) as api:
        made = await api.post("/v3/contacts", json={"email": "via@oauth.io"})
        assert made.status_code == 201
    # The token acts in the account the user chose: the account's key sees the contact.
    assert (await account.sandbox.get(f"/v3/contacts/{made.json()['id']}")).status_code == 200
    first_refresh = token["refresh_token"]
    renewed = await oauth.refresh_token(f"{BASE}/oauth/token", refresh_token=first_refresh)
    assert renewed["refresh_token"] != first_refresh
    async with bearer(app, token) as old:
        problem(await old.get("/v3/contacts"), 401)  # rotated away
    async with bearer(app, renewed) as api:
        assert (await api.get("/v3/contacts")).status_code == 200
    # The first refresh token again: reuse. Refused, and the whole grant is revoked.
    with pytest.raises(OAuthError) as refused:
        await oauth.refresh_token(f"{BASE}/oauth/token", refresh_token=first_refresh)
    assert refused.value.error == "invalid_grant"
    async with bearer(app, renewed) as api:
        problem(await api.get("/v3/contacts"), 401)
    with pytest.raises(OAuthError):
        await oauth.refresh_token(f"{BASE}/oauth/token", refresh_token=renewed["refresh_token"])
    await oauth.aclose()


async def test_code_flow_confidential_client_code_reuse_revokes_its_tokens(
    app: FastAPI, account: Account
) -> None:
    client = await register(account.sandbox)
    email = await new_user(app, account.id)
    oauth = app_client(app, client, redirect_uri=REDIRECT, scope="contacts:read")
    verifier = generate_token(48)
    url, _state = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
    back = await authorize(app, url, email)
    location = back.headers["location"]
    token = await oauth.fetch_token(
        f"{BASE}/oauth/token", authorization_response=location, code_verifier=verifier
    )
    with pytest.raises(OAuthError) as refused:
        await oauth.fetch_token(
            f"{BASE}/oauth/token", authorization_response=location, code_verifier=verifier
        )
    assert refused.value.error == "invalid_grant"
    async with bearer(app, token) as api:
        problem(await api.get("/v3/contacts"), 401)
    await oauth.aclose()


async def test_code_flow_refusals(app: FastAPI, account: Account) -> None:
    public = await register(account.sandbox, public=True)
    email = await new_user(app, account.id)
    async with browser(app) as b:
        # A redirect URI the client did not register: shown here, never redirected to.
        oauth = app_client(app, public, redirect_uri="https://evil.example/cb")
        url, _ = oauth.create_authorization_url(
            f"{BASE}/oauth/authorize", code_verifier=generate_token(48)
        )
        page = await b.get(url)
        assert page.status_code == 400
        assert "location" not in page.headers
        # An unknown client: the same.
        page = await b.get("/oauth/authorize", params={"response_type": "code", "client_id": "x"})
        assert page.status_code == 400
        # A public client without PKCE: the error goes back to the registered URI.
        oauth = app_client(app, public, redirect_uri=REDIRECT)
        url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize")
        page = await b.get(url)
        assert page.status_code == 302
        assert page.headers["location"].startswith(REDIRECT)
        assert "error=invalid_request" in page.headers["location"]
        # A scope the client may not ask for.
        limited = await register(account.sandbox, scopes=["contacts:read"])
        oauth = app_client(app, limited, redirect_uri=REDIRECT, scope="deals:read")
        url, _ = oauth.create_authorization_url(
            f"{BASE}/oauth/authorize", code_verifier=generate_token(48)
        )
        page = await b.get(url)
        assert "error=invalid_scope" in page.headers["location"]
    # Denied on the consent page.
    oauth = app_client(app, public, redirect_uri=REDIRECT, scope="contacts:read")
    url, _ = oauth.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=generate_token(48)
    )
    denied = await authorize(app, url, email, decision="deny")
    assert "error=access_denied" in denied.headers["location"]
    # A wrong and a missing verifier.
    for sent in (generate_token(48), None):
        verifier = generate_token(48)
        url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
        back = await authorize(app, url, email)
        extra = {"code_verifier": sent} if sent else {}
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                f"{BASE}/oauth/token", authorization_response=back.headers["location"], **extra
            )
        assert refused.value.error in ("invalid_grant", "invalid_request")
    # The code sent with another redirect URI.
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
    back = await authorize(app, url, email)
    oauth.redirect_uri = "http://127.0.0.1:9999/other"
    with pytest.raises(OAuthError) as refused:
        await oauth.fetch_token(
            f"{BASE}/oauth/token",
            authorization_response=back.headers["location"],
            code_verifier=verifier,
        )
    assert refused.value.error == "invalid_grant"
    await oauth.aclose()


async def test_tokens_and_codes_expire(settings: Settings, account: Account) -> None:
    async with running_app(settings, oauth_access_token_seconds=2, oauth_code_seconds=1) as short:
        contract_for(short)  # built before the clock starts: it takes a while
        client = await register(account.sandbox, public=True)
        email = await new_user(short, account.id)
        oauth, token = await code_flow(short, client, email, "contacts:read")
        assert token["expires_in"] == 2
        async with bearer(short, token) as api:
            assert (await api.get("/v3/contacts")).status_code == 200
            await asyncio.sleep(2.2)
            answer = await api.get("/v3/contacts")
            problem(answer, 401)
        # An expired code.
        verifier = generate_token(48)
        url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
        back = await authorize(short, url, email)
        await asyncio.sleep(1.2)
        with pytest.raises(OAuthError) as refused:
            await oauth.fetch_token(
                f"{BASE}/oauth/token",
                authorization_response=back.headers["location"],
                code_verifier=verifier,
            )
        assert refused.value.error == "invalid_grant"
        await oauth.aclose()


async def test_isolation_between_accounts_and_environments(
    app: FastAPI, account: Account, other: Account
) -> None:
    theirs = await created(other.sandbox, "/v3/contacts", {"email": "b@other.io"})
    live = await created(account.live, "/v3/contacts", {"email": "live@mine.io"})
    client = await register(account.sandbox, scopes=["contacts:read"])
    async with app_client(app, client) as oauth:
        token = await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    async with bearer(app, token) as api:
        problem(await api.get(f"/v3/contacts/{theirs['id']}"), 404)
        problem(await api.get(f"/v3/contacts/{live['id']}"), 404)
        assert (await api.get("/v3/contacts")).json()["meta"]["total"] == 0
    # A client of another account, authorized by a user of this one: acts here only.
    foreign = await register(other.sandbox, public=True)
    email = await new_user(app, account.id, role="member")
    oauth2, user_token = await code_flow(app, foreign, email, "contacts:read")
    async with bearer(app, user_token) as api:
        problem(await api.get(f"/v3/contacts/{theirs['id']}"), 404)
    await oauth2.aclose()


async def test_revocation(app: FastAPI, account: Account) -> None:
    client = await register(account.sandbox)
    email = await new_user(app, account.id)
    oauth, token = await code_flow(app, client, email, "contacts:read")
    revoked = await oauth.revoke_token(f"{BASE}/oauth/revoke", token=token["access_token"])
    assert revoked.status_code == 200
    async with bearer(app, token) as api:
        problem(await api.get("/v3/contacts"), 401)
    # Revoking the refresh token ends the grant; revoking an unknown token is a 200.
    await oauth.revoke_token(
        f"{BASE}/oauth/revoke", token=token["refresh_token"], token_type_hint="refresh_token"
    )
    with pytest.raises(OAuthError):
        await oauth.refresh_token(f"{BASE}/oauth/token", refresh_token=token["refresh_token"])
    again = await oauth.revoke_token(f"{BASE}/oauth/revoke", token="ac_at_unknown")
    assert again.status_code == 200
    await oauth.aclose()


async def test_deleting_a_client_ends_its_tokens(app: FastAPI, account: Account) -> None:
    client = await register(account.sandbox, scopes=["contacts:read"])
    async with app_client(app, client) as oauth:
        token = await oauth.fetch_token(f"{BASE}/oauth/token", grant_type="client_credentials")
    assert (await account.sandbox.delete(f"/v3/oauthClients/{client['id']}")).status_code == 204
    problem(await account.sandbox.delete(f"/v3/oauthClients/{client['id']}"), 404)
    async with bearer(app, token) as api:
        problem(await api.get("/v3/contacts"), 401)


async def test_registering_refuses_bad_clients(account: Account) -> None:
    api = account.sandbox
    base = {"name": "x", "scopes": ["contacts:read"]}
    for body in (
        {**base, "scopes": ["everything"]},
        {**base, "scopes": []},
        {**base, "redirectUris": ["http://example.com/cb"]},  # plain http off loopback
        {**base, "redirectUris": ["not a url"]},
        {**base, "redirectUris": ["https://a.example/cb#frag"]},
        {**base, "public": True},  # a public client needs a redirect URI
        {**base, "redirectUris": ["javascript:alert(1)"]},
        {**base, "redirectUris": ["data:text/html,x"]},
        {**base, "redirectUris": ["myapp:/cb"]},  # an app's scheme is named after a domain
        {**base, "redirectUris": ["http://127.0.0.1/a b"]},
        {**base, "redirectUris": ["http://127.0.0.1/a\nb"]},
        {**base, "redirectUris": ["http://127.0.0.1/é"]},
    ):
        problem(await api.post("/v3/oauthClients", json=body), 422)


async def test_metadata(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        meta = (await raw.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == BASE
    assert meta["token_endpoint"] == f"{BASE}/oauth/token"
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert "contacts:read" in meta["scopes_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_openapi_declares_oauth2_and_each_operations_scope(app: FastAPI) -> None:
    document = app.openapi()
    scheme = document["components"]["securitySchemes"]["OAuth2"]
    assert scheme["type"] == "oauth2"
    assert set(scheme["flows"]) == {"authorizationCode", "clientCredentials"}
    paths = document["paths"]
    assert {"OAuth2": ["contacts:read"]} in paths["/v3/contacts"]["get"]["security"]
    assert {"OAuth2": ["deals:write"]} in paths["/v3/deals/{id}"]["patch"]["security"]
    assert {"OAuth2": ["webhooks:write"]} in paths["/v3/webhooks/{id}/rotateSecret"]["post"][
        "security"
    ]
    for path in ("/v3/apiKeys", "/v3/oauthClients"):
        assert all("OAuth2" not in s for s in paths[path]["get"]["security"])
    # Every operation of the document is either scoped or refused on purpose.
    for path, operations in paths.items():
        for method, operation in operations.items():
            names = {name for s in operation["security"] for name in s}
            assert "OAuth2" in names or path.startswith(("/v3/apiKeys", "/v3/oauthClients")), (
                method,
                path,
            )


async def token_request(app: FastAPI, client: dict[str, Any] | None, **form: str) -> httpx.Response:
    """A raw POST to the token endpoint, the client authenticated with HTTP Basic."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        if client is None:
            return await raw.post("/oauth/token", data=form)
        auth = (str(client["clientId"]), str(client["clientSecret"]))
        return await raw.post("/oauth/token", data=form, auth=auth)


def refused_with(answer: httpx.Response, error: str) -> None:
    assert answer.status_code in (400, 401), answer.text
    assert answer.json()["error"] == error, answer.text


async def test_a_refused_code_exchange_uses_nothing_up(app: FastAPI, account: Account) -> None:
    """A code is used up only by the request that gets a token: a refusal (a wrong
    verifier, redirect URI, client or secret) leaves it as it was, and the right request
    then succeeds (it is not taken for a reuse)."""
    client = await register(account.sandbox)
    other = await register(account.sandbox, name="Another app")
    email = await new_user(app, account.id)
    oauth = app_client(app, client, redirect_uri=REDIRECT, scope="contacts:read")
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(f"{BASE}/oauth/authorize", code_verifier=verifier)
    back = await authorize(app, url, email)
    code = httpx.URL(back.headers["location"]).params["code"]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    refused_with(
        await token_request(app, client, **exchange, code_verifier=generate_token(48)),
        "invalid_grant",
    )
    refused_with(
        await token_request(
            app, client, **{**exchange, "redirect_uri": REDIRECT + "x"}, code_verifier=verifier
        ),
        "invalid_grant",
    )
    refused_with(
        await token_request(app, other, **exchange, code_verifier=verifier), "invalid_grant"
    )
    wrong_secret = {**client, "clientSecret": "ac_secret_wrong"}
    refused_with(
        await token_request(app, wrong_secret, **exchange, code_verifier=verifier),
        "invalid_client",
    )
    got = await token_request(app, client, **exchange, code_verifier=verifier)
    assert got.status_code == 200, got.text
    await oauth.aclose()


async def test_a_refused_refresh_uses_nothing_up(app: FastAPI, account: Account) -> None:
    """A refresh refused for its scope, its client or its secret leaves the refresh token
    (and its access token) as they were: the next right refresh succeeds, it is not taken
    for the reuse of a rotated token (which would revoke the grant)."""
    client = await register(account.sandbox)
    other = await register(account.sandbox, name="Another app")
    wrong_secret = {**client, "clientSecret": "ac_secret_wrong"}
    email = await new_user(app, account.id)
    oauth, token = await code_flow(app, client, email, "contacts:read")
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    for scope in ("contacts:read contacts:write", "contacts:read everything", "deals:read"):
        refused_with(await token_request(app, client, **refresh, scope=scope), "invalid_scope")
    refused_with(await token_request(app, other, **refresh), "invalid_grant")
    refused_with(await token_request(app, wrong_secret, **refresh), "invalid_client")
    refused_with(await token_request(app, None, **refresh), "invalid_client")
    async with bearer(app, token) as api:
        assert (await api.get("/v3/contacts")).status_code == 200  # still in use
    renewed = await token_request(app, client, **refresh, scope="contacts:read")
    assert renewed.status_code == 200, renewed.text
    async with bearer(app, renewed.json()) as api:
        assert (await api.get("/v3/contacts")).status_code == 200
    await oauth.aclose()


async def test_racing_refreshes_give_one_token_and_end_the_grant(
    app: FastAPI, account: Account
) -> None:
    """The same refresh token twice at once: the database lets one through; the other is
    a reuse, which revokes the grant (the winner's new token too)."""
    client = await register(account.sandbox)
    email = await new_user(app, account.id)
    oauth, token = await code_flow(app, client, email, "contacts:read")
    await oauth.aclose()
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    answers = await asyncio.gather(*(token_request(app, client, **refresh) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert next(a for a in answers if a.status_code == 400).json()["error"] == "invalid_grant"
    async with bearer(app, winner) as api:
        problem(await api.get("/v3/contacts"), 401)


# What the issue found answering 500, and their neighbours: a redirect URI authlib cannot
# quote in its error, an Authorization header it cannot decode.
BAD_REDIRECT_URIS = ["%00", 'a"b', "%5C", "\\", "%0A", "%7F", "%C3%A9", "%FF", "%0D%0A", "%09"]
BAD_BASIC = ["Basic ////", "Basic /zr+", "basic ////", "Basic  ////", "Basic ", "Basic é"]


@pytest.mark.parametrize("redirect_uri", BAD_REDIRECT_URIS)
async def test_authorize_refuses_a_malformed_redirect_uri_with_a_page(
    app: FastAPI, account: Account, redirect_uri: str
) -> None:
    client = await register(account.sandbox, public=True)
    query = (
        f"response_type=code&client_id={client['clientId']}&redirect_uri={redirect_uri}"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )
    async with browser(app) as b:
        signin = await b.get("/signin")  # a CSRF token (bound to this browser's cookie)
        form = {"csrf_token": field(signin.text, "csrf_token"), "decision": "allow"}
        for method in ("GET", "POST"):
            page = await b.request(method, f"/oauth/authorize?{query}", data=form)
            assert page.status_code == 400, page.text
            assert "location" not in page.headers  # never sent anywhere
            assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("header", BAD_BASIC)
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_undecodable_basic_credentials_are_invalid_client(
    app: FastAPI, path: str, header: str
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        answer = await raw.post(
            path,
            data={"grant_type": "client_credentials", "token": "ac_at_x"},
            headers=[(b"Authorization", header.encode("latin-1"))],
        )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.headers["cache-control"] == "no-store"


async def test_the_consent_page_lets_its_form_lead_to_this_redirect_uri_only(
    app: FastAPI, account: Account
) -> None:
    other = "http://127.0.0.1:9999/other"
    client = await register(account.sandbox, public=True, redirectUris=[REDIRECT, other])
    email = await new_user(app, account.id)
    oauth = app_client(app, client, redirect_uri=other, scope="contacts:read")
    url, _ = oauth.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=generate_token(48)
    )
    async with browser(app) as b:
        assert (await sign_in(b, email)).status_code == 303
        consent = await b.get(url)
        assert consent.status_code == 200
        policy = consent.headers["content-security-policy"]
        assert f"form-action 'self' {other};" in policy
        assert REDIRECT not in policy
        # Every other page keeps `form-action 'self'` alone.
        signin = await b.get("/signin")
        assert "form-action 'self';" in signin.headers["content-security-policy"]
    await oauth.aclose()


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("http://127.0.0.1:9999/callback", "http://127.0.0.1:9999/callback"),
        ("https://App.example/cb?next=1", "https://app.example/cb"),  # CSP sees no query
        ("https://app.example", "https://app.example"),
        # Nothing that could end the directive or add one.
        ("https://app.example/a;script-src *,b", "https://app.example/a%3Bscript-src%20*%2Cb"),
        ("https://app.example/a'b", "https://app.example/a%27b"),
        ("com.example.app:/callback", None),  # a source would match the whole scheme
        # What CSP cannot name exactly: no source (the consent form's answer is then a
        # page that goes on by itself).
        ("http://[::1]:8080/cb", None),
        ("https://*.app.example/cb", None),
        ("https://app.example:99999/cb", None),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
    ],
)
def test_form_target_source(uri: str, source: str | None) -> None:
    assert form_target_source(uri) == source


async def test_no_parameter_of_the_oauth_endpoints_answers_a_500(
    app: FastAPI, account: Account
) -> None:
    """Each parameter of authorize, token and revoke with each malformed value: a 4xx
    (never a redirect to anything but the registered URI or the sign-in page)."""
    public = await register(account.sandbox, public=True)
    confidential = await register(account.sandbox)
    values = ["%00", "%0A", "%7F", "%C3%A9", "%FF", "a%22b", "%5C", "a%3Bb", "x" * 3000]
    authorize = (
        f"response_type=code&client_id={public['clientId']}&code_challenge="
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )
    form = {"content-type": "application/x-www-form-urlencoded"}
    basic = httpx.BasicAuth(confidential["clientId"], confidential["clientSecret"])
    async with browser(app) as b:
        for name in ("response_type", "client_id", "redirect_uri", "scope", "state",
                     "code_challenge", "code_challenge_method"):  # fmt: skip
            for value in values:
                page = await b.get(f"/oauth/authorize?{authorize}&{name}={value}")
                assert page.status_code < 500, (name, value)
                location = page.headers.get("location", "/signin?next=")
                assert location.startswith((REDIRECT + "?", "/signin?next=")), (name, value)
        for grant in ("authorization_code", "refresh_token", "client_credentials"):
            for name in ("grant_type", "code", "redirect_uri", "refresh_token", "scope",
                         "code_verifier", "client_id"):  # fmt: skip
                for value in values:
                    body = f"grant_type={grant}&{name}={value}".encode()
                    answer = await b.post("/oauth/token", content=body, headers=form, auth=basic)
                    assert answer.status_code < 500, (grant, name, value)
                    assert answer.json()["error" if answer.is_error else "access_token"]
        for name in ("token", "token_type_hint", "client_id"):
            for value in values:
                body = f"token=ac_at_x&{name}={value}".encode()
                answer = await b.post("/oauth/revoke", content=body, headers=form, auth=basic)
                assert answer.status_code < 500, (name, value)


async def test_a_redirect_uri_csp_cannot_name_gets_a_page_that_goes_on(
    app: FastAPI, account: Account
) -> None:
    """An app's own scheme (or an IPv6 loopback address): no CSP source names it alone,
    so the consent form's answer is a page with a Refresh and a link, not a redirect."""
    native = "com.example.app:/oauth"
    client = await register(account.sandbox, public=True, redirectUris=[native])
    email = await new_user(app, account.id)
    oauth = app_client(app, client, redirect_uri=native, scope="contacts:read")
    url, state = oauth.create_authorization_url(
        f"{BASE}/oauth/authorize", code_verifier=generate_token(48)
    )
    back = await authorize(app, url, email)
    assert back.status_code == 200, back.text
    assert "location" not in back.headers
    refresh = back.headers["refresh"]
    assert refresh.startswith(f"0; url={native}?code=")
    assert f"state={state}" in refresh
    assert "form-action 'self';" in back.headers["content-security-policy"]
    await oauth.aclose()
