"""The API's objects as the API returns them: field names as in the JSON (camelCase), so
that an editor completes them. Timestamps are RFC 3339 strings, ids opaque strings."""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

T = TypeVar("T")


class PageMeta(TypedDict):
    page: int | None
    pageSize: int
    total: int
    totalPages: int
    totalExact: bool
    nextCursor: str | None


class Page(TypedDict, Generic[T]):
    """One page of a list: `data` and `meta` (`nextCursor` is null on the last page)."""

    data: list[T]
    meta: PageMeta


class Contact(TypedDict):
    id: str
    email: str
    firstName: str | None
    lastName: str | None
    phone: str | None
    status: Literal["active", "unconfirmed", "unsubscribed", "bounced", "complained"]
    fields: dict[str, Any]  # custom field values by key (see ContactField)
    createdAt: str
    updatedAt: str


class Suppression(TypedDict):
    """An address on the suppression list (`email` is None once erased)."""

    id: str
    email: str | None
    reason: Literal["unsubscribed", "bounced", "complained", "manual", "erased"]
    source: str
    createdAt: str


class DnsRecord(TypedDict):
    """A DNS record a sending domain publishes, and what its last verification found."""

    type: Literal["TXT", "CNAME"]
    name: str
    value: str
    state: Literal["found", "missing", "wrong"]


class SendingDomain(TypedDict):
    """A domain mail is sent from (verified: its mail is DKIM-signed)."""

    id: str
    domain: str
    status: Literal["pending", "verified"]
    records: list[DnsRecord]
    createdAt: str
    updatedAt: str
    verifiedAt: str | None
    checkedAt: str | None


class Consent(TypedDict):
    """A grant or withdrawal of a contact's consent to be mailed."""

    id: str
    action: Literal["granted", "withdrawn"]
    source: Literal["form", "api", "import", "console", "unsubscribe", "complaint", "bounce"]
    formId: str | None
    ip: str | None
    userAgent: str | None
    createdAt: str


class ContactField(TypedDict):
    """A custom contact field: a contact's `fields` holds its values by `key`."""

    id: str
    name: str
    key: str
    type: Literal["text", "number", "date", "boolean", "dropdown", "multiselect"]
    options: list[str]
    required: bool
    defaultValue: Any
    createdAt: str
    updatedAt: str


class Segment(TypedDict):
    """A named condition tree over the contacts (see the segments guide)."""

    id: str
    name: str
    conditions: dict[str, Any]
    createdAt: str
    updatedAt: str


class FormField(TypedDict):
    key: str
    required: bool


class Form(TypedDict):
    """A signup form: its hosted page is `/f/{publicId}` (see the signup forms guide)."""

    id: str
    name: str
    publicId: str
    fields: list[FormField]
    groupIds: list[str]
    tagIds: list[str]
    doubleOptIn: bool
    confirmationEmail: dict[str, Any] | None
    successMessage: str | None
    redirectUrl: str | None
    createdAt: str
    updatedAt: str


class FormSubmission(TypedDict):
    id: str
    formId: str
    contactId: str | None
    email: str | None
    data: dict[str, Any]
    status: str
    confirmedAt: str | None
    createdAt: str


class SegmentPreview(TypedDict):
    """How many contacts a tree matches (every status), and up to ten of them."""

    count: int
    sample: list[Contact]


class DataExport(TypedDict):
    """Everything held about one person (`GET /v3/contacts/{id}/dataExport`)."""

    exportedAt: str
    contact: Contact
    groups: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    deals: list[dict[str, Any]]
    sentEmails: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    formSubmissions: list[dict[str, Any]]
    truncated: bool


class Erasure(TypedDict):
    """An accepted erasure: the contact is gone, its traces go within seconds."""

    id: str
    status: str


class Named(TypedDict):
    """A contact group or a contact tag."""

    id: str
    name: str
    createdAt: str
    updatedAt: str


ContactGroup = Named
ContactTag = Named


class Pipeline(TypedDict):
    id: str
    name: str
    currency: str
    createdAt: str
    updatedAt: str


class DealStage(TypedDict):
    id: str
    pipelineId: str
    name: str
    order: int | None
    createdAt: str
    updatedAt: str


class DealStatus(TypedDict):
    id: str
    pipelineId: str
    name: str
    color: str | None
    createdAt: str
    updatedAt: str


class Deal(TypedDict):
    id: str
    name: str
    pipelineId: str
    stageId: str
    contact: str | None
    value: int | None
    currency: str
    closeDate: str | None
    duration: int | None
    status: str | None
    createdAt: str
    updatedAt: str


class Brand(TypedDict):
    id: str
    name: str
    fromEmail: str | None
    fromName: str | None
    postalAddress: str | None
    createdAt: str
    updatedAt: str


class Account(TypedDict):
    """The account (`client.account()`): `postalAddress` is the footer's postal address
    of marketing email whose brand has none."""

    id: str
    name: str
    plan: Literal["free", "lite", "plus", "professional", "enterprise"]
    postalAddress: str | None
    createdAt: str
    updatedAt: str


class EmailContent(TypedDict):
    """What campaigns and automations send."""

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
    createdAt: str
    updatedAt: str


class EmailCampaign(EmailContent):
    status: Literal["draft", "scheduled", "sending", "paused", "sent", "canceled"]
    scheduledAt: str | None
    sentAt: str | None


class AudienceExclude(TypedDict, total=False):
    groupIds: list[str]
    tagIds: list[str]
    segmentIds: list[str]


class Audience(TypedDict, total=False):
    """Who receives a campaign: `{"all": True}`, or any of groupIds, tagIds and
    segmentIds (their union); less those in any of `exclude`'s. Active contacts only."""

    all: bool
    groupIds: list[str]
    tagIds: list[str]
    segmentIds: list[str]
    exclude: AudienceExclude


class AudienceCount(TypedDict):
    count: int


class OutcomeReason(TypedDict):
    outcome: Literal["bounced", "failed"]
    reason: str | None
    count: int


class CampaignReport(TypedDict):
    campaignId: str
    status: Literal["draft", "scheduled", "sending", "paused", "sent", "canceled"]
    # captured: what `sent` counts was captured, not delivered (the sandbox, or live
    # without an SMTP relay); smtp: handed to the relay.
    delivery: Literal["captured", "smtp"]
    recipients: int
    sent: int
    delivered: int
    bounced: int  # hardBounces + softBounces
    hardBounces: int
    softBounces: int
    failed: int  # not sent for another reason, or refused by policy (bounces not counted)
    complaints: int
    reasons: list[OutcomeReason]  # the most frequent reasons, at most 10
    opens: int
    uniqueOpens: int
    clicks: int
    uniqueClicks: int
    unsubscribes: int
    bounces: int  # the same as `bounced`
    # Why a paused campaign stopped sending (the relay refused the sender), else None.
    pausedReason: str | None


class TestSent(TypedDict):
    status: Literal["queued"]
    emails: list[str]


class EmailAutomation(EmailContent):
    trigger: dict[str, Any]
    delaySeconds: int
    status: Literal["active", "paused"]


class AutomationReport(TypedDict):
    automationId: str
    status: Literal["active", "paused"]
    delivery: Literal["captured", "smtp"]  # as in CampaignReport
    enrolled: int
    sent: int
    delivered: int
    bounced: int
    hardBounces: int
    softBounces: int
    failed: int
    complaints: int
    reasons: list[OutcomeReason]
    opens: int
    clicks: int


class Webhook(TypedDict):
    id: str
    url: str
    events: list[str]
    description: str | None
    active: bool
    disabledReason: str | None
    consecutiveFailures: int
    failingSince: str | None
    createdAt: str
    updatedAt: str
    secret: NotRequired[str | None]  # only in the creation (and rotation) response


class WebhookDelivery(TypedDict):
    id: str
    eventId: str  # evt_..., the webhook-id header of the event's deliveries
    eventType: str
    attempt: int
    statusCode: int | None
    durationMs: int
    error: str | None
    outcome: Literal["delivered", "failed", "skipped"]
    createdAt: str


class DeliveryRetry(TypedDict):
    webhookId: str
    eventId: str
    status: str


# `from` is a Python keyword: the functional form names it.
CapturedEmail = TypedDict(
    "CapturedEmail",
    {
        "id": str,
        "to": str,
        "from": str,
        "subject": str,
        "html": str | None,
        "text": str | None,
        "headers": dict[str, Any],
        "campaignId": str | None,
        "automationId": str | None,
        "contactId": str | None,
        "createdAt": str,
        # Only on one message's GET: the message as it would have gone on the wire.
        "raw": NotRequired[str | None],
    },
)


class ImportRowError(TypedDict):
    line: int
    message: str


class ContactImport(TypedDict):
    id: str
    status: Literal["queued", "running", "completed", "failed"]
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    errors: list[ImportRowError]
    createdAt: str
    finishedAt: str | None


class ApiKey(TypedDict):
    id: str
    name: str | None
    prefix: str
    environment: Literal["live", "sandbox"]
    createdAt: str
    lastUsedAt: str | None
    key: NotRequired[str | None]  # only in the creation response


class OAuthClient(TypedDict):
    id: str
    clientId: str
    name: str
    environment: Literal["live", "sandbox"]
    redirectUris: list[str]
    scopes: list[str]
    public: bool
    createdAt: str
    updatedAt: str
    clientSecret: NotRequired[str | None]  # only in the creation response of a confidential client


class Token(TypedDict, total=False):
    """An OAuth token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    scope: str
