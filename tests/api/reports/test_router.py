"""The JSON intake contract: submit, preview, receipts, and how bad input is refused."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.audit.models import AuditEvent
from api.evidence.service import EvidenceLimits
from api.reports import service as report_service
from api.reports.models import Report, ReportSource, ReportStatus, ReportUpdate
from api.reports.schemas import ReportSubmission
from api.reports.service import ReportHooks
from tests.factories import resident_id, submission

MOBILE = "138 0013 8000"


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Report)) or 0,
        session.scalar(select(func.count()).select_from(ReportUpdate)) or 0,
        session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def test_submit_stores_only_redacted_text_and_the_costed_loan(
    client: TestClient, db_session: Session
) -> None:
    id_number = resident_id()
    narrative = f"催收员打我电话{MOBILE}，还要我提供身份证{id_number}的照片。"
    response = client.post("/api/v1/reports", json=submission(narrative=narrative))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"report_id", "receipt_code"}
    report = db_session.get(Report, body["report_id"])
    assert report is not None
    assert id_number not in report.narrative
    assert "13800138000" not in report.narrative.replace(" ", "")
    assert "[ID_NUMBER]" in report.narrative
    assert report.status == ReportStatus.active
    assert report.lender_name_typed == "同程借钱"
    assert report.lender_id is not None
    assert report.region_code == "CN-GD"
    assert report.apr_nominal == pytest.approx(0.1280, abs=5e-5)
    assert report.apr_effective == pytest.approx(0.1358, abs=5e-5)
    assert report.is_above_24 is False
    assert report.receipt_hash != body["receipt_code"]
    assert body["receipt_code"] not in json.dumps(
        [report.receipt_hash, report.narrative, report.title]
    )
    assert report.submitted_at.second == 0 and report.submitted_at.microsecond == 0
    assert report.redaction_counts == {"id_number": 1, "phone": 1}


def test_head_fee_loan_is_costed_on_the_amount_received(client: TestClient) -> None:
    loan = {
        "contract_principal": "40000",
        "net_received": "28000",
        "received_on": "2023-06-01",
        "schedule": {"installments": 12, "amount": "3782.38"},
    }
    response = client.post("/api/v1/reports/preview", json=submission(loan=loan))

    assert response.status_code == 200
    cost = response.json()["loan_cost"]
    assert cost["apr_effective"] == pytest.approx(1.617, abs=1e-3)
    assert cost["flags"]["above_24"] is True
    assert cost["flags"]["above_36"] is True
    assert cost["flags"]["above_4lpr"] is True


def test_preview_shows_what_will_be_removed_and_writes_nothing(
    client: TestClient, db_session: Session
) -> None:
    id_number = resident_id()
    narrative = f"我叫王小明，身份证号{id_number}。"
    before = _counts(db_session)
    response = client.post(
        "/api/v1/reports/preview", json=submission(narrative=narrative, title="被骚扰")
    )

    assert response.status_code == 200
    preview = response.json()
    assert id_number not in preview["redacted_narrative"]
    assert preview["redacted_title"] == "被骚扰"
    kinds = {(item["field"], item["kind"]) for item in preview["redactions"]}
    assert ("narrative", "id_number") in kinds
    id_span = next(item for item in preview["redactions"] if item["kind"] == "id_number")
    assert narrative[id_span["start"] : id_span["end"]] == id_number
    assert preview["loan_cost"]["apr_nominal"] == pytest.approx(0.1280, abs=5e-5)
    assert preview["lender_key"] == "tongcheng-finance"
    assert _counts(db_session) == before


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"lender": ""}, "lender", "string_too_short"),
        ({"lender": "   "}, "lender", "blank"),
        ({"categories": []}, "categories", "too_short"),
        ({"categories": ["made_up"]}, "categories.0", "enum"),
        ({"categories": ["other", "other"]}, "categories", "duplicate_items"),
        ({"title": "x" * 201}, "title", "string_too_long"),
        ({"first_incident_month": "2024-13"}, "first_incident_month", "month_format"),
        ({"first_incident_month": "2999-01"}, "first_incident_month", "month_in_future"),
        ({"province": "火星"}, "province", "unknown_region"),
        ({"surprise": 1}, "surprise", "extra_forbidden"),
        (
            {"loan": {"net_received": "-5", "schedule": {"installments": 3, "amount": "10"}}},
            "loan.net_received",
            "not_positive",
        ),
        (
            {"loan": {"net_received": "1000", "schedule": {"installments": 3, "amount": "-10"}}},
            "loan.schedule.amount",
            "negative_amount",
        ),
        (
            {"loan": {"net_received": "1000", "schedule": {"installments": 3, "amount": "100"}}},
            "loan.schedule",
            "never_repays",
        ),
        ({"loan": {"net_received": "1000"}}, "loan.payments", "payments_or_schedule"),
        (
            {"loan": {"net_received": "abc", "schedule": {"installments": 3, "amount": "1"}}},
            "loan.net_received",
            "decimal_parsing",
        ),
        (
            {
                "loan": {
                    "net_received": "1000",
                    "received_on": "2024-02-01",
                    "payments": [{"due_on": "2024-01-01", "amount": "1100"}],
                }
            },
            "loan.payments.0.due_on",
            "before_received",
        ),
    ],
)
def test_bad_input_is_a_422_naming_field_and_reason_and_changes_nothing(
    client: TestClient, db_session: Session, change: dict, field: str, code: str
) -> None:
    before = _counts(db_session)
    for path in ("/api/v1/reports", "/api/v1/reports/preview"):
        response = client.post(path, json=submission(**change))

        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "validation_failed"
        assert {"field": field, "code": code} in [
            {"field": error["field"], "code": error["code"]} for error in body["errors"]
        ]
        assert all(error["message"] for error in body["errors"])
    assert _counts(db_session) == before


def test_error_messages_follow_the_request_language(client: TestClient) -> None:
    zh = client.post("/api/v1/reports", json=submission(lender=""))
    en = client.post(
        "/api/v1/reports", json=submission(lender=""), headers={"Accept-Language": "en-US,en"}
    )

    assert zh.json()["errors"][0]["message"] == "内容太短（至少 1 个字符）"
    assert en.json()["errors"][0]["message"] == "is too short (at least 1 character(s))"
    assert "lender" in en.json()["detail"]


def test_missing_field_is_named(client: TestClient) -> None:
    body = submission()
    del body["narrative"]
    response = client.post("/api/v1/reports", json=body, headers={"Accept-Language": "en"})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "narrative", "code": "missing", "message": "is required"}
    ]


def test_malformed_json_is_a_400_and_changes_nothing(
    client: TestClient, db_session: Session
) -> None:
    before = _counts(db_session)
    response = client.post(
        "/api/v1/reports",
        content=b'{"lender": "x", ',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert _counts(db_session) == before


def test_oversized_body_is_a_413_and_changes_nothing(
    client: TestClient, db_session: Session
) -> None:
    before = _counts(db_session)
    huge = json.dumps(submission(narrative="长" * 400_000)).encode("utf-8")
    declared = client.post(
        "/api/v1/reports", content=huge, headers={"Content-Type": "application/json"}
    )

    def chunks():
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = client.post(
        "/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "payload_too_large"
    assert _counts(db_session) == before


def test_an_oversized_form_post_gets_the_error_page_and_changes_nothing(
    client: TestClient, db_session: Session
) -> None:
    before = _counts(db_session)
    huge = ("title=x&narrative=" + "长" * 400_000).encode("utf-8")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "text/html,application/xhtml+xml",
    }
    declared = client.post("/", content=huge, headers=headers)

    def chunks():
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = client.post("/?lang=en", content=chunks(), headers=headers)

    assert declared.status_code == streamed.status_code == 413
    assert declared.headers["content-type"].startswith("text/html")
    assert "提交的内容过大" in declared.text
    assert streamed.headers["content-type"].startswith("text/html")
    assert "The submission is too large." in streamed.text
    assert _counts(db_session) == before


def test_receipt_shows_status_updates_and_withdrawal(
    client: TestClient, db_session: Session
) -> None:
    code = client.post("/api/v1/reports", json=submission()).json()["receipt_code"]

    shown = client.get(f"/api/v1/receipts/{code}")
    assert shown.status_code == 200
    assert shown.json()["status"] == "active"
    assert shown.json()["title"] == "逾期后拒绝协商分期"
    assert "narrative" in shown.json()

    loose = code.lower().replace("-", " ")
    assert client.get(f"/api/v1/receipts/{loose}").status_code == 200

    update = client.post(f"/api/v1/receipts/{code}/updates", json={"text": f"又接到电话 {MOBILE}"})
    assert update.status_code == 201
    assert "[PHONE]" in update.json()["body"]

    withdrawn = client.post(f"/api/v1/receipts/{code}/withdraw")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_at"] is not None
    assert [u["body"] for u in withdrawn.json()["updates"]] == ["又接到电话 [PHONE]"]

    refused = client.post(f"/api/v1/receipts/{code}/updates", json={"text": "再补充"})
    assert refused.status_code == 409
    assert client.post(f"/api/v1/receipts/{code}/withdraw").json()["status"] == "withdrawn"

    report = db_session.scalar(select(Report).where(Report.id == shown.json()["report_id"]))
    assert report is not None and report.status == ReportStatus.withdrawn
    assert report.narrative == shown.json()["narrative"]


def test_wrong_receipt_code_is_a_404(client: TestClient) -> None:
    response = client.get("/api/v1/receipts/GS-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert client.post("/api/v1/receipts/nonsense/withdraw").status_code == 404


def test_receipt_lookups_are_rate_limited_per_client(client: TestClient) -> None:
    limit = client.app.state.settings.receipt_lookups_per_window  # type: ignore[attr-defined]
    statuses = [client.get("/api/v1/receipts/GS-WRONG").status_code for _ in range(limit + 1)]

    assert statuses[:limit] == [404] * limit
    assert statuses[-1] == 429


def test_submissions_updates_and_withdrawals_are_audited_without_pii(
    client: TestClient, db_session: Session
) -> None:
    id_number = resident_id()
    receipt = client.post(
        "/api/v1/reports", json=submission(narrative=f"身份证{id_number}被要求上传")
    ).json()
    client.post(f"/api/v1/receipts/{receipt['receipt_code']}/updates", json={"text": "补充"})
    client.post(f"/api/v1/receipts/{receipt['receipt_code']}/withdraw")

    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.subject_id == receipt["report_id"])
    ).all()
    assert [event.action for event in events] == [
        "report.submitted",
        "report.updated",
        "report.withdrawn",
    ]
    assert all(event.actor == "reporter" for event in events)
    dumped = json.dumps([event.details for event in events], ensure_ascii=False)
    assert id_number not in dumped and receipt["receipt_code"] not in dumped
    audit_service.seal_all(db_session)
    assert audit_service.verify_chain(db_session).is_intact


def test_openapi_documents_the_intake_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"/api/v1/reports", "/api/v1/reports/preview", "/api/v1/lenders"} <= set(paths)
    assert "/api/v1/receipts/{code}/withdraw" in paths
    assert client.get("/docs").status_code == 200


def test_filed_hooks_run_after_the_commit_and_never_after_a_rollback(
    db_session: Session, tmp_path: Path
) -> None:
    filed: list[str] = []
    hooks = ReportHooks(filed=[filed.append])

    def file() -> str:
        report, _code = report_service.submit_report(
            db_session,
            submission=ReportSubmission.model_validate(submission()),
            language="zh",
            source=ReportSource.api,
            evidence_dir=tmp_path,
            evidence_limits=EvidenceLimits(5, 1024),
            hooks=hooks,
        )
        return report.id

    file()
    db_session.rollback()
    assert filed == []
    committed = file()
    assert filed == []
    db_session.commit()
    assert filed == [committed]
    assert db_session.get(Report, committed) is not None
