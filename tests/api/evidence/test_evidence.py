"""Evidence uploads: type from the bytes, originals kept, images stripped of metadata."""

import hashlib
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.evidence.models import EvidenceCustodyEvent, EvidenceFile
from tests.factories import submission

PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (22.0, 32.0, 10.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def _receipt(client: TestClient) -> str:
    return client.post("/api/v1/reports", json=submission()).json()["receipt_code"]


def _stored(settings: Settings, kind: str, digest: str) -> Path:
    return settings.evidence_dir / kind / digest[:2] / digest


def test_image_original_is_kept_and_redacted_copy_has_no_metadata(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    photo = jpeg_with_gps()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    code = _receipt(client)

    response = client.post(
        f"/api/v1/receipts/{code}/evidence",
        files=[("files", ("张三的截图.jpg", photo, "application/octet-stream"))],
    )

    assert response.status_code == 201, response.text
    [item] = response.json()["evidence"]
    assert item["media_type"] == "image/jpeg"
    assert item["size_bytes"] == len(photo)
    assert item["sha256_original"] == hashlib.sha256(photo).hexdigest()
    assert item["redaction_status"] == "metadata_removed"
    original = _stored(settings, "original", item["sha256_original"]).read_bytes()
    assert original == photo
    redacted = _stored(settings, "redacted", item["sha256_redacted"]).read_bytes()
    assert hashlib.sha256(redacted).hexdigest() == item["sha256_redacted"]
    clean = Image.open(io.BytesIO(redacted))
    assert not clean.getexif()
    assert clean.size == (64, 48)
    evidence = db_session.scalar(select(EvidenceFile).where(EvidenceFile.id == item["id"]))
    assert evidence is not None and evidence.received_at.second == 0
    events = db_session.scalars(
        select(EvidenceCustodyEvent.event).where(EvidenceCustodyEvent.evidence_id == item["id"])
    ).all()
    assert events == ["received", "metadata_removed"]
    assert "张三" not in response.text


def test_pdf_and_audio_are_kept_as_originals(client: TestClient) -> None:
    code = _receipt(client)

    response = client.post(
        f"/api/v1/receipts/{code}/evidence",
        files=[
            ("files", ("contract.pdf", PDF_BYTES, "image/png")),
            ("files", ("call.mp3", MP3_BYTES, "text/plain")),
        ],
    )

    assert response.status_code == 201, response.text
    types = [(e["media_type"], e["redaction_status"]) for e in response.json()["evidence"]]
    assert types == [("application/pdf", "original_only"), ("audio/mpeg", "original_only")]


@pytest.mark.parametrize(
    ("files", "field", "code"),
    [
        ([("a.exe", b"MZ\x90\x00" + b"\x00" * 200)], "evidence.0", "unsupported_media_type"),
        ([("a.txt", "纯文本".encode())], "evidence.0", "unsupported_media_type"),
        ([("a.pdf", PDF_BYTES), ("b.pdf", b"")], "evidence.1", "empty_file"),
        ([(f"{n}.pdf", PDF_BYTES) for n in range(6)], "evidence", "too_many_files"),
    ],
)
def test_unacceptable_files_are_refused_whole(
    client: TestClient, db_session: Session, files: list, field: str, code: str
) -> None:
    receipt = _receipt(client)
    before = db_session.scalar(select(func.count()).select_from(EvidenceFile))

    response = client.post(
        f"/api/v1/receipts/{receipt}/evidence",
        files=[("files", (name, content, "application/pdf")) for name, content in files],
        headers={"Accept-Language": "en"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["errors"][0]["code"] == code
    assert db_session.scalar(select(func.count()).select_from(EvidenceFile)) == before


def test_file_size_limit_comes_from_settings(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    settings.evidence_max_bytes = len(PDF_BYTES) - 1
    receipt = _receipt(client)

    response = client.post(
        f"/api/v1/receipts/{receipt}/evidence", files=[("files", ("a.pdf", PDF_BYTES, "x/y"))]
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "file_too_large"


def test_at_most_five_files_over_several_uploads(client: TestClient) -> None:
    receipt = _receipt(client)
    first = client.post(
        f"/api/v1/receipts/{receipt}/evidence",
        files=[("files", (f"{n}.pdf", PDF_BYTES, "x/y")) for n in range(4)],
    )
    second = client.post(
        f"/api/v1/receipts/{receipt}/evidence",
        files=[("files", (f"{n}.pdf", PDF_BYTES, "x/y")) for n in range(2)],
    )

    assert first.status_code == 201
    assert [e["sequence"] for e in first.json()["evidence"]] == [1, 2, 3, 4]
    assert second.status_code == 422
    assert second.json()["errors"][0]["code"] == "too_many_files"
