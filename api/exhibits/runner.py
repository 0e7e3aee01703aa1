"""Building an exhibit bundle in the background, outside any request.

The runner owns its transactions, the way the request session dependency owns a request's:
claiming the build, gathering its inputs (and Bates numbers), reporting progress and saving the
result each commit on their own, so the lawyer's progress bar moves, numbers once given stay
given, and a failed build leaves a record of why.

The ZIP is written to a `.part` file beside its final name and renamed only when complete, so
a half-written bundle is never offered for download.
"""

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from api.config import Settings
from api.db import utc_now
from api.exhibits import render
from api.exhibits import service as exhibit_service
from api.exhibits.models import ExhibitBundle
from api.signatories import service as signatory_service

logger = logging.getLogger(__name__)

# Progress is saved at most this often: each save is a commit.
PROGRESS_INTERVAL_S = 1.0
# Evidence conversion is CPU-bound: one process per core, but leave the server some room.
BUILD_WORKERS = max(1, min(4, os.cpu_count() or 1))
_CHUNK = 1024 * 1024


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _ProgressWriter:
    def __init__(self, sessions: sessionmaker[Session], bundle_id: int) -> None:
        self.sessions = sessions
        self.bundle_id = bundle_id
        self.last_saved = 0.0

    def __call__(self, share: float, note: str) -> None:
        now = time.monotonic()
        if share < 1.0 and now - self.last_saved < PROGRESS_INTERVAL_S:
            return
        self.last_saved = now
        with self.sessions() as session, session.begin():
            bundle = session.get(ExhibitBundle, self.bundle_id)
            if bundle is not None:
                # Gathering inputs takes the first tenth of the bar.
                exhibit_service.record_progress(bundle, 0.1 + 0.9 * share, note, now=utc_now())


def execute_build(sessions: sessionmaker[Session], settings: Settings, bundle_id: int) -> None:
    """Claim, gather, write and record; any failure is recorded on the build, never raised."""
    with sessions() as session, session.begin():
        bundle = session.get(ExhibitBundle, bundle_id)
        if bundle is None:
            return
        exhibit_service.claim_build(session, bundle, utc_now())
        campaign_id = bundle.campaign_id
    relative = exhibit_service.bundle_file_name(campaign_id, bundle_id)
    target = settings.data_dir / relative
    partial = target.with_suffix(".zip.part")
    try:
        with sessions() as session, session.begin():
            bundle = session.get(ExhibitBundle, bundle_id)
            assert bundle is not None
            spec = exhibit_service.gather_inputs(
                session,
                bundle,
                evidence_dir=settings.evidence_dir,
                cache_dir=exhibit_service.fact_pattern_cache_dir(settings.data_dir, campaign_id),
                key_ring=signatory_service.settings_key_ring(settings),
                now=utc_now(),
            )
            exhibit_service.record_progress(bundle, 0.1, "inputs gathered", now=utc_now())
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as handle:
            fingerprint = render.write_bundle(
                spec,
                handle,
                _ProgressWriter(sessions, bundle_id),
                workers=BUILD_WORKERS,
                cache=render.ExhibitCache(
                    exhibit_service.exhibit_cache_dir(settings.data_dir, campaign_id)
                ),
            )
        partial.replace(target)
        with sessions() as session, session.begin():
            bundle = session.get(ExhibitBundle, bundle_id)
            assert bundle is not None
            exhibit_service.finish_build(
                session,
                bundle,
                file_path=relative,
                sha256=_sha256(target),
                size_bytes=target.stat().st_size,
                inputs_fingerprint=fingerprint,
                consent_fingerprint=spec.consent_fingerprint,
                now=utc_now(),
            )
    except Exception as error:
        logger.exception("exhibit bundle %s failed", bundle_id)
        partial.unlink(missing_ok=True)
        with sessions() as session, session.begin():
            bundle = session.get(ExhibitBundle, bundle_id)
            if bundle is not None:
                exhibit_service.fail_build(
                    bundle, f"{type(error).__name__}: {error}", now=utc_now()
                )


def start_in_background(
    sessions: sessionmaker[Session], settings: Settings, bundle_id: int
) -> threading.Thread:
    thread = threading.Thread(
        target=execute_build,
        args=(sessions, settings, bundle_id),
        name=f"exhibit-bundle-{bundle_id}",
        daemon=True,
    )
    thread.start()
    return thread
