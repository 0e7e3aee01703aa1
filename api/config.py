"""Settings, read once from the environment (prefix GONGSU_) and passed to `create_app`."""

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data"
# Public on purpose: good enough for a laptop demo, refused when GONGSU_ENV=production.
DEV_SECRET_KEY = "gongsu-development-secret-key-not-for-production"


class Settings(BaseSettings):
    # Errors never echo inputs: the input may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="GONGSU_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under data_dir when unset"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    demo: bool = True
    frontend_dir: Path = PROJECT_DIR / "frontend"

    evidence_max_files: int = 5
    evidence_max_bytes: int = 10 * 1024 * 1024
    json_body_max_bytes: int = 512 * 1024

    audit_seal_interval_s: float = 2.0

    receipt_lookups_per_window: int = 30
    receipt_lookup_window_seconds: int = 600

    # A Literal so that a typo such as "prod" fails at start-up instead of skipping the checks.
    env: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY), description="signs the staff login form's CSRF token"
    )
    # Force the Secure flag on staff cookies behind a proxy that terminates TLS; requests that
    # arrive over https get it anyway.
    cookie_secure: bool = False
    staff_session_hours: float = 8.0
    staff_lockout_failures: int = 5
    staff_lockout_window_minutes: int = 15
    staff_lockout_minutes: int = 15
    staff_logins_per_window: int = 20
    staff_login_window_seconds: int = 300

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> "Settings":
        secret = self.secret_key.get_secret_value()
        if self.env == "production" and (secret == DEV_SECRET_KEY or len(secret) < 32):
            raise ValueError(
                "GONGSU_SECRET_KEY must be a private value of 32 or more characters in production"
            )
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gongsu.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def multipart_body_max_bytes(self) -> int:
        # Room for every allowed file plus the form fields around them.
        return self.evidence_max_files * self.evidence_max_bytes + self.json_body_max_bytes


def _request_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(_request_settings)]
