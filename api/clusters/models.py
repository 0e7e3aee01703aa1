from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class ClusteringRun(Base):
    """One grouping of all active reports: what went in, with which parameters, what came out."""

    __tablename__ = "clustering_run"
    __table_args__ = (
        # At most one run may be running, across every server process: the second process
        # trying to start one hits this index. It works the same on PostgreSQL and SQLite.
        Index(
            "uq_clustering_run_one_running",
            "status",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[RunStatus] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    code_version: Mapped[str] = mapped_column(String(64))
    input_fingerprint: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(default=0.0)
    progress_note: Mapped[str] = mapped_column(String(120), default="")
    report_count: Mapped[int | None] = mapped_column(Integer)
    cluster_count: Mapped[int | None] = mapped_column(Integer)
    duplicate_count: Mapped[int | None] = mapped_column(Integer)
    timings_s: Mapped[dict[str, float]] = mapped_column(JsonColumn, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Cluster(Base):
    """A group of similar reports about one lender, as one run found it."""

    __tablename__ = "cluster"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("clustering_run.id", ondelete="CASCADE"), index=True
    )
    # Stable across runs while the group keeps most of its members (see aggregation.clustering).
    cluster_key: Mapped[str] = mapped_column(String(40), index=True)
    lender_key: Mapped[str] = mapped_column(String(120), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int]
    duplicate_count: Mapped[int]
    # Below the run's minimum size a cluster keeps its id but the dashboard leaves it out.
    is_shown: Mapped[bool] = mapped_column(default=True, server_default=true())
    keywords: Mapped[list[str]] = mapped_column(JsonColumn)
    representative_report_ids: Mapped[list[str]] = mapped_column(JsonColumn)
    statistics: Mapped[dict[str, Any]] = mapped_column(JsonColumn)


class ClusterMembership(Base):
    """Which cluster a report is in, per run; incremental assignments add rows to the latest."""

    __tablename__ = "cluster_membership"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("clustering_run.id", ondelete="CASCADE"), primary_key=True
    )
    report_id: Mapped[str] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_key: Mapped[str | None] = mapped_column(String(40), index=True)
    # The automatic grouping's id before organizer decisions: the next run matches ids on it.
    base_cluster_key: Mapped[str | None] = mapped_column(String(40))
    duplicate_of_id: Mapped[str | None] = mapped_column(String(32))
    # "run" when the full grouping placed it, "incremental" when assigned on submission.
    assigned_by: Mapped[str] = mapped_column(String(16))
    similarity: Mapped[float | None]


class DecisionKind(StrEnum):
    merge = "merge"
    split = "split"
    exclude = "exclude"
    rename = "rename"
    mark_duplicate = "mark_duplicate"
    unmark_duplicate = "unmark_duplicate"


class ReviewDecision(Base):
    """An organizer's decision about clusters or reports. Append-only: a decision is undone
    only by a later one, and every run re-applies them all in order."""

    __tablename__ = "review_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DecisionKind] = mapped_column(String(24))
    cluster_keys: Mapped[list[str]] = mapped_column(JsonColumn)
    report_ids: Mapped[list[str]] = mapped_column(JsonColumn)
    label: Mapped[str | None] = mapped_column(String(200))
    duplicate_of_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    decided_at: Mapped[datetime]
