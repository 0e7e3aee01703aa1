"""Settings, read once from the environment (prefix GONGSU_) and passed to `create_app`."""

from functools import cached_property
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGSU_", extra="ignore")

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
