from datetime import datetime
from typing import Literal

from activecommerce.kit.fields import Email, Input, LongText, Name, Output, Ref, ShortText

CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "canceled"]


class EmailContentIn(Input):
    """The message fields that campaigns and automations share."""

    name: Name
    subject: ShortText
    fromEmail: Email
    fromName: ShortText | None = None
    replyToEmail: Email | None = None
    htmlContent: LongText | None = None
    plaintextContent: LongText | None = None
    brandId: Ref | None = None


class EmailContentOut(Output):
    id: str
    name: str
    subject: str
    fromEmail: str
    fromName: str | None
    replyToEmail: str | None
    htmlContent: str | None
    plaintextContent: str | None
    brandId: str | None


class EmailCampaignIn(EmailContentIn):
    pass


class EmailCampaignOut(EmailContentOut):
    status: CampaignStatus
    scheduledAt: datetime | None
    sentAt: datetime | None
    createdAt: datetime
    updatedAt: datetime
