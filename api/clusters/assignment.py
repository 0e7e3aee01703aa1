"""Placing a report in a cluster the moment it is filed, without re-running the grouping.

Each server process keeps the newest run's `ClusterIndex` in memory (loaded from the file the
runner wrote) and swaps it when a newer run succeeds. Placement costs one look-up of the newest
run id plus a projection and a dot product against one lender's centroids.
"""

import logging
import threading
import time
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
    """The newest succeeded run's index, per process; safe to share between request threads.

    Which run is newest is asked of the database at most every `recheck_s` seconds: a
    submission then costs no extra round trip, and a finished run is picked up within seconds
    (reports filed in between are placed against the previous run, which is still correct).
    """

    def __init__(self, index_dir: Path, recheck_s: float = 5.0) -> None:
        self.index_dir = index_dir
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._run_id: int | None = None
        self._index: ClusterIndex | None = None
        self._checked_at = float("-inf")

    def _newest_run_id(self, session: Session) -> int | None:
        now = time.monotonic()
        if now - self._checked_at < self.recheck_s:
            return self._run_id
        run_id = session.scalar(
            select(ClusteringRun.id)
            .where(ClusteringRun.status == RunStatus.succeeded)
            .order_by(ClusteringRun.id.desc())
            .limit(1)
        )
        self._checked_at = now
        return run_id

    def newest(self, session: Session) -> tuple[int, ClusterIndex] | None:
        run_id = self._newest_run_id(session)
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
    # The lender was loaded when the report was filed, so this is read from the session.
    lender = session.get(Lender, report.lender_id) if report.lender_id is not None else None
    lender_key = lender.key if lender is not None else report.lender_name_key
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
