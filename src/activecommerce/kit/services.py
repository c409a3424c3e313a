"""What a serving process is built from, as its handlers see it: a Protocol the
composition root (`activecommerce.wiring.ProcessServices`, built by `create_app`)
satisfies, so that the domains reach the database, the settings, the rate limiter and
the rest without importing what builds them.

Handlers reach it through `services(request)`, the one place that reads the app's state.
A plain function rather than a FastAPI dependency: on the hottest paths, dependency
solving costs more than the database read (docs/decisions/001-database-access.md).
The parts kit can describe are attributes; a domain's own part (its configuration, its
server) is looked up by its type with `part`."""

from __future__ import annotations

import ipaddress
from typing import Protocol, TypeVar

from starlette.requests import Request

from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.security import SecretBox

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

T = TypeVar("T")


class Settings(Protocol):
    """The settings handlers read (activecommerce.config.Settings has them all)."""

    @property
    def public_url(self) -> str | None: ...
    @property
    def max_import_bytes(self) -> int: ...
    @property
    def session_seconds(self) -> int: ...
    @property
    def oauth_token_rate(self) -> int: ...
    @property
    def signin_rate(self) -> int: ...
    @property
    def signin_failures_per_email(self) -> int: ...
    @property
    def form_rate(self) -> int: ...
    @property
    def cors_origin_list(self) -> list[str]: ...
    @property
    def links_base(self) -> str: ...
    @property
    def unconfirmed_retention_days(self) -> float: ...
    @property
    def dns_servers(self) -> str: ...
    @property
    def dns_timeout_seconds(self) -> float: ...
    @property
    def bounce_domain(self) -> str | None: ...
    @property
    def spf_include(self) -> str | None: ...


class Decision(Protocol):
    """A rate limiter's answer for one request."""

    @property
    def allowed(self) -> bool: ...
    @property
    def limit(self) -> int: ...
    @property
    def retry_after(self) -> int: ...
    def headers(self) -> list[tuple[bytes, bytes]]: ...


class Limiter(Protocol):
    """Budgets per account, per client address and per named purpose
    (activecommerce.ratelimit.service.RateLimiter)."""

    async def hit_account(self, account_id: int, env: str, plan: str) -> Decision | None: ...
    async def hit_address(self, address: str) -> Decision | None: ...
    async def hit_budget(
        self, name: str, amount: int, seconds: int, identifier: str
    ) -> Decision | None: ...
    async def spend(self, name: str, amount: int, seconds: int, identifier: str) -> bool: ...
    async def over_budget(self, name: str, amount: int, seconds: int, identifier: str) -> int: ...
    async def close(self) -> None: ...


class Authenticator(Protocol):
    """Who a presented credential (an API key, an OAuth access token) stands for."""

    @property
    def secret(self) -> bytes: ...  # the server secret credentials are hashed with
    async def authenticate(self, raw: str) -> Principal | None: ...


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def authenticator(self) -> Authenticator: ...  # API keys
    @property
    def tokens(self) -> Authenticator | None: ...  # OAuth access tokens
    @property
    def limiter(self) -> Limiter: ...
    @property
    def box(self) -> SecretBox: ...  # seals stored idempotent responses
    @property
    def trusted_proxies(self) -> Networks: ...  # whose X-Forwarded-For is believed
    def part(self, kind: type[T]) -> T:
        """A domain's own part of the process, by its type (webhooks' and email's
        configuration, the console's sessions, the OAuth server)."""
        ...


def services(request: Request) -> Services:
    built: Services = request.app.state.services
    return built
