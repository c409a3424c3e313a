from activecommerce.api.routes import crud_router
from activecommerce.deals.service import deals

router = crud_router(deals, "Deals")
