"""Who is calling: one account in one environment. Every query is scoped by it."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    env: str
    plan: str
    key_id: int
    # An OAuth token's scopes; None for an API key (full access to its environment).
    scopes: frozenset[str] | None = None
