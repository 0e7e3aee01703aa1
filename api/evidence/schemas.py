from datetime import datetime

from pydantic import BaseModel, ConfigDict

from api.evidence.models import RedactionStatus


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    sequence: int
    media_type: str
    size_bytes: int
    sha256_original: str
    sha256_redacted: str | None
    redaction_status: RedactionStatus
    capture_method: str
    received_at: datetime
