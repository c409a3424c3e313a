"""What a serving process is built from, handed to the HTTP layer as one typed object.

`create_app` (the composition root) builds the `Services` once, at start-up; handlers
reach them through `services(request)`, the one place that reads the app's state. A
plain function rather than a FastAPI dependency: on the hottest paths, dependency
solving costs more than the database read (docs/decisions/001-database-access.md)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from activecommerce.accounts.service import KeyAuthenticator
from activecommerce.config import Settings
from activecommerce.email.config import EmailConfig
from activecommerce.kit.db import Database
from activecommerce.kit.security import SecretBox
from activecommerce.oauth.server import OAuthServer
from activecommerce.oauth.service import TokenAuthenticator
from activecommerce.ratelimit.service import RateLimiter
from activecommerce.users.service import Sessions
from activecommerce.webhooks.service import WebhookConfig

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    authenticator: KeyAuthenticator
    limiter: RateLimiter
    box: SecretBox  # seals stored idempotent responses
    trusted_proxies: Networks  # whose X-Forwarded-For is believed
    webhooks: WebhookConfig  # the address policy, resolver and secret box of webhooks
    email: EmailConfig  # the link signer, and whether live mail goes out by SMTP
    # Users and OAuth 2.0 (SPEC §7): access tokens, the authorization server, sessions.
    tokens: TokenAuthenticator | None = None
    oauth_server: OAuthServer | None = None
    sessions: Sessions | None = None


def services(request: Request) -> Services:
    built: Services = request.app.state.services
    return built
