"""Settings, read once from the environment (prefix GONGSU_) and passed to `create_app`."""

import base64
import binascii
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
DEV_IDENTITY_KEY = "dev-1:Z29uZ3N1LWRldmVsb3BtZW50LWlkZW50aXR5LWtleSE="
DEV_IDENTITY_HASH_KEY = "gongsu-development-identity-hash-key-not-for-production"
IDENTITY_KEY_BYTES = 32


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
    # Threads per worker process for request handlers (see api.main).
    request_threads: int = 4
    demo: bool = True
    frontend_dir: Path = PROJECT_DIR / "frontend"

    evidence_max_files: int = 5
    evidence_max_bytes: int = 10 * 1024 * 1024
    json_body_max_bytes: int = 512 * 1024

    audit_seal_interval_s: float = 2.0
    # How often a server process asks whether a newer grouping run has finished.
    clustering_recheck_s: float = 5.0
    # Filed reports are placed in their cluster by a worker thread per server process, moments
    # after their commit (api.clusters.assignment); tests place them explicitly instead.
    placement_worker: bool = True
    # How often that worker also looks for reports committed but never placed (a process died
    # in between).
    placement_sweep_interval_s: float = 60.0

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

    # Signatories' identity store: AES-256-GCM keys as "<key id>:<base64 of 32 bytes>", newest
    # first. New rows use the first; older keys stay listed until `rotate-identity-keys` ran.
    identity_keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(DEV_IDENTITY_KEY)], min_length=1
    )
    # Keyed hash of ID numbers, to find the same person joining a campaign twice. Changing it
    # makes earlier hashes unmatchable, so it is not rotated like the encryption keys.
    identity_hash_key: SecretStr = SecretStr(DEV_IDENTITY_HASH_KEY)
    identity_retention_days: int = Field(default=90, ge=0)

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> "Settings":
        secret = self.secret_key.get_secret_value()
        if self.env == "production" and (secret == DEV_SECRET_KEY or len(secret) < 32):
            raise ValueError(
                "GONGSU_SECRET_KEY must be a private value of 32 or more characters in production"
            )
        return self

    @model_validator(mode="after")
    def _check_identity_keys(self) -> "Settings":
        ids = [key_id for key_id, _key in self.identity_key_ring]
        if len(set(ids)) != len(ids):
            raise ValueError("GONGSU_IDENTITY_KEYS names one key id twice")
        if self.env != "production":
            return self
        specs = [key.get_secret_value() for key in self.identity_keys]
        if DEV_IDENTITY_KEY in specs:
            raise ValueError("GONGSU_IDENTITY_KEYS must not hold the development key in production")
        hash_key = self.identity_hash_key.get_secret_value()
        if hash_key == DEV_IDENTITY_HASH_KEY or len(hash_key) < 32:
            raise ValueError(
                "GONGSU_IDENTITY_HASH_KEY must be a private value of 32 or more characters"
                " in production"
            )
        return self

    @property
    def identity_key_ring(self) -> list[tuple[str, bytes]]:
        """(key id, key) pairs, newest first; a ValueError that names no key material if a
        listed key is malformed."""
        ring = []
        for position, spec in enumerate(self.identity_keys, start=1):
            key_id, _, encoded = spec.get_secret_value().partition(":")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                key = b""
            if not key_id.strip() or len(key_id) > 32 or len(key) != IDENTITY_KEY_BYTES:
                raise ValueError(
                    f"GONGSU_IDENTITY_KEYS entry {position} must be '<key id>:<base64 of"
                    f" {IDENTITY_KEY_BYTES} bytes>' with a key id of 1 to 32 characters"
                )
            ring.append((key_id.strip(), key))
        return ring

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gongsu.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def clustering_index_dir(self) -> Path:
        return self.data_dir / "clustering"

    @property
    def multipart_body_max_bytes(self) -> int:
        # Room for every allowed file plus the form fields around them.
        return self.evidence_max_files * self.evidence_max_bytes + self.json_body_max_bytes


async def _request_settings(request: Request) -> Settings:
    # A coroutine: FastAPI runs a plain function dependency in the request thread pool, a
    # round trip between threads on every request just to read an attribute.
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(_request_settings)]
