"""Wiring in one place: what ties the domains together in a running process, done by
the composition roots (`create_app`, the worker) through `wire`, never as a side effect
of importing a module.

- Deletes that another domain must refuse or follow: a pipeline or stage with deals stays,
  what an automation's trigger or a segment's conditions name stays, a deleted brand or
  contact is cleared from the campaigns, automations and deals that named it (the
  `Resource` delete guards and reference clearing, declared by the domain that refers,
  in its `guard_references`).
- The event subscribers, called in the transaction that records an event: webhooks'
  fan-out (a delivery job per webhook that wants the event) and automations' enrolment.

And what a serving process is built from (`ProcessServices`, made by `create_app`), which
handlers see as `kit.services.Services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from activecommerce.accounts.service import KeyAuthenticator
from activecommerce.automations import service as automations
from activecommerce.automations.enrolment import enrol, enrol_interest
from activecommerce.campaigns import service as campaigns
from activecommerce.config import Settings
from activecommerce.deals import service as deals
from activecommerce.email.config import EmailConfig
from activecommerce.forms import service as forms
from activecommerce.kit import events
from activecommerce.kit.db import Database
from activecommerce.kit.security import SecretBox
from activecommerce.kit.services import Networks
from activecommerce.oauth.server import OAuthServer
from activecommerce.oauth.service import TokenAuthenticator
from activecommerce.ratelimit.service import RateLimiter
from activecommerce.segments import service as segments
from activecommerce.users.service import Sessions
from activecommerce.webhooks.service import WebhookConfig, fan_out, fan_out_interest

T = TypeVar("T")

# The Resources are one per process, and so are the guards on their deletes.
_guarded = False


def wire() -> None:
    """Register the delete guards (once per process: calling again changes nothing) and
    put in force the event subscribers (a new registry each call, the same subscribers)."""
    global _guarded
    if not _guarded:
        # In this order, the guards a pipeline's delete runs (the automations' first).
        campaigns.guard_references()
        automations.guard_references()
        deals.guard_references()
        segments.guard_references()
        forms.guard_references()
        _guarded = True
    subscribers = events.Subscribers()
    subscribers.subscribe(fan_out, fan_out_interest)
    subscribers.subscribe(enrol, enrol_interest)
    events.install(subscribers)


@dataclass(frozen=True, slots=True)
class ProcessServices:
    """The `kit.services.Services` of a serving process, made once at start-up."""

    settings: Settings
    db: Database
    authenticator: KeyAuthenticator
    limiter: RateLimiter
    box: SecretBox
    trusted_proxies: Networks
    webhooks: WebhookConfig  # the address policy, resolver and secret box of webhooks
    email: EmailConfig  # the link signer, and whether live mail goes out by SMTP
    # Users and OAuth 2.0 (docs/guides/authentication.md): access tokens, the authorization
    # server, the console's sessions.
    tokens: TokenAuthenticator
    oauth_server: OAuthServer
    sessions: Sessions

    def part(self, kind: type[T]) -> T:
        for value in (self.email, self.webhooks, self.sessions, self.oauth_server):
            if isinstance(value, kind):
                return value
        raise LookupError(f"no part of type {kind.__name__}")
