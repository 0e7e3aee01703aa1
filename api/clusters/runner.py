"""Executing a grouping run in the background, outside any request.

The runner owns its transactions, the way the request session dependency owns a request's:
claiming the run, reporting progress and saving the result each commit on their own, so the
organizer's progress bar moves and a failed run leaves a record of why.
"""

import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from aggregation import ClusterIndex, ClusteringParams, cluster_reports
from api.clusters import frames
from api.clusters import service as cluster_service
from api.clusters.models import ClusteringRun
from api.db import utc_now
from api.errors import Conflict

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 30.0


def input_fingerprint(reports: pd.DataFrame) -> str:
    """SHA-256 over every input row, in report order: equal fingerprints, equal inputs."""
    columns = ["report_id", "lender", "text"]
    hashed = pd.util.hash_pandas_object(reports[columns].astype(str), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _progress(sessions: sessionmaker[Session], run_id: int) -> Callable[[float, str], None]:
    def report(progress: float, note: str) -> None:
        with sessions() as session, session.begin():
            run = session.get(ClusteringRun, run_id)
            if run is not None:
                cluster_service.record_progress(session, run, progress, note)

    return report


def _beat_heartbeat(sessions: sessionmaker[Session], run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_INTERVAL_S):
        with sessions() as session, session.begin():
            run = session.get(ClusteringRun, run_id)
            if run is not None:
                run.heartbeat_at = utc_now()


def index_path(index_dir: Path, run_id: int) -> Path:
    return index_dir / f"run-{run_id}.pickle"


def save_index(index: ClusterIndex, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("wb") as handle:
        pickle.dump(index, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def load_index(path: Path) -> ClusterIndex:
    # Only this runner writes these files, into the data directory, which is trusted like the
    # database itself; nothing from outside is ever unpickled.
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301


def execute_run(sessions: sessionmaker[Session], run_id: int, index_dir: Path) -> None:
    """Claim, load, group and save; any failure is recorded on the run, never raised.

    The run's `ClusterIndex` is written to `index_dir` before the run is marked succeeded, so
    every server process can place new reports against the newest run at once.
    """
    with sessions() as session, session.begin():
        run = session.get(ClusteringRun, run_id)
        if run is None:
            return
        try:
            cluster_service.claim_run(session, run)
        except Conflict:
            cluster_service.fail_run(session, run, "another run was already running")
            return
        params = ClusteringParams(**run.params)
    report = _progress(sessions, run_id)
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=_beat_heartbeat, args=(sessions, run_id, stop), name="run-heartbeat", daemon=True
    )
    heartbeat.start()
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        with sessions() as session:
            reports = frames.load_reports_frame(session)
            previous = frames.load_previous_assignments(
                session, cluster_service.latest_succeeded_run(session)
            )
            decisions = frames.load_decisions(session)
            lender_names = frames.lender_names(session)
        timings["load"] = time.perf_counter() - started
        report(0.2, f"loaded {len(reports)} reports")

        started = time.perf_counter()
        result = cluster_reports(
            reports,
            params=params,
            previous=previous,
            decisions=decisions,
            lender_names=lender_names,
        )
        timings["cluster"] = time.perf_counter() - started
        report(0.8, f"grouped into {len(result.clusters)} clusters")
        save_index(result.index, index_path(index_dir, run_id))
        for skipped in result.skipped_decisions.to_dict("records"):
            logger.warning("run %s skipped decision %s", run_id, skipped)

        started = time.perf_counter()
        with sessions() as session, session.begin():
            run = session.get(ClusteringRun, run_id)
            assert run is not None
            frames.save_clusters(session, run, result.clusters)
            frames.save_memberships(session, run, result.assignments)
            timings["save"] = time.perf_counter() - started
            cluster_service.finish_run(
                session,
                run,
                input_fingerprint=input_fingerprint(reports),
                report_count=len(reports),
                cluster_count=len(result.clusters),
                duplicate_count=int(result.assignments["duplicate_of"].notna().sum()),
                timings_s={name: round(seconds, 3) for name, seconds in timings.items()},
            )
    except Exception as error:
        logger.exception("clustering run %s failed", run_id)
        with sessions() as session, session.begin():
            run = session.get(ClusteringRun, run_id)
            if run is not None:
                cluster_service.fail_run(session, run, f"{type(error).__name__}: {error}")
    finally:
        stop.set()


def start_in_background(
    sessions: sessionmaker[Session], run_id: int, index_dir: Path
) -> threading.Thread:
    thread = threading.Thread(
        target=execute_run,
        args=(sessions, run_id, index_dir),
        name=f"clustering-run-{run_id}",
        daemon=True,
    )
    thread.start()
    return thread
