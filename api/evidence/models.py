from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class RedactionStatus(StrEnum):
    # An image re-encoded without EXIF/GPS and other embedded metadata.
    metadata_removed = "metadata_removed"
    # PDFs and recordings are kept as received; only the original exists, and it stays private.
    original_only = "original_only"


class EvidenceFile(Base):
    """A file a reporter attached. The typed-in file name is not kept: it often holds a name."""

    __tablename__ = "evidence_file"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    sha256_original: Mapped[str] = mapped_column(String(64), index=True)
    sha256_redacted: Mapped[str | None] = mapped_column(String(64))
    redaction_status: Mapped[RedactionStatus] = mapped_column(String(32))
    capture_method: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class EvidenceCustodyEvent(Base):
    """Chain of custody: each thing that happened to a file, in order."""

    __tablename__ = "evidence_custody_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[str] = mapped_column(
        ForeignKey("evidence_file.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
