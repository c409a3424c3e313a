"""Who is calling: one account in one environment. Every query is scoped by it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    env: str
    plan: str
    # The API key that authenticated the request; 0 when no key acts (`acting_for`).
    key_id: int
    # An OAuth token's scopes; None for an API key (full access to its environment).
    scopes: frozenset[str] | None = None

    @classmethod
    def acting_for(cls, account_id: int, env: str, plan: str = "") -> Principal:
        """Work done for an account and environment, not by a key: a job run by the
        worker, a command of the CLI, the console's signed-in user. `plan` when the caller
        knows it and the work depends on it (empty: no rule of a plan applies)."""
        return cls(account_id, env, plan, 0)
