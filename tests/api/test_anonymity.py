"""A report keeps no trace of who sent it: no address, user agent, cookie or exact time."""

import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from api.all_models import Base
from tests.factories import submission

FORBIDDEN_COLUMN_WORDS = ("ip", "address", "agent", "cookie", "session", "email", "phone", "name")
ALLOWED_COLUMNS = {"lender_name_typed", "lender_name_key", "name_zh", "name_en"}
# Staff log in by e-mail and are shown by name; these columns describe staff, never reporters.
ALLOWED_TABLE_COLUMNS = {("staff_user", "email"), ("staff_user", "display_name")}


def test_no_table_has_a_column_for_who_sent_a_report() -> None:
    for table in Base.metadata.tables.values():
        for column in table.columns:
            words = column.name.split("_")
            if column.name in ALLOWED_COLUMNS or (table.name, column.name) in ALLOWED_TABLE_COLUMNS:
                continue
            assert not set(words) & set(FORBIDDEN_COLUMN_WORDS), f"{table.name}.{column.name}"


def test_request_metadata_is_not_stored(client: TestClient, db_session: Session) -> None:
    user_agent = "TestAgent/9.9 (very-distinctive-agent-string)"
    client.cookies.set("tracking", "cookie-value-0451")
    response = client.post(
        "/api/v1/reports",
        json=submission(),
        headers={"User-Agent": user_agent, "X-Forwarded-For": "203.0.113.77"},
    )
    assert response.status_code == 201
    assert "set-cookie" not in response.headers

    connection = db_session.connection()
    dumped = []
    for table in inspect(connection).get_table_names():
        rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
        dumped.append(json.dumps([list(map(str, row)) for row in rows], ensure_ascii=False))
    everything = "\n".join(dumped)
    for trace in (user_agent, "203.0.113.77", "testclient", "cookie-value-0451"):
        assert trace not in everything


def test_access_log_has_route_templates_not_receipt_codes(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gongsu.access"):
        code = client.post("/api/v1/reports", json=submission()).json()["receipt_code"]
        client.get(f"/api/v1/receipts/{code}")
        client.get(f"/api/v1/receipts/{code}?lang=en")

    lines = [record.getMessage() for record in caplog.records if record.name == "gongsu.access"]
    assert any("/api/v1/receipts/{code}" in line for line in lines)
    assert all(code not in line and "lang=" not in line for line in lines)
    assert all("逾期" not in record.getMessage() for record in caplog.records)
