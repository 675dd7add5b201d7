"""Settings from `SOLARFLEET_*` environment variables, and the service's own secrets.

Secrets that are not given by environment are generated once into the state directory
(`var/` by default) with mode 0600, so a fresh install works without preparation and a
restart keeps issued tokens valid.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TOKEN_LIFETIME_SECONDS = 36000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLARFLEET_", extra="ignore")

    state_dir: Path = Field(default=Path("var"), description="Where the SQLite file and generated secrets live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file `<state_dir>/solarfleet.db`."
    )
    token_signing_key: SecretStr | None = Field(default=None, description="HMAC key for access tokens.")
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys for device credentials; the first encrypts, all decrypt.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Address partners and their customers reach this service at, for the Connect UI's links "
        "(e.g. https://connect.example.com); default: the address each API request came to.",
    )
    failed_auth_limit: int = Field(default=5, ge=1, description="Failed client logins allowed per window.")
    failed_auth_window_seconds: float = Field(default=60.0, gt=0)
    poll_interval_seconds: float = Field(
        default=30.0, ge=5, le=3600, description="How often local and simulated devices are polled."
    )
    poll_concurrency: int = Field(default=256, ge=1, le=10_000, description="Devices polled at the same time.")
    raw_retention_days: float = Field(
        default=35.0, ge=1, description="How long raw readings are kept; rollups are kept for good."
    )
    entsoe_token: SecretStr | None = Field(
        default=None,
        description="ENTSO-E Transparency Platform security token; without it no day-ahead prices are fetched.",
    )
    entsoe_base_url: str = Field(
        default="https://web-api.tradingplatform.entsoe.eu/api", description="ENTSO-E REST API address."
    )
    solaredge_api_url: str | None = Field(
        default=None,
        description="SolarEdge Monitoring API address for devices connected in the Connect UI (a proxy, or a "
        "stand-in in tests); default SolarEdge's own.",
    )
    steering: bool = Field(default=True, description="Plan and steer smart-optimised devices in the monitoring worker.")
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = Field(default="INFO")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'solarfleet.db').resolve()}"

    def monitoring(self):
        from datetime import timedelta

        from solarfleet.monitoring.pipeline import MonitoringSettings

        return MonitoringSettings(
            concurrency=self.poll_concurrency,
            default_poll_interval=timedelta(seconds=self.poll_interval_seconds),
            raw_retention=timedelta(days=self.raw_retention_days),
        )

    def signing_key(self) -> bytes:
        if self.token_signing_key is not None:
            return self.token_signing_key.get_secret_value().encode()
        return _load_or_create_secret(self.state_dir / "token_signing.key", lambda: secrets.token_urlsafe(48))

    def fernet_keys(self) -> list[bytes]:
        if self.encryption_keys is not None:
            return [k.strip().encode() for k in self.encryption_keys.get_secret_value().split(",") if k.strip()]
        from cryptography.fernet import Fernet

        key = _load_or_create_secret(self.state_dir / "encryption.key", lambda: Fernet.generate_key().decode())
        return [key]


def _load_or_create_secret(path: Path, make: Callable[[], str]) -> bytes:
    """Read a secret file, creating it with mode 0600 when missing.

    The key is written to a private temporary file first and then linked into place, so several
    processes starting at once (uvicorn workers) agree on one key and none reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_bytes().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
