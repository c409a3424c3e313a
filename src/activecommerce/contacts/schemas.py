from datetime import datetime
from typing import Literal

from activecommerce.kit.fields import Email, Input, Output, ShortText

ContactStatus = Literal["active", "unsubscribed", "bounced"]


class ContactIn(Input):
    email: Email
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    phone: ShortText | None = None
    status: ContactStatus = "active"


class ContactOut(Output):
    id: str
    email: str
    firstName: str | None
    lastName: str | None
    phone: str | None
    status: ContactStatus
    createdAt: datetime
    updatedAt: datetime
