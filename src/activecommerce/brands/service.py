from activecommerce.brands import models
from activecommerce.brands.schemas import BrandIn, BrandOut
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.resource import Resource

brands = Resource(
    collection="brands",
    event_name="brand",
    table=models.brands,
    title="brand",
    create_model=BrandIn,
    patch_model=patch_model_of(BrandIn),
    out_model=BrandOut,
    sortable=NAME_SORTS,
    stream_lists=True,  # postal addresses may be long
)
