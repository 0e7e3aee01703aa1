"""A borrower's journey in a real browser: fill the form in Chinese, watch the live preview
remove the ID number, submit, and open the report with the receipt code; then the same
without JavaScript."""

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.factories import resident_id

pytestmark = pytest.mark.browser

MOBILE = "13912345678"
ID_NUMBER = resident_id("44030519850612004")


def _png() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (40, 30), (27, 94, 90)).save(output, format="PNG")
    return output.getvalue()


def _fill_report(page: Any) -> None:
    page.fill("#f-lender", "同程借钱")
    page.check("#f-categories-refuses_negotiation")
    page.check("#f-categories-third_party_contact")
    page.fill("#f-title", "逾期后拒绝协商，还骚扰家人")
    page.fill(
        "#f-narrative",
        f"去年在同程借钱借了十万元，到手九万九。逾期后我申请分期，客服拒绝。"
        f"催收员要求我拍身份证{ID_NUMBER}发给他，还打我手机{MOBILE}威胁要告诉家人。",
    )
    page.select_option("#f-province", "CN-GD")
    page.fill("#f-first_incident_month", "2024-03")
    page.fill("#f-loan-contract_principal", "100000")
    page.fill("#f-loan-net_received", "99000")
    page.fill("#f-loan-received_on", "2024-01-15")
    page.fill("#f-loan-schedule-installments", "12")
    page.fill("#f-loan-schedule-amount", "8833.30")
    page.select_option("#f-attempts-0-channel", "regulator_12378")
    page.fill("#f-attempts-0-attempted_on", "2024-04-02")
    page.fill("#f-attempts-0-outcome", "转给平台处理，没有下文")


def _check_status_page(page: Any, base_url: str, code: str, screenshot: Path) -> None:
    page.goto(f"{base_url}/r/{code}")
    assert page.locator("#report-status").inner_text().strip() == "有效"
    narrative = page.locator("#stored-narrative").inner_text()
    assert "[ID_NUMBER]" in narrative
    assert ID_NUMBER not in narrative
    assert MOBILE not in narrative
    assert ID_NUMBER not in page.content()
    assert code not in page.locator("main").inner_text()
    page.screenshot(path=str(screenshot), full_page=True)


def test_report_journey_with_live_preview(browser: Any, live_server: str, tmp_path: Path) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#add-payment-row").is_visible(), "JavaScript shows the add-row button"

    _fill_report(page)

    preview = page.locator("#preview-narrative")
    preview.wait_for(timeout=10_000)
    page.wait_for_function(
        "document.querySelector('#preview-narrative')?.textContent.includes('[ID_NUMBER]')"
        " && document.querySelector('[data-cost=nominal]')",
        timeout=10_000,
    )
    assert ID_NUMBER not in preview.inner_text()
    assert MOBILE not in preview.inner_text()
    assert page.locator("#preview mark.redacted").count() >= 2
    assert page.locator("[data-cost=nominal]").inner_text() == "12.80%"
    assert page.locator("[data-cost=effective]").inner_text() == "13.58%"
    page.click("#add-payment-row")
    assert page.locator("#f-loan-payments-6-amount").is_visible()
    page.screenshot(path=str(tmp_path / "form-live-preview.png"), full_page=True)

    page.click("button[name=action][value=submit]")
    page.locator("#receipt-code").wait_for()
    code = page.locator("#receipt-code").inner_text().strip()
    assert code.startswith("GS-")
    page.screenshot(path=str(tmp_path / "receipt.png"), full_page=True)

    _check_status_page(page, live_server, code, tmp_path / "status.png")
    context.close()


def test_report_journey_without_javascript(browser: Any, live_server: str, tmp_path: Path) -> None:
    context = browser.new_context(
        java_script_enabled=False, locale="zh-CN", viewport={"width": 320, "height": 800}
    )
    page = context.new_page()
    page.goto(f"{live_server}/")
    assert not page.locator("#add-payment-row").is_visible()

    _fill_report(page)
    page.click("button[name=action][value=preview]")
    narrative = page.locator("#preview-narrative").inner_text()
    assert "[ID_NUMBER]" in narrative and ID_NUMBER not in narrative
    assert "12.80%" in page.locator("#preview").inner_text()
    assert page.locator("#f-lender").input_value() == "同程借钱"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the page is {width}px wide at a 320px viewport"
    page.screenshot(path=str(tmp_path / "form-preview-320.png"), full_page=True)

    page.set_input_files(
        "#f-evidence", files=[{"name": "shot.png", "mimeType": "image/png", "buffer": _png()}]
    )
    page.click("button[name=action][value=submit]")
    code = page.locator("#receipt-code").inner_text().strip()
    assert code.startswith("GS-")

    _check_status_page(page, live_server, code, tmp_path / "status-320.png")
    assert "image/png" in page.locator("main").inner_text()
    context.close()
