from activecommerce.api.routes import crud_router
from activecommerce.brands.service import brands

router = crud_router(brands, "Brands")
