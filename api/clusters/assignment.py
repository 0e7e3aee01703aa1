"""Placing a filed report in a cluster moments after its commit, without re-running the grouping.

Each server process keeps the newest run's `ClusterIndex` in memory (loaded from the file the
runner wrote) and swaps it when a newer run succeeds. A `ReportPlacer` per process takes the ids
of reports as their transactions commit and places them from one worker thread: the borrower's
answer does not wait for the projection and the near-duplicate check, and a batch of reports
shares one transaction. A report committed but never placed (the process died in between) is
found by the worker's sweep, at start-up and then periodically.
"""

import logging
import queue
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Exists, Insert, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from aggregation import ClusterIndex, assign_reports
from api.clusters.models import ClusteringRun, ClusterMembership, RunStatus
from api.clusters.runner import index_path, load_index
from api.lenders.models import Lender
from api.reports.models import Report, ReportStatus

logger = logging.getLogger(__name__)

# A run's input holds the reports committed before it loaded them. Their `submitted_at` is cut to
# the minute and stamped before the commit, so the sweep looks back this far before the run was
# requested; older reports are in the run already.
SWEEP_LOOKBACK = timedelta(minutes=10)
PLACEMENT_BATCH_MAX = 200
# After a report arrives the worker waits this long for others before placing them together:
# a batch shares one transaction and one pass of the clustering maths, so under load placement
# costs a fraction of a millisecond of CPU per report instead of several, and the delay is far
# below anything a reader of the cluster pages could notice.
PLACEMENT_LINGER_S = 0.5


class IndexCache:
    """The newest succeeded run's index, per process; safe to share between threads.

    Which run is newest is asked of the database at most every `recheck_s` seconds, and a
    finished run is picked up within seconds (reports placed in between go against the previous
    run, which is still correct; the sweep adds them to the newer run).
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


def _insert_ignoring_placed(session: Session) -> Insert:
    # Two processes can place the same report (one's queue and the other's sweep); the first
    # placement stands and the second adds nothing.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(ClusterMembership).on_conflict_do_nothing()


def _placed_in(run_id: int) -> Exists:
    return exists().where(
        ClusterMembership.run_id == run_id, ClusterMembership.report_id == Report.id
    )


def place_reports(session: Session, report_ids: Sequence[str], cache: IndexCache) -> int:
    """Add active reports to the newest run's memberships: each in the nearest cluster of its
    lender when similar enough, else unassigned until the next run (still recorded, so the
    dashboard can count reports waiting for a run). Reports the run holds already are left as
    they are. Returns how many were placed."""
    newest = cache.newest(session)
    if newest is None or not report_ids:
        return 0
    run_id, index = newest
    rows = session.execute(
        select(
            Report.id,
            func.coalesce(Lender.key, Report.lender_name_key),
            Report.title,
            Report.narrative,
        )
        .outerjoin(Lender, Lender.id == Report.lender_id)
        .where(
            Report.id.in_(report_ids),
            Report.status == ReportStatus.active,
            ~_placed_in(run_id),
        )
        .order_by(Report.id)
    ).all()
    placements = assign_reports(
        index,
        [
            {"report_id": report_id, "lender": lender_key, "text": f"{title}\n{narrative}"}
            for report_id, lender_key, title, narrative in rows
        ],
    )
    memberships: list[dict[str, Any]] = [
        {
            "run_id": run_id,
            "report_id": row[0],
            "cluster_key": cluster_key,
            "base_cluster_key": None,
            "duplicate_of_id": duplicate_of,
            "assigned_by": "incremental",
            "similarity": similarity,
        }
        for row, (cluster_key, duplicate_of, similarity) in zip(rows, placements, strict=True)
    ]
    if memberships:
        session.execute(_insert_ignoring_placed(session), memberships)
    return len(memberships)


def unplaced_report_ids(session: Session, cache: IndexCache) -> list[str]:
    """Active reports filed since the newest run's input was loaded that it has no place for."""
    newest = cache.newest(session)
    if newest is None:
        return []
    run_id = newest[0]
    requested_at = session.scalar(
        select(ClusteringRun.requested_at).where(ClusteringRun.id == run_id)
    )
    if requested_at is None:
        return []
    return list(
        session.scalars(
            select(Report.id)
            .where(
                Report.status == ReportStatus.active,
                Report.submitted_at >= requested_at - SWEEP_LOOKBACK,
                ~_placed_in(run_id),
            )
            .order_by(Report.submitted_at, Report.id)
        )
    )


class ReportPlacer:
    """Places committed reports from a queue, in batches; one per server process.

    `enqueue` is the reports' `filed` hook, called once a report's transaction has committed,
    so the worker never looks for a report that is not visible yet. Tests call `drain` instead
    of running the worker.
    """

    def __init__(self, cache: IndexCache) -> None:
        self.cache = cache
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()

    def enqueue(self, report_id: str) -> None:
        self._queue.put(report_id)

    def _take_batch(self, first: str | None) -> list[str]:
        batch = [] if first is None else [first]
        while len(batch) < PLACEMENT_BATCH_MAX:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _place(self, sessions: sessionmaker[Session], report_ids: Sequence[str]) -> int:
        with sessions() as session, session.begin():
            return place_reports(session, report_ids, self.cache)

    def drain(self, sessions: sessionmaker[Session]) -> int:
        """Place every report queued so far, in the calling thread; returns how many."""
        placed = 0
        while batch := self._take_batch(None):
            placed += self._place(sessions, batch)
        return placed

    def sweep(self, sessions: sessionmaker[Session]) -> int:
        """Place the reports that were committed but never placed, a batch per transaction."""
        with sessions() as session:
            unplaced = unplaced_report_ids(session, self.cache)
        placed = 0
        for start in range(0, len(unplaced), PLACEMENT_BATCH_MAX):
            placed += self._place(sessions, unplaced[start : start + PLACEMENT_BATCH_MAX])
        return placed

    def run_forever(
        self, sessions: sessionmaker[Session], stop: threading.Event, sweep_interval_s: float
    ) -> None:
        """The worker thread: sweep, then place whatever arrives, and sweep again every
        `sweep_interval_s`. On `stop` it places what is still queued before returning."""
        next_sweep = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    # Scheduled before sweeping, so a sweep that fails (the database is down)
                    # is retried at the next interval rather than at once in a busy loop.
                    next_sweep = time.monotonic() + sweep_interval_s
                    swept = self.sweep(sessions)
                    if swept:
                        logger.info("placed %d reports that had been left unplaced", swept)
                try:
                    first = self._queue.get(timeout=min(1.0, sweep_interval_s))
                except queue.Empty:
                    continue
                stop.wait(PLACEMENT_LINGER_S)
                self._place(sessions, self._take_batch(first))
            except Exception:
                # The reports of a failed batch stay unplaced until the next sweep finds them.
                logger.exception("placing reports failed; the next sweep retries")
        self.drain(sessions)
