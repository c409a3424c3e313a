from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from activecommerce.contacts.schemas import ContactStatus
from activecommerce.kit.fields import Email, Input, Name, Output, ShortText

ImportStatus = Literal["queued", "running", "completed", "failed"]


class ImportRow(Input):
    """One contact of an import, checked with the API's own field types. A field left
    out keeps its value (a new contact: null, status active)."""

    email: Email
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    phone: ShortText | None = None
    status: ContactStatus | None = None
    tags: list[Name] | None = None
    groups: list[Name] | None = None
    fields: dict[str, Any] | None = None  # custom fields by key, checked by fields.values


class ImportRowError(BaseModel):
    line: int
    message: str


class ContactImportOut(Output):
    id: str
    status: ImportStatus
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    errors: list[ImportRowError]
    createdAt: datetime
    finishedAt: datetime | None
