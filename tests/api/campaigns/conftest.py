"""Reports, grouping runs and logged-in staff for the campaign tests.

Clusters are written directly (a succeeded `ClusteringRun` with its `Cluster` and
`ClusterMembership` rows), so these tests do not depend on how the grouping engine decides.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.clusters.models import Cluster, ClusteringRun, ClusterMembership, RunStatus
from api.evidence.service import EvidenceLimits
from api.reports import service as report_service
from api.reports.models import Report, ReportSource
from api.reports.schemas import ReportSubmission
from api.staff.models import StaffRole, StaffUser
from tests.api.staff.factories import another_browser, make_staff, open_session
from tests.factories import submission

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def make_reports(session: Session, count: int, tmp_path: Path, **overrides: Any) -> list[Report]:
    """`count` filed reports through the real intake service (redaction, loan cost and all)."""
    reports = []
    for _ in range(count):
        report, _code = report_service.submit_report(
            session,
            submission=ReportSubmission.model_validate(submission(**overrides)),
            language="zh",
            source=ReportSource.api,
            evidence_dir=tmp_path / "evidence",
            evidence_limits=EvidenceLimits(5, 1024 * 1024),
        )
        reports.append(report)
    session.flush()
    return reports


def make_run(session: Session, groups: dict[str, list[Report]]) -> ClusteringRun:
    """A succeeded grouping run that put each list of reports in the cluster of that key."""
    run = ClusteringRun(
        status=RunStatus.succeeded,
        requested_by="test",
        params={},
        code_version="test",
        requested_at=NOW,
        finished_at=NOW,
        progress=1.0,
        progress_note="done",
        timings_s={},
    )
    session.add(run)
    session.flush()
    for key, reports in groups.items():
        session.add(
            Cluster(
                run_id=run.id,
                cluster_key=key,
                lender_key="tongcheng-finance",
                label=f"label {key}",
                size=len(reports),
                duplicate_count=0,
                keywords=["拒绝协商"],
                representative_report_ids=[report.id for report in reports[:3]],
                statistics={},
            )
        )
        for report in reports:
            session.add(
                ClusterMembership(
                    run_id=run.id, report_id=report.id, cluster_key=key, assigned_by="run"
                )
            )
    session.commit()
    return run


@dataclass
class Browser:
    """A logged-in staff member's browser, with the CSRF token its writes must send."""

    client: TestClient
    user: StaffUser
    csrf_token: str

    def post(self, url: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf_token, **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.client.patch(url, headers={"X-CSRF-Token": self.csrf_token}, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.client.delete(url, headers={"X-CSRF-Token": self.csrf_token}, **kwargs)

    def form(self, url: str, data: dict[str, Any]) -> Any:
        return self.client.post(
            url, data={"csrf_token": self.csrf_token, **data}, follow_redirects=False
        )

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)


@pytest.fixture
def login(app: FastAPI, client: TestClient, db_session: Session) -> Callable[..., Browser]:
    def log_in_as(role: StaffRole) -> Browser:
        user = make_staff(db_session, role)
        browser = another_browser(app)
        return Browser(browser, user, open_session(browser, db_session, user))

    return log_in_as


@pytest.fixture
def organizer(login: Callable[..., Browser]) -> Browser:
    return login(StaffRole.organizer)


@pytest.fixture
def lawyer(login: Callable[..., Browser]) -> Browser:
    return login(StaffRole.lawyer)


@pytest.fixture
def two_clusters(db_session: Session, tmp_path: Path) -> dict[str, list[Report]]:
    """Seven reports in cluster "c-one" and five in "c-two", in the latest succeeded run."""
    groups = {
        "c-one": make_reports(db_session, 7, tmp_path),
        "c-two": make_reports(
            db_session,
            5,
            tmp_path,
            categories=["third_party_contact", "abusive_collection"],
            first_incident_month="2024-05",
        ),
    }
    make_run(db_session, groups)
    return groups
