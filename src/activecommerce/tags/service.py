from activecommerce.kit.named import named_resource
from activecommerce.tags import models

contact_tags = named_resource(
    collection="contactTags",
    table=models.contact_tags,
    title="contact tag",
    event_name="contactTag",
    model_name="ContactTag",
)
