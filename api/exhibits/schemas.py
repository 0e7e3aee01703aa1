"""Exhibit bundle responses (JSON API)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from api.exhibits.models import BundleStatus


class BundleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    requested_by_id: int
    status: BundleStatus
    progress: float
    progress_note: str
    sha256: str | None
    size_bytes: int | None
    inputs_fingerprint: str | None
    consent_fingerprint: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Where to fetch the ZIP once the build succeeded.
    download_url: str | None = None
