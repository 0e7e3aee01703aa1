"""The reporter's pages under the receipt code, and the lawyer's page and API."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.security import SlidingWindowLimiter
from api.signatories.models import Consent, Signatory, SignatoryStatus
from api.staff.models import StaffUser
from tests.api.campaigns.conftest import Browser
from tests.api.signatories.conftest import PEOPLE, World
from tests.api.staff.factories import another_browser, open_session

ZH = {"lang": "zh"}
EN = {"lang": "en"}


@pytest.fixture
def login(app: FastAPI, db_session: Session) -> Callable[..., Browser]:
    def log_in_as(user: StaffUser) -> Browser:
        browser = another_browser(app)
        return Browser(browser, user, open_session(browser, db_session, user))

    return log_in_as


def join_form(person_index: int = 0, **changes: str) -> dict[str, Any]:
    person = PEOPLE[person_index]
    data: dict[str, Any] = {f"identity.{key}": value for key, value in person.identity().items()}
    data.update(
        {
            f"consent.{purpose}": "yes"
            for purpose in ("join_group", "share_with_lawyer", "file_with_recipient")
        }
    )
    data.update(changes)
    return data


def test_the_receipt_page_links_to_the_campaigns(client: TestClient, world: World) -> None:
    code = world.codes[0]
    page = client.get(f"/r/{code}", params=ZH)
    assert f'href="/r/{code}/campaigns?lang=zh"' in page.text

    campaigns = client.get(f"/r/{code}/campaigns", params=ZH)
    assert campaigns.status_code == 200
    assert campaigns.headers["cache-control"] == "no-store"
    assert world.campaign.title in campaigns.text
    assert f"/r/{code}/join/{world.campaign.slug}" in campaigns.text


def test_the_join_form_asks_what_the_channel_needs_and_says_who_gets_what(
    client: TestClient, world: World
) -> None:
    page = client.get(f"/r/{world.codes[0]}/join/{world.campaign.slug}", params=EN)
    assert page.status_code == 200
    names = set(re.findall(r'name="(identity\.[a-z_]+)"', page.text))
    # A regulator complaint: no sex, employer or claim amount; the signature is on paper.
    assert names == {
        "identity.full_name",
        "identity.id_number",
        "identity.phone",
        "identity.address",
        "identity.loan_account_ref",
    }
    assert "signed by hand" in page.text
    assert world.lawyer.display_name in page.text
    assert "never see my name" in page.text
    assert "NFRA (12378)" in page.text


def test_a_wrong_id_number_is_named_in_the_request_language_and_changes_nothing(
    client: TestClient, world: World, db_session: Session
) -> None:
    url = f"/r/{world.codes[0]}/join/{world.campaign.slug}"
    bad = PEOPLE[0].id_number[:17] + ("0" if PEOPLE[0].id_number[17] != "0" else "1")
    data = join_form(**{"identity.id_number": bad})
    del data["consent.file_with_recipient"]

    zh = client.post(url, data=data, params=ZH)
    en = client.post(url, data=data, params=EN)

    assert zh.status_code == en.status_code == 422
    assert "居民身份证号码：不是有效的18位居民身份证号码" in zh.text
    assert "Resident ID number: Not a valid 18-character resident ID number" in en.text
    assert "Filing in your name: Joining needs this consent." in en.text
    assert db_session.scalar(select(func.count()).select_from(Signatory)) == 0


def test_join_leave_and_never_asked_again(
    client: TestClient, world: World, db_session: Session, login: Callable[..., Browser]
) -> None:
    code = world.codes[0]
    lawyer = login(world.lawyer)

    joined = client.post(
        f"/r/{code}/join/{world.campaign.slug}", data=join_form(), follow_redirects=False
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/r/{code}/campaigns?done=joined"
    page = client.get(joined.headers["location"], params=EN)
    assert "S001" in page.text
    assert f"/r/{code}/leave/{world.campaign.slug}" in page.text
    assert PEOPLE[0].full_name not in page.text

    listed = lawyer.get(f"/api/v1/campaigns/{world.campaign.id}/signatories")
    assert listed.status_code == 200
    body = listed.json()
    assert body["fields"] == ["full_name", "id_number", "phone", "address", "loan_account_ref"]
    assert [s["member_code"] for s in body["signatories"]] == ["S001"]
    assert body["signatories"][0]["identity"]["id_number"] == PEOPLE[0].id_number
    html = lawyer.get(f"/staff/campaigns/{world.campaign.id}/signatories", params=ZH)
    assert html.status_code == 200
    assert PEOPLE[0].full_name in html.text

    left = client.post(f"/r/{code}/leave/{world.campaign.slug}", follow_redirects=False)
    assert left.status_code == 303
    page = client.get(left.headers["location"], params=EN)
    assert "You left this campaign" in page.text
    assert f"/r/{code}/join/{world.campaign.slug}" not in page.text
    again = client.get(f"/r/{code}/join/{world.campaign.slug}", params=EN)
    assert again.status_code == 409

    assert (
        lawyer.get(f"/api/v1/campaigns/{world.campaign.id}/signatories").json()["signatories"] == []
    )
    signatory = db_session.scalars(select(Signatory)).one()
    assert signatory.status == SignatoryStatus.withdrawn
    consents = db_session.scalars(select(Consent)).all()
    assert len(consents) == 3 and all(consent.withdrawn_at for consent in consents)
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("signator%"))
    ).all()
    assert actions.count("signatories.viewed") == 3
    assert "signatory.joined" in actions and "signatory.withdrawn" in actions


def test_joining_twice_as_the_same_person_is_refused_without_saying_more(
    client: TestClient, world: World
) -> None:
    first = client.post(
        f"/r/{world.codes[0]}/join/{world.campaign.slug}", data=join_form(0), follow_redirects=False
    )
    assert first.status_code == 303
    second = client.post(
        f"/r/{world.codes[1]}/join/{world.campaign.slug}",
        data=join_form(0, **{"identity.full_name": "另一个名字"}),
        params=EN,
    )
    assert second.status_code == 409
    assert "signatory list; each person can join once" in second.text
    assert PEOPLE[0].full_name not in second.text


def test_receipt_campaign_pages_share_the_receipt_rate_limit(
    app: FastAPI, client: TestClient, world: World
) -> None:
    app.state.receipt_limiter = SlidingWindowLimiter(2, 600)
    assert client.get(f"/r/{world.codes[0]}/campaigns").status_code == 200
    assert client.get(f"/r/{world.codes[0]}/join/{world.campaign.slug}").status_code == 200
    assert client.get(f"/r/{world.codes[0]}/campaigns").status_code == 429
    assert client.post(f"/r/{world.codes[0]}/leave/{world.campaign.slug}").status_code == 429


def test_lawyers_of_other_campaigns_get_404_and_other_roles_403(
    world: World, login: Callable[..., Browser]
) -> None:
    url = f"/api/v1/campaigns/{world.campaign.id}/signatories"
    page = f"/staff/campaigns/{world.campaign.id}/signatories"
    other = login(world.other_lawyer)
    assert other.get(url).status_code == 404
    assert other.get(page).status_code == 404
    for user in (world.organizer, world.admin):
        browser = login(user)
        assert browser.get(url).status_code == 403
        assert browser.get(page, follow_redirects=False).status_code == 403
