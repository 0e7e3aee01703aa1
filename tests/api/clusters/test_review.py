"""Reviewing clusters through the JSON API: the dashboard figures, filters, sort and paging,
every kind of review decision (appended, audited, applied at once), and starting runs."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from aggregation.clustering.stability import split_cluster_id
from api.audit.models import AuditEvent
from api.clusters import review
from api.clusters.models import (
    Cluster,
    ClusteringRun,
    ClusterMembership,
    ReviewDecision,
    RunStatus,
)
from api.reports.models import Report
from api.staff.models import StaffRole
from tests.api.campaigns.conftest import NOW, Browser, make_reports
from tests.api.staff.factories import another_browser, make_staff, open_session

API = "/api/v1/clusters"
RUNS = "/api/v1/clustering-runs"
TONGCHENG = "tongcheng-finance"
# Costs far above 36% a year: half the contract amount received, the full schedule repaid.
COSTLY_LOAN = {
    "contract_principal": "100000",
    "net_received": "50000",
    "received_on": "2024-01-15",
    "schedule": {"installments": 12, "amount": "8833.30", "every": "month"},
}


@dataclass
class ReviewData:
    """c-one (5 reports and 1 duplicate), c-two (3, costly loans) of the same lender, c-other
    of a lender nobody has mapped, in the latest succeeded run; c-old in an older run."""

    run: ClusteringRun
    one: list[Report]
    two: list[Report]
    other: list[Report]
    copy: Report
    old: list[Report] = field(default_factory=list)


def add_run(
    session: Session,
    groups: dict[str, tuple[str, list[Report]]],
    *,
    duplicates: dict[str, str] | None = None,
    status: RunStatus = RunStatus.succeeded,
) -> ClusteringRun:
    """A run that put each list of reports in the cluster of that key, for that lender key;
    `duplicates` maps a report to the report it copies."""
    duplicates = duplicates or {}
    run = ClusteringRun(
        status=status,
        requested_by="test",
        params={},
        code_version="test",
        requested_at=NOW,
        finished_at=NOW,
        progress=1.0,
        progress_note="done",
        timings_s={"load": 0.1},
    )
    session.add(run)
    session.flush()
    for key, (lender_key, reports) in groups.items():
        counted = [report for report in reports if report.id not in duplicates]
        session.add(
            Cluster(
                run_id=run.id,
                cluster_key=key,
                lender_key=lender_key,
                label=None,
                size=len(counted),
                duplicate_count=len(reports) - len(counted),
                keywords=[f"{key}-词", "拒绝协商", "催收"],
                representative_report_ids=[report.id for report in counted[:2]],
                statistics={},
            )
        )
        for report in reports:
            session.add(
                ClusterMembership(
                    run_id=run.id,
                    report_id=report.id,
                    cluster_key=key,
                    duplicate_of_id=duplicates.get(report.id),
                    assigned_by="run",
                )
            )
    session.commit()
    return run


def build_review_data(session: Session, tmp_path: Path) -> ReviewData:
    old = make_reports(session, 2, tmp_path)
    add_run(session, {"c-old": (TONGCHENG, old)})
    one = make_reports(session, 4, tmp_path) + make_reports(
        session, 1, tmp_path, first_incident_month="2024-01"
    )
    copy = make_reports(session, 1, tmp_path)[0]
    two = make_reports(
        session,
        3,
        tmp_path,
        categories=["third_party_contact", "abusive_collection"],
        first_incident_month="2024-05",
        loan=COSTLY_LOAN,
    )
    other = make_reports(session, 2, tmp_path, lender="闪电借款王")
    run = add_run(
        session,
        {
            "c-one": (TONGCHENG, [*one, copy]),
            "c-two": (TONGCHENG, two),
            "c-other": (other[0].lender_name_key, other),
        },
        duplicates={copy.id: one[0].id},
    )
    # A newer run that failed changes nothing: the dashboard shows the latest succeeded one.
    add_run(session, {"c-failed": (TONGCHENG, one)}, status=RunStatus.failed)
    return ReviewData(run=run, one=one, two=two, other=other, copy=copy, old=old)


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


@pytest.fixture
def started_runs(app: FastAPI) -> list[int]:
    """Runs handed to the background launcher. The engine itself is tested on its own; here
    a run only has to be queued, so it stays queued."""
    started: list[int] = []
    app.state.start_clustering_run = lambda _sessions, run_id: started.append(run_id)
    return started


def _keys(response_json: dict) -> list[str]:
    return [item["cluster_key"] for item in response_json["items"]]


def _decision_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ReviewDecision)) or 0


def _membership(session: Session, run: ClusteringRun, report: Report) -> ClusterMembership:
    membership = session.get(ClusterMembership, (run.id, report.id))
    assert membership is not None
    session.refresh(membership)
    return membership


def _cluster(session: Session, run: ClusteringRun, key: str) -> Cluster:
    cluster = session.scalar(
        select(Cluster).where(Cluster.run_id == run.id, Cluster.cluster_key == key)
    )
    assert cluster is not None
    session.refresh(cluster)
    return cluster


def _audited(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# The dashboard


def test_the_dashboard_shows_the_latest_succeeded_run_with_figures_from_the_reports(
    organizer: Browser, data: ReviewData
) -> None:
    response = organizer.get(API, headers={"Accept-Language": "en"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run_id"] == data.run.id
    assert _keys(body) == ["c-one", "c-two", "c-other"]
    one, two, other = body["items"]
    assert one["size"] == 5 and one["duplicate_count"] == 1 and one["open_duplicate_count"] == 1
    assert one["months"] == [
        {"month": "2024-01", "reports": 1},
        {"month": "2024-02", "reports": 0},
        {"month": "2024-03", "reports": 4},
    ]
    assert one["newest_month"] == "2024-03"
    assert one["label"] == "c-one-词、拒绝协商、催收"
    assert one["lender"]["name_en"] and one["lender"]["is_mapped"] is True
    assert one["share_apr_above_24pct"] == 0.0 and one["apr_known_count"] == 5
    assert {c["category"]: c["share"] for c in one["categories"]} == {
        "opaque_fees": 1.0,
        "refuses_negotiation": 1.0,
    }
    assert two["share_apr_above_24pct"] == 1.0 and two["share_apr_above_36pct"] == 1.0
    assert other["lender"] == {
        "key": data.other[0].lender_name_key,
        "name_zh": None,
        "name_en": None,
        "typed": "闪电借款王",
        "is_mapped": False,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"lender": TONGCHENG}, ["c-one", "c-two"]),
        ({"category": "third_party_contact"}, ["c-two"]),
        ({"month": "2024-01"}, ["c-one"]),
        ({"min_size": 3}, ["c-one", "c-two"]),
        ({"sort": "newest"}, ["c-two", "c-one", "c-other"]),
        ({"sort": "apr"}, ["c-two", "c-one", "c-other"]),
        ({"sort": "lender"}, ["c-one", "c-two", "c-other"]),
    ],
)
def test_filters_and_sorts(
    organizer: Browser, data: ReviewData, query: dict, expected: list[str]
) -> None:
    response = organizer.get(API, params=query, headers={"Accept-Language": "en"})

    assert response.status_code == 200, response.text
    assert _keys(response.json()) == expected


def test_pages_of_clusters(
    organizer: Browser, data: ReviewData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "PER_PAGE", 2)

    first = organizer.get(API).json()
    second = organizer.get(API, params={"page": 2}).json()

    assert (first["total"], first["pages"], _keys(first)) == (3, 2, ["c-one", "c-two"])
    assert (second["page"], _keys(second)) == (2, ["c-other"])


def test_bad_filters_are_refused_with_the_field_named(organizer: Browser, data: ReviewData) -> None:
    response = organizer.get(API, params={"month": "2024-13"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "month"


def test_the_dashboard_counts_in_few_queries_however_many_clusters(
    organizer: Browser, data: ReviewData, db_session: Session, tmp_path: Path
) -> None:
    many = {
        f"c-many-{index}": (TONGCHENG, make_reports(db_session, 1, tmp_path)) for index in range(30)
    }
    add_run(db_session, many)
    statements: list[str] = []
    engine = db_session.get_bind()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = organizer.get(API)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert response.status_code == 200 and len(response.json()["items"]) == review.PER_PAGE
    cluster_queries = [s for s in statements if "cluster_membership" in s]
    assert len(cluster_queries) <= 4, cluster_queries


def test_a_cluster_in_detail(organizer: Browser, data: ReviewData) -> None:
    response = organizer.get(f"{API}/c-one")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["report_total"] == 5
    assert {report["id"] for report in body["reports"]} == {report.id for report in data.one}
    assert body["representative_report_ids"] == [data.one[0].id, data.one[1].id]
    assert [group["original_id"] for group in body["duplicate_groups"]] == [data.one[0].id]
    assert body["duplicate_groups"][0]["duplicates"][0]["id"] == data.copy.id
    assert body["merge_candidates"] == ["c-two"]
    assert organizer.get(f"{API}/c-old").status_code == 404


# Decisions


def test_rename_appends_a_decision_audits_it_and_labels_the_cluster(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    first = organizer.post(
        f"{API}/c-one/rename", json={"label": "拒绝协商停息挂账", "reason": "关键词不够清楚"}
    )
    second = organizer.post(f"{API}/c-one/rename", json={"label": "拒绝协商", "reason": "更短"})

    assert first.status_code == 201, first.text
    assert second.status_code == 201
    decisions = db_session.scalars(select(ReviewDecision).order_by(ReviewDecision.id)).all()
    assert [(d.kind, d.label, d.reason) for d in decisions] == [
        ("rename", "拒绝协商停息挂账", "关键词不够清楚"),
        ("rename", "拒绝协商", "更短"),
    ]
    assert decisions[0].decided_by_id == organizer.user.id
    assert decisions[0].cluster_keys == ["c-one"]
    assert _cluster(db_session, data.run, "c-one").label == "拒绝协商"
    events = _audited(db_session, "cluster.rename")
    assert [event.details["decision_id"] for event in events] == [d.id for d in decisions]
    assert events[0].actor == f"staff:{organizer.user.id}" and events[0].subject_id == "c-one"
    assert organizer.get(API).json()["items"][0]["label"] == "拒绝协商"


def test_merge_moves_the_members_to_the_surviving_cluster(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.post(
        f"{API}/c-one/merge", json={"cluster_keys": ["c-two"], "reason": "同一种拒绝协商"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["cluster_keys"] == ["c-one", "c-two"]
    assert _membership(db_session, data.run, data.two[0]).cluster_key == "c-one"
    assert _cluster(db_session, data.run, "c-one").size == 8
    assert _cluster(db_session, data.run, "c-two").size == 0
    assert len(_audited(db_session, "cluster.merge")) == 1
    body = organizer.get(API).json()
    assert _keys(body) == ["c-one", "c-other"]
    assert body["items"][0]["size"] == 8


def test_merge_refuses_clusters_of_another_lender_and_changes_nothing(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.post(
        f"{API}/c-one/merge",
        json={"cluster_keys": ["c-two", "c-other"], "reason": "看起来一样"},
        headers={"Accept-Language": "en"},
    )

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "cluster_keys" and error["code"] == "other_lender"
    assert "another lender" in error["message"]
    assert _decision_count(db_session) == 0
    assert _membership(db_session, data.run, data.two[0]).cluster_key == "c-two"
    assert _audited(db_session, "cluster.merge") == []


def test_split_creates_a_cluster_with_a_key_that_survives_reruns(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    chosen = [data.one[0].id, data.one[1].id]
    response = organizer.post(
        f"{API}/c-one/split", json={"report_ids": chosen, "reason": "这两份是暴力催收"}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    new_key = body["new_cluster_key"]
    assert new_key == split_cluster_id(str(body["id"]))
    new = _cluster(db_session, data.run, new_key)
    assert (new.size, new.duplicate_count, new.lender_key) == (2, 1, TONGCHENG)
    # The duplicate of a split report goes with it.
    assert _membership(db_session, data.run, data.copy).cluster_key == new_key
    assert _cluster(db_session, data.run, "c-one").size == 3
    assert organizer.get(f"{API}/{new_key}").status_code == 200
    assert len(_audited(db_session, "cluster.split")) == 1


def test_split_takes_only_reports_of_the_cluster(organizer: Browser, data: ReviewData) -> None:
    response = organizer.post(
        f"{API}/c-one/split", json={"report_ids": [data.two[0].id], "reason": "试试"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "report_ids"


def test_exclude_takes_a_report_out_of_every_cluster(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    response = organizer.post(
        f"{API}/c-one/exclude", json={"report_id": data.one[0].id, "reason": "与本机构无关"}
    )

    assert response.status_code == 201, response.text
    assert _membership(db_session, data.run, data.one[0]).cluster_key is None
    # Its duplicate copies the excluded text, so it leaves as well.
    assert _membership(db_session, data.run, data.copy).cluster_key is None
    cluster = _cluster(db_session, data.run, "c-one")
    assert (cluster.size, cluster.duplicate_count) == (4, 0)
    db_session.refresh(data.one[0])
    assert data.one[0].status == "active", "the report itself stays filed"
    assert len(_audited(db_session, "cluster.exclude")) == 1


def test_mark_and_unmark_a_duplicate(
    organizer: Browser, data: ReviewData, db_session: Session
) -> None:
    marked = organizer.post(
        f"{API}/c-one/duplicates",
        json={"report_id": data.one[2].id, "duplicate_of_id": data.copy.id, "reason": "同一人"},
    )

    assert marked.status_code == 201, marked.text
    # A copy of a copy is recorded as a copy of the original.
    assert marked.json()["duplicate_of_id"] == data.one[0].id
    assert _membership(db_session, data.run, data.one[2]).duplicate_of_id == data.one[0].id
    assert _cluster(db_session, data.run, "c-one").size == 4
    assert organizer.get(API).json()["items"][0]["open_duplicate_count"] == 1

    unmarked = organizer.post(
        f"{API}/c-one/duplicates/unmark", json={"report_id": data.copy.id, "reason": "内容不同"}
    )

    assert unmarked.status_code == 201, unmarked.text
    assert _membership(db_session, data.run, data.copy).duplicate_of_id is None
    assert _cluster(db_session, data.run, "c-one").size == 5
    kinds = [d.kind for d in db_session.scalars(select(ReviewDecision).order_by(ReviewDecision.id))]
    assert kinds == ["mark_duplicate", "unmark_duplicate"]
    assert len(_audited(db_session, "cluster.mark_duplicate")) == 1
    assert len(_audited(db_session, "cluster.unmark_duplicate")) == 1


def test_a_duplicate_must_be_of_the_same_lender(organizer: Browser, data: ReviewData) -> None:
    response = organizer.post(
        f"{API}/c-one/duplicates",
        json={"report_id": data.one[2].id, "duplicate_of_id": data.other[0].id, "reason": "同"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "duplicate_of_id",
        "code": "other_lender",
        "message": response.json()["errors"][0]["message"],
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("rename", {"label": "新名字"}),
        ("rename", {"label": "新名字", "reason": "   "}),
        ("merge", {"cluster_keys": ["c-two"]}),
        ("split", {"report_ids": ["x"], "reason": ""}),
        ("exclude", {"report_id": "x"}),
        ("duplicates", {"report_id": "x", "duplicate_of_id": "y"}),
        ("duplicates/unmark", {"report_id": "x"}),
    ],
)
def test_every_decision_needs_a_reason(
    organizer: Browser, data: ReviewData, db_session: Session, path: str, body: dict
) -> None:
    response = organizer.post(f"{API}/c-one/{path}", json=body)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["reason"]
    assert _decision_count(db_session) == 0


def test_lawyers_may_not_review_clusters(
    login: Callable[..., Browser], data: ReviewData, db_session: Session
) -> None:
    lawyer = login(StaffRole.lawyer)

    assert lawyer.get(API).status_code == 403
    assert lawyer.get(f"{API}/c-one").status_code == 403
    refused = lawyer.post(f"{API}/c-one/rename", json={"label": "x", "reason": "y"})
    assert refused.status_code == 403
    assert lawyer.post(RUNS).status_code == 403
    assert _decision_count(db_session) == 0


def test_the_json_never_names_anyone(organizer: Browser, data: ReviewData) -> None:
    text = organizer.get(f"{API}/c-one").text + organizer.get(API).text

    for report in data.one:
        assert report.receipt_hash not in text
    assert "13912345678" not in text


# Runs


def test_starting_a_run_twice_is_refused_while_the_first_is_queued(
    organizer: Browser, started_runs: list[int], db_session: Session
) -> None:
    first = organizer.post(RUNS)
    second = organizer.post(RUNS, headers={"Accept-Language": "en"})

    assert first.status_code == 202, first.text
    run_id = first.json()["id"]
    assert first.json()["status"] == "queued"
    assert started_runs == [run_id]
    assert second.status_code == 409
    assert second.json()["detail"] == (
        f"Grouping run #{run_id} is queued or running; wait for it to finish before starting "
        "another."
    )
    assert len(_audited(db_session, "clustering_run.request")) == 1


def test_a_run_lost_before_anyone_claimed_it_no_longer_blocks(
    organizer: Browser, started_runs: list[int], db_session: Session
) -> None:
    lost = organizer.post(RUNS).json()["id"]
    run = db_session.get(ClusteringRun, lost)
    assert run is not None
    run.requested_at = run.requested_at - timedelta(hours=1)
    db_session.commit()

    again = organizer.post(RUNS)

    assert again.status_code == 202
    db_session.refresh(run)
    assert run.status == RunStatus.failed and "no worker" in (run.error or "")


def test_run_progress(organizer: Browser, data: ReviewData, started_runs: list[int]) -> None:
    queued = organizer.post(RUNS).json()["id"]

    progress = organizer.get(f"{RUNS}/{queued}")
    finished = organizer.get(f"{RUNS}/{data.run.id}").json()

    assert progress.status_code == 200
    assert progress.json() | {"requested_at": None, "code_version": None} == {
        "id": queued,
        "status": "queued",
        "progress": 0.0,
        "progress_note": "queued",
        "requested_by": f"staff:{organizer.user.id}",
        "requested_at": None,
        "started_at": None,
        "heartbeat_at": None,
        "finished_at": None,
        "report_count": None,
        "cluster_count": None,
        "duplicate_count": None,
        "timings_s": {},
        "code_version": None,
        "error": None,
    }
    assert (finished["status"], finished["progress"], finished["timings_s"]) == (
        "succeeded",
        1.0,
        {"load": 0.1},
    )
    assert organizer.get(f"{RUNS}/999999").status_code == 404
    assert [run["id"] for run in organizer.get(RUNS).json()][0] == queued
