from datetime import datetime

from pydantic import Field

from activecommerce.kit.fields import Output


class CapturedEmailOut(Output):
    """A message the capture transport kept instead of sending (the sandbox's mail)."""

    id: str
    to: str
    from_: str = Field(alias="from")
    subject: str
    html: str | None
    text: str | None
    headers: dict[str, str]
    campaignId: str | None
    automationId: str | None
    contactId: str | None
    createdAt: datetime


class CapturedEmailDetailOut(CapturedEmailOut):
    """One captured message, with the message as it would have gone on the wire."""

    raw: str | None = Field(
        description="The whole message (headers and body) exactly as it would have been"
        " sent; null for mail captured before it was kept"
    )
