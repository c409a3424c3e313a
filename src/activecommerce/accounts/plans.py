"""Plans and their request rates (requests per second, per account and environment)."""

PLAN_RATES: dict[str, int] = {
    "free": 10,
    "lite": 30,
    "plus": 60,
    "professional": 120,
    "enterprise": 240,
}

PLANS = tuple(PLAN_RATES)


def has_live(plan: str) -> bool:
    """A developer account (free) has the sandbox only."""
    return plan != "free"
