"""Server settings, read once from RELAIS_* environment variables with safe embedded defaults."""

from __future__ import annotations

import os
from datetime import timedelta
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
    escalation_batch: int = Field(
        default=2000,
        ge=1,
        description="Overdue deliveries one sweep transaction escalates: more is faster, fewer"
        " holds SQLite's write lock for less time.",
    )
    stream_heartbeat: float = Field(default=15.0, gt=0, le=20)
    login_max_failures: int = Field(
        default=10, ge=1, description="Failed logins for one login within the window: then 429."
    )
    login_max_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="Failed logins from one client address within the window: then 429.",
    )
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    login_hash_concurrency: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        description="Password checks at once per server process.",
    )
    login_hash_queue: int = Field(
        default=16,
        ge=0,
        description="Logins that may wait for a password check (a few seconds at most); "
        "more answer 503 at once.",
    )
    trusted_proxy_count: int = Field(
        default=0,
        ge=0,
        description="Reverse proxies in front of the server that append to X-Forwarded-For; "
        "0: the header is ignored and the client address is the connection's.",
    )
    device_expiry_days: int = Field(
        default=90, ge=1, description="A device unseen for this many days must sign in again."
    )
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
    log_file: Path | None = Field(
        default=None, description="Also write the server's log to this file (made private)."
    )

    @property
    def login_window(self) -> timedelta:
        return timedelta(seconds=self.login_window_seconds)

    @property
    def device_expiry(self) -> timedelta:
        return timedelta(days=self.device_expiry_days)

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
