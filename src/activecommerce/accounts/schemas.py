from datetime import datetime
from typing import Literal

from pydantic import Field

from activecommerce.kit.fields import Input, Name, Output

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
