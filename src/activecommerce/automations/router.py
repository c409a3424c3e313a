from activecommerce.automations.service import email_automations
from activecommerce.kit.routes import crud_router

router = crud_router(email_automations, "Email automations")
