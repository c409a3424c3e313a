from activecommerce.deals.service import deals
from activecommerce.kit.routes import crud_router

router = crud_router(deals, "Deals")
