from activecommerce.api.routes import crud_router
from activecommerce.fields.service import contact_fields

router = crud_router(contact_fields, "Contact fields")
