from activecommerce.kit.routes import crud_router
from activecommerce.webhooks.service import webhooks

router = crud_router(webhooks, "Webhooks")
