from activecommerce.campaigns.service import email_campaigns
from activecommerce.kit.routes import crud_router

router = crud_router(email_campaigns, "Email campaigns")
