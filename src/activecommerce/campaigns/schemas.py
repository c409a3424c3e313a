from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from activecommerce.email.config import Delivery
from activecommerce.kit.fields import Email, Input, LongText, Name, Output, Ref, ShortText

CampaignStatus = Literal["draft", "scheduled", "sending", "paused", "sent", "canceled"]


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
    trackOpens: bool = Field(True, description="Add an open pixel (a 1x1 image)")
    trackClicks: bool = Field(True, description="Send links through the click redirect")


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
    trackOpens: bool
    trackClicks: bool


class EmailCampaignIn(EmailContentIn):
    pass


class EmailCampaignOut(EmailContentOut):
    status: CampaignStatus
    scheduledAt: datetime | None
    sentAt: datetime | None
    createdAt: datetime
    updatedAt: datetime


Ids = Annotated[list[Ref], Field(default_factory=list, max_length=100)]


class AudienceExcludeIn(Input):
    """Contacts in any of these groups, tags or segments are left out."""

    groupIds: Ids
    tagIds: Ids
    segmentIds: Ids


class AudienceIn(Input):
    """Who receives a campaign: every active contact (`all`), or the active contacts in
    any of these groups, tags and segments (their union); less those in any of
    `exclude`'s. `all` with groups, tags or segments is a 422 (everyone already includes
    them)."""

    all: bool = Field(False, description="Every active contact of the account")
    groupIds: Ids
    tagIds: Ids
    segmentIds: Ids
    exclude: AudienceExcludeIn | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"groupIds": ["3"], "segmentIds": ["12"], "exclude": {"tagIds": ["7"]}},
                {"all": True, "exclude": {"segmentIds": ["14"]}},
            ]
        },
    )


class CampaignSendIn(Input):
    """Every active contact of the audience receives the email once. The recipients are
    fixed when sending starts."""

    audience: AudienceIn
    scheduledAt: AwareDatetime | None = Field(
        None, description="When to send (RFC 3339 with a time zone); now when left out"
    )


class AudienceCountIn(Input):
    audience: AudienceIn


class AudienceCountOut(Output):
    count: int = Field(description="The active contacts the audience reaches now")


class CampaignTestIn(Input):
    emails: Annotated[list[Email], Field(min_length=1, max_length=10)]


class TestSentOut(Output):
    status: Literal["queued"]
    emails: list[str]


class OutcomeReasonOut(Output):
    outcome: Literal["bounced", "failed"]
    reason: str | None = Field(description="The relay's or the report's words (null: none)")
    count: int


class OutcomesOut(Output):
    """What became of the messages: each one handed over is delivered, bounced or
    failed (skipped ones, to contacts no longer active, are none of these)."""

    delivered: int = Field(description="Sent, and no report of a bounce or refusal since")
    bounced: int = Field(description="Hard and soft bounces, at sending or reported later")
    hardBounces: int = Field(description="The mailbox does not exist (5.1.x)")
    softBounces: int = Field(
        description="A temporary refusal given up at sending, or a soft bounce reported later"
    )
    failed: int = Field(
        description="Not sent for another reason (a template error, a policy or reputation"
        " refusal: 5.7.x), bounces not included"
    )
    complaints: int = Field(description="Recipients who reported the email as spam")
    reasons: list[OutcomeReasonOut] = Field(
        description="The most frequent reasons of bounces and failures (at most 10), the"
        " most frequent first"
    )


class CampaignReportOut(OutcomesOut):
    campaignId: str
    status: CampaignStatus
    delivery: Delivery = Field(
        description="captured: the mail counted as sent was captured, not delivered (the"
        " sandbox, or live while no SMTP relay is configured); smtp: handed to the relay"
    )
    recipients: int = Field(description="The active contacts targeted")
    sent: int = Field(description="Handed to the relay (or captured)")
    opens: int
    uniqueOpens: int
    clicks: int
    uniqueClicks: int
    unsubscribes: int
    bounces: int = Field(description="The same as `bounced` (kept for older clients)")
    pausedReason: str | None = Field(
        default=None,
        description="Why a paused campaign stopped sending: the relay refused the sender or"
        " the connection (its messages stay queued; no contact was marked)",
    )
