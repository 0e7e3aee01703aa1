"""Application factory: `create_app(settings)` wires settings, database, middleware and routes."""

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from api.audit import service as audit_service
from api.campaigns.pages import router as campaign_pages
from api.campaigns.router import router as campaign_router
from api.clusters import runner as cluster_runner
from api.clusters.assignment import IndexCache, ReportPlacer
from api.clusters.pages import router as cluster_pages
from api.clusters.router import router as cluster_router
from api.config import Settings
from api.db import make_engine, make_sessionmaker
from api.errors import install_error_handlers
from api.exhibits import runner as exhibit_runner
from api.exhibits.pages import router as exhibit_pages
from api.exhibits.router import router as exhibit_router
from api.lenders.router import router as lender_router
from api.lenders.service import LenderDirectory
from api.middleware import AccessLog, BodySizeLimit
from api.reports.pages import router as report_pages
from api.reports.router import router as report_router
from api.reports.service import ReportHooks
from api.security import SlidingWindowLimiter
from api.signatories import service as signatory_service
from api.signatories.pages import router as signatory_pages
from api.signatories.router import router as signatory_router
from api.staff.pages import install_page_handlers as install_staff_page_handlers
from api.staff.pages import router as staff_pages
from api.staff.router import router as staff_router

logger = logging.getLogger("gongsu")


def _clustering_launcher(settings: Settings) -> Callable[[sessionmaker[Session], int], None]:
    def start(sessions: sessionmaker[Session], run_id: int) -> None:
        cluster_runner.start_in_background(sessions, run_id, settings.clustering_index_dir)

    return start


def _seal_audit_log_forever(
    sessions: sessionmaker[Session], stop: threading.Event, interval_s: float
) -> None:
    while not stop.wait(interval_s):
        try:
            with sessions() as session, session.begin():
                audit_service.seal_pending(session)
        except Exception:
            # Another process may hold the head for a moment; the next tick seals instead.
            logger.exception("sealing the audit log failed; retrying in %s s", interval_s)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Sync routes run in a thread pool. Its default of 40 threads lets many CPU-bound requests
    # fight over one interpreter lock per worker, which raised tail latency and lowered
    # throughput in bench/intake.py; a few threads per worker keep the CPU busy without that.
    anyio.to_thread.current_default_thread_limiter().total_tokens = (
        app.state.settings.request_threads
    )
    settings: Settings = app.state.settings
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=_seal_audit_log_forever,
            args=(app.state.sessionmaker, stop, settings.audit_seal_interval_s),
            name="audit-sealer",
            daemon=True,
        )
    ]
    if settings.placement_worker:
        workers.append(
            threading.Thread(
                target=app.state.report_placer.run_forever,
                args=(app.state.sessionmaker, stop, settings.placement_sweep_interval_s),
                name="report-placer",
                daemon=True,
            )
        )
    for worker in workers:
        worker.start()
    yield
    stop.set()
    for worker in workers:
        worker.join(timeout=10)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Gongsu 共诉",
        summary="Anonymous case reports against online lenders, grouped into joint complaints.",
        version="0.1.0",
        lifespan=_lifespan,
    )
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.receipt_limiter = SlidingWindowLimiter(
        settings.receipt_lookups_per_window, settings.receipt_lookup_window_seconds
    )
    app.state.staff_login_limiter = SlidingWindowLimiter(
        settings.staff_logins_per_window, settings.staff_login_window_seconds
    )
    app.state.templates = Jinja2Templates(directory=settings.frontend_dir / "templates")
    app.state.report_hooks = ReportHooks()
    app.state.report_hooks.withdrawn.append(signatory_service.on_report_withdrawn)
    # A setting on the app, so tests can run the grouping in their own way.
    app.state.start_clustering_run = _clustering_launcher(settings)
    app.state.lender_directory = LenderDirectory()
    app.state.report_placer = ReportPlacer(
        IndexCache(settings.clustering_index_dir, settings.clustering_recheck_s)
    )
    app.state.report_hooks.filed.append(app.state.report_placer.enqueue)
    # Likewise for exhibit bundle builds, which tests run in the request's own thread.
    app.state.start_bundle_build = exhibit_runner.start_in_background

    install_error_handlers(app)
    install_staff_page_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        json_max_bytes=settings.json_body_max_bytes,
        multipart_max_bytes=settings.multipart_body_max_bytes,
    )
    app.add_middleware(AccessLog)

    app.include_router(lender_router)
    app.include_router(report_router)
    app.include_router(report_pages)
    app.include_router(staff_router)
    app.include_router(staff_pages)
    app.include_router(campaign_router)
    app.include_router(campaign_pages)
    app.include_router(signatory_router)
    app.include_router(signatory_pages)
    app.include_router(exhibit_router)
    app.include_router(exhibit_pages)
    app.include_router(cluster_router)
    app.include_router(cluster_pages)
    app.mount("/static", StaticFiles(directory=settings.frontend_dir / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
