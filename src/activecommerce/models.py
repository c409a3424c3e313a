"""Imports every table, so that the metadata (and alembic) sees the whole schema."""

from activecommerce.accounts import models as accounts
from activecommerce.automations import models as automations
from activecommerce.brands import models as brands
from activecommerce.campaigns import models as campaigns
from activecommerce.consent import models as consent
from activecommerce.contacts import models as contacts
from activecommerce.deals import models as deals
from activecommerce.email import models as email
from activecommerce.fields import models as fields
from activecommerce.forms import models as forms
from activecommerce.groups import models as groups
from activecommerce.imports import models as imports
from activecommerce.jobs import models as jobs
from activecommerce.kit import events
from activecommerce.kit.tables import metadata
from activecommerce.oauth import models as oauth
from activecommerce.pipelines import models as pipelines
from activecommerce.segments import models as segments
from activecommerce.sendingdomains import models as sendingdomains
from activecommerce.tags import models as tags
from activecommerce.users import models as users
from activecommerce.webhooks import models as webhooks

__all__ = [
    "accounts",
    "automations",
    "brands",
    "campaigns",
    "consent",
    "contacts",
    "deals",
    "email",
    "events",
    "fields",
    "forms",
    "groups",
    "imports",
    "jobs",
    "metadata",
    "oauth",
    "pipelines",
    "segments",
    "sendingdomains",
    "tags",
    "users",
    "webhooks",
]
