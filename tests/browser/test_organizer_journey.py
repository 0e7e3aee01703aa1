"""An organizer's journey in a real browser: log in, read the clusters dashboard, open a
cluster, merge another into it, open a campaign from it and generate its fact pattern; then
the assigned lawyer logs in, approves the fact pattern and downloads it as a Word document."""

import re
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.db import make_engine, make_sessionmaker
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import make_reports
from tests.api.clusters.test_review import COSTLY_LOAN, TONGCHENG, add_run
from tests.api.staff.factories import PASSWORD, make_staff

pytestmark = pytest.mark.browser

CAMPAIGN_TITLE = "同程借钱拒绝协商联合投诉"


@pytest.fixture(scope="module")
def staff(live_server: str, live_server_data_dir: Path) -> dict[StaffRole, StaffUser]:
    """Staff accounts and a succeeded run with three clusters, written straight into the
    running server's SQLite database before the browser starts."""
    data_dir = live_server_data_dir
    engine = make_engine(f"sqlite:///{(data_dir / 'gongsu.db').resolve()}")
    try:
        with make_sessionmaker(engine)() as session:
            accounts = _seed(session, data_dir)
            # Sealed here, as the CLI does, so the server's sealer is not busy writing while
            # the first logins write their sessions.
            audit_service.seal_all(session)
            session.commit()
    finally:
        engine.dispose()
    return accounts


def _seed(session: Session, data_dir: Path) -> dict[StaffRole, StaffUser]:
    accounts = {role: make_staff(session, role) for role in (StaffRole.organizer, StaffRole.lawyer)}
    refusing = make_reports(session, 4, data_dir) + make_reports(
        session, 2, data_dir, first_incident_month="2024-01"
    )
    harassing = make_reports(
        session,
        3,
        data_dir,
        categories=["third_party_contact", "abusive_collection"],
        first_incident_month="2024-05",
        loan=COSTLY_LOAN,
    )
    unmapped = make_reports(session, 2, data_dir, lender="闪电借款王")
    add_run(
        session,
        {
            "c-refuse": (TONGCHENG, refusing),
            "c-harass": (TONGCHENG, harassing),
            "c-flash": (unmapped[0].lender_name_key, unmapped),
        },
    )
    return accounts


def _log_in(page: Any, base_url: str, user: StaffUser) -> None:
    page.goto(f"{base_url}/staff/login")
    page.fill("#f-email", user.email)
    page.fill("#f-password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base_url}/staff")


def _log_out(page: Any) -> None:
    page.click(".staff-nav__logout button")
    page.wait_for_url(re.compile(r".*/staff/login.*"))


def test_organizer_journey(
    browser: Any, live_server: str, staff: dict[StaffRole, StaffUser], tmp_path: Path
) -> None:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    _log_in(page, live_server, staff[StaffRole.organizer])

    page.click("nav.staff-nav a[href='/staff/clusters']")
    page.wait_for_url(f"{live_server}/staff/clusters")
    cards = page.locator("#clusters > li")
    assert cards.count() == 3
    assert page.locator("#cluster-c-refuse .cluster-size").inner_text() == "6"
    assert page.locator("#cluster-c-refuse svg.cluster-chart rect.bar").count() == 3
    assert "闪电借款王" in page.locator("#cluster-c-flash").inner_text()
    peak = page.locator("#cluster-c-refuse .cluster-chart__peak")
    assert peak.text_content() == "最多 4 份/月"
    # Chinese in the SVG is drawn with a CJK font, so the label is about as wide as its text.
    assert peak.bounding_box()["width"] > 40
    page.screenshot(path=str(tmp_path / "clusters-dashboard.png"), full_page=True)

    page.click("#cluster-c-refuse h2 a")
    page.wait_for_url(f"{live_server}/staff/clusters/c-refuse")
    assert page.locator("#cluster-size").inner_text() == "6"
    page.check("#merge-c-harass")
    page.fill("#reason-merge", "同样是拒绝协商，并伴随骚扰")
    page.click("#merge-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/clusters/c-refuse\?done=merge"))
    assert page.locator("#cluster-size").inner_text() == "9"
    assert "同样是拒绝协商" in page.locator("#decisions").inner_text()
    page.screenshot(path=str(tmp_path / "cluster-after-merge.png"), full_page=True)

    page.goto(f"{live_server}/staff/campaigns/new")
    page.fill("#f-title", CAMPAIGN_TITLE)
    page.check("#cluster-c-refuse")
    page.check(f"#lawyer-{staff[StaffRole.lawyer].id}")
    page.click("form[action='/staff/campaigns'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/campaigns/\d+\?done=created"))
    campaign_url = page.url.split("?")[0]
    assert page.locator("#report-count").inner_text() == "9"
    page.click("#generate-zh")
    page.wait_for_url(re.compile(r".*\?done=generated"))
    version_link = page.locator("#versions tbody tr a").first
    version_url = version_link.get_attribute("href")
    assert version_url
    _log_out(page)

    _log_in(page, live_server, staff[StaffRole.lawyer])
    page.goto(f"{live_server}{version_url}")
    page.click("#approve")
    page.wait_for_url(re.compile(r".*\?done=approved"))
    assert page.locator("#approval").inner_text() != ""

    page.goto(campaign_url)
    with page.expect_download() as download_info:
        page.click("#versions a:text-is('DOCX')")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".docx" and saved.stat().st_size > 0
    text = "\n".join(paragraph.text for paragraph in Document(str(saved)).paragraphs)
    assert CAMPAIGN_TITLE in text
    context.close()
