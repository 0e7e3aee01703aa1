"""The staff campaign pages and the public campaign page."""

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.reports.models import Report
from tests.api.campaigns.conftest import Browser, make_reports, make_run

API = "/api/v1/campaigns"
PAGES = "/staff/campaigns"


def _create(organizer: Browser, **overrides: object) -> dict:
    body = {
        "title": "提钱游拒绝协商",
        "channel": "lender_complaint",
        "jurisdiction": "CN-GD",
        "cluster_keys": ["c-one", "c-two"],
        "respondents": [{"role": "lender_of_record", "name": "某某银行股份有限公司"}],
        **overrides,
    }
    response = organizer.post(API, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _open(organizer: Browser, campaign: dict) -> None:
    response = organizer.post(
        f"{API}/{campaign['id']}/transitions", json={"to_status": "open_for_signatures"}
    )
    assert response.status_code == 201


def test_organizer_creates_a_campaign_with_the_form(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    form = organizer.get(f"{PAGES}/new")
    assert form.status_code == 200
    assert 'value="c-one"' in form.text and 'value="c-two"' in form.text

    response = organizer.form(
        PAGES,
        {
            "title": "提钱游拒绝协商",
            "channel": "representative_litigation",
            "jurisdiction": "CN-GD",
            "cluster_keys": ["c-one", "c-two"],
            "respondents.0.role": "lender_of_record",
            "respondents.0.name": "某某银行股份有限公司",
            "lawyer_ids": [str(lawyer.user.id)],
        },
    )
    assert response.status_code == 303
    page = organizer.get(response.headers["location"])

    assert page.status_code == 200
    assert "提钱游拒绝协商" in page.text
    assert 'id="report-count">12<' in page.text
    assert 'id="below-min"' not in page.text
    assert "代表人诉讼" in page.text
    assert "登记期（不少于30日）" in page.text
    assert lawyer.user.display_name in page.text


def test_the_form_shows_errors_beside_the_fields(organizer: Browser, two_clusters: dict) -> None:
    response = organizer.form(
        PAGES, {"title": "", "channel": "lender_complaint", "jurisdiction": "US-CA"}
    )

    assert response.status_code == 422
    assert 'id="error-summary"' in response.text
    assert 'aria-invalid="true"' in response.text


def test_list_shows_deadlines_and_the_minimum(organizer: Browser, two_clusters: dict) -> None:
    _create(organizer, title="美国集团诉讼", channel="us_class_action", jurisdiction="US-CA")

    page = organizer.get(PAGES, params={"lang": "en"})

    assert page.status_code == 200
    assert "美国集团诉讼" in page.text
    assert "12 / 40" in page.text
    assert "VERIFY" in page.text
    assert "below the minimum" in page.text


def test_detail_warns_below_the_minimum_and_shows_verify_labels(
    organizer: Browser, two_clusters: dict
) -> None:
    campaign = _create(organizer, channel="us_class_action", jurisdiction="US-CA")

    page = organizer.get(f"{PAGES}/{campaign['id']}", params={"lang": "en"})

    assert 'id="below-min"' in page.text
    assert "fewer than the 40 this channel needs" in page.text
    assert "VERIFY" in page.text


def test_fact_pattern_pages_generate_edit_compare_and_approve(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    campaign = _create(organizer, lawyer_ids=[lawyer.user.id])
    base = f"{PAGES}/{campaign['id']}"

    generated = organizer.form(f"{base}/fact-patterns/generate", {"language": "zh"})
    assert generated.status_code == 303
    detail = organizer.get(generated.headers["location"])
    first_id = int(re.search(r'id="version-(\d+)"', detail.text).group(1))
    version_page = organizer.get(f"{base}/fact-patterns/{first_id}")
    assert "共 12 名借款人" in version_page.text

    body = re.search(
        r'<textarea id="f-body" name="body"[^>]*>(.*?)</textarea>', version_page.text, re.S
    )
    assert body
    edited = organizer.form(
        f"{base}/fact-patterns",
        {"language": "zh", "based_on": str(first_id), "body": "# 新稿\n\n完全重写的事实陈述。\n"},
    )
    assert edited.status_code == 303
    second_id = int(edited.headers["location"].split("/")[-1].split("?")[0])

    compare = organizer.get(f"{base}/fact-patterns/compare?from={first_id}&to={second_id}")
    assert compare.status_code == 200
    assert "<ins>+完全重写的事实陈述。</ins>" in compare.text
    assert "<del>-共同事实陈述（草稿）</del>" in compare.text

    assert organizer.form(f"{base}/fact-patterns/{second_id}/approve", {}).status_code == 403
    lawyer_view = lawyer.get(f"{base}/fact-patterns/{second_id}")
    assert 'id="approve"' in lawyer_view.text
    assert "<textarea" not in lawyer_view.text
    approved = lawyer.form(f"{base}/fact-patterns/{second_id}/approve", {})
    assert approved.status_code == 303
    assert 'id="approve"' not in lawyer.get(approved.headers["location"]).text


def test_filing_without_approval_shows_why(organizer: Browser, two_clusters: dict) -> None:
    campaign = _create(organizer)
    _open(organizer, campaign)

    response = organizer.form(
        f"{PAGES}/{campaign['id']}/transitions", {"to_status": "filed", "note": ""}
    )

    assert response.status_code == 409
    assert 'id="action-error"' in response.text
    assert "还没有经律师批准的事实陈述版本" in response.text


def test_a_lawyer_not_assigned_gets_not_found(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    campaign = _create(organizer)

    page = lawyer.get(f"{PAGES}/{campaign['id']}")
    listing = lawyer.get(PAGES)

    assert page.status_code == 404
    assert "提钱游拒绝协商" not in page.text
    assert "提钱游拒绝协商" not in listing.text


def test_draft_campaigns_have_no_public_page(
    client: TestClient, organizer: Browser, two_clusters: dict
) -> None:
    campaign = _create(organizer, slug="tiqianyou-draft")

    response = client.get(f"/c/{campaign['slug']}")

    assert response.status_code == 404
    assert "提钱游拒绝协商" not in response.text


def test_public_page_suppresses_small_cells_and_shows_no_report_text(
    client: TestClient,
    organizer: Browser,
    db_session: Session,
    tmp_path: Path,
    two_clusters: dict[str, list[Report]],
) -> None:
    # Two reports in a third cluster: their month and category stay below five.
    small = make_reports(
        db_session,
        2,
        tmp_path,
        categories=["fake_legal_threats"],
        first_incident_month="2023-11",
        narrative="催收员冒充法院工作人员打电话，说明天就上门查封，这段话绝不能出现在公开页面。",
    )
    make_run(db_session, {**two_clusters, "c-three": small})
    campaign = _create(organizer, slug="tiqianyou-2026", cluster_keys=["c-one", "c-two", "c-three"])
    _open(organizer, campaign)

    page = client.get("/c/tiqianyou-2026", headers={"Accept-Language": "zh-CN"})

    assert page.status_code == 200
    text = page.text
    assert 'id="report-count">14<' in text
    assert '冒充公检法/虚假诉讼威胁</td><td><span class="suppressed"' in text
    assert "少于5" in text
    assert '<td>2023-11</td><td><span class="suppressed"' in text
    assert "<td>2024-03</td><td>7</td>" in text
    assert "拒绝协商还款</td><td>7 (50%)</td>" in text
    for report in [*small, *two_clusters["c-one"]]:
        assert report.narrative not in text
        assert report.title not in text
        assert report.id not in text
    assert "这段话" not in text
    assert 'href="/r/?lang=zh"' in text

    english = client.get("/c/tiqianyou-2026?lang=en")
    assert "&lt;5" in english.text


def test_a_public_group_below_five_shows_no_count(
    client: TestClient, organizer: Browser, db_session: Session, tmp_path: Path
) -> None:
    make_run(db_session, {"c-one": make_reports(db_session, 3, tmp_path)})
    campaign = _create(organizer, slug="tiny-group", cluster_keys=["c-one"])
    _open(organizer, campaign)

    page = client.get("/c/tiny-group")

    assert page.status_code == 200
    assert re.search(r'id="report-count"><span class="suppressed"', page.text)
    assert "<td>3</td>" not in page.text


def test_editing_keeps_what_is_not_on_the_form_and_refuses_a_blank_title(
    organizer: Browser, two_clusters: dict
) -> None:
    campaign = _create(organizer)
    edit = f"{PAGES}/{campaign['id']}/edit"
    form = organizer.get(edit)
    assert 'value="某某银行股份有限公司"' in form.text

    blank = organizer.form(edit, {"title": "", "jurisdiction": "CN-GD", "cluster_keys": ["c-one"]})
    saved = organizer.form(
        edit,
        {
            "title": "新标题",
            "channel": "lender_complaint",
            "jurisdiction": "CN-BJ",
            "cluster_keys": ["c-one"],
            "respondents.0.role": "lender_of_record",
            "respondents.0.name": "某某银行股份有限公司",
        },
    )

    assert blank.status_code == 422 and 'aria-invalid="true"' in blank.text
    assert saved.status_code == 303
    detail = organizer.get(f"{API}/{campaign['id']}").json()
    assert (detail["title"], detail["jurisdiction"]) == ("新标题", "CN-BJ")
    assert detail["cluster_keys"] == ["c-one"] and detail["report_count"] == 7
    assert detail["respondents"][0]["name"] == "某某银行股份有限公司"
