"""A signatory's journey in a real browser: a borrower files a report, an organizer opens the
campaign it belongs to for signatures, the borrower joins it with the receipt code, the
assigned lawyer sees them; the borrower withdraws consent with one click, and the lawyer no
longer sees them.

Staff accounts, the grouping run and the draft campaign are written straight into the live
server's database, as tests/api/campaigns do, so the test does not depend on how the grouping
engine decides.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.campaigns import service as campaign_service
from api.campaigns.schemas import CampaignCreate
from api.db import make_engine, utc_now
from api.i18n import translate
from api.reports.models import Report
from api.security import receipt_hash
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import make_run
from tests.api.staff.factories import PASSWORD, make_staff
from tests.factories import resident_id

pytestmark = pytest.mark.browser

FULL_NAME = "张晓梅"
ID_NUMBER = resident_id("44030519850612004")
PHONE = "13912345678"


@pytest.fixture(scope="module")
def live_database(live_server: str, live_server_data_dir: Path) -> Iterator[Engine]:
    """The live server's SQLite database."""
    engine = make_engine(f"sqlite:///{live_server_data_dir / 'gongsu.db'}")
    yield engine
    engine.dispose()


def _file_report(page: Any, base_url: str) -> str:
    page.goto(f"{base_url}/")
    page.fill("#f-lender", "同程借钱")
    page.check("#f-categories-refuses_negotiation")
    page.fill("#f-title", "逾期后拒绝协商")
    page.fill("#f-narrative", "逾期两个月后多次申请分期，客服一直拒绝协商，还说会联系我的家人。")
    page.click("button[name=action][value=submit]")
    code = page.locator("#receipt-code").inner_text().strip()
    assert code.startswith("GS-")
    return code


def _draft_campaign(engine: Engine, code: str) -> tuple[int, StaffUser, StaffUser]:
    """An organizer, an assigned lawyer and a draft campaign over the report's cluster."""
    with Session(engine, expire_on_commit=False) as session:
        report = session.scalars(select(Report).where(Report.receipt_hash == receipt_hash(code)))
        make_run(session, {"c-journey": [report.one()]})
        organizer = make_staff(session, StaffRole.organizer)
        lawyer = make_staff(session, StaffRole.lawyer)
        campaign = campaign_service.create_campaign(
            session,
            CampaignCreate.model_validate(
                {
                    "title": "同程借钱拒绝协商联合投诉",
                    "channel": "regulator_complaint",
                    "jurisdiction": "CN-GD",
                    "cluster_keys": ["c-journey"],
                    "respondents": [{"role": "lender_of_record", "name": "南京银行股份有限公司"}],
                    "lawyer_ids": [lawyer.id],
                }
            ),
            actor=organizer,
            now=utc_now(),
        )
        session.commit()
        return campaign.id, organizer, lawyer


def _staff_login(page: Any, base_url: str, user: StaffUser, next_path: str) -> None:
    # A few tries: on SQLite a login that overlaps the server's audit sealer can fail with
    # "database is locked" (a server issue outside this journey, reported separately).
    for _attempt in range(3):
        page.goto(f"{base_url}/staff/login?next={next_path}")
        page.fill("#f-email", user.email)
        page.fill("#f-password", PASSWORD)
        page.click("form.staff-login button[type=submit]")
        page.wait_for_load_state()
        if page.url == f"{base_url}{next_path}":
            return
    pytest.fail(f"could not log in as {user.email}")


def test_join_seen_by_the_lawyer_then_withdraw(
    browser: Any, live_server: str, live_database: Engine, tmp_path: Path
) -> None:
    reporter = browser.new_context(locale="zh-CN").new_page()
    code = _file_report(reporter, live_server)
    campaign_id, organizer, lawyer = _draft_campaign(live_database, code)

    staff = browser.new_context(locale="zh-CN").new_page()
    _staff_login(staff, live_server, organizer, f"/staff/campaigns/{campaign_id}")
    staff.click("#transition-open_for_signatures button[type=submit]")
    opened = translate("zh", "campaign.status.open_for_signatures")
    assert staff.locator("#campaign-status").inner_text().strip() == opened

    reporter.goto(f"{live_server}/r/{code}")
    reporter.click("#campaigns-link")
    reporter.click("#campaign-offers a.button")
    reporter.fill("#f-identity-full_name", FULL_NAME)
    reporter.fill("#f-identity-id_number", ID_NUMBER)
    reporter.fill("#f-identity-phone", PHONE)
    reporter.fill("#f-identity-address", "广东省深圳市南山区科技园路1号")
    reporter.fill("#f-identity-loan_account_ref", "JK2024011500017")
    for purpose in ("join_group", "share_with_lawyer", "file_with_recipient"):
        reporter.check(f"#f-consent-{purpose}")
    reporter.screenshot(path=str(tmp_path / "join-form.png"), full_page=True)
    reporter.click("#join-submit")
    reporter.locator("#done-notice").wait_for()
    assert reporter.locator(".member-code").inner_text().strip() == "S001"
    assert FULL_NAME not in reporter.content()

    lawyer_page = browser.new_context(locale="zh-CN").new_page()
    signatories = f"/staff/campaigns/{campaign_id}/signatories"
    _staff_login(lawyer_page, live_server, lawyer, signatories)
    table = lawyer_page.locator("#signatory-table").inner_text()
    assert FULL_NAME in table and ID_NUMBER in table and "S001" in table
    lawyer_page.screenshot(path=str(tmp_path / "lawyer.png"), full_page=True)

    reporter.click("#campaign-offers form button[type=submit]")
    reporter.locator("#done-notice").wait_for()
    assert reporter.locator("#campaign-offers a.button").count() == 0

    lawyer_page.reload()
    lawyer_page.locator("#no-signatories").wait_for()
    assert FULL_NAME not in lawyer_page.content()
    assert lawyer_page.locator("#withdrawn-count").inner_text().strip() == "1"
