"""A grouping run end to end on the database: claim, group, save, stable ids, decisions,
and a new report placed at once against the run's index."""

import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.clusters import assignment, runner
from api.clusters import service as cluster_service
from api.clusters.models import (
    Cluster,
    ClusteringRun,
    ClusterMembership,
    DecisionKind,
    ReviewDecision,
    RunStatus,
)
from api.config import Settings
from api.db import utc_now
from api.reports.models import Report, ReportStatus
from tests.api.staff.factories import make_staff
from tests.factories import submission

FEES = [
    "放款时直接扣了会员费和担保费，到手金额比合同少了很多，客服说不买会员就不放款。",
    "借款时被强制捆绑购买会员卡，费用从借款里扣除，实际到账少了三千元。",
    "担保费和会员费在放款时就扣掉了，合同上写的本金和实际到账不一致。",
    "放款后发现被扣了一笔会员费，申请退款被拒绝，说是自愿购买的权益卡。",
]
HARASSMENT = [
    "逾期三天催收就开始给我通讯录里的亲戚朋友打电话，还发短信威胁我的家人。",
    "催收员每天打几十个电话，还打到我单位领导那里，说要上门找我。",
    "催收人员群发短信给我的联系人，说我欠钱不还，严重影响我的生活和工作。",
    "逾期后催收爆通讯录，给我父母和同事打电话骚扰，言语辱骂威胁。",
]


def _file(client: TestClient, narratives: list[str], lender: str) -> list[str]:
    ids = []
    for number, narrative in enumerate(narratives):
        body = submission(lender=lender, title=f"投诉{number}", narrative=narrative, loan=None)
        ids.append(client.post("/api/v1/reports", json=body).json()["report_id"])
    return ids


def _run(session_factory: sessionmaker[Session], index_dir: Path) -> ClusteringRun:
    with session_factory() as session, session.begin():
        run_id = cluster_service.request_run(session, requested_by="test", params={}).id
    runner.execute_run(session_factory, run_id, index_dir)
    with session_factory() as session:
        run = session.get(ClusteringRun, run_id)
        assert run is not None
        return run


def _clusters_of(session: Session, run: ClusteringRun) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    rows = session.execute(
        select(ClusterMembership.cluster_key, ClusterMembership.report_id).where(
            ClusterMembership.run_id == run.id
        )
    )
    for cluster_key, report_id in rows:
        groups.setdefault(cluster_key, set()).add(report_id)
    return groups


@pytest.fixture
def filed(client: TestClient) -> dict[str, list[str]]:
    return {
        "fees": _file(client, FEES, "同程借钱"),
        "harassment": _file(client, HARASSMENT, "同程借钱"),
        "other_lender": _file(client, HARASSMENT[:2], "借呗"),
    }


def test_a_run_groups_saves_and_keeps_ids(
    filed: dict[str, list[str]],
    session_factory: sessionmaker[Session],
    db_session: Session,
    tmp_path: Path,
) -> None:
    first = _run(session_factory, tmp_path)

    assert first.status == RunStatus.succeeded, first.error
    assert first.report_count == 10
    assert first.input_fingerprint and first.code_version
    assert set(first.timings_s) == {"load", "cluster", "save"}
    groups = _clusters_of(db_session, first)
    fees_keys = {key for key, members in groups.items() if members & set(filed["fees"])}
    other_keys = {key for key, members in groups.items() if members & set(filed["other_lender"])}
    assert not fees_keys & other_keys
    assert all(
        not (members & set(filed["fees"]) and members & set(filed["harassment"]))
        for members in groups.values()
    )
    assert db_session.scalar(
        select(func.count()).select_from(Cluster).where(Cluster.run_id == first.id)
    ) == len(groups)

    second = _run(session_factory, tmp_path)

    assert second.status == RunStatus.succeeded
    assert _clusters_of(db_session, second) == groups
    assert second.input_fingerprint == first.input_fingerprint


def test_decisions_are_reapplied_and_withdrawals_left_out(
    client: TestClient,
    filed: dict[str, list[str]],
    session_factory: sessionmaker[Session],
    db_session: Session,
    tmp_path: Path,
) -> None:
    organizer = make_staff(db_session, role="organizer")
    excluded = filed["fees"][0]
    db_session.add(
        ReviewDecision(
            kind=DecisionKind.exclude,
            cluster_keys=[],
            report_ids=[excluded],
            label=None,
            duplicate_of_id=None,
            reason="not about this lender",
            decided_by_id=organizer.id,
            decided_at=utc_now(),
        )
    )
    db_session.commit()
    withdrawn = db_session.get(Report, filed["harassment"][0])
    assert withdrawn is not None
    receipt_free = withdrawn.id
    withdrawn.status = ReportStatus.withdrawn
    db_session.commit()

    run = _run(session_factory, tmp_path)

    memberships = dict(
        db_session.execute(
            select(ClusterMembership.report_id, ClusterMembership.cluster_key).where(
                ClusterMembership.run_id == run.id
            )
        ).all()
    )
    assert memberships[excluded] is None
    assert receipt_free not in memberships
    assert run.report_count == 9


def test_a_new_report_is_placed_against_the_newest_run(
    client: TestClient,
    filed: dict[str, list[str]],
    session_factory: sessionmaker[Session],
    db_session: Session,
    tmp_path: Path,
) -> None:
    run = _run(session_factory, tmp_path)
    groups = _clusters_of(db_session, run)
    text = "放款时被扣了会员费和担保费，实际到账比合同本金少，要求退还会员费。"
    new_id = _file(client, [text], "同程借钱")[0]

    placed_count = assignment.place_reports(db_session, [new_id], assignment.IndexCache(tmp_path))

    assert placed_count == 1
    placed = db_session.get(ClusterMembership, (run.id, new_id))
    assert placed is not None
    assert placed.assigned_by == "incremental"
    assert placed.cluster_key is not None
    members = groups[placed.cluster_key]
    assert members & set(filed["fees"])
    assert not members & set(filed["harassment"])


def _memberships_of(session: Session, report_id: str) -> list[ClusterMembership]:
    return list(
        session.scalars(select(ClusterMembership).where(ClusterMembership.report_id == report_id))
    )


@pytest.fixture
def newest_run(
    filed: dict[str, list[str]], session_factory: sessionmaker[Session], settings: Settings
) -> ClusteringRun:
    return _run(session_factory, settings.clustering_index_dir)


def test_a_filed_report_is_placed_once_its_commit_is_done(
    app: FastAPI,
    client: TestClient,
    filed: dict[str, list[str]],
    newest_run: ClusteringRun,
    session_factory: sessionmaker[Session],
    db_session: Session,
) -> None:
    run = newest_run
    body = submission(
        lender="同程借钱", title="又被扣会员费", narrative=HARASSMENT[0] + "还骚扰我的家人。"
    )

    report_id = client.post("/api/v1/reports", json=body).json()["report_id"]

    assert _memberships_of(db_session, report_id) == []
    assert app.state.report_placer.drain(session_factory) == 1
    [placed] = _memberships_of(db_session, report_id)
    assert placed.run_id == run.id
    assert placed.assigned_by == "incremental"
    members = _clusters_of(db_session, run).get(placed.cluster_key or "", set())
    assert members & set(filed["harassment"])


def test_reports_committed_but_never_placed_are_found_by_the_sweep(
    app: FastAPI,
    client: TestClient,
    newest_run: ClusteringRun,
    session_factory: sessionmaker[Session],
    db_session: Session,
    settings: Settings,
) -> None:
    run = newest_run
    first, withdrawn_id = _file(client, FEES[:2], "同程借钱")
    withdrawn = db_session.get(Report, withdrawn_id)
    assert withdrawn is not None
    withdrawn.status = ReportStatus.withdrawn
    db_session.commit()
    # A process started after a crash: its queue never heard of these reports.
    restarted = assignment.ReportPlacer(assignment.IndexCache(settings.clustering_index_dir))

    assert restarted.sweep(session_factory) == 1
    assert restarted.sweep(session_factory) == 0

    assert [m.run_id for m in _memberships_of(db_session, first)] == [run.id]
    assert _memberships_of(db_session, withdrawn_id) == []
    # The crashed process's queue, drained after all, adds no second placement.
    app.state.report_placer.drain(session_factory)
    assert [m.run_id for m in _memberships_of(db_session, first)] == [run.id]


def test_a_failing_sweep_waits_for_the_next_interval(tmp_path: Path) -> None:
    attempts = 0

    def unreachable_database() -> Session:
        nonlocal attempts
        attempts += 1
        raise OSError("database unreachable")

    placer = assignment.ReportPlacer(assignment.IndexCache(tmp_path))
    stop = threading.Event()
    worker = threading.Thread(target=placer.run_forever, args=(unreachable_database, stop, 3600.0))
    worker.start()
    # The worker blocks on its empty queue between sweeps; a busy retry loop would make
    # thousands of attempts in this time.
    stop.wait(0.5)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert attempts == 1
