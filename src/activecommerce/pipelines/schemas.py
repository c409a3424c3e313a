from datetime import datetime

from activecommerce.kit.fields import Color, Currency, Input, Name, NonNegInt32, Output, Ref


class PipelineIn(Input):
    name: Name
    currency: Currency = "USD"


class PipelineOut(Output):
    id: str
    name: str
    currency: str
    createdAt: datetime
    updatedAt: datetime


class DealStageIn(Input):
    pipelineId: Ref
    name: Name
    order: NonNegInt32 | None = None


class DealStageOut(Output):
    id: str
    pipelineId: str
    name: str
    order: int | None
    createdAt: datetime
    updatedAt: datetime


class DealStatusIn(Input):
    pipelineId: Ref
    name: Name
    color: Color | None = None


class DealStatusOut(Output):
    id: str
    pipelineId: str
    name: str
    color: str | None
    createdAt: datetime
    updatedAt: datetime
