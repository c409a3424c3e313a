from activecommerce.groups.service import contact_groups
from activecommerce.kit.routes import crud_router

router = crud_router(contact_groups, "Contact groups")
