from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from activecommerce.fields.values import storable_json
from activecommerce.kit.fields import Email, Input, Output, ShortText

ContactStatus = Literal["active", "unconfirmed", "unsubscribed", "bounced", "complained"]

CustomFields = Annotated[
    dict[str, Any],
    AfterValidator(storable_json),
    Field(
        description="Custom field values by the field's key (see `contactFields`), typed by"
        " the field: text a string (at most 10,000 characters), number a JSON number, date"
        " `YYYY-MM-DD`, boolean true/false, dropdown one of its options, multiselect a list"
        " of its options. Only the fields that have a value are shown. A PATCH changes only"
        " the keys sent (`null` clears one); a POST or PUT sets the whole object (fields"
        " left out take their default value; a required field without one is a 422).",
        examples=[{"city": "Berlin", "plan": "Gold", "score": 42}],
    ),
]


class ContactIn(Input):
    email: Email
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    phone: ShortText | None = None
    status: ContactStatus = "active"
    fields: CustomFields | None = None


class ContactOut(Output):
    id: str
    email: str
    firstName: str | None
    lastName: str | None
    phone: str | None
    status: ContactStatus
    fields: CustomFields
    createdAt: datetime
    updatedAt: datetime
