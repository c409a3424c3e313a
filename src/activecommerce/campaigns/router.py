from activecommerce.api.routes import crud_router
from activecommerce.campaigns.service import email_campaigns

router = crud_router(email_campaigns, "Email campaigns")
