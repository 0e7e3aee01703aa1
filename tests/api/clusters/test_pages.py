"""The staff cluster pages: dashboard with its chart and filters, one cluster with its review
forms, and a run's progress page."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.clusters.models import ClusterMembership, ReviewDecision
from api.staff.models import StaffRole
from tests.api.campaigns.conftest import Browser
from tests.api.clusters.test_review import ReviewData, build_review_data
from tests.api.staff.factories import another_browser, make_staff, open_session

PAGES = "/staff/clusters"
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def data(db_session: Session, tmp_path: Path) -> ReviewData:
    return build_review_data(db_session, tmp_path)


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


def _card_order(html: str) -> list[str]:
    return re.findall(r'<li class="cluster-card panel" id="cluster-([^"]+)"', html)


def test_the_dashboard_draws_each_cluster_with_a_month_chart(
    organizer: Browser, data: ReviewData
) -> None:
    page = organizer.get(PAGES, headers=ZH)

    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert _card_order(page.text) == ["c-one", "c-two", "c-other"]
    assert "c-old" not in page.text and "c-failed" not in page.text
    bars = re.findall(r'<rect class="bar" data-month="([^"]+)" data-count="(\d+)"', page.text)
    assert bars[:3] == [("2024-01", "1"), ("2024-02", "0"), ("2024-03", "4")]
    assert "最多 4 份/月" in page.text
    assert "闪电借款王" in page.text, "an unmapped lender is shown as typed"
    assert "拒绝协商还款" in page.text and "100%" in page.text
    assert "<script" not in page.text


def test_the_dashboard_filters_sorts_and_pages(
    organizer: Browser, data: ReviewData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.clusters import review

    by_category = organizer.get(PAGES, params={"category": "third_party_contact"})
    newest = organizer.get(PAGES, params={"sort": "newest", "min_size": "2"})
    monkeypatch.setattr(review, "PER_PAGE", 2)
    second = organizer.get(PAGES, params={"page": "2", "sort": "size"})
    bad = organizer.get(PAGES, params={"month": "March", "lender": "tongcheng-finance"})

    assert _card_order(by_category.text) == ["c-two"]
    assert _card_order(newest.text) == ["c-two", "c-one", "c-other"]
    assert _card_order(second.text) == ["c-other"]
    assert 'href="/staff/clusters?page=1"' in second.text
    assert bad.status_code == 200
    assert 'id="filter-problems"' in bad.text
    assert _card_order(bad.text) == ["c-one", "c-two"], "the valid filter still applies"


def test_the_cluster_page_shows_reports_duplicates_side_by_side_and_the_forms(
    organizer: Browser, data: ReviewData
) -> None:
    page = organizer.get(f"{PAGES}/c-one", headers=ZH)

    assert page.status_code == 200, page.text
    for report in data.one:
        assert f'value="{report.id}"' in page.text
    assert f'id="dup-group-{data.one[0].id}"' in page.text
    assert 'id="month-chart"' in page.text
    assert 'action="/staff/clusters/c-one/merge"' in page.text
    assert 'id="merge-c-two"' in page.text and 'id="merge-c-other"' not in page.text
    assert page.text.count(f'name="csrf_token" value="{organizer.csrf_token}"') >= 5
    assert organizer.get(f"{PAGES}/c-old").status_code == 404


def test_merging_with_the_form_shows_the_result_and_the_history(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.form(
        f"{PAGES}/c-one/merge", {"cluster_keys": ["c-two"], "reason": "同一种拒绝协商"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGES}/c-one?done=merge"
    page = organizer.get(response.headers["location"], headers=ZH)
    assert 'id="done-notice"' in page.text
    assert re.search(r'<dd id="cluster-size">8</dd>', page.text)
    assert "同一种拒绝协商" in page.text and 'data-kind="merge"' in page.text
    assert _card_order(organizer.get(PAGES).text) == ["c-one", "c-other"]


def test_splitting_with_the_form_leads_to_the_new_cluster(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.form(
        f"{PAGES}/c-one/split", {"report_ids": [data.one[3].id], "reason": "另一种问题"}
    )

    assert response.status_code == 303
    page = organizer.get(response.headers["location"])
    new_key = re.search(r'href="/staff/clusters/([^"]+)" id="new-cluster"', page.text)
    assert new_key
    new_page = organizer.get(f"{PAGES}/{new_key.group(1)}")
    assert new_page.status_code == 200 and data.one[3].title in new_page.text
    membership = db_session.get(ClusterMembership, (data.run.id, data.one[3].id))
    assert membership is not None
    db_session.refresh(membership)
    assert membership.cluster_key == new_key.group(1)


def test_a_form_without_a_reason_names_the_field_and_changes_nothing(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.form(f"{PAGES}/c-one/rename", {"label": "新名字", "reason": " "})

    assert response.status_code == 422
    assert 'id="error-summary"' in response.text
    assert "<strong>reason</strong>" in response.text
    assert 'value="新名字"' in response.text, "what was typed is kept"
    assert db_session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


def test_merging_another_lenders_cluster_is_refused_on_the_page(
    organizer: Browser, data: ReviewData
) -> None:
    response = organizer.form(
        f"{PAGES}/c-one/merge", {"cluster_keys": ["c-other"], "reason": "试试"}
    )

    assert response.status_code == 422
    assert "另一家借款机构" in response.text


def test_exclude_and_duplicate_forms(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    excluded = organizer.form(
        f"{PAGES}/c-one/exclude", {"report_id": data.one[4].id, "reason": "不相关"}
    )
    marked = organizer.form(
        f"{PAGES}/c-one/duplicates",
        {"report_id": data.one[2].id, "duplicate_of_id": data.one[1].id, "reason": "同一人"},
    )
    unmarked = organizer.form(
        f"{PAGES}/c-one/duplicates/unmark", {"report_id": data.copy.id, "reason": "不同"}
    )

    assert [r.status_code for r in (excluded, marked, unmarked)] == [303, 303, 303]
    kinds = db_session.scalars(select(ReviewDecision.kind).order_by(ReviewDecision.id)).all()
    assert kinds == ["exclude", "mark_duplicate", "unmark_duplicate"]
    page = organizer.get(f"{PAGES}/c-one")
    assert f'id="dup-group-{data.one[1].id}"' in page.text


def test_lawyers_get_the_forbidden_page(login: Callable[..., Browser], data: ReviewData) -> None:
    lawyer = login(StaffRole.lawyer)

    assert lawyer.get(PAGES).status_code == 403
    assert lawyer.get(f"{PAGES}/c-one").status_code == 403
    assert lawyer.form(f"{PAGES}/runs", {}).status_code == 403


def test_the_nav_links_to_clusters_for_organizers_only(
    organizer: Browser, login: Callable[..., Browser]
) -> None:
    lawyer = login(StaffRole.lawyer)

    assert 'href="/staff/clusters"' in organizer.get("/staff").text
    assert 'href="/staff/campaigns"' in organizer.get("/staff").text
    assert 'href="/staff/clusters"' not in lawyer.get("/staff").text


def test_starting_a_run_from_the_page_and_watching_it(
    app: FastAPI, organizer: Browser, data: ReviewData
) -> None:
    started: list[int] = []
    app.state.start_clustering_run = lambda _sessions, run_id: started.append(run_id)

    response = organizer.form(f"{PAGES}/runs", {})

    assert response.status_code == 303
    run_page = organizer.get(response.headers["location"], headers=ZH)
    assert run_page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in run_page.text
    assert 'data-status="queued"' in run_page.text and "排队中" in run_page.text
    assert started == [int(response.headers["location"].rsplit("/", 1)[1])]

    again = organizer.form(f"{PAGES}/runs", {})
    assert again.status_code == 409
    assert "正在排队或进行中" in again.text
    assert 'id="run-going"' in organizer.get(PAGES).text

    finished = organizer.get(f"{PAGES}/runs/{data.run.id}")
    assert "http-equiv" not in finished.text and 'data-status="succeeded"' in finished.text
