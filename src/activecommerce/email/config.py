"""What sending needs from its process (the composition root makes it)."""

from __future__ import annotations

from activecommerce.config import Settings
from activecommerce.email.links import LinkSigner


class EmailConfig:
    """What sending needs from its process, made by the composition root and completed
    at start-up (the link key comes from the server secret: `configure`)."""

    def __init__(self) -> None:
        self.signer: LinkSigner | None = None
        self.smtp_configured = False

    def configure(self, settings: Settings, server_secret: bytes) -> None:
        self.signer = LinkSigner(server_secret, settings.links_base)
        self.smtp_configured = bool(settings.smtp_url)

    def links(self) -> LinkSigner:
        if self.signer is None:
            raise RuntimeError("EmailConfig.configure() was not called")
        return self.signer

    def captures(self, env: str) -> bool:
        """The sandbox never sends; live captures too while no SMTP relay is configured."""
        return env == "sandbox" or not self.smtp_configured
