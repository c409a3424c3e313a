"""One settings object, read from ACTIVECOMMERCE_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'activecommerce.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
