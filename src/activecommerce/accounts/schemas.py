from datetime import datetime
from typing import Literal

from pydantic import Field

from activecommerce.kit.fields import Input, LongText, Name, Output

Environment = Literal["live", "sandbox"]


class ApiKeyIn(Input):
    environment: Environment | None = None
    name: Name | None = Field(None, description="What the key is for (optional)")


class ApiKeyOut(Output):
    id: str
    name: str | None = Field(description="What the key is for, if it was named")
    prefix: str
    environment: Environment
    createdAt: datetime
    lastUsedAt: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(
        description="The key, shown only here: null when this response is an idempotent "
        "replay (Idempotent-Replayed: true)"
    )


Plan = Literal["free", "lite", "plus", "professional", "enterprise"]


class AccountOut(Output):
    id: str
    name: str
    plan: Plan
    postalAddress: str | None = Field(
        description="The postal address printed in the footer of marketing email whose"
        " brand has none; a live campaign or automation needs one of the two"
    )
    createdAt: datetime
    updatedAt: datetime


class AccountPatch(Input):
    postalAddress: LongText | None = Field(
        None, description="The account's default postal address; null (or blank) clears it"
    )
