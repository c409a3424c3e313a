from datetime import datetime

from activecommerce.kit.fields import Email, Input, LongText, Name, Output, ShortText


class BrandIn(Input):
    name: Name
    fromEmail: Email | None = None
    fromName: ShortText | None = None
    postalAddress: LongText | None = None


class BrandOut(Output):
    id: str
    name: str
    fromEmail: str | None
    fromName: str | None
    postalAddress: str | None
    createdAt: datetime
    updatedAt: datetime
