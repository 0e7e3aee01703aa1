"""`gongsu` / `python -m api`: migrate, load reference data, import, serve."""

import argparse
import copy
import getpass
import logging
import sys
import time
from pathlib import Path
from typing import Any

from alembic import command
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.config import PACKAGE_DATA_DIR, Settings
from api.db import alembic_config, make_engine, make_sessionmaker, utc_now
from api.errors import Conflict, pydantic_problems, validation_body
from api.exhibits import service as exhibit_service
from api.exhibits import verify as bundle_verify
from api.imports import service as import_service
from api.lenders import service as lender_service
from api.reports import service as report_service
from api.signatories import service as signatory_service
from api.signatories.crypto import IdentityCryptoError
from api.staff import service as staff_service
from api.staff.models import StaffRole
from api.staff.schemas import StaffCreate

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
    # Group the demo reports at once, so an organizer has clusters to review on first login.
    recluster(settings)


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


def verify_ledger(settings: Settings) -> int:
    with _session(settings) as session:
        check = signatory_service.verify_ledger(session)
    print(f"consent ledger: {check.entries} entries")
    if check.is_intact:
        print("consent ledger: intact")
        return 0
    for seq in check.broken_seqs:
        print(f"consent ledger: entry {seq} was changed, or the entry before it was deleted")
    if not check.head_matches:
        print("consent ledger: the newest entries were deleted, or the ledger head was changed")
    for consent_id in check.altered_consent_ids:
        print(f"consent ledger: consent {consent_id} no longer matches what the ledger recorded")
    return 1


def purge_identities(settings: Settings) -> int:
    now, retention_days = utc_now(), settings.identity_retention_days
    with _session(settings) as session, session.begin():
        purged = signatory_service.purge_expired_identities(
            session, now, retention_days=retention_days
        )
        bundles = exhibit_service.purge_expired_bundles(
            session, settings.data_dir, now, retention_days=retention_days
        )
    print(
        f"identities: {purged} signatories' identities and {bundles} exhibit bundles deleted "
        f"(campaigns closed more than {retention_days} days ago)"
    )
    return 0


def rotate_identity_keys(settings: Settings) -> int:
    ring = signatory_service.settings_key_ring(settings)
    try:
        with _session(settings) as session, session.begin():
            count = signatory_service.rotate_identity_keys(session, key_ring=ring, now=utc_now())
    except IdentityCryptoError as error:
        print(f"rotate-identity-keys: nothing changed: {error}", file=sys.stderr)
        return 1
    print(f"identity keys: {count} fields re-encrypted under key {ring.newest_key_id!r}")
    return 0


def verify_bundle(path: Path, expected_sha256: str | None) -> int:
    """Exit 0 when every file of the bundle matches SHA256SUMS and manifest.json, else 1."""
    if not path.is_file():
        print(f"verify-bundle: {path}: no such file", file=sys.stderr)
        return 1
    check = bundle_verify.check_bundle(path, expected_sha256)
    print(f"bundle: {path.name} (SHA-256 {check.bundle_sha256})")
    for line in check.lines():
        print(line)
    return 0 if check.is_intact else 1


def _login_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}/staff/login"


def first_staff_login(settings: Settings, demo_requested: bool) -> None:
    """Say how to log in as staff; on a demo with no staff yet, open one account per role."""
    wants_demo = demo_requested and settings.demo and settings.env != "production"
    with _session(settings) as session, session.begin():
        if staff_service.count_staff(session):
            print(f"staff login: {_login_url(settings)}")
            return
        if not wants_demo:
            print("staff login: no staff accounts yet; create the first admin with")
            print("  python -m api create-admin EMAIL")
            return
        accounts = staff_service.create_demo_staff(session, now=utc_now())
    # Printed after the commit, and only this once: the database keeps only the hashes.
    print(f"demo staff logins (shown only this once) at {_login_url(settings)}:")
    for user, password in accounts:
        print(f"  {user.role:<9} {user.email} / {password}")


def _read_new_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password for the new admin: ")
    if getpass.getpass("the same password again: ") != password:
        print("create-admin: the two passwords differ; nothing created", file=sys.stderr)
        return None
    return password


def create_admin(settings: Settings, email: str, name: str | None, password_stdin: bool) -> int:
    password = _read_new_password(password_stdin)
    if password is None:
        return 1
    try:
        data = StaffCreate(
            email=email,
            display_name=name or email.strip().partition("@")[0] or "admin",
            role=StaffRole.admin,
            password=password,
        )
    except ValidationError as error:
        problems = validation_body("en", pydantic_problems(list(error.errors())))["errors"]
        for problem in problems:
            print(f"create-admin: {problem['field']} {problem['message']}", file=sys.stderr)
        return 2
    try:
        with _session(settings) as session, session.begin():
            user = staff_service.create_staff(
                session, data, actor="system", now=utc_now(), via="cli"
            )
    except Conflict:
        print(
            f"create-admin: {data.email} already has an account; nothing created", file=sys.stderr
        )
        return 1
    print(f"admin account {user.id} created for {data.email}; log in at {_login_url(settings)}")
    return 0


def recluster(settings: Settings) -> int:
    """Run the grouping now, in this process, printing its progress; the same run the
    organizer's button starts (and refused the same way while another run is going)."""
    from api.clusters import runner
    from api.clusters import service as cluster_service

    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    with sessions() as session, session.begin():
        run_id = cluster_service.request_run(session, requested_by="cli", params={}).id
    print(f"clustering run {run_id}: started")
    runner.execute_run(sessions, run_id, settings.clustering_index_dir)
    with sessions() as session:
        run = cluster_service.get_run(session, run_id)
        assert run is not None
    if run.error:
        print(f"clustering run {run_id}: {run.status}: {run.error}")
        return 1
    print(
        f"clustering run {run_id}: {run.status}, {run.report_count} reports, "
        f"{run.cluster_count} clusters, {run.duplicate_count} near-duplicates, "
        f"timings {run.timings_s}"
    )
    return 0


def server_log_config(uvicorn_log_config: dict[str, Any]) -> dict[str, Any]:
    """Uvicorn's logging set-up plus the application's own loggers (access log, placement,
    sealing). Uvicorn applies it in every worker process; logging configured here in the parent
    reached none of them, so with several workers the application logged nothing."""
    config = copy.deepcopy(uvicorn_log_config)
    config["formatters"]["gongsu"] = {"format": LOG_FORMAT}
    config["handlers"]["gongsu"] = {
        "class": "logging.StreamHandler",
        "formatter": "gongsu",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["gongsu"], "level": "INFO"}
    return config


def serve(settings: Settings) -> None:
    import uvicorn
    import uvicorn.config

    print(f"Gongsu is serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_level="info",
        log_config=server_log_config(uvicorn.config.LOGGING_CONFIG),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gongsu", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    commands.add_parser("load-lenders", help="insert or update the shipped lender list")
    commands.add_parser("unmapped-lenders", help="list lender names nobody has mapped yet")
    commands.add_parser("serve", help="serve the web application")
    commands.add_parser("recluster", help="group all active reports now (a clustering run)")
    commands.add_parser("verify-audit", help="seal pending audit events and check the chain")
    commands.add_parser("verify-ledger", help="check the hash chain of the consent ledger")
    commands.add_parser(
        "purge-identities",
        help="delete signatories' identities and exhibit bundles of campaigns closed longer "
        "than the retention period",
    )
    commands.add_parser(
        "rotate-identity-keys", help="re-encrypt identity fields under the newest identity key"
    )
    create_admin_parser = commands.add_parser(
        "create-admin", help="open an admin account (asks for its password)"
    )
    create_admin_parser.add_argument("email", metavar="EMAIL", help="the admin's e-mail address")
    create_admin_parser.add_argument("--name", help="display name (default: EMAIL before the @)")
    create_admin_parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    verify_bundle_parser = commands.add_parser(
        "verify-bundle", help="check an exhibit bundle ZIP against its SHA256SUMS and manifest"
    )
    verify_bundle_parser.add_argument("file", type=Path, metavar="FILE.zip", help="the bundle")
    verify_bundle_parser.add_argument(
        "--sha256", metavar="HEX", help="the bundle's SHA-256 as the platform recorded it"
    )
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
        first_staff_login(settings, demo_requested=not args.no_demo)
        seal_audit_log(settings)
    elif args.command == "import-cfpb":
        status = import_cfpb(settings, args.file, args.limit)
        seal_audit_log(settings)
        return status
    elif args.command == "verify-audit":
        return verify_audit_log(settings)
    elif args.command == "verify-ledger":
        return verify_ledger(settings)
    elif args.command == "purge-identities":
        status = purge_identities(settings)
        seal_audit_log(settings)
        return status
    elif args.command == "rotate-identity-keys":
        status = rotate_identity_keys(settings)
        seal_audit_log(settings)
        return status
    elif args.command == "create-admin":
        status = create_admin(settings, args.email, args.name, args.password_stdin)
        seal_audit_log(settings)
        return status
    elif args.command == "verify-bundle":
        return verify_bundle(args.file, args.sha256)
    elif args.command == "recluster":
        return recluster(settings)
    elif args.command == "serve":
        serve(settings)
    return 0
