from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class BundleStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    # The file was deleted when the campaign's retention period ran out; the row and its hashes
    # stay as the record of what was built.
    purged = "purged"


ACTIVE_STATUSES = (BundleStatus.queued, BundleStatus.running)


class ExhibitBundle(Base):
    """One requested build of a campaign's exhibit bundle and, once built, its file and hashes."""

    __tablename__ = "exhibit_bundle"
    __table_args__ = (
        # One build per campaign at a time, across every server process: two builds at once
        # would race for the same Bates numbers. A second request gets the build under way.
        Index(
            "uq_exhibit_bundle_one_active",
            "campaign_id",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    status: Mapped[BundleStatus] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_note: Mapped[str] = mapped_column(String(120), default="")
    # Relative to the data directory, so the data directory can move.
    file_path: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # A bundle can pass 2 GB.
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    inputs_fingerprint: Mapped[str | None] = mapped_column(String(64))
    consent_fingerprint: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BatesAssignment(Base):
    """The Bates pages one evidence file was given in a campaign's bundles. Kept for good, so a
    rebuild stamps the same numbers, new evidence continues after the highest, and a file that
    leaves the bundle (its signatory withdrew) leaves a gap instead of a reused number."""

    __tablename__ = "bates_assignment"
    __table_args__ = (UniqueConstraint("campaign_id", "first_page"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence_file.id"), primary_key=True)
    # The prefix and member code printed on the pages, kept as they were stamped.
    campaign_code: Mapped[str] = mapped_column(String(16))
    member_code: Mapped[str] = mapped_column(String(16))
    first_page: Mapped[int]
    page_count: Mapped[int]
    assigned_at: Mapped[datetime]
