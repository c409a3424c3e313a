from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from activecommerce.campaigns.schemas import EmailContentIn, EmailContentOut
from activecommerce.email.config import Delivery
from activecommerce.kit.fields import Input, NonNegInt32, Output, Ref

AutomationStatus = Literal["active", "paused"]


class ContactCreatedTrigger(Input):
    type: Literal["contact_created"]


class TagAddedTrigger(Input):
    type: Literal["tag_added"]
    tagId: Ref


class AddedToGroupTrigger(Input):
    type: Literal["added_to_group"]
    groupId: Ref


class DealStageChangedTrigger(Input):
    type: Literal["deal_stage_changed"]
    stageId: Ref


Trigger = Annotated[
    ContactCreatedTrigger | TagAddedTrigger | AddedToGroupTrigger | DealStageChangedTrigger,
    Field(discriminator="type"),
]


class EmailAutomationIn(EmailContentIn):
    trigger: Trigger
    delaySeconds: NonNegInt32 = 0
    status: AutomationStatus = "active"


class EmailAutomationOut(EmailContentOut):
    trigger: dict[str, str]
    delaySeconds: int
    status: AutomationStatus
    createdAt: datetime
    updatedAt: datetime


class AutomationReportOut(Output):
    automationId: str
    status: AutomationStatus
    delivery: Delivery = Field(
        description="captured: the mail counted as sent was captured, not delivered (the"
        " sandbox, or live while no SMTP relay is configured); smtp: handed to the relay"
    )
    enrolled: int
    sent: int
    failed: int
    opens: int
    clicks: int
