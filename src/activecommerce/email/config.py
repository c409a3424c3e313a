"""What sending needs from its process (the composition root makes it)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from activecommerce.config import Settings
from activecommerce.deliverability.verp import Verp
from activecommerce.email.links import LinkSigner
from activecommerce.kit.security import SecretBox

Delivery = Literal["captured", "smtp"]


class EmailConfig:
    """What sending needs from its process, made by the composition root and completed
    at start-up (the link key comes from the server secret: `configure`)."""

    def __init__(self) -> None:
        self.signer: LinkSigner | None = None
        self.smtp_configured = False
        # Sending services that echo a header of ours back in their delivery reports.
        self.relays: frozenset[str] = frozenset()
        self.box: SecretBox | None = None  # opens the sending domains' DKIM keys
        # The signed return paths on the bounce domain, when one is configured.
        self.verp: Verp | None = None
        # The sandbox's mailbox simulator needs return paths with or without one: the
        # bounce domain's, else a stand-in on the public URL's host.
        self.simulation: Verp | None = None

    def configure(self, settings: Settings, server_secret: bytes) -> None:
        self.signer = LinkSigner(server_secret, settings.links_base)
        self.smtp_configured = bool(settings.smtp_url)
        self.relays = settings.tagged_relays
        self.box = SecretBox(server_secret)
        if settings.bounce_domain:
            self.verp = Verp(server_secret, settings.bounce_domain)
        host = urlsplit(settings.links_base).hostname or "activecommerce.local"
        self.simulation = self.verp or Verp(server_secret, f"bounces.{host}")

    def secrets(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("EmailConfig.configure() was not called")
        return self.box

    def links(self) -> LinkSigner:
        if self.signer is None:
            raise RuntimeError("EmailConfig.configure() was not called")
        return self.signer

    def captures(self, env: str) -> bool:
        """The sandbox never sends; live captures too while no SMTP relay is configured."""
        return env == "sandbox" or not self.smtp_configured

    def delivery(self, env: str) -> Delivery:
        """What a report says of the environment's mail: `captured` (kept, readable, not
        delivered to anyone) or `smtp` (handed to the relay)."""
        return "captured" if self.captures(env) else "smtp"
