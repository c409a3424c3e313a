from activecommerce.groups import models
from activecommerce.kit.named import named_resource

contact_groups = named_resource(
    collection="contactGroups",
    table=models.contact_groups,
    title="contact group",
    event_name="contactGroup",
    model_name="ContactGroup",
    flags={
        "public": "Listed on the unsubscribe page, where a person may leave this group and"
        " stay subscribed to the rest."
    },
)
