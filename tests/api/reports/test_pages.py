"""The HTML pages, driven as a browser without JavaScript would: plain form posts."""

import io
import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.evidence.models import EvidenceFile
from api.i18n import LOCALES_DIR
from api.reports.models import GrievanceCategory, Report, ReportStatus, ReportUpdate
from tests.factories import resident_id

MOBILE = "13800138000"


def _png() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (8, 6), (30, 90, 80)).save(output, format="PNG")
    return output.getvalue()


PNG = _png()
CODE_RE = re.compile(r'id="receipt-code">(.*?)</p>', re.S)


def _form(**overrides: object) -> dict[str, object]:
    """The report form as a person would fill it in, field names as on the page."""
    fields: dict[str, object] = {
        "lender": "同程借钱",
        "product": "提钱游",
        "categories": ["refuses_negotiation", "opaque_fees"],
        "title": "逾期后拒绝协商分期",
        "narrative": "客服拒绝协商，还说会联系我的家人。",
        "province": "CN-GD",
        "first_incident_month": "2024-03",
        "loan.contract_principal": "100,000",
        "loan.net_received": "99000",
        "loan.received_on": "2024-01-15",
        "loan.schedule.installments": "12",
        "loan.schedule.amount": "8833.30",
        "loan.schedule.every": "month",
        "attempts.0.channel": "lender",
        "attempts.0.attempted_on": "2024-04-02",
        "attempts.0.outcome": "拒绝",
        "action": "submit",
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def _report_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Report)) or 0


def _visible_text(html: str) -> str:
    """What a reader sees: no tags, no attribute values (form actions hold the code)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _submit(client: TestClient, **overrides: object) -> str:
    response = client.post("/", data=_form(**overrides))
    assert response.status_code == 200, response.text
    match = CODE_RE.search(response.text)
    assert match, "the receipt page shows the code"
    return _visible_text(match.group(1)).replace(" ", "")


def test_locale_catalogues_have_the_same_keys_and_are_sorted() -> None:
    catalogues = {}
    for language in ("zh", "en"):
        raw = (LOCALES_DIR / f"{language}.json").read_text(encoding="utf-8")
        catalogues[language] = json.loads(raw)
        expected = json.dumps(catalogues[language], ensure_ascii=False, indent=1, sort_keys=True)
        assert raw.rstrip("\n") == expected
    assert set(catalogues["zh"]) == set(catalogues["en"])
    for code in GrievanceCategory:
        assert f"category.{code}" in catalogues["zh"]


def test_form_is_chinese_by_default_with_every_category(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = response.text
    assert '<html lang="zh-CN"' in html
    assert "遇到的问题" in html
    zh = json.loads((LOCALES_DIR / "zh.json").read_text(encoding="utf-8"))
    for code in GrievanceCategory:
        assert f'value="{code}"' in html
        assert zh[f"category.{code}"] in html
    assert html.count('type="checkbox" id="f-categories-') == len(GrievanceCategory)
    assert '<option value="CN-GD"' in html and "广东省" in html
    assert html.count('<option value="CN-') == 34
    assert 'accept="image/*,application/pdf,audio/*"' in html
    assert 'enctype="multipart/form-data"' in html
    assert "<datalist" in html and "同程金融" in html
    assert "不需要填写姓名、身份证号、手机号" in html


def test_every_input_has_a_label(client: TestClient) -> None:
    html = client.get("/").text
    ids = re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', html)
    assert len(ids) > 40
    for input_id in ids:
        assert f'<label for="{input_id}"' in html, input_id


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        ({"params": {"lang": "en"}}, "en"),
        # Pages stay Chinese first whatever the browser prefers; only the switch changes them.
        ({"headers": {"Accept-Language": "en-US,en;q=0.9"}}, "zh-CN"),
        ({}, "zh-CN"),
    ],
)
def test_form_language_follows_the_switch_not_the_browser(
    client: TestClient, request_kwargs: dict[str, object], expected: str
) -> None:
    html = client.get("/", **request_kwargs).text  # type: ignore[arg-type]
    assert f'<html lang="{expected}"' in html
    if expected == "en":
        assert "What went wrong" in html
        assert "Refuses to negotiate repayment" in html


def test_language_switch_sets_a_cookie_that_later_pages_follow(client: TestClient) -> None:
    response = client.get("/", params={"lang": "en"})
    assert response.cookies.get("lang") == "en"
    assert '<html lang="en"' in client.get("/r/").text
    assert '<html lang="zh-CN"' in client.get("/", params={"lang": "zh"}).text


def test_preview_shows_redacted_text_and_loan_cost_and_stores_nothing(
    client: TestClient, db_session: Session
) -> None:
    id_number = resident_id("11010119900307123")
    narrative = f"催收员打我电话{MOBILE}，还要我提供身份证{id_number}的照片。"
    before = _report_count(db_session)

    response = client.post("/", data=_form(narrative=narrative, action="preview"))

    assert response.status_code == 200
    html = response.text
    assert id_number not in html
    assert MOBILE not in html
    assert '<mark class="redacted"' in html
    assert "[ID_NUMBER]" in html and "[PHONE]" in html
    assert "12.80%" in html
    assert "13.58%" in html
    assert "不高于年化 24%" in html
    # The form keeps what was typed, apart from the file input browsers cannot refill.
    assert 'value="逾期后拒绝协商分期"' in html
    assert "checked" in html.split('value="refuses_negotiation"')[1][:20]
    assert response.headers["cache-control"] == "no-store"
    assert _report_count(db_session) == before


def test_preview_flags_costs_above_the_caps_in_words(client: TestClient) -> None:
    form = _form(
        action="preview",
        **{
            "loan.contract_principal": "10000",
            "loan.net_received": "7000",
            "loan.received_on": "2023-06-01",
            "loan.schedule.installments": "12",
            "loan.schedule.amount": "1000",
        },
    )
    html = client.post("/", data=form, params={"lang": "en"}).text

    assert "Above 24% a year" in html
    assert "Above 36% a year" in html
    assert "Above 4 times the one-year LPR" in html


def test_submit_files_one_report_and_shows_the_code_once(
    client: TestClient, db_session: Session
) -> None:
    id_number = resident_id()
    narrative = f"我的身份证号是{id_number}，催收打到我手机 {MOBILE}。"
    before = _report_count(db_session)

    response = client.post(
        "/",
        data=_form(narrative=narrative),
        files=[("evidence", ("shot.png", PNG, "image/png"))],
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    match = CODE_RE.search(response.text)
    assert match
    code = _visible_text(match.group(1)).replace(" ", "")
    assert code.startswith("GS-")
    assert "不会再显示第二次" in response.text
    assert f'href="/r/{code}"' in response.text
    assert _report_count(db_session) == before + 1
    report = db_session.scalars(select(Report).order_by(Report.submitted_at.desc())).first()
    assert report is not None
    assert report.source == "web_form"
    assert id_number not in report.narrative
    assert report.apr_nominal == pytest.approx(0.1280, abs=5e-5)
    assert report.region_code == "CN-GD"
    assert report.contact_attempts[0]["channel"] == "lender"
    evidence = db_session.scalars(select(EvidenceFile).where(EvidenceFile.report_id == report.id))
    assert [item.media_type for item in evidence] == ["image/png"]

    status = client.get(f"/r/{code}")
    assert status.status_code == 200
    assert status.headers["cache-control"] == "no-store"
    text = _visible_text(status.text)
    assert code not in text
    assert "有效" in text
    assert "[ID_NUMBER]" in text
    assert id_number not in status.text and MOBILE not in status.text
    assert "image/png" in text
    assert "12.80%" in text


def test_blank_payment_rows_and_errors_map_to_the_rows_on_the_page(
    client: TestClient, db_session: Session
) -> None:
    before = _report_count(db_session)
    form = _form(
        **{
            "loan.schedule.installments": None,
            "loan.schedule.amount": None,
            "loan.payments.0.due_on": "2024-02-15",
            "loan.payments.0.amount": "50000",
            "loan.payments.1.due_on": "",
            "loan.payments.1.amount": "",
            "loan.payments.2.due_on": "2024-03-15",
            "loan.payments.2.amount": "not money",
        }
    )

    response = client.post("/", data=form)

    assert response.status_code == 422
    html = response.text
    assert 'id="err-f-loan-payments-2-amount"' in html
    assert 'aria-describedby="err-f-loan-payments-2-amount"' in html
    assert 'href="#f-loan-payments-2-amount"' in html
    assert "第 3 行" in html
    assert _report_count(db_session) == before


def test_dated_payments_are_costed(client: TestClient) -> None:
    rows = {}
    for index, month in enumerate(("02", "03", "04")):
        rows[f"loan.payments.{index}.due_on"] = f"2024-{month}-15"
        rows[f"loan.payments.{index}.amount"] = "3500"
    form = _form(
        action="preview",
        **{"loan.schedule.installments": None, "loan.schedule.amount": None, **rows},
        **{"loan.contract_principal": None, "loan.net_received": "10000"},
    )
    response = client.post("/", data=form)
    assert response.status_code == 200
    assert "%" in _visible_text(response.text).split("名义年化利率")[1][:40]


def test_validation_errors_are_shown_beside_fields_and_nothing_is_written(
    client: TestClient, db_session: Session
) -> None:
    before = (_report_count(db_session), db_session.scalar(select(func.count(EvidenceFile.id))))
    form = _form(lender="", title="   ", categories=None, **{"first_incident_month": "2024-13"})

    response = client.post("/", data=form, files=[("evidence", ("shot.png", PNG, "image/png"))])

    assert response.status_code == 422
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert 'class="error-summary"' in html
    assert 'href="#f-lender"' in html
    assert 'id="err-f-lender"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="err-f-categories"' in html
    assert 'href="#f-categories-refuses_negotiation"' in html
    assert 'id="err-f-first_incident_month"' in html
    assert "必填" in html or "is required" in html
    assert "请重新选择证据文件" in html
    # The other answers are kept.
    assert "客服拒绝协商" in html
    after = (_report_count(db_session), db_session.scalar(select(func.count(EvidenceFile.id))))
    assert after == before


def test_service_errors_are_shown_in_the_request_language(
    client: TestClient, db_session: Session
) -> None:
    before = _report_count(db_session)
    form = _form(province="Atlantis", **{"loan.net_received": "200000"})

    response = client.post("/", data=form, params={"lang": "en"})

    assert response.status_code == 422
    html = response.text
    assert '<html lang="en"' in html
    assert 'id="err-f-province"' in html or 'id="err-f-loan-net_received"' in html
    assert "error-summary" in html
    assert _report_count(db_session) == before


def test_rejected_evidence_stops_the_whole_submission(
    client: TestClient, db_session: Session
) -> None:
    before = _report_count(db_session)
    response = client.post(
        "/", data=_form(), files=[("evidence", ("notes.txt", b"plain text", "text/plain"))]
    )
    assert response.status_code == 422
    assert 'id="err-f-evidence"' in response.text
    assert _report_count(db_session) == before


def test_text_is_escaped_not_reflected_as_html(client: TestClient) -> None:
    response = client.post(
        "/", data=_form(title="<script>alert(1)</script>", action="preview", lender="")
    )
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_update_evidence_and_withdraw_through_the_pages(
    client: TestClient, db_session: Session
) -> None:
    code = _submit(client)
    report = db_session.scalars(select(Report).order_by(Report.submitted_at.desc())).first()
    assert report is not None

    blank = client.post(f"/r/{code}/update", data={"text": "  "})
    assert blank.status_code == 422
    assert 'id="err-f-text"' in blank.text

    update = client.post(
        f"/r/{code}/update", data={"text": f"今天又打到我手机{MOBILE}。"}, follow_redirects=False
    )
    assert update.status_code == 303
    assert update.headers["location"] == f"/r/{code}?done=update"
    page = client.get(update.headers["location"])
    assert "已添加补充情况" in page.text
    assert "[PHONE]" in page.text and MOBILE not in page.text
    stored = db_session.scalars(select(ReportUpdate).where(ReportUpdate.report_id == report.id))
    assert len(list(stored)) == 1

    no_files = client.post(f"/r/{code}/evidence", data={})
    assert no_files.status_code == 422
    assert 'id="err-f-evidence"' in no_files.text
    evidence = client.post(
        f"/r/{code}/evidence",
        files=[("evidence", ("shot.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert evidence.status_code == 303
    page = client.get(evidence.headers["location"]).text
    assert "image/png" in page
    assert re.search(r"<code class=\"hash\">[0-9a-f]{64}</code>", page)

    unconfirmed = client.post(f"/r/{code}/withdraw", data={})
    assert unconfirmed.status_code == 422
    assert 'id="err-f-confirm"' in unconfirmed.text
    db_session.refresh(report)
    assert report.status == ReportStatus.active

    withdrawn = client.post(f"/r/{code}/withdraw", data={"confirm": "yes"}, follow_redirects=False)
    assert withdrawn.status_code == 303
    page = client.get(withdrawn.headers["location"]).text
    assert "已撤回" in page
    assert f'action="/r/{code}/update' not in page
    db_session.refresh(report)
    assert report.status == ReportStatus.withdrawn

    late = client.post(f"/r/{code}/update", data={"text": "还有一件事"})
    assert late.status_code == 409
    assert "已撤回" in late.text


def test_receipt_lookup_redirects_without_a_query_string(client: TestClient) -> None:
    code = _submit(client)

    response = client.post("/r/", data={"code": f"  {code.lower()} "}, follow_redirects=False)

    assert response.status_code == 303
    location = response.headers["location"]
    assert "?" not in location
    assert client.get(location).status_code == 200
    empty = client.post("/r/", data={"code": ""})
    assert empty.status_code == 422
    assert 'id="err-f-code"' in empty.text


def test_wrong_code_gives_a_localized_404_page(client: TestClient) -> None:
    response = client.get("/r/GS-NOPE-NOPE")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "找不到这个回执码对应的报告" in response.text

    english = client.get("/r/GS-NOPE-NOPE", params={"lang": "en"})
    assert english.status_code == 404
    assert "No report matches this receipt code" in english.text
    for action in ("update", "evidence", "withdraw"):
        assert client.post(f"/r/GS-NOPE/{action}", data={}).status_code == 404


def test_receipt_pages_share_the_json_rate_limit(client: TestClient) -> None:
    limit = client.app.state.receipt_limiter.limit  # type: ignore[attr-defined]
    for _ in range(limit):
        client.get("/api/v1/receipts/GS-NOPE")

    response = client.get("/r/GS-NOPE")

    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "请求过于频繁" in response.text


def test_the_language_switch_is_remembered_in_a_cookie(client: TestClient) -> None:
    client.get("/", params={"lang": "en"})

    assert '<html lang="en"' in client.get("/").text
