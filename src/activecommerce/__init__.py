"""ActiveCommerce: a self-hosted CRM and marketing-automation platform."""

__version__ = "0.1.0"
