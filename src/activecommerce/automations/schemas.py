from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from activecommerce.campaigns.schemas import EmailContentIn, EmailContentOut, OutcomesOut
from activecommerce.email.config import Delivery
from activecommerce.kit.fields import Input, NonNegInt32, Ref

AutomationStatus = Literal["active", "paused"]


class TriggerIn(Input):
    conditions: dict[str, Any] | None = Field(
        None,
        description="Optional: a condition tree (as a segment's `conditions`) that the contact"
        " must match at the moment of the trigger to be enrolled",
        examples=[{"all": [{"field": "fields.plan", "op": "eq", "value": "pro"}]}],
    )


class ContactCreatedTrigger(TriggerIn):
    type: Literal["contact_created"]


class TagAddedTrigger(TriggerIn):
    type: Literal["tag_added"]
    tagId: Ref


class AddedToGroupTrigger(TriggerIn):
    type: Literal["added_to_group"]
    groupId: Ref


class DealStageChangedTrigger(TriggerIn):
    type: Literal["deal_stage_changed"]
    stageId: Ref


class FormSubmittedTrigger(TriggerIn):
    """A person subscribed through this signup form (confirmed it, with double opt-in)."""

    type: Literal["form_submitted"]
    formId: Ref


Trigger = Annotated[
    ContactCreatedTrigger
    | TagAddedTrigger
    | AddedToGroupTrigger
    | DealStageChangedTrigger
    | FormSubmittedTrigger,
    Field(discriminator="type"),
]


class EmailAutomationIn(EmailContentIn):
    trigger: Trigger
    delaySeconds: NonNegInt32 = 0
    status: AutomationStatus = "active"


class EmailAutomationOut(EmailContentOut):
    trigger: dict[str, Any]
    delaySeconds: int
    status: AutomationStatus
    createdAt: datetime
    updatedAt: datetime


class AutomationReportOut(OutcomesOut):
    automationId: str
    status: AutomationStatus
    delivery: Delivery = Field(
        description="captured: the mail counted as sent was captured, not delivered (the"
        " sandbox, or live while no SMTP relay is configured); smtp: handed to the relay"
    )
    enrolled: int
    sent: int = Field(description="Handed to the relay (or captured)")
    opens: int
    clicks: int
