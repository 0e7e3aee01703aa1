"""The bundle over HTTP: the JSON API and the staff page, lawyers assigned to the campaign
only; every download is in the audit log."""

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.exhibits.verify import check_bundle
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import Browser
from tests.api.exhibits.conftest import World
from tests.api.staff.factories import make_staff

LANGUAGE = {"Accept-Language": "en"}


def downloads(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == "exhibit.bundle_downloaded"))
    )


def test_a_lawyer_requests_polls_and_downloads_over_json(
    world: World, browser_as: Callable[[StaffUser], Browser], tmp_path
) -> None:
    world.join(0)
    lawyer = browser_as(world.lawyer)
    base = f"/api/v1/campaigns/{world.campaign.id}/bundles"
    requested = lawyer.post(base, headers=LANGUAGE)
    assert requested.status_code == 202, requested.text
    bundle_id = requested.json()["id"]
    assert requested.headers["location"] == f"{base}/{bundle_id}"

    status = lawyer.get(f"{base}/{bundle_id}").json()
    assert status["status"] == "succeeded", status["error"]
    assert status["progress"] == 1.0
    assert status["download_url"] == f"{base}/{bundle_id}/download"
    assert [item["id"] for item in lawyer.get(base).json()] == [bundle_id]

    response = lawyer.get(status["download_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["x-content-sha256"] == status["sha256"]
    saved = tmp_path / "downloaded.zip"
    saved.write_bytes(response.content)
    assert check_bundle(saved, status["sha256"]).is_intact
    world.session.expire_all()
    (event,) = downloads(world.session)
    assert event.actor == f"staff:{world.lawyer.id}"
    assert event.details["sha256"] == status["sha256"]


def test_the_page_offers_the_build_and_then_the_download(
    world: World, browser_as: Callable[[StaffUser], Browser]
) -> None:
    world.join(1)
    lawyer = browser_as(world.lawyer)
    page_url = f"/staff/campaigns/{world.campaign.id}/bundle"
    page = lawyer.get(page_url, params={"lang": "en"})
    assert page.status_code == 200
    assert 'id="request-bundle"' in page.text and 'id="no-bundles"' in page.text
    posted = lawyer.form(page_url, {})
    assert posted.status_code == 303
    assert posted.headers["location"].startswith(page_url)
    page = lawyer.get(page_url)
    assert 'data-status="succeeded"' in page.text
    assert "Refresh" not in page.headers
    marker = 'bundle-download" href="'
    start = page.text.index(marker) + len(marker)
    link = page.text[start : page.text.index('"', start)]
    response = lawyer.get(link)
    assert response.status_code == 200 and response.content[:2] == b"PK"
    world.session.expire_all()
    assert len(downloads(world.session)) == 1


def test_a_running_build_makes_the_page_refresh_itself(
    world: World, browser_as: Callable[[StaffUser], Browser], synchronous_builds
) -> None:
    synchronous_builds.state.start_bundle_build = lambda *_args: None
    lawyer = browser_as(world.lawyer)
    page_url = f"/staff/campaigns/{world.campaign.id}/bundle"
    assert lawyer.form(page_url, {}).status_code == 303
    page = lawyer.get(page_url)
    assert page.headers["refresh"] == "2"
    assert 'data-status="queued"' in page.text and "<progress" in page.text
    assert 'id="request-bundle"' not in page.text


def test_organizers_are_refused_and_other_lawyers_find_nothing(
    world: World, browser_as: Callable[[StaffUser], Browser], db_session: Session
) -> None:
    base = f"/api/v1/campaigns/{world.campaign.id}/bundles"
    page_url = f"/staff/campaigns/{world.campaign.id}/bundle"
    organizer = browser_as(world.organizer)
    assert organizer.post(base, headers=LANGUAGE).status_code == 403
    assert organizer.get(page_url, follow_redirects=False).status_code == 403
    stranger = browser_as(make_staff(db_session, StaffRole.lawyer))
    assert stranger.post(base, headers=LANGUAGE).status_code == 404
    assert stranger.get(base, headers=LANGUAGE).status_code == 404
    assert stranger.get(page_url).status_code == 404
    lawyer = browser_as(world.lawyer)
    bundle_id = lawyer.post(base, headers=LANGUAGE).json()["id"]
    assert stranger.get(f"{base}/{bundle_id}/download", headers=LANGUAGE).status_code == 404


def test_unknown_campaigns_and_bundles_answer_404(
    world: World, browser_as: Callable[[StaffUser], Browser], db_session: Session
) -> None:
    lawyer = browser_as(world.lawyer)
    other = world.campaign.id + 1000
    assert lawyer.post(f"/api/v1/campaigns/{other}/bundles", headers=LANGUAGE).status_code == 404
    status = lawyer.get(f"/api/v1/campaigns/{world.campaign.id}/bundles/999", headers=LANGUAGE)
    assert status.status_code == 404
