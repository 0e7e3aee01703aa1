"""Exhibit bundle build: time and peak memory for a large campaign.

    .venv/bin/python bench/bundle.py [--reports 10000] [--signatories 2000] [--keep-data]

Generates, into a fresh SQLite database under bench/results/bundle-data/, one campaign of
--reports member reports of which --signatories join as signatories, each sharing one evidence
file (2,000 files by default: phone screenshots as PNG, photos as JPEG, one- to three-page PDFs
and short recordings, in the proportions below), with an approved Chinese fact pattern. Then
builds the bundle in a separate process, exactly as the server's background build does, and
prints the wall time, the peak resident memory of that process, and the bundle's size.
--keep-data reuses the database of the previous run (generating it takes minutes) and forgets
its bundles, kept renderings and Bates numbers, so the first build is again a first build.

Target on a 2-core machine: under 60 s and under 2 GB.
"""

import argparse
import hashlib
import io
import json
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
import wave
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fpdf import FPDF
from PIL import Image, ImageDraw
from sqlalchemy import delete, insert, select

from api import cli
from api.campaigns import service as campaign_service
from api.campaigns.models import Campaign, CampaignStatus
from api.campaigns.schemas import CampaignCreate
from api.clusters.models import Cluster, ClusteringRun, ClusterMembership, RunStatus
from api.config import Settings
from api.db import make_engine, make_sessionmaker
from api.evidence import service as evidence_service
from api.evidence.service import EvidenceLimits, EvidenceUpload
from api.exhibits import runner
from api.exhibits import service as exhibit_service
from api.exhibits.models import BatesAssignment, ExhibitBundle
from api.reports.models import Report, ReportSource, ReportStatus
from api.signatories import service as signatory_service
from api.signatories.models import ConsentPurpose
from api.signatories.schemas import JoinSubmission
from api.staff.models import StaffRole, StaffUser

REPO_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = REPO_DIR / "bench" / "results" / "bundle-data"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
CLUSTER_KEY = "bench-cluster"
# Shares of the evidence kinds; the rest are PNG screenshots.
JPEG_SHARE, PDF_SHARE, AUDIO_SHARE = 0.25, 0.15, 0.05
CATEGORIES = (
    "refuses_negotiation",
    "opaque_fees",
    "excessive_cost",
    "abusive_collection",
    "third_party_contact",
    "privacy_misuse",
)
NARRATIVE = (
    "我在提钱游借了一万元，实际到账九千元，会员费和担保费从放款里直接扣掉了。逾期两个月后多次"
    "申请停息挂账，客服一直拒绝协商，还威胁联系我的家人和单位。"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id(number: int) -> str:
    born = date(1980, 1, 1) + timedelta(days=number // 1000)
    first17 = f"110105{born:%Y%m%d}{number % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]


def screenshot(index: int) -> bytes:
    image = Image.new("RGB", (540, 960), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 540, 80), fill=(30 + index % 200, 90, 160))
    for line in range(12):
        draw.text((30, 120 + line * 60), f"repayment {index}-{line}: 833.30 CNY", fill=(20, 20, 20))
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


def photo(index: int, generator: random.Random) -> bytes:
    image = Image.new("RGB", (800, 600), (generator.randrange(256), 120, index % 256))
    ImageDraw.Draw(image).text((40, 40), f"collection letter {index}", fill=(255, 255, 255))
    output = io.BytesIO()
    image.save(output, format="JPEG", quality=80)
    return output.getvalue()


def contract(index: int, pages: int) -> bytes:
    document = FPDF()
    document.set_font("helvetica", size=11)
    for page in range(pages):
        document.add_page()
        for line in range(30):
            document.text(
                20, 20 + line * 8, f"Loan contract {index}, page {page + 1}, clause {line}"
            )
    return bytes(document.output())


def recording(index: int) -> bytes:
    output = io.BytesIO()
    with wave.open(output, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(index.to_bytes(4, "big") * 4000)
    return output.getvalue()


def evidence_for(index: int, generator: random.Random) -> EvidenceUpload:
    roll = generator.random()
    if roll < AUDIO_SHARE:
        return EvidenceUpload(recording(index), "recording")
    if roll < AUDIO_SHARE + PDF_SHARE:
        return EvidenceUpload(contract(index, 1 + index % 3), "export")
    if roll < AUDIO_SHARE + PDF_SHARE + JPEG_SHARE:
        return EvidenceUpload(photo(index, generator), "photo")
    return EvidenceUpload(screenshot(index), "screenshot")


def report_row(index: int, generator: random.Random) -> dict[str, object]:
    apr = generator.lognormvariate(-1.2, 0.6)
    return {
        "id": uuid.UUID(int=generator.getrandbits(128)).hex,
        "receipt_hash": hashlib.sha256(f"bench-{index}".encode()).hexdigest(),
        "status": ReportStatus.active,
        "source": ReportSource.api,
        "language": "zh",
        "lender_name_typed": "同程借钱",
        "lender_name_key": "同程借钱",
        "product": "提钱游",
        "categories": generator.sample(CATEGORIES, 2),
        "title": f"逾期后拒绝协商 {index}",
        "narrative": NARRATIVE,
        "redaction_counts": {},
        "region_code": "44",
        "first_incident_month": f"2024-{1 + index % 12:02d}",
        "currency": "CNY",
        "contract_principal": 10000,
        "net_received": 9000,
        "apr_effective": apr,
        "is_above_24": apr > 0.24,
        "is_above_36": apr > 0.36,
        "is_above_4lpr": apr > 0.138,
        "contact_attempts": [],
        "submitted_at": NOW,
        "updated_at": NOW,
    }


def generate(settings: Settings, reports: int, signatories: int) -> None:
    """The database, the campaign and its signatories with their evidence files."""
    if DATA_DIR.exists():
        shutil.rmtree(DATA_DIR)
    cli.migrate(settings)
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    generator = random.Random(20261128)
    started = time.perf_counter()
    with sessions() as session, session.begin():
        organizer, lawyer = (
            StaffUser(
                email=f"{role}@bench.example",
                display_name=f"Bench {role}",
                role=role,
                password_hash="not-a-login",
                is_active=True,
                created_at=NOW,
                failed_login_count=0,
            )
            for role in (StaffRole.organizer, StaffRole.lawyer)
        )
        session.add_all([organizer, lawyer])
        rows = [report_row(index, generator) for index in range(reports)]
        for start in range(0, reports, 2000):
            session.execute(insert(Report), rows[start : start + 2000])
        run = ClusteringRun(
            status=RunStatus.succeeded,
            requested_by="bench",
            params={},
            code_version="bench",
            requested_at=NOW,
            finished_at=NOW,
            progress=1.0,
            progress_note="done",
            timings_s={},
        )
        session.add(run)
        session.flush()
        session.add(
            Cluster(
                run_id=run.id,
                cluster_key=CLUSTER_KEY,
                lender_key="tongcheng-finance",
                label="提钱游拒绝协商",
                size=reports,
                duplicate_count=0,
                keywords=["拒绝协商"],
                representative_report_ids=[row["id"] for row in rows[:3]],
                statistics={},
            )
        )
        memberships = [
            {
                "run_id": run.id,
                "report_id": row["id"],
                "cluster_key": CLUSTER_KEY,
                "assigned_by": "run",
            }
            for row in rows
        ]
        for start in range(0, reports, 5000):
            session.execute(insert(ClusterMembership), memberships[start : start + 5000])
        campaign = campaign_service.create_campaign(
            session,
            CampaignCreate.model_validate(
                {
                    "title": "提钱游拒绝协商（基准）",
                    "channel": "lender_complaint",
                    "jurisdiction": "CN-GD",
                    "cluster_keys": [CLUSTER_KEY],
                    "lawyer_ids": [lawyer.id],
                }
            ),
            actor=organizer,
            now=NOW,
        )
        campaign_service.transition(
            session,
            campaign,
            to_status=CampaignStatus.open_for_signatures,
            actor=organizer,
            now=NOW,
        )
        version = campaign_service.generate_fact_pattern(
            session, campaign, language="zh", actor=organizer, now=NOW
        )
        campaign_service.approve_version(session, campaign, version, lawyer=lawyer, now=NOW)
        slug = campaign.slug
    print(
        f"generated {reports} reports, campaign and fact pattern "
        f"in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    limits = EvidenceLimits(5, settings.evidence_max_bytes)
    key_ring = signatory_service.settings_key_ring(settings)
    hash_key = signatory_service.settings_hash_key(settings)
    for start in range(0, signatories, 200):
        with sessions() as session, session.begin():
            for index in range(start, min(signatories, start + 200)):
                report = session.get(Report, rows[index]["id"])
                assert report is not None
                stored = evidence_service.store_evidence(
                    session,
                    storage_dir=settings.evidence_dir,
                    report_id=report.id,
                    uploads=[evidence_for(index, generator)],
                    limits=limits,
                )
                signatory_service.join_campaign(
                    session,
                    report=report,
                    campaign_slug=slug,
                    submission=JoinSubmission(
                        identity={
                            "full_name": f"签署人{index}",
                            "id_number": resident_id(index),
                            "phone": f"139{index:08d}",
                            "loan_account_ref": f"JK{index:010d}",
                        },
                        shared_evidence_ids=[file.id for file in stored],
                        consents=set(ConsentPurpose),
                    ),
                    language="zh",
                    key_ring=key_ring,
                    hash_key=hash_key,
                    retention_days=settings.identity_retention_days,
                    now=NOW,
                )
    print(
        f"generated {signatories} signatories with evidence "
        f"in {time.perf_counter() - started:.1f} s"
    )


def forget_builds(settings: Settings) -> None:
    """The generated campaign as it was before its first build."""
    shutil.rmtree(settings.data_dir / exhibit_service.BUNDLES_DIR, ignore_errors=True)
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    with sessions() as session, session.begin():
        session.execute(delete(BatesAssignment))


def request_bundle(settings: Settings) -> int:
    """A new bundle request for the campaign, as its lawyer; returns its id."""
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    with sessions() as session, session.begin():
        lawyer = session.scalars(select(StaffUser).where(StaffUser.role == StaffRole.lawyer)).one()
        campaign = session.scalars(select(Campaign)).one()
        bundle, _ = exhibit_service.request_bundle(session, campaign, lawyer=lawyer, now=NOW)
        return bundle.id


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def build(settings: Settings, bundle_id: int) -> None:
    """Run in its own process, so its peak memory is the build's alone."""
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    started = time.perf_counter()
    runner.execute_build(sessions, settings, bundle_id)
    seconds = time.perf_counter() - started
    with sessions() as session:
        bundle = session.get(ExhibitBundle, bundle_id)
        assert bundle is not None
        result = {
            "status": str(bundle.status),
            "error": bundle.error,
            "seconds": round(seconds, 2),
            # CPU time does not depend on what else the shared machine runs, wall time does.
            "cpu_s": round(_cpu_seconds(resource.RUSAGE_SELF), 1),
            "converters_cpu_s": round(_cpu_seconds(resource.RUSAGE_CHILDREN), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            # The largest of the evidence converter processes (there are runner.BUILD_WORKERS).
            "worker_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            ),
            "size_mb": round((bundle.size_bytes or 0) / 1024 / 1024, 1),
            "sha256": bundle.sha256,
            "path": str(settings.data_dir / (bundle.file_path or "")),
            "files": len(zipfile.ZipFile(settings.data_dir / (bundle.file_path or "")).namelist()),
        }
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--signatories", type=int, default=2_000)
    parser.add_argument("--keep-data", action="store_true", help="reuse the last run's database")
    parser.add_argument("--build-only", type=int, metavar="BUNDLE_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = Settings(data_dir=DATA_DIR, demo=False)
    if args.build_only:
        build(settings, args.build_only)
        return 0
    if args.keep_data and DATA_DIR.exists():
        forget_builds(settings)
    else:
        generate(settings, args.reports, args.signatories)
    # The first build also renders the fact pattern and converts the evidence, both then kept;
    # a rebuild (after a withdrawal, say) reuses them, so both are measured.
    first = run_build(request_bundle(settings))
    again = run_build(request_bundle(settings))
    if first is None or again is None:
        return 1
    started = time.perf_counter()
    verify = subprocess.run(
        [sys.executable, "-m", "api", "verify-bundle", again["path"], "--sha256", again["sha256"]],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    verify_seconds = time.perf_counter() - started
    print(
        f"bundle: {args.reports} reports, {args.signatories} signatories, "
        f"{args.signatories} evidence files -> {again['size_mb']} MB ZIP, "
        f"{again['files']} files"
    )
    for name, result in (("first build", first), ("rebuild", again)):
        total_mb = result["peak_rss_mb"] + runner.BUILD_WORKERS * result["worker_peak_rss_mb"]
        print(
            f"{name}: {result['seconds']:.1f} s (target < 60 s); "
            f"peak RSS {result['peak_rss_mb']:.0f} MB builder + {runner.BUILD_WORKERS} x "
            f"{result['worker_peak_rss_mb']:.0f} MB"
            f" converters = at most {total_mb:.0f} MB (target < 2048 MB); "
            f"CPU {result['cpu_s']:.1f} s builder + {result['converters_cpu_s']:.1f} s converters"
        )
    print(f"byte-identical rebuild: {first['sha256'] == again['sha256']}")
    print(
        f"verify-bundle: exit {verify.returncode} in {verify_seconds:.1f} s: "
        f"{verify.stdout.strip().splitlines()[-1]}"
    )
    return 0 if verify.returncode == 0 and first["sha256"] == again["sha256"] else 1


def run_build(bundle_id: int) -> dict[str, Any] | None:
    # Started with -c, not as a script: a spawned converter process imports its parent's main
    # script again (this one, and with it everything the generator needs, seconds of CPU), but
    # not a package's __main__, and the server runs as `python -m api serve`.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.bundle import main; sys.exit(main())",
            "--build-only",
            str(bundle_id),
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        print(f"build failed: {result['error']}", file=sys.stderr)
        return None
    return result


if __name__ == "__main__":
    raise SystemExit(main())
