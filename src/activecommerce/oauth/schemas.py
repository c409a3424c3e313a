from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from activecommerce.kit.fields import Input, Output

Scope = Literal[
    "contacts:read",
    "contacts:write",
    "deals:read",
    "deals:write",
    "campaigns:read",
    "campaigns:write",
    "automations:read",
    "automations:write",
    "webhooks:read",
    "webhooks:write",
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")
]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class OAuthClientIn(Input):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=10)
    redirectUris: list[Uri] = Field(
        default_factory=list,
        max_length=20,
        description="Matched exactly; required for the authorization code flow",
    )
    public: bool = Field(
        False, description="A public client (no secret; PKCE S256 required; code flow only)"
    )


class OAuthClientOut(Output):
    id: str
    clientId: str
    name: str
    environment: Literal["live", "sandbox"]
    redirectUris: list[str]
    scopes: list[str]
    public: bool
    createdAt: datetime
    updatedAt: datetime


class OAuthClientCreated(OAuthClientOut):
    clientSecret: str | None = Field(
        None,
        description="Confidential clients only, shown only here: null when this response is"
        " an idempotent replay (Idempotent-Replayed: true)",
    )
