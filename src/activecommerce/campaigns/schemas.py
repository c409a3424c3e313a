from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from activecommerce.email.config import Delivery
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


class AudienceIn(Input):
    groupIds: Annotated[list[Ref], Field(default_factory=list, max_length=100)]
    tagIds: Annotated[list[Ref], Field(default_factory=list, max_length=100)]


class CampaignSendIn(Input):
    """Every active contact in any of these groups or tags receives the email once."""

    audience: AudienceIn
    scheduledAt: AwareDatetime | None = Field(
        None, description="When to send (RFC 3339 with a time zone); now when left out"
    )


class CampaignTestIn(Input):
    emails: Annotated[list[Email], Field(min_length=1, max_length=10)]


class TestSentOut(Output):
    status: Literal["queued"]
    emails: list[str]


class CampaignReportOut(Output):
    campaignId: str
    status: CampaignStatus
    delivery: Delivery = Field(
        description="captured: the mail counted as sent was captured, not delivered (the"
        " sandbox, or live while no SMTP relay is configured); smtp: handed to the relay"
    )
    recipients: int = Field(description="The active contacts targeted")
    sent: int
    failed: int
    opens: int
    uniqueOpens: int
    clicks: int
    uniqueClicks: int
    unsubscribes: int
    bounces: int
