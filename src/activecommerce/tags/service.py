from activecommerce.kit.named import named_resource

contact_tags = named_resource(
    collection="contactTags", table="contact_tags", title="contact tag", model_name="ContactTag"
)
