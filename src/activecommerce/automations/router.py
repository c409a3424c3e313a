from activecommerce.api.routes import crud_router
from activecommerce.automations.service import email_automations

router = crud_router(email_automations, "Email automations")
