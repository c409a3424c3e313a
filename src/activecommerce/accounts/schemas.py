from datetime import datetime
from typing import Literal

from pydantic import Field

from activecommerce.kit.fields import Input, Output

Environment = Literal["live", "sandbox"]


class ApiKeyIn(Input):
    environment: Environment | None = None


class ApiKeyOut(Output):
    id: str
    prefix: str
    environment: Environment
    createdAt: datetime
    lastUsedAt: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(
        description="The key, shown only here: null when this response is an idempotent "
        "replay (Idempotent-Replayed: true)"
    )
