"""`gongsu` / `python -m api`: migrate, load reference data, import, serve."""

import argparse
import logging
import sys
import time
from pathlib import Path

from alembic import command
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.config import PACKAGE_DATA_DIR, Settings
from api.db import alembic_config, make_engine, make_sessionmaker
from api.imports import service as import_service
from api.lenders import service as lender_service
from api.reports import service as report_service

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.resolved_database_url), "head")


def _session(settings: Settings) -> Session:
    return make_sessionmaker(make_engine(settings.resolved_database_url))()


def load_lenders(settings: Settings) -> None:
    with _session(settings) as session, session.begin():
        counts = lender_service.load_lenders(session, PACKAGE_DATA_DIR / "lenders.csv")
    print(
        f"lenders: {counts.lenders_added} added, {counts.lenders_updated} updated, "
        f"{counts.aliases_added} aliases added"
    )


def _print_import(what: str, counts: import_service.ImportCounts, seconds: float) -> None:
    print(
        f"{what}: {counts.imported} of {counts.rows} complaints imported, "
        f"{counts.skipped_total} skipped, {counts.lenders_created} lenders added "
        f"in {seconds:.1f} s"
    )
    for reason, rows in counts.skipped.items():
        print(f"  skipped {rows:6d}  {reason}")


def import_cfpb(settings: Settings, path: Path, limit: int | None) -> int:
    started = time.perf_counter()
    try:
        with _session(settings) as session, session.begin():
            counts = import_service.import_cfpb_file(session, path, limit=limit)
    except (OSError, import_service.ImportFileError) as error:
        print(f"import-cfpb: nothing imported: {error}", file=sys.stderr)
        return 1
    _print_import(f"CFPB import of {path.name}", counts, time.perf_counter() - started)
    return 0


def load_demo(settings: Settings, requested: bool) -> None:
    if not requested or not settings.demo:
        print("demo data: not loaded (--no-demo or GONGSU_DEMO=0)")
        return
    started = time.perf_counter()
    with _session(settings) as session, session.begin():
        counts = import_service.load_demo(session)
    if counts is None:
        print("demo data: not loaded, the database already holds reports")
        return
    _print_import("demo data (CFPB complaints)", counts, time.perf_counter() - started)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def unmapped_lenders(settings: Settings) -> None:
    with _session(settings) as session:
        rows = report_service.list_unmapped_lender_names(session)
    for name_key, example, count in rows:
        print(f"{count:6d}  {name_key}  (typed e.g. {example!r})")
    if not rows:
        print("every report's lender is mapped")


def seal_audit_log(settings: Settings) -> int:
    with _session(settings) as session, session.begin():
        return audit_service.seal_all(session)


def verify_audit_log(settings: Settings) -> int:
    sealed_now = seal_audit_log(settings)
    with _session(settings) as session:
        check = audit_service.verify_chain(session)
    print(
        f"audit log: {check.sealed_events} events in the chain ({sealed_now} sealed just now), "
        f"{check.unsealed_events} not yet sealed"
    )
    if check.is_intact:
        print("audit log: intact")
        return 0
    for event_id in check.broken_event_ids:
        print(f"audit log: event {event_id} was changed, or the event before it was deleted")
    if not check.head_matches:
        print("audit log: the newest events were deleted, or the chain head was changed")
    return 1


def serve(settings: Settings) -> None:
    import uvicorn

    print(f"Gongsu is serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_level="info",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gongsu", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    commands.add_parser("load-lenders", help="insert or update the shipped lender list")
    commands.add_parser("unmapped-lenders", help="list lender names nobody has mapped yet")
    commands.add_parser("serve", help="serve the web application")
    commands.add_parser("verify-audit", help="seal pending audit events and check the chain")
    setup = commands.add_parser("setup", help="migrate, load lenders and (if empty) the demo data")
    setup.add_argument("--no-demo", action="store_true", help="do not load the demo reports")
    import_cfpb_parser = commands.add_parser(
        "import-cfpb", help="import complaints from a CFPB export (.csv or .csv.gz) as reports"
    )
    import_cfpb_parser.add_argument(
        "file", type=Path, metavar="FILE", help="CFPB Consumer Complaint Database export"
    )
    import_cfpb_parser.add_argument(
        "--limit", type=_positive_int, metavar="N", help="read only the first N rows of FILE"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = Settings()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "load-lenders":
        load_lenders(settings)
    elif args.command == "unmapped-lenders":
        unmapped_lenders(settings)
    elif args.command == "setup":
        migrate(settings)
        load_lenders(settings)
        load_demo(settings, requested=not args.no_demo)
        seal_audit_log(settings)
    elif args.command == "import-cfpb":
        status = import_cfpb(settings, args.file, args.limit)
        seal_audit_log(settings)
        return status
    elif args.command == "verify-audit":
        return verify_audit_log(settings)
    elif args.command == "serve":
        serve(settings)
    return 0
