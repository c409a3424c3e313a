from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from activecommerce.kit.fields import Currency, Input, Name, NonNegInt32, NonNegInt64, Output, Ref


def _calendar_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date (YYYY-MM-DD)") from None
    return value


CloseDate = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", json_schema_extra={"format": "date"}),
    AfterValidator(_calendar_date),
]


class DealIn(Input):
    name: Name
    pipelineId: Ref
    stageId: Ref
    contact: Ref | None = Field(None, description="A contact id")
    value: NonNegInt64 | None = Field(None, description="In minor units (cents)")
    currency: Currency | None = Field(None, description="Defaults to the pipeline's currency")
    closeDate: CloseDate | None = None
    duration: NonNegInt32 | None = Field(None, description="Days")
    status: Ref | None = Field(None, description="A deal status id of the same pipeline")


class DealOut(Output):
    id: str
    name: str
    pipelineId: str
    stageId: str
    contact: str | None
    value: int | None
    currency: str
    closeDate: date | None
    duration: int | None
    status: str | None
    createdAt: datetime
    updatedAt: datetime
