"""Typed settings, read from NIANBAO_* environment variables (and a .env file when present)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What every service needs: where NATS is, where its data lives, which registry to use."""

    model_config = SettingsConfigDict(
        env_prefix="NIANBAO_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    #: one URL, or several separated by commas (the members of a cluster)
    nats_url: str = "nats://127.0.0.1:4222"
    #: this service's NATS user and password (required by the production cluster)
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    data_dir: Path = Path("var")
    registry_file: Path | None = Field(
        default=None, description="registry JSON or CSV; the built-in demo registry when unset"
    )
    deadlines_file: Path | None = Field(
        default=None, description="deadline overrides (JSON); the national default when unset"
    )
    log_level: str = "INFO"
    #: how often every service looks for a registry import (seconds)
    registry_poll_seconds: float = 1.0
    #: replicas of streams; 3 in the production cluster
    stream_replicas: int = 1

    def database_url_for(self, service: str, configured: str | None) -> str:
        if configured:
            return configured
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
