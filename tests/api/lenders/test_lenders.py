"""Lender look-up and the autocomplete API."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import PACKAGE_DATA_DIR
from api.lenders import service as lender_service
from api.lenders.models import Lender, LenderAlias
from api.reports import service as report_service
from api.reports.models import Report
from tests.factories import submission


@pytest.mark.parametrize(
    ("typed", "lender_key"),
    [
        ("同程借钱", "tongcheng-finance"),
        ("提钱游", "tongcheng-finance"),
        (" 同程 借钱 ", "tongcheng-finance"),
        ("同程借錢", "tongcheng-finance"),
        ("ＨＯＭＥ　ＣＲＥＤＩＴ", "home-credit-china"),
        ("home credit", "home-credit-china"),
        ("借唄", "ant-consumer-finance"),
        ("微粒贷", "webank"),
    ],
)
def test_typed_names_resolve_through_normalization_and_aliases(
    db_session: Session, typed: str, lender_key: str
) -> None:
    lender = lender_service.resolve_lender(db_session, typed)

    assert lender is not None
    assert lender.key == lender_key


def test_unknown_name_resolves_to_nothing(db_session: Session) -> None:
    assert lender_service.resolve_lender(db_session, "闪电借款王") is None
    assert lender_service.resolve_lender(db_session, "   ") is None


def test_the_directory_resolves_like_the_database_and_sees_new_mappings_at_once(
    db_session: Session,
) -> None:
    directory = lender_service.LenderDirectory()

    known = directory.resolve(db_session, "同程借錢")
    assert known is not None
    assert known.key == "tongcheng-finance"
    assert directory.resolve(db_session, "闪电借款王") is None
    assert directory.resolve(db_session, "   ") is None

    lender = lender_service.get_lender_by_key(db_session, "tongcheng-finance")
    assert lender is not None
    lender_service.add_alias(db_session, lender=lender, alias="闪电借款王")

    mapped = directory.resolve(db_session, "闪电借款王")
    assert mapped is not None
    assert (mapped.id, mapped.name_zh) == (lender.id, lender.name_zh)


def test_loading_the_seed_twice_changes_nothing(db_session: Session) -> None:
    lenders = db_session.scalar(select(func.count()).select_from(Lender))
    aliases = db_session.scalar(select(func.count()).select_from(LenderAlias))

    counts = lender_service.load_lenders(db_session, PACKAGE_DATA_DIR / "lenders.csv")

    assert (counts.lenders_added, counts.lenders_updated, counts.aliases_added) == (0, 0, 0)
    assert db_session.scalar(select(func.count()).select_from(Lender)) == lenders
    assert db_session.scalar(select(func.count()).select_from(LenderAlias)) == aliases
    assert lenders and lenders >= 25


def test_autocomplete_matches_brands_and_returns_both_names(client: TestClient) -> None:
    response = client.get("/api/v1/lenders", params={"q": "提钱"})

    assert response.status_code == 200
    matches = response.json()
    assert matches[0]["name_zh"] == "同程金融"
    assert matches[0]["name_en"] == "Tongcheng Finance"
    assert matches[0]["matched_alias"] == "提钱游"
    assert len({match["key"] for match in matches}) == len(matches)


def test_autocomplete_ranks_prefix_matches_first_and_limits(client: TestClient) -> None:
    matches = client.get("/api/v1/lenders", params={"q": "消费金融", "limit": 3}).json()

    assert 1 <= len(matches) <= 3
    assert all("消费金融" in match["matched_alias"] for match in matches)
    assert client.get("/api/v1/lenders", params={"q": "%"}).json() == []


def test_autocomplete_rejects_an_empty_query(client: TestClient) -> None:
    response = client.get("/api/v1/lenders", params={"q": ""})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "q"


def test_unknown_lender_is_kept_as_typed_listed_and_mappable(
    client: TestClient, db_session: Session
) -> None:
    for _ in range(2):
        response = client.post("/api/v1/reports", json=submission(lender="闪电 借款王"))
        assert response.status_code == 201
    report_id = response.json()["report_id"]
    report = db_session.get(Report, report_id)
    assert report is not None and report.lender_id is None
    assert report.lender_name_typed == "闪电 借款王"

    unmapped = report_service.list_unmapped_lender_names(db_session)
    assert ("闪电借款王", "闪电 借款王", 2) in unmapped

    lender = lender_service.get_lender_by_key(db_session, "lexinfintech")
    assert lender is not None
    relinked = report_service.map_lender_name(db_session, name_key="闪电借款王", lender=lender)

    assert relinked == 2
    assert lender_service.resolve_lender(db_session, "闪电借款王") == lender
    assert all(
        name_key != "闪电借款王"
        for name_key, _, _ in report_service.list_unmapped_lender_names(db_session)
    )
