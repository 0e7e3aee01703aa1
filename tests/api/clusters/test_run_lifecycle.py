"""Grouping runs: one at a time across processes, stale runs recovered, inputs filtered."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.clusters import frames
from api.clusters import service as cluster_service
from api.clusters.models import RunStatus
from api.db import utc_now
from api.errors import Conflict
from tests.factories import submission


def test_a_second_run_cannot_start_while_one_is_running(db_session: Session) -> None:
    first = cluster_service.request_run(db_session, requested_by="test", params={})
    second = cluster_service.request_run(db_session, requested_by="test", params={})

    cluster_service.claim_run(db_session, first)
    with pytest.raises(Conflict):
        cluster_service.claim_run(db_session, second)

    assert first.status == RunStatus.running
    assert second.status == RunStatus.queued
    assert first.code_version == cluster_service.code_version()


def test_a_run_whose_process_died_is_failed_and_no_longer_blocks(db_session: Session) -> None:
    dead = cluster_service.request_run(db_session, requested_by="test", params={})
    cluster_service.claim_run(db_session, dead)
    dead.heartbeat_at = utc_now() - cluster_service.STALE_RUN_AFTER - timedelta(seconds=1)
    db_session.flush()
    fresh = cluster_service.request_run(db_session, requested_by="test", params={})

    cluster_service.claim_run(db_session, fresh)

    assert dead.status == RunStatus.failed
    assert dead.error and "abandoned" in dead.error
    assert fresh.status == RunStatus.running


def test_only_queued_runs_can_be_claimed(db_session: Session) -> None:
    run = cluster_service.request_run(db_session, requested_by="test", params={})
    cluster_service.fail_run(db_session, run, "stopped")

    with pytest.raises(Conflict):
        cluster_service.claim_run(db_session, run)


def test_withdrawn_reports_never_enter_a_run(client: TestClient, db_session: Session) -> None:
    kept = client.post("/api/v1/reports", json=submission()).json()
    gone = client.post("/api/v1/reports", json=submission(lender="闪电借款王")).json()
    client.post(f"/api/v1/receipts/{gone['receipt_code']}/withdraw")

    frame = frames.load_reports_frame(db_session)

    assert kept["report_id"] in set(frame["report_id"])
    assert gone["report_id"] not in set(frame["report_id"])
    row = frame.set_index("report_id").loc[kept["report_id"]]
    assert row["lender"] == "tongcheng-finance"
    assert row["text"].startswith("逾期后拒绝协商分期\n")
    assert row["principal"] == pytest.approx(99000.0)
    assert list(frame["report_id"]) == sorted(frame["report_id"])
