"""Server settings, read once from RELAIS_* environment variables with safe embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    serve_app: bool = Field(default=True, description="Serve the field app (PWA) at /app/.")
    app_cache_dir: Path | None = Field(
        default=None, description="Where built apps and their packages are kept (~/.cache/relais)."
    )
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
    api_docs: bool = Field(
        default=False,
        description="Serve the interactive API documentation at /api/docs (no CDN involved).",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'relais.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
