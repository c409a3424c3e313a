from activecommerce.api.routes import crud_router
from activecommerce.groups.service import contact_groups

router = crud_router(contact_groups, "Contact groups")
