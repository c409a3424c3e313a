from activecommerce.api.routes import crud_router
from activecommerce.tags.service import contact_tags

router = crud_router(contact_tags, "Contact tags")
