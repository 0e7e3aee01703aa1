"""Grouping runs: request, claim (one at a time across processes), execute, and read back.

A run is requested (queued), then claimed by one worker: the partial unique index on
`clustering_run.status = 'running'` lets only one run hold `running` at a time, whatever the
number of server processes. A running run beats a heartbeat; one whose heartbeat stops (its
process died) is marked failed by the next claim, so a crash never blocks grouping for good.
"""

import hashlib
import logging
from dataclasses import asdict
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.clusters.models import Cluster, ClusteringRun, RunStatus
from api.db import utc_now
from api.errors import Conflict

logger = logging.getLogger(__name__)

# A run that has not beaten its heartbeat for this long belongs to a process that died.
STALE_RUN_AFTER = timedelta(minutes=10)
AGGREGATION_DIR = Path(__file__).resolve().parent.parent.parent / "aggregation"


@lru_cache(maxsize=1)
def code_version() -> str:
    """A fingerprint of the grouping code, so a run records exactly which algorithm made it."""
    digest = hashlib.sha256()
    for path in sorted(AGGREGATION_DIR.rglob("*.py")):
        digest.update(path.relative_to(AGGREGATION_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def request_run(session: Session, *, requested_by: str, params: dict[str, Any]) -> ClusteringRun:
    run = ClusteringRun(
        status=RunStatus.queued,
        requested_by=requested_by,
        params=params,
        code_version=code_version(),
        requested_at=utc_now(),
        progress=0.0,
        progress_note="queued",
        timings_s={},
    )
    session.add(run)
    session.flush()
    return run


def fail_stale_runs(session: Session) -> int:
    cutoff = utc_now() - STALE_RUN_AFTER
    stale = session.scalars(
        select(ClusteringRun).where(
            ClusteringRun.status == RunStatus.running, ClusteringRun.heartbeat_at < cutoff
        )
    ).all()
    for run in stale:
        fail_run(session, run, "abandoned: its process stopped beating the heartbeat")
    session.flush()
    return len(stale)


def claim_run(session: Session, run: ClusteringRun) -> None:
    """Mark the run as the one running; Conflict when another run is running already."""
    if run.status != RunStatus.queued:
        raise Conflict("error.run_not_queued")
    fail_stale_runs(session)
    now = utc_now()
    try:
        with session.begin_nested():
            run.status = RunStatus.running
            run.started_at = now
            run.heartbeat_at = now
            run.progress_note = "started"
            session.flush()
    except IntegrityError as error:
        session.refresh(run)
        raise Conflict("error.run_already_running") from error


def record_progress(session: Session, run: ClusteringRun, progress: float, note: str) -> None:
    run.progress = progress
    run.progress_note = note
    run.heartbeat_at = utc_now()


def finish_run(
    session: Session,
    run: ClusteringRun,
    *,
    input_fingerprint: str,
    report_count: int,
    cluster_count: int,
    duplicate_count: int,
    timings_s: dict[str, float],
) -> None:
    run.status = RunStatus.succeeded
    run.input_fingerprint = input_fingerprint
    run.report_count = report_count
    run.cluster_count = cluster_count
    run.duplicate_count = duplicate_count
    run.timings_s = timings_s
    run.progress = 1.0
    run.progress_note = "done"
    run.finished_at = utc_now()


def fail_run(session: Session, run: ClusteringRun, error: str) -> None:
    run.status = RunStatus.failed
    run.error = error[:2000]
    run.finished_at = utc_now()


def get_run(session: Session, run_id: int) -> ClusteringRun | None:
    return session.get(ClusteringRun, run_id)


def latest_succeeded_run(session: Session) -> ClusteringRun | None:
    return session.scalar(
        select(ClusteringRun)
        .where(ClusteringRun.status == RunStatus.succeeded)
        .order_by(ClusteringRun.id.desc())
        .limit(1)
    )


def list_runs(session: Session, limit: int = 20) -> list[ClusteringRun]:
    return list(
        session.scalars(select(ClusteringRun).order_by(ClusteringRun.id.desc()).limit(limit))
    )


def current_clusters(session: Session) -> list[Cluster]:
    run = latest_succeeded_run(session)
    if run is None:
        return []
    return list(
        session.scalars(
            select(Cluster)
            .where(Cluster.run_id == run.id)
            .order_by(Cluster.size.desc(), Cluster.cluster_key)
        )
    )


def params_dict(params: object) -> dict[str, Any]:
    return asdict(params)  # type: ignore[call-overload]
