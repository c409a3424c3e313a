"""What a call does, written once for the sync and the async client.

Each operation is a generator (a "flow") that yields steps, `Send` (an HTTP request) or
`Sleep`, and gets back the response; `Client` and `AsyncClient` only drive flows (with
httpx's sync or async client, `time.sleep` or `asyncio.sleep`). Retries, idempotency
keys, token refresh, errors and waiting for an import are therefore the same in both.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, BinaryIO, TypedDict, TypeVar

import httpx

from activecommerce_sdk.errors import AuthenticationFailed, BadRequest, error_for, retry_after
from activecommerce_sdk.types import Token

T = TypeVar("T")

# A body sent in chunks (an import): called again for every attempt.
Chunks = Callable[[], Iterable[bytes]]


@dataclass
class Send:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    content: Chunks | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False  # keep the body unread (a CSV export) unless it is an error


@dataclass
class Sleep:
    seconds: float


@dataclass
class Locked:
    """Run `flow` while holding the client's lock (one token refresh at a time)."""

    flow: Generator[Any, Any, Any]


Step = Send | Sleep | Locked
Flow = Generator[Step, Any, T]

# Requests that may be sent again after a network error: the server does the same thing
# twice at most once (POST: thanks to its Idempotency-Key).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "POST"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# What the network did (not a request httpx refused to build, such as a bad header).
RETRYABLE = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


@dataclass
class RetryPolicy:
    """`max_attempts` counts the first; waits honour `Retry-After` (429, 503) up to
    `max_wait` seconds, else back off exponentially from `backoff` seconds."""

    max_attempts: int = 4
    max_wait: float = 30.0
    backoff: float = 0.5

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        server = retry_after(response) if response is not None else None
        if server is None:
            server = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 2)  # noqa: S311
        return min(server, self.max_wait)


class Auth:
    """Credentials: how a request is authorised, and how a token is renewed."""

    def header(self) -> Flow[dict[str, str]]:
        return {}
        yield  # a flow that sends nothing

    def renew(self, stale: dict[str, str]) -> Flow[bool]:
        """After a 401: get new credentials if possible (True: send again)."""
        return False
        yield


@dataclass
class ApiKey(Auth):
    key: str

    def header(self) -> Flow[dict[str, str]]:
        return {"Authorization": f"Bearer {self.key}"}
        yield


@dataclass
class OAuthToken(Auth):
    """An OAuth access token, refreshed for you when it expires (or is refused) while a
    refresh token is known; or fetched with the client credentials grant when
    `client_credentials` is set. `on_token` is called with every new token response (to
    store the rotated refresh token)."""

    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    client_credentials: bool = False
    expires_at: float | None = None
    on_token: Callable[[Token], None] | None = None
    core: Core | None = None

    def header(self) -> Flow[dict[str, str]]:
        if self._stale() and self.core is not None:
            yield Locked(self._refresh_if(self.access_token))
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    def renew(self, stale: dict[str, str]) -> Flow[bool]:
        if not (self.refresh_token or self.client_credentials):
            return False
        old = stale.get("Authorization", "").removeprefix("Bearer ") or None
        return bool((yield Locked(self._refresh_if(old, force=True))))

    def _stale(self) -> bool:
        expired = self.expires_at is not None and time.time() > self.expires_at
        return self.access_token is None or expired

    def _refresh_if(self, seen: str | None, *, force: bool = False) -> Flow[bool]:
        """Under the lock: renew unless another call already did (the token changed)."""
        if self.access_token != seen or not (force or self._stale()):
            return True
        if self.client_credentials:
            form = {"grant_type": "client_credentials"}
        elif self.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        else:
            return False
        if self.scope:
            form["scope"] = self.scope
        assert self.core is not None
        token: Token = yield from self.core.token(form, self.client_id, self.client_secret)
        self.take(token)
        return True

    def take(self, token: Token) -> None:
        self.access_token = token["access_token"]
        self.refresh_token = token.get("refresh_token", self.refresh_token)
        expires_in = token.get("expires_in")
        # Renewed a little early (30 s, or a quarter of a short lifetime): never sent stale.
        early = min(30.0, expires_in / 4) if expires_in else 0.0
        self.expires_at = time.time() + expires_in - early if expires_in else None
        if self.on_token is not None:
            self.on_token(token)


DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class Options(TypedDict, total=False):
    """A client's credentials (one of: `api_key`; an OAuth `access_token` and/or
    `refresh_token`, with `client_id` and, for a confidential client, `client_secret`,
    refreshed for you; `client_id` + `client_secret` alone: the client credentials grant,
    with `scope`) and behaviour: `max_attempts` (4, the first included), `max_retry_wait`
    (30 s: the longest `Retry-After` or backoff honoured), `timeout` (30 s per request),
    `on_token` (called with every new OAuth token response, e.g. to store it)."""

    api_key: str
    access_token: str
    refresh_token: str
    client_id: str
    client_secret: str
    scope: str
    on_token: Callable[[Token], None]
    max_attempts: int
    max_retry_wait: float
    timeout: float


def make_core(options: Options) -> Core:
    retry = RetryPolicy(options.get("max_attempts", 4), options.get("max_retry_wait", 30.0))
    return Core(credentials(options), retry)


class Base:
    _core: Core

    @property
    def access_token(self) -> str | None:
        """The OAuth access token in use (None with an API key, or before the first)."""
        return getattr(self._core.auth, "access_token", None)


def credentials(options: Options) -> Auth:
    api_key = options.get("api_key")
    access_token = options.get("access_token")
    refresh_token = options.get("refresh_token")
    client_id = options.get("client_id")
    client_secret = options.get("client_secret")
    on_token = options.get("on_token")
    if api_key is not None:
        if not api_key:
            raise ValueError("api_key is empty")
        return ApiKey(api_key)
    if access_token is not None or refresh_token is not None:
        return OAuthToken(
            access_token=access_token,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            on_token=on_token,
        )
    if client_id is not None and client_secret is not None:
        return OAuthToken(
            client_id=client_id,
            client_secret=client_secret,
            scope=options.get("scope"),
            client_credentials=True,
            on_token=on_token,
        )
    raise ValueError(
        "pass api_key=, access_token= (with refresh_token=), or client_id= and"
        " client_secret= (the client credentials grant)"
    )


class Core:
    """The flows every call is made of."""

    def __init__(self, auth: Auth, retry: RetryPolicy) -> None:
        self.auth = auth
        self.retry = retry
        if isinstance(auth, OAuthToken):
            auth.core = self

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        content: Chunks | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        authenticate: bool = True,
    ) -> Flow[httpx.Response]:
        """One request, retried as the policy allows; an ApiError for 400 and above."""
        sent = dict(headers or {})
        if method == "POST" and authenticate:
            sent.setdefault("Idempotency-Key", str(uuid.uuid4()))  # the same on every retry
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            auth = (yield from self.auth.header()) if authenticate else {}
            step = Send(method, path, params, json, form, content, {**sent, **auth}, stream)
            try:
                response: httpx.Response = yield step
            except RETRYABLE as error:
                retryable = method in IDEMPOTENT or isinstance(error, NOT_SENT)
                if not retryable or attempt >= self.retry.max_attempts:
                    raise
                yield Sleep(self.retry.delay(attempt))
                continue
            status = response.status_code
            if status == 401 and authenticate and not renewed:
                renewed = True
                if (yield from self.auth.renew(auth)):
                    attempt -= 1  # a new token is not a retry
                    continue
            if status in (429, 503) and attempt < self.retry.max_attempts:
                yield Sleep(self.retry.delay(attempt, response))
                continue
            if status >= 400:
                raise error_for(response)
            return response

    def json(self, method: str, path: str, **options: Any) -> Flow[Any]:
        response = yield from self.call(method, path, **options)
        return response.json() if response.content else None

    def token(
        self, form: dict[str, str], client_id: str | None, client_secret: str | None
    ) -> Flow[Token]:
        """POST /oauth/token (client_secret_post, or a public client's client_id)."""
        if client_id is not None:
            form["client_id"] = client_id
        if client_secret is not None:
            form["client_secret"] = client_secret
        try:
            token: Token = yield from self.json(
                "POST", "/oauth/token", form=form, authenticate=False
            )
        except BadRequest as refused:  # invalid_grant: a refresh token revoked or reused
            raise AuthenticationFailed(refused.response, refused.problem) from None
        return token


def next_page(params: dict[str, Any], meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The query of the page after this one: by cursor where the list gives one, else by
    page number; None after the last."""
    if meta.get("nextCursor"):
        return {**params, "cursor": meta["nextCursor"], "page": None}
    page = meta.get("page")
    if "nextCursor" not in meta and page is not None and page < meta.get("totalPages", 0):
        return {**params, "page": page + 1}
    return None


def query(filters: Mapping[str, Any]) -> dict[str, Any]:
    """List filters as query parameters: None left out, booleans as true/false."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else value
        for name, value in filters.items()
        if value is not None
    }


FINISHED = ("completed", "failed")


def wait_for_import(
    core: Core,
    created: dict[str, Any],
    on_progress: Callable[[Any], None] | None,
    poll_interval: float,
) -> Flow[Any]:
    """Follow an import until it is completed or failed, reporting each state seen."""
    current = created
    while True:
        if on_progress is not None:
            on_progress(current)
        if current["status"] in FINISHED:
            return current
        yield Sleep(poll_interval)
        current = yield from core.json("GET", f"/v3/contactImports/{current['id']}")


Source = str | PathLike[str] | bytes | BinaryIO


def send_body(
    group_ids: list[str] | None,
    tag_ids: list[str] | None,
    scheduled_at: str | None,
    audience: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a campaign's send: `audience` as given, else these groups and tags."""
    if audience is None:
        audience = {"groupIds": group_ids or [], "tagIds": tag_ids or []}
    body: dict[str, Any] = {"audience": dict(audience)}
    if scheduled_at is not None:
        body["scheduledAt"] = scheduled_at
    return body


CONTENT_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}


def upload(
    core: Core,
    source: Source,
    format: str,
    update: bool,
    wait: bool,
    on_progress: Callable[[Any], None] | None,
    poll_interval: float,
) -> Flow[Any]:
    """POST /v3/contactImports with the file streamed, then (with `wait`) its progress."""
    created = yield from core.json(
        "POST",
        "/v3/contactImports",
        params={"update": "true" if update else "false"},
        content=file_chunks(source),
        headers={"Content-Type": CONTENT_TYPES[format]},
    )
    if not wait:
        return created
    return (yield from wait_for_import(core, created, on_progress, poll_interval))


def file_chunks(source: Source, chunk_size: int = 1 << 16) -> Chunks:
    """An import body read in chunks: a path (opened again for each attempt), bytes, or a
    binary file (rewound for each attempt when it can be)."""
    if isinstance(source, bytes):
        return lambda: [source]
    if isinstance(source, str | PathLike):
        path = source

        def from_path() -> Iterable[bytes]:
            with open(path, "rb") as handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return from_path
    file = source

    def from_file() -> Iterable[bytes]:
        if file.seekable():
            file.seek(0)
        while chunk := file.read(chunk_size):
            yield chunk

    return from_file
