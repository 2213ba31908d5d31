"""Server settings, read once from RELAIS_* environment variables with safe embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAIS_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("relais-data"), description="Local data folder.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: embedded SQLite in the data folder.",
    )
    host: str = "127.0.0.1"
    port: int = 8040
    app_port: int = 8550
    public_url: str | None = Field(
        default=None, description="Address people open Relais at, used in e-mails."
    )
    escalation_interval: float = Field(
        default=60.0, description="Seconds between two escalation sweeps; 0 disables them."
    )
    stream_heartbeat: float = Field(default=15.0, gt=0, le=20)
    login_max_failures: int = 10
    login_window_seconds: int = 15 * 60
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "relais@localhost"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line, with request ids."
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes (`relais serve`); PostgreSQL only."
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token for /metrics; without one, /metrics answers loopback only.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Prometheus multiprocess folder; `serve --workers N` sets one up.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'relais.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
