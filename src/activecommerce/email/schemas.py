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
