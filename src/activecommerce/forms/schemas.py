from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from activecommerce.kit.fields import Input, LongText, Name, Output, Ref, ShortText

FIELD_KEY = r"^(firstName|lastName|phone|fields\.[a-z][a-z0-9_]{0,39})$"


def _https_url(value: str) -> str:
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class FormFieldIn(Input):
    key: Annotated[
        str,
        StringConstraints(pattern=FIELD_KEY),
        Field(
            description="`firstName`, `lastName`, `phone` or `fields.<key>` (a custom"
            " contact field of the account). Email is always asked first.",
            examples=["firstName"],
        ),
    ]
    required: bool = False


class ConfirmationEmailIn(Input):
    subject: Annotated[ShortText, Field(min_length=1, examples=["Please confirm"])]
    htmlContent: Annotated[
        LongText,
        Field(
            max_length=256 * 1024,
            description="A template (as a campaign's); `{{ confirm_url }}` places the"
            " confirmation link, else a link is appended.",
            examples=['<p>Hi {{ contact.firstName }}, <a href="{{ confirm_url }}">confirm</a></p>'],
        ),
    ]
    brandId: Ref | None = None


class FormIn(Input):
    name: Name
    fields: Annotated[
        list[FormFieldIn],
        Field(max_length=50, default_factory=list, description="The fields asked, in order"),
    ]
    groupIds: Annotated[
        list[Ref],
        Field(max_length=100, default_factory=list, description="Groups added on confirmation"),
    ]
    tagIds: Annotated[
        list[Ref],
        Field(max_length=100, default_factory=list, description="Tags added on confirmation"),
    ]
    doubleOptIn: Annotated[
        bool, Field(description="Whether the person confirms by a link sent by email")
    ] = True
    confirmationEmail: Annotated[
        ConfirmationEmailIn | None,
        Field(description="The confirmation email; null for the default one"),
    ] = None
    successMessage: Annotated[
        str | None,
        StringConstraints(max_length=2000),
        Field(description="Shown after a submission (plain text)"),
    ] = None
    redirectUrl: Annotated[
        str | None,
        StringConstraints(max_length=2000),
        AfterValidator(lambda v: None if v is None else _https_url(v)),
        Field(description="Where the browser goes after a submission, instead of the message"),
    ] = None


class FormFieldOut(Output):
    key: str
    required: bool


class ConfirmationEmailOut(Output):
    subject: str
    htmlContent: str
    brandId: str | None = None


class FormOut(Output):
    id: str
    name: str
    publicId: Annotated[
        str, Field(description="Read-only: the hosted page is `/f/{publicId}`", examples=["x"])
    ]
    fields: list[FormFieldOut]
    groupIds: list[str]
    tagIds: list[str]
    doubleOptIn: bool
    confirmationEmail: ConfirmationEmailOut | None
    successMessage: str | None
    redirectUrl: str | None
    createdAt: datetime
    updatedAt: datetime


class FormEmbedOut(Output):
    url: Annotated[str, Field(description="The hosted page")]
    html: Annotated[str, Field(description="A plain HTML form posting to the hosted page")]


class FormStatsOut(Output):
    submissions: int
    confirmed: int
    conversion: Annotated[
        float, Field(description="confirmed / submissions (0 when there are none)")
    ]


class FormSubmissionOut(Output):
    id: str
    formId: str
    contactId: str | None
    email: str | None
    data: dict[str, Any]
    status: Literal["pending", "confirmed"]
    confirmedAt: datetime | None
    createdAt: datetime
