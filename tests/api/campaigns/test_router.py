"""The JSON API: who may do what, and the filing rule, end to end through HTTP."""

import io
from collections.abc import Callable
from typing import Any

import pypdfium2
from docx import Document
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.staff.models import StaffRole
from tests.api.campaigns.conftest import Browser

API = "/api/v1/campaigns"


def campaign_body(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "提钱游拒绝协商",
        "channel": "lender_complaint",
        "jurisdiction": "CN-GD",
        "cluster_keys": ["c-one", "c-two"],
        "respondents": [{"role": "lender_of_record", "name": "某某银行股份有限公司"}],
        **overrides,
    }


def test_organizer_creates_a_campaign_from_two_clusters(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    response = organizer.post(API, json=campaign_body(lawyer_ids=[lawyer.user.id]))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert body["cluster_keys"] == ["c-one", "c-two"]
    assert body["report_count"] == 12
    assert body["min_group_size"] == 1 and body["is_below_min_group_size"] is False
    assert body["lawyer_ids"] == [lawyer.user.id]
    assert body["allowed_transitions"] == ["open_for_signatures", "closed"]
    decision = next(d for d in body["deadlines"] if d["key"] == "decision")
    assert decision["days"] == 15 and decision["due_on"] is None

    listed = organizer.get(API).json()
    assert [c["id"] for c in listed] == [body["id"]]


def test_bad_input_names_the_field_and_changes_nothing(
    organizer: Browser, two_clusters: dict
) -> None:
    unknown = organizer.post(
        API, json=campaign_body(cluster_keys=["c-one", "gone"]), headers={"Accept-Language": "en"}
    )
    wrong_channel = organizer.post(API, json=campaign_body(channel="petition"))
    bad_code = organizer.post(
        API,
        json=campaign_body(
            respondents=[{"role": "platform", "name": "X", "unified_social_credit_code": "123"}]
        ),
    )

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "cluster_keys"
    assert "latest grouping run" in unknown.json()["errors"][0]["message"]
    assert wrong_channel.status_code == 422
    assert wrong_channel.json()["errors"][0]["field"] == "channel"
    assert bad_code.status_code == 422
    assert bad_code.json()["errors"][0]["field"] == "respondents.0.unified_social_credit_code"
    assert organizer.get(API).json() == []


def test_writes_need_the_csrf_token(organizer: Browser, two_clusters: dict) -> None:
    response = organizer.client.post(API, json=campaign_body())

    assert response.status_code == 403


def test_a_lawyer_sees_only_assigned_campaigns(
    organizer: Browser, lawyer: Browser, login: Callable[..., Browser], two_clusters: dict
) -> None:
    assigned = organizer.post(API, json=campaign_body(lawyer_ids=[lawyer.user.id])).json()
    other = organizer.post(API, json=campaign_body(title="另一个")).json()
    outsider = login(StaffRole.lawyer)

    assert [c["id"] for c in lawyer.get(API).json()] == [assigned["id"]]
    assert lawyer.get(f"{API}/{assigned['id']}").status_code == 200
    assert lawyer.get(f"{API}/{other['id']}").status_code == 404
    assert outsider.get(API).json() == []
    assert outsider.get(f"{API}/{assigned['id']}").status_code == 404
    assert outsider.get(f"{API}/{assigned['id']}/fact-patterns").status_code == 404


def test_filing_needs_a_lawyer_approved_fact_pattern(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    campaign = organizer.post(API, json=campaign_body(lawyer_ids=[lawyer.user.id])).json()
    url = f"{API}/{campaign['id']}"
    assert organizer.post(f"{url}/transitions", json={"to_status": "filed"}).status_code == 409
    opened = organizer.post(f"{url}/transitions", json={"to_status": "open_for_signatures"})
    assert opened.status_code == 201

    version = organizer.post(f"{url}/fact-patterns/generate", json={"language": "zh"}).json()
    refused = organizer.post(f"{url}/transitions", json={"to_status": "filed"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "conflict"

    by_organizer = organizer.post(f"{url}/fact-patterns/{version['id']}/approve")
    assert by_organizer.status_code == 403
    approved = lawyer.post(f"{url}/fact-patterns/{version['id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["approved_by_id"] == lawyer.user.id

    filed = organizer.post(f"{url}/transitions", json={"to_status": "filed", "note": "邮寄"})
    assert filed.status_code == 201
    assert filed.json()["fact_pattern_version_id"] == version["id"]
    detail = organizer.get(url).json()
    assert detail["status"] == "filed"
    decision = next(d for d in detail["deadlines"] if d["key"] == "decision")
    assert decision["due_on"] is not None and decision["days_left"] in (14, 15)
    events = organizer.get(f"{url}/events").json()
    assert [e["to_status"] for e in events] == ["draft", "open_for_signatures", "filed"]
    assert organizer.patch(url, json={"title": "改"}).status_code == 409


def test_invalid_transition_is_a_conflict(organizer: Browser, two_clusters: dict) -> None:
    campaign = organizer.post(API, json=campaign_body()).json()

    response = organizer.post(
        f"{API}/{campaign['id']}/transitions", json={"to_status": "responded"}
    )

    assert response.status_code == 409
    assert organizer.get(f"{API}/{campaign['id']}").json()["status"] == "draft"


def test_versions_edit_diff_and_download(
    organizer: Browser, lawyer: Browser, two_clusters: dict, db_session: Session
) -> None:
    campaign = organizer.post(API, json=campaign_body(lawyer_ids=[lawyer.user.id])).json()
    url = f"{API}/{campaign['id']}/fact-patterns"
    first = organizer.post(f"{url}/generate", json={"language": "zh"}).json()
    edited = organizer.post(
        url, json={"language": "zh", "body": first["body"] + "\n补充事实：催收电话每日超过六次。\n"}
    ).json()
    same = organizer.post(url, json={"language": "zh", "body": edited["body"]})

    assert (first["number"], edited["number"]) == (1, 2)
    assert edited["source"] == "edited"
    assert same.status_code == 409
    assert lawyer.post(url, json={"language": "zh", "body": "律师改稿"}).status_code == 403
    diff = organizer.get(f"{url}/diff", params={"from": first["id"], "to": edited["id"]}).json()
    assert "+补充事实：催收电话每日超过六次。" in diff["diff"]
    assert [v["number"] for v in lawyer.get(url).json()] == [2, 1]

    docx = lawyer.get(f"{url}/{edited['id']}/docx")
    assert docx.status_code == 200
    assert docx.headers["content-type"].startswith("application/vnd.openxmlformats")
    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "补充事实：催收电话每日超过六次。" in text
    assert "共 12 名借款人，名单及身份信息见保密附件。" in text

    pdf = lawyer.get(f"{url}/{edited['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert lawyer.get(f"{url}/{edited['id']}/pdf").content == pdf.content
    document = pypdfium2.PdfDocument(pdf.content)
    try:
        first_page = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "提钱游拒绝协商" in first_page
    downloads = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "campaign.fact_pattern_download")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.actor, e.details["format"]) for e in downloads] == [
        (f"staff:{lawyer.user.id}", "docx"),
        (f"staff:{lawyer.user.id}", "pdf"),
        (f"staff:{lawyer.user.id}", "pdf"),
    ]
    assert {e.details["version_id"] for e in downloads} == {edited["id"]}


def test_lawyers_are_assigned_and_unassigned(
    organizer: Browser, lawyer: Browser, two_clusters: dict
) -> None:
    campaign = organizer.post(API, json=campaign_body()).json()
    url = f"{API}/{campaign['id']}/lawyers"

    assigned = organizer.post(url, json={"staff_user_id": lawyer.user.id})
    not_a_lawyer = organizer.post(url, json={"staff_user_id": organizer.user.id})
    assert assigned.status_code == 200 and assigned.json()["lawyer_ids"] == [lawyer.user.id]
    assert not_a_lawyer.status_code == 422
    assert lawyer.get(f"{API}/{campaign['id']}").status_code == 200

    removed = organizer.delete(f"{url}/{lawyer.user.id}")
    assert removed.status_code == 200 and removed.json()["lawyer_ids"] == []
    assert lawyer.get(f"{API}/{campaign['id']}").status_code == 404
