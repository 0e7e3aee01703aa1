"""A lawyer's journey in a real browser: log in, request the campaign's exhibit bundle, watch it
build, download it and check it with `verify-bundle`; then, after a signatory withdraws, the
next bundle leaves them out (their Bates numbers become a noted gap) and verifies too.

The campaign, its members and its signatories are written into the live server's database
through the domain services (the join form is the signatories' own journey).
"""

import io
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.campaigns import service as campaign_service
from api.campaigns.models import CampaignStatus
from api.campaigns.schemas import CampaignCreate
from api.config import PROJECT_DIR, Settings
from api.db import make_engine, make_sessionmaker
from api.evidence.service import EvidenceLimits, EvidenceUpload, list_evidence
from api.reports import service as report_service
from api.reports.models import Report, ReportSource
from api.reports.schemas import ReportSubmission
from api.signatories import service as signatory_service
from api.signatories.models import ConsentPurpose
from api.signatories.schemas import JoinSubmission
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import make_run
from tests.api.exhibits.conftest import pdf, png
from tests.api.signatories.conftest import PEOPLE
from tests.api.staff.factories import PASSWORD, password_hash
from tests.factories import submission

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
BUILD_TIMEOUT_MS = 90_000


class Journey:
    """The live server's database, written to directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
        self.report_ids: list[str] = []
        self.campaign_id = 0
        self.slug = ""
        self.lawyer_email = f"{StaffRole.lawyer}@bundle-journey.example"

    def set_up(self) -> None:
        """Three member reports with evidence, a campaign open for signatures with an approved
        fact pattern, an assigned lawyer, and every reporter joined as a signatory."""
        with self.sessions() as session, session.begin():
            staff = [
                StaffUser(
                    email=f"{role}@bundle-journey.example",
                    display_name=f"Journey {role}",
                    role=role,
                    password_hash=password_hash(),
                    is_active=True,
                    created_at=NOW,
                    failed_login_count=0,
                )
                for role in (StaffRole.organizer, StaffRole.lawyer)
            ]
            session.add_all(staff)
            session.flush()
            organizer_id, lawyer_id = (user.id for user in staff)
            self.report_ids = [self._report(session, index) for index in range(len(PEOPLE))]
        with self.sessions() as session:
            reports = [session.get(Report, report_id) for report_id in self.report_ids]
            make_run(session, {"c-journey": reports})
        with self.sessions() as session, session.begin():
            organizer = session.get(StaffUser, organizer_id)
            lawyer = session.get(StaffUser, lawyer_id)
            assert organizer is not None and lawyer is not None
            campaign = campaign_service.create_campaign(
                session,
                CampaignCreate.model_validate(
                    {
                        "title": "提钱游拒绝协商",
                        "channel": "regulator_complaint",
                        "jurisdiction": "CN-GD",
                        "cluster_keys": ["c-journey"],
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
            self.campaign_id, self.slug = campaign.id, campaign.slug
            for index, report_id in enumerate(self.report_ids):
                self._join(session, index, report_id)

    def _report(self, session: Session, index: int) -> str:
        report, _code = report_service.submit_report(
            session,
            submission=ReportSubmission.model_validate(submission()),
            language="zh",
            source=ReportSource.api,
            evidence=[
                EvidenceUpload(png((60 * index, 30, 30)), "screenshot"),
                EvidenceUpload(pdf(2), "export"),
            ],
            evidence_dir=self.settings.evidence_dir,
            evidence_limits=EvidenceLimits(5, 1024 * 1024),
        )
        session.flush()
        return report.id

    def _join(self, session: Session, index: int, report_id: str) -> None:
        report = session.get(Report, report_id)
        assert report is not None
        signatory_service.join_campaign(
            session,
            report=report,
            campaign_slug=self.slug,
            submission=JoinSubmission(
                identity=PEOPLE[index].identity(),
                shared_evidence_ids=[file.id for file in list_evidence(session, report_id)],
                consents=set(ConsentPurpose),
            ),
            language="zh",
            key_ring=signatory_service.settings_key_ring(self.settings),
            hash_key=signatory_service.settings_hash_key(self.settings),
            retention_days=self.settings.identity_retention_days,
            now=NOW,
        )

    def withdraw(self, index: int) -> None:
        """The reporter's one-click leave, as the receipt page does it."""
        with self.sessions() as session, session.begin():
            report = session.get(Report, self.report_ids[index])
            assert report is not None
            signatory_service.leave_campaign(
                session, report=report, campaign_slug=self.slug, now=NOW
            )


@pytest.fixture(scope="module")
def journey(live_server: str, live_server_data_dir: Path) -> Journey:
    journey = Journey(Settings(data_dir=live_server_data_dir, demo=False))
    journey.set_up()
    return journey


def _download_bundle(page: Any, base_url: str, campaign_id: int, target: Path) -> Path:
    page.goto(f"{base_url}/staff/campaigns/{campaign_id}/bundle")
    before = page.locator(".bundle-download").count()
    page.click("#request-bundle")
    # The page reloads itself every two seconds while the build runs.
    page.locator(".bundle-download").nth(before).wait_for(timeout=BUILD_TIMEOUT_MS)
    with page.expect_download() as download:
        page.locator(".bundle-download").first.click()
    download.value.save_as(str(target))
    return target


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", "verify-bundle", str(path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _read(path: Path, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return archive.read(name).decode("utf-8-sig")


def test_lawyer_downloads_verifiable_bundles_before_and_after_a_withdrawal(
    browser: Any, live_server: str, journey: Journey, tmp_path: Path
) -> None:
    context = browser.new_context(accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{live_server}/staff/login")
        page.fill("#f-email", journey.lawyer_email)
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/staff**")

        first = _download_bundle(page, live_server, journey.campaign_id, tmp_path / "first.zip")
        checked = _verify(first)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "intact" in checked.stdout
        signatories = _read(first, "02_signatories/signatories.csv")
        assert all(person.full_name in signatories for person in PEOPLE)

        journey.withdraw(0)

        second = _download_bundle(page, live_server, journey.campaign_id, tmp_path / "second.zip")
        checked = _verify(second)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        signatories = _read(second, "02_signatories/signatories.csv")
        assert PEOPLE[0].full_name not in signatories
        assert all(person.full_name in signatories for person in PEOPLE[1:])
        catalogue = _read(second, "05_evidence/catalogue.csv")
        assert "S001 已撤回同意" in catalogue
    finally:
        context.close()
