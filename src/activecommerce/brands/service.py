from activecommerce.brands.schemas import BrandIn, BrandOut
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.resource import Field, Resource

brands = Resource(
    collection="brands",
    event_name="brand",
    table="brands",
    title="brand",
    fields=[
        Field("name", "name", nullable=False),
        Field("fromEmail", "from_email"),
        Field("fromName", "from_name"),
        Field("postalAddress", "postal_address"),
    ],
    create_model=BrandIn,
    patch_model=patch_model_of(BrandIn),
    out_model=BrandOut,
    sortable=NAME_SORTS,
    stream_lists=True,  # postal addresses may be long
)
