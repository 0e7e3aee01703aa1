"""Storing evidence: sniff the type from the bytes, keep the original, make a redacted copy.

Files are stored by SHA-256 (`<dir>/original/ab/abcd…`), so the same file sent twice is stored
once and any later change to a stored file is detectable from its name.
"""

import hashlib
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import filetype
from PIL import Image, ImageOps
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import utc_minute_now
from api.errors import FieldError
from api.evidence.models import EvidenceCustodyEvent, EvidenceFile, RedactionStatus

IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
AUDIO_TYPES = {
    "audio/mpeg",
    "audio/mp4",
    "audio/x-wav",
    "audio/amr",
    "audio/ogg",
    "audio/aac",
    "audio/x-flac",
}
ACCEPTED_TYPES = set(IMAGE_TYPES) | AUDIO_TYPES | {"application/pdf"}
CAPTURE_METHODS = ("upload", "screenshot", "photo", "recording", "scan", "export")


@dataclass(frozen=True)
class EvidenceUpload:
    content: bytes
    capture_method: str = "upload"


@dataclass(frozen=True)
class EvidenceLimits:
    max_files: int
    max_bytes: int


def sniff_media_type(content: bytes) -> str | None:
    """The media type the bytes show, ignoring whatever name or type the client claimed."""
    kind = filetype.guess(content)
    return kind.mime if kind else None


def strip_image_metadata(content: bytes, media_type: str) -> bytes:
    """Re-encode the pixels alone, dropping EXIF (GPS, device, time) and text chunks."""
    with Image.open(io.BytesIO(content)) as image:
        # Apply the EXIF orientation first, or the picture would turn once the tag is gone.
        upright = ImageOps.exif_transpose(image)
        clean = Image.new(upright.mode, upright.size)
        clean.paste(upright)
        if upright.mode == "P" and upright.getpalette():
            clean.putpalette(upright.getpalette())
        output = io.BytesIO()
        save_options = {"quality": 95} if media_type == "image/jpeg" else {}
        clean.save(output, format=IMAGE_TYPES[media_type], **save_options)
    return output.getvalue()


def check_uploads(uploads: list[EvidenceUpload], limits: EvidenceLimits, already: int = 0) -> None:
    """Reject the whole batch, before anything is written, if any file is not acceptable."""
    if already + len(uploads) > limits.max_files:
        raise FieldError("evidence", "too_many_files", max_files=limits.max_files)
    for position, upload in enumerate(uploads):
        field = f"evidence.{position}"
        if not upload.content:
            raise FieldError(field, "empty_file")
        if len(upload.content) > limits.max_bytes:
            raise FieldError(field, "file_too_large", max_mb=limits.max_bytes // (1024 * 1024))
        if sniff_media_type(upload.content) not in ACCEPTED_TYPES:
            raise FieldError(field, "unsupported_media_type")
        if upload.capture_method not in CAPTURE_METHODS:
            raise FieldError(f"{field}.capture_method", "literal_error")


def _write_content_addressed(root: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()
    path = root / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        with partial.open("wb") as handle:
            handle.write(content)
            handle.flush()
            # On disk before the database says it is stored: nothing acknowledged is lost.
            os.fsync(handle.fileno())
        partial.replace(path)
    return digest


def count_evidence(session: Session, report_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(EvidenceFile)
            .where(EvidenceFile.report_id == report_id)
        )
        or 0
    )


def store_evidence(
    session: Session,
    *,
    storage_dir: Path,
    report_id: str,
    uploads: list[EvidenceUpload],
    limits: EvidenceLimits,
) -> list[EvidenceFile]:
    already = count_evidence(session, report_id)
    check_uploads(uploads, limits, already)
    stored = []
    for offset, upload in enumerate(uploads):
        media_type = sniff_media_type(upload.content)
        assert media_type is not None  # check_uploads rejected anything unrecognised
        received_at = utc_minute_now()
        sha256_original = _write_content_addressed(storage_dir / "original", upload.content)
        sha256_redacted = None
        status = RedactionStatus.original_only
        if media_type in IMAGE_TYPES:
            redacted = strip_image_metadata(upload.content, media_type)
            sha256_redacted = _write_content_addressed(storage_dir / "redacted", redacted)
            status = RedactionStatus.metadata_removed
        evidence = EvidenceFile(
            id=uuid.uuid4().hex,
            report_id=report_id,
            sequence=already + offset + 1,
            media_type=media_type,
            size_bytes=len(upload.content),
            sha256_original=sha256_original,
            sha256_redacted=sha256_redacted,
            redaction_status=status,
            capture_method=upload.capture_method,
            received_at=received_at,
        )
        session.add(evidence)
        session.flush()
        session.add(
            EvidenceCustodyEvent(
                evidence_id=evidence.id,
                event="received",
                occurred_at=received_at,
                details={"sha256": sha256_original, "size_bytes": len(upload.content)},
            )
        )
        if sha256_redacted:
            session.add(
                EvidenceCustodyEvent(
                    evidence_id=evidence.id,
                    event="metadata_removed",
                    occurred_at=received_at,
                    details={"sha256": sha256_redacted},
                )
            )
        stored.append(evidence)
    session.flush()
    return stored


def list_evidence(session: Session, report_id: str) -> list[EvidenceFile]:
    return list(
        session.scalars(
            select(EvidenceFile)
            .where(EvidenceFile.report_id == report_id)
            .order_by(EvidenceFile.sequence)
        )
    )
