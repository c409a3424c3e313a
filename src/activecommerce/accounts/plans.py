"""The plans an account may have. Their request rates are configuration
(`config.DEFAULT_PLAN_RATES`, ACTIVECOMMERCE_PLAN_RATES)."""

PLANS = ("free", "lite", "plus", "professional", "enterprise")


def has_live(plan: str) -> bool:
    """A developer account (free) has the sandbox only."""
    return plan != "free"
