"""Campaigns open for signatures, reports in them, and joins, for the signatory tests.

Clusters are written directly, as in tests/api/campaigns; campaigns go through the campaign
service so that their status history is the real one.
"""

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr
from sqlalchemy.orm import Session

from api.campaigns import service as campaign_service
from api.campaigns.models import Campaign, CampaignStatus
from api.campaigns.schemas import CampaignCreate
from api.config import Settings
from api.evidence.service import EvidenceLimits, EvidenceUpload
from api.reports import service as report_service
from api.reports.models import Report, ReportSource
from api.reports.schemas import ReportSubmission
from api.signatories import service as signatory_service
from api.signatories.crypto import KeyRing
from api.signatories.models import ConsentPurpose, Signatory
from api.signatories.schemas import JoinSubmission
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import NOW, make_run
from tests.api.staff.factories import make_staff
from tests.factories import resident_id, submission

HASH_KEY = b"test identity hash key, 32 bytes or more"
RETENTION_DAYS = 90
ALL_CONSENTS = set(ConsentPurpose)


def made_up_key(key_id: str) -> bytes:
    """32 bytes derived from the id, so the same id always gives the same key."""
    return key_id.encode().ljust(32, b"\0")[:32]


def ring(*key_ids: str) -> KeyRing:
    """A key ring of made-up keys, newest first."""
    return KeyRing([(key_id, made_up_key(key_id)) for key_id in key_ids])


def key_spec(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(made_up_key(key_id)).decode()}"


def png() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(output, format="PNG")
    return output.getvalue()


@dataclass(frozen=True)
class Person:
    full_name: str
    id_number: str
    phone: str
    address: str
    loan_account_ref: str

    def identity(self) -> dict[str, str]:
        return {
            "full_name": self.full_name,
            "id_number": self.id_number,
            "phone": self.phone,
            "address": self.address,
            "loan_account_ref": self.loan_account_ref,
        }


PEOPLE = (
    Person(
        "张晓梅",
        resident_id("44030519850612004"),
        "13912345678",
        "广东省深圳市南山区科技园路1号",
        "JK2024011500017",
    ),
    Person(
        "李建国",
        resident_id("11010519491231002"),
        "13800138000",
        "北京市朝阳区建国路88号",
        "JK2024020300042",
    ),
    Person(
        "王芳",
        resident_id("32010619900101002"),
        "13700001111",
        "江苏省南京市鼓楼区中山路5号",
        "JK2024030900311",
    ),
)


def file_report(session: Session, tmp_path: Path, *, evidence: int = 0) -> tuple[Report, str]:
    report, code = report_service.submit_report(
        session,
        submission=ReportSubmission.model_validate(submission()),
        language="zh",
        source=ReportSource.api,
        evidence=[EvidenceUpload(content=png()) for _ in range(evidence)],
        evidence_dir=tmp_path / "evidence",
        evidence_limits=EvidenceLimits(5, 1024 * 1024),
    )
    session.flush()
    return report, code


def open_campaign(
    session: Session,
    organizer: StaffUser,
    lawyers: list[StaffUser],
    *,
    channel: str = "regulator_complaint",
    cluster_keys: tuple[str, ...] = ("c-one",),
) -> Campaign:
    campaign = campaign_service.create_campaign(
        session,
        CampaignCreate.model_validate(
            {
                "title": "提钱游拒绝协商",
                "channel": channel,
                "jurisdiction": "CN-GD",
                "cluster_keys": list(cluster_keys),
                "respondents": [{"role": "lender_of_record", "name": "南京银行股份有限公司"}],
                "lawyer_ids": [lawyer.id for lawyer in lawyers],
            }
        ),
        actor=organizer,
        now=NOW,
    )
    campaign_service.transition(
        session, campaign, to_status=CampaignStatus.open_for_signatures, actor=organizer, now=NOW
    )
    session.commit()
    return campaign


def file_campaign(
    session: Session, campaign: Campaign, organizer: StaffUser, lawyer: StaffUser, at: datetime
) -> None:
    version = campaign_service.edit_fact_pattern(
        session, campaign, language="zh", body="共同事实。", actor=organizer, now=at
    )
    campaign_service.approve_version(session, campaign, version, lawyer=lawyer, now=at)
    campaign_service.transition(
        session, campaign, to_status=CampaignStatus.filed, actor=organizer, now=at
    )
    session.commit()


def close_campaign(
    session: Session, campaign: Campaign, organizer: StaffUser, at: datetime
) -> None:
    campaign_service.transition(
        session, campaign, to_status=CampaignStatus.closed, actor=organizer, now=at
    )
    session.commit()


@dataclass
class World:
    session: Session
    organizer: StaffUser
    lawyer: StaffUser
    other_lawyer: StaffUser
    admin: StaffUser
    campaign: Campaign
    reports: list[Report]
    codes: list[str]

    def join(
        self,
        index: int,
        person: Person | None = None,
        *,
        campaign: Campaign | None = None,
        consents: set[ConsentPurpose] = ALL_CONSENTS,
        key_ring: KeyRing | None = None,
        now: datetime = NOW,
        **changes: Any,
    ) -> Signatory:
        person = person or PEOPLE[index]
        fields = {**person.identity(), **changes}
        signatory = signatory_service.join_campaign(
            self.session,
            report=self.reports[index],
            campaign_slug=(campaign or self.campaign).slug,
            submission=JoinSubmission(identity=fields, consents=consents),
            language="zh",
            key_ring=key_ring or ring("k1"),
            hash_key=HASH_KEY,
            retention_days=RETENTION_DAYS,
            now=now,
        )
        self.session.commit()
        return signatory

    def records(
        self, *, key_ring: KeyRing | None = None
    ) -> list[signatory_service.SignatoryRecord]:
        return signatory_service.consenting_signatories(
            self.session,
            campaign_id=self.campaign.id,
            viewer=self.lawyer,
            purpose=signatory_service.VIEW,
            key_ring=key_ring or ring("k1"),
        )


@pytest.fixture
def world(db_session: Session, tmp_path: Path) -> World:
    """Three reports in cluster "c-one" and a regulator complaint over it, open for signatures,
    with one assigned lawyer (and one who is not)."""
    organizer = make_staff(db_session, StaffRole.organizer)
    lawyer = make_staff(db_session, StaffRole.lawyer)
    other_lawyer = make_staff(db_session, StaffRole.lawyer)
    admin = make_staff(db_session, StaffRole.admin)
    filed = [file_report(db_session, tmp_path) for _ in PEOPLE]
    reports = [report for report, _code in filed]
    make_run(db_session, {"c-one": reports})
    campaign = open_campaign(db_session, organizer, [lawyer])
    return World(
        db_session,
        organizer,
        lawyer,
        other_lawyer,
        admin,
        campaign,
        reports,
        [code for _report, code in filed],
    )


@pytest.fixture
def later() -> Callable[[int], datetime]:
    return lambda days: NOW + timedelta(days=days)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The app's audit sealer thread shares the test's connection; keep it quiet meanwhile.
    return settings.model_copy(
        update={
            "audit_seal_interval_s": 3600.0,
            "identity_keys": [SecretStr(key_spec("k1"))],
        }
    )
