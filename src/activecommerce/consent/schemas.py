from datetime import datetime
from typing import Literal

from pydantic import Field

from activecommerce.kit.fields import Email, Input, Output

SuppressionReason = Literal["unsubscribed", "bounced", "complained", "manual", "erased"]


class SuppressionIn(Input):
    email: Email
    reason: Literal["manual"] = Field(
        "manual", description="Only manual entries are added through the API."
    )


class SuppressionOut(Output):
    id: str
    email: str | None = Field(description="The address as recorded; null once erased.")
    reason: SuppressionReason
    source: Literal[
        "unsubscribe", "bounce", "complaint", "api", "console", "import", "erasure", "form"
    ]
    createdAt: datetime


class ConsentOut(Output):
    id: str
    action: Literal["granted", "withdrawn"]
    source: Literal["form", "api", "import", "console", "unsubscribe", "complaint", "bounce"]
    formId: str | None
    ip: str | None
    userAgent: str | None
    createdAt: datetime
