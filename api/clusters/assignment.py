"""Placing a report in a cluster the moment it is filed, without re-running the grouping.

Each server process keeps the newest run's `ClusterIndex` in memory (loaded from the file the
runner wrote) and swaps it when a newer run succeeds. Placement costs one look-up of the newest
run id plus a projection and a dot product against one lender's centroids.
"""

import logging
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregation import ClusterIndex, assign_report
from api.clusters.models import ClusteringRun, ClusterMembership, RunStatus
from api.clusters.runner import index_path, load_index
from api.lenders.models import Lender
from api.reports.models import Report

logger = logging.getLogger(__name__)


class IndexCache:
    """The newest succeeded run's index, per process; safe to share between request threads."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._run_id: int | None = None
        self._index: ClusterIndex | None = None

    def newest(self, session: Session) -> tuple[int, ClusterIndex] | None:
        run_id = session.scalar(
            select(ClusteringRun.id)
            .where(ClusteringRun.status == RunStatus.succeeded)
            .order_by(ClusteringRun.id.desc())
            .limit(1)
        )
        if run_id is None:
            return None
        with self._lock:
            if run_id != self._run_id:
                path = index_path(self.index_dir, run_id)
                if not path.exists():
                    # A run made on another machine, or before indexes were kept: nothing to
                    # place against until the next run here.
                    return None
                self._index = load_index(path)
                self._run_id = run_id
            assert self._index is not None
            return run_id, self._index


def place_report(session: Session, report: Report, cache: IndexCache) -> ClusterMembership | None:
    """Add the report to the newest run's memberships: in the nearest cluster of its lender when
    similar enough, else unassigned until the next run (still recorded, so the dashboard can
    count reports waiting for a run)."""
    newest = cache.newest(session)
    if newest is None:
        return None
    run_id, index = newest
    lender_key = report.lender_name_key
    if report.lender_id is not None:
        lender_key = session.scalar(select(Lender.key).where(Lender.id == report.lender_id))
    cluster_key, duplicate_of, similarity = assign_report(
        index,
        {
            "report_id": report.id,
            "lender": lender_key,
            "text": f"{report.title}\n{report.narrative}",
        },
    )
    membership = ClusterMembership(
        run_id=run_id,
        report_id=report.id,
        cluster_key=cluster_key,
        base_cluster_key=None,
        duplicate_of_id=duplicate_of,
        assigned_by="incremental",
        similarity=similarity,
    )
    session.add(membership)
    return membership
