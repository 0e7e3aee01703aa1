"""A campaign with members, an approved fact pattern, signatories who share evidence of every
kind (image, multi-page PDF, recording), and the lawyer's browser, for the exhibit tests.

Clusters are written directly and signatories join through the signatories service, so the
bundle is built from the same rows the real join flow writes.
"""

import dataclasses
import hashlib
import io
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fpdf import FPDF
from PIL import Image
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from api.campaigns import facts
from api.campaigns import service as campaign_service
from api.campaigns.models import Campaign
from api.config import Settings
from api.evidence.service import EvidenceLimits, EvidenceUpload, list_evidence
from api.exhibits import render, runner
from api.exhibits import service as exhibit_service
from api.exhibits.models import ExhibitBundle
from api.reports import service as report_service
from api.reports.models import Report, ReportSource
from api.reports.schemas import ReportSubmission
from api.signatories import service as signatory_service
from api.signatories.models import ConsentPurpose, Signatory
from api.signatories.schemas import JoinSubmission
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import NOW, Browser, make_run
from tests.api.signatories.conftest import HASH_KEY, PEOPLE, RETENTION_DAYS, key_spec, ring
from tests.api.signatories.conftest import open_campaign as open_signing_campaign
from tests.api.staff.factories import another_browser, make_staff, open_session
from tests.factories import submission

KEY_ID = "k1"


def png(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 80)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, colour).save(output, format="PNG")
    return output.getvalue()


def jpeg() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (120, 60), (30, 90, 200)).save(output, format="JPEG")
    return output.getvalue()


def pdf(pages: int) -> bytes:
    document = FPDF()
    for number in range(pages):
        document.add_page()
        document.set_font("helvetica", size=14)
        document.text(20, 30, f"Loan contract page {number + 1}")
    return bytes(document.output())


def wav() -> bytes:
    output = io.BytesIO()
    with wave.open(output, "wb") as recording:
        recording.setnchannels(1)
        recording.setsampwidth(2)
        recording.setframerate(8000)
        recording.writeframes(b"\0\0" * 800)
    return output.getvalue()


def file_report(
    session: Session, evidence_dir: Path, uploads: list[EvidenceUpload], **overrides: object
) -> Report:
    report, _code = report_service.submit_report(
        session,
        submission=ReportSubmission.model_validate(submission(**overrides)),
        language="zh",
        source=ReportSource.api,
        evidence=uploads,
        evidence_dir=evidence_dir,
        evidence_limits=EvidenceLimits(5, 1024 * 1024),
    )
    session.flush()
    return report


@dataclass
class World:
    session: Session
    sessions: sessionmaker[Session]
    settings: Settings
    organizer: StaffUser
    lawyer: StaffUser
    campaign: Campaign
    reports: list[Report]

    def join(self, index: int, *, share: bool = True) -> Signatory:
        evidence = [file.id for file in list_evidence(self.session, self.reports[index].id)]
        signatory = signatory_service.join_campaign(
            self.session,
            report=self.reports[index],
            campaign_slug=self.campaign.slug,
            submission=JoinSubmission(
                identity=PEOPLE[index].identity(),
                shared_evidence_ids=evidence if share else [],
                consents=set(ConsentPurpose),
            ),
            language="zh",
            key_ring=ring(KEY_ID),
            hash_key=HASH_KEY,
            retention_days=RETENTION_DAYS,
            now=NOW,
        )
        self.session.commit()
        return signatory

    def leave(self, index: int) -> None:
        signatory_service.leave_campaign(
            self.session, report=self.reports[index], campaign_slug=self.campaign.slug, now=NOW
        )
        self.session.commit()

    def build(self) -> ExhibitBundle:
        """Request a bundle as the lawyer and build it here, in this thread."""
        bundle, _is_new = exhibit_service.request_bundle(
            self.session, self.campaign, lawyer=self.lawyer, now=NOW
        )
        self.session.commit()
        runner.execute_build(self.sessions, self.settings, bundle.id)
        self.session.expire_all()
        built = self.session.get(ExhibitBundle, bundle.id)
        assert built is not None
        return built

    def bundle_bytes(self, bundle: ExhibitBundle) -> bytes:
        return exhibit_service.bundle_path(self.settings.data_dir, bundle).read_bytes()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"audit_seal_interval_s": 3600.0, "identity_keys": [SecretStr(key_spec(KEY_ID))]}
    )


@pytest.fixture
def world(db_session: Session, session_factory: sessionmaker[Session], settings: Settings) -> World:
    """Three member reports, each with evidence: a PNG and a two-page PDF; a JPEG and a
    recording; a screenshot. A regulator complaint over them, open for signatures, with an
    approved Chinese fact pattern and one assigned lawyer."""
    organizer = make_staff(db_session, StaffRole.organizer)
    lawyer = make_staff(db_session, StaffRole.lawyer)
    evidence_dir = settings.evidence_dir
    reports = [
        file_report(
            db_session,
            evidence_dir,
            [EvidenceUpload(png(), "screenshot"), EvidenceUpload(pdf(2), "export")],
        ),
        file_report(
            db_session,
            evidence_dir,
            [EvidenceUpload(jpeg(), "photo"), EvidenceUpload(wav(), "recording")],
            categories=["abusive_collection", "third_party_contact"],
            first_incident_month="2024-05",
        ),
        file_report(db_session, evidence_dir, [EvidenceUpload(png((10, 200, 10)), "screenshot")]),
    ]
    make_run(db_session, {"c-one": reports})
    campaign = open_signing_campaign(db_session, organizer, [lawyer])
    version = campaign_service.generate_fact_pattern(
        db_session, campaign, language="zh", actor=organizer, now=NOW
    )
    campaign_service.approve_version(db_session, campaign, version, lawyer=lawyer, now=NOW)
    db_session.commit()
    return World(db_session, session_factory, settings, organizer, lawyer, campaign, reports)


@pytest.fixture
def synchronous_builds(app: FastAPI) -> FastAPI:
    """Builds run inside the request, so a test sees the finished bundle at once."""
    app.state.start_bundle_build = runner.execute_build
    return app


@pytest.fixture
def browser_as(synchronous_builds: FastAPI, db_session: Session) -> Callable[[StaffUser], Browser]:
    def log_in(user: StaffUser) -> Browser:
        client = another_browser(synchronous_builds)
        return Browser(client, user, open_session(client, db_session, user))

    return log_in


def spec_for(tmp_path: Path, **changes: object) -> render.BundleSpec:
    """A bundle spec written by hand (no database): two signatories, an image, a two-page PDF
    and a recording, and one earlier number range left as a gap."""
    files = {"image.png": png(), "contract.pdf": pdf(2), "call.wav": wav()}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)

    def item(
        name: str, media_type: str, member: str, number: str, first: int, pages: int
    ) -> render.EvidenceItem:
        digest = hashlib.sha256(files[name]).hexdigest()
        return render.EvidenceItem(
            evidence_id=f"ev-{name}",
            member_code=member,
            exhibit_number=number,
            media_type=media_type,
            capture_method="screenshot",
            received_at="2026-11-28T10:00Z",
            sha256_original=digest,
            sha256_redacted=digest if media_type.startswith("image/") else None,
            redaction_status="metadata_removed"
            if media_type.startswith("image/")
            else "original_only",
            proves=("拒绝协商还款",),
            first_page=first,
            page_count=pages,
            source_path=tmp_path / name,
            custody=(render.CustodyRow("received", "2026-11-28T10:00Z", digest),),
        )

    statistics = facts.fact_statistics(
        pd.DataFrame(
            [
                {
                    "report_id": f"r{number}",
                    "categories": ["refuses_negotiation"],
                    "first_incident_month": "2024-03",
                    "region_code": "44",
                    "contract_principal": 10000.0,
                    "net_received": 9000.0,
                    "apr_effective": 0.3 + number / 10,
                    "is_above_24": True,
                    "is_above_36": number > 0,
                    "is_above_4lpr": True,
                    "evidence_files": 1,
                }
                for number in range(3)
            ],
            columns=list(facts.REPORT_COLUMNS),
        )
    )
    spec = render.BundleSpec(
        campaign=render.CampaignInfo(
            id=7,
            slug="tiqianyou",
            code="TIQI7",
            title="提钱游拒绝协商",
            channel="regulator_complaint",
            channel_name="向金融监管部门投诉",
            jurisdiction="CN-GD",
            group_reference="GS-000007",
            language="zh",
        ),
        fact_patterns=(
            render.FactPatternDocument(
                version_id=3,
                language="zh",
                number=2,
                body_sha256="0" * 64,
                approved_at="2026-11-28T10:00:00+00:00",
                files=(render.BundleFile("01_fact_pattern/tiqianyou-zh-v2.pdf", pdf(1)),),
            ),
        ),
        identity_fields=("full_name", "phone"),
        identity_labels={"full_name": "姓名", "phone": "电话"},
        signatories=(
            render.SignatoryRow(
                "S001", "成员", "2026-11-28T10:00Z", "M001", {"full_name": "张晓梅"}, ()
            ),
            render.SignatoryRow(
                "S003", "成员", "2026-11-28T10:00Z", "M003", {"phone": "13800138000"}, ()
            ),
        ),
        statistics=statistics,
        category_labels={"refuses_negotiation": "拒绝协商还款"},
        narratives=(
            render.Narrative("M001", "逾期后拒绝协商", "2024-03", ("拒绝协商还款",), "正文"),
        ),
        evidence=(
            item("image.png", "image/png", "S001", "1-1", 1, 1),
            item("contract.pdf", "application/pdf", "S001", "1-2", 2, 2),
            item("call.wav", "audio/x-wav", "S003", "3-1", 7, 1),
        ),
        gaps=(render.BatesGap("S002", 4, 3, "withdrawn"),),
        consent_fingerprint="c" * 64,
        inputs={"member_reports": 3},
        texts=exhibit_service.bundle_texts("zh"),
    )
    return dataclasses.replace(spec, **changes)


def write_zip(spec: render.BundleSpec, path: Path) -> Path:
    with path.open("wb") as handle:
        render.write_bundle(spec, handle)
    return path
