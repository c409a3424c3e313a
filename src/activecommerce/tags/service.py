from activecommerce.kit.named import named_resource

contact_tags = named_resource(
    collection="contactTags",
    table="contact_tags",
    title="contact tag",
    event_name="contactTag",
    model_name="ContactTag",
)
