"""One settings object, read from ACTIVECOMMERCE_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVECOMMERCE_", extra="ignore")

    data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    secret_key: str | None = None
    max_body_bytes: int = 1024 * 1024
    rate_limit_enabled: bool = True
    # Requests per second per account and environment; operators may override any plan,
    # e.g. ACTIVECOMMERCE_PLAN_RATES='{"free": 5}'.
    plan_rates: dict[str, int] = Field(default_factory=dict, validate_default=True)
    anonymous_rate: int = 20
    rate_limit_prefix: str = "activecommerce"

    @field_validator("plan_rates")
    @classmethod
    def _complete_rates(cls, value: dict[str, int]) -> dict[str, int]:
        from activecommerce.accounts.plans import PLAN_RATES

        unknown = set(value) - set(PLAN_RATES)
        if unknown:
            raise ValueError(f"unknown plans: {sorted(unknown)}")
        if any(rate < 1 for rate in value.values()):
            raise ValueError("rates must be at least 1 per second")
        return {**PLAN_RATES, **value}

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'activecommerce.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
