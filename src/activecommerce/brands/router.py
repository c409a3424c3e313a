from activecommerce.brands.service import brands
from activecommerce.kit.routes import crud_router

router = crud_router(brands, "Brands")
