"""What a contact's personal data export shows (`GET /v3/contacts/{id}/dataExport`)."""

from __future__ import annotations

from typing import Any

from activecommerce.contacts.schemas import ContactOut
from activecommerce.kit.fields import Output


class Membership(Output):
    id: str
    name: str
    addedAt: str


class ConsentEntry(Output):
    action: str
    source: str
    formId: str | None
    ip: str | None
    userAgent: str | None
    createdAt: str


class DealEntry(Output):
    id: str
    name: str
    value: int | None
    currency: str
    closeDate: str | None
    createdAt: str
    updatedAt: str


class EmailEntry(Output):
    id: str
    campaignId: str | None
    automationId: str | None
    name: str | None
    subject: str | None
    status: str
    sentAt: str | None
    bouncedAt: str | None
    unsubscribedAt: str | None
    openedAt: str | None
    openCount: int
    clickedAt: str | None
    clickCount: int


class ActivityEntry(Output):
    type: str
    data: dict[str, Any]
    createdAt: str


class FormSubmissionEntry(Output):
    id: str
    formId: str
    formName: str
    email: str | None
    data: dict[str, Any]
    ip: str | None
    userAgent: str | None
    status: str
    confirmedAt: str | None
    createdAt: str


class DataExportOut(Output):
    """Everything held about one person, as one document."""

    exportedAt: str
    contact: ContactOut
    groups: list[Membership]
    tags: list[Membership]
    consents: list[ConsentEntry]
    deals: list[DealEntry]
    sentEmails: list[EmailEntry]
    activity: list[ActivityEntry]
    formSubmissions: list[FormSubmissionEntry]
    # A list longer than the export's bound was cut at it (its oldest entries are shown).
    truncated: bool


class ErasureOut(Output):
    """An erasure accepted: the contact is gone; its traces go within seconds."""

    id: str
    status: str
