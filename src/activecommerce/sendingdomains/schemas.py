from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from activecommerce.kit.fields import Input, Output
from activecommerce.sendingdomains.names import ascii_domain

DomainName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300),
    AfterValidator(ascii_domain),
    Field(
        description="A DNS domain name (an internationalised one is stored in its ASCII"
        " form, lower-cased)",
        examples=["mail.example.com"],
    ),
]


class SendingDomainIn(Input):
    domain: DomainName


class DnsRecordOut(Output):
    type: Literal["TXT", "CNAME"]
    name: str = Field(description="The record's full name")
    value: str = Field(description="What to publish")
    state: Literal["found", "missing", "wrong"] = Field(
        description="What the last verification found: the record (found), another value"
        " where it belongs (wrong), or nothing (missing; also before any verification)"
    )


class SendingDomainOut(Output):
    id: str
    domain: str
    status: Literal["pending", "verified"] = Field(
        description="verified while the last verification found the DKIM record"
    )
    records: list[DnsRecordOut]
    createdAt: datetime
    updatedAt: datetime
    verifiedAt: datetime | None = Field(
        description="When the domain became verified; null while pending"
    )
    checkedAt: datetime | None = Field(description="When its records were last looked up")
