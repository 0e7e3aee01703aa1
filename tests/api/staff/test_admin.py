"""Account administration by admins, as JSON and as pages; CSRF on both; the audit trail."""

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.i18n import translate
from api.staff.models import StaffRole, StaffSession, StaffUser
from tests.api.staff.factories import (
    PASSWORD,
    another_browser,
    csrf_from_page,
    log_in,
    make_staff,
    open_session,
)

NEW_PASSWORD = "a brand new passphrase 42"


def _new_account(**overrides: str) -> dict[str, str]:
    return {
        "email": "  New.Lawyer@Example.ORG ",
        "display_name": "张律师",
        "role": "lawyer",
        "password": "initial password 123",
        **overrides,
    }


def _admin_client(client: TestClient, db_session: Session) -> tuple[StaffUser, dict[str, str]]:
    admin = make_staff(db_session, StaffRole.admin)
    return admin, {"X-CSRF-Token": open_session(client, db_session, admin)}


def _events(db_session: Session) -> list[AuditEvent]:
    return list(db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _sessions(db_session: Session, user: StaffUser) -> int:
    query = select(func.count()).select_from(StaffSession)
    return db_session.scalar(query.where(StaffSession.staff_user_id == user.id)) or 0


def test_me_returns_the_account_and_its_csrf_token(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session, StaffRole.lawyer)
    csrf = open_session(client, db_session, user)
    body = client.get("/api/v1/staff/me").json()
    assert body["id"] == user.id
    assert body["role"] == "lawyer"
    assert body["csrf_token"] == csrf
    assert "password_hash" not in body


def test_admin_creates_lists_and_audits_an_account(client: TestClient, db_session: Session) -> None:
    admin, headers = _admin_client(client, db_session)
    created = client.post("/api/v1/staff/users", json=_new_account(), headers=headers)

    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "new.lawyer@example.org"
    assert body["role"] == "lawyer"
    assert body["is_active"] is True
    listed = client.get("/api/v1/staff/users").json()
    assert [user["email"] for user in listed] == [admin.email, "new.lawyer@example.org"]

    (event,) = [event for event in _events(db_session) if event.action == "staff.create"]
    assert event.actor == f"staff:{admin.id}"
    assert event.subject_type == "staff_user"
    assert event.subject_id == str(body["id"])
    assert event.details == {"role": "lawyer", "via": "admin"}

    assert log_in(client, "new.lawyer@example.org", "initial password 123").status_code == 303


def test_create_refuses_bad_input_and_taken_addresses(
    client: TestClient, db_session: Session
) -> None:
    _, headers = _admin_client(client, db_session)
    too_short = client.post(
        "/api/v1/staff/users", json=_new_account(password="short"), headers=headers
    )
    assert too_short.status_code == 422
    assert too_short.json()["errors"][0]["field"] == "password"
    assert "short" not in json.dumps(too_short.json()["errors"][0]["message"])

    bad_email = client.post(
        "/api/v1/staff/users", json=_new_account(email="not-an-address"), headers=headers
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["errors"][0]["field"] == "email"

    unknown_role = client.post(
        "/api/v1/staff/users", json=_new_account(role="superuser"), headers=headers
    )
    assert unknown_role.status_code == 422

    assert client.post("/api/v1/staff/users", json=_new_account(), headers=headers).is_success
    taken = client.post(
        "/api/v1/staff/users",
        json=_new_account(email="NEW.lawyer@example.org"),
        headers={**headers, "Accept-Language": "en"},
    )
    assert taken.status_code == 409
    assert taken.json()["detail"] == translate("en", "staff.error.email_taken")


def test_json_changes_need_the_csrf_header(client: TestClient, db_session: Session) -> None:
    _admin_client(client, db_session)
    missing = client.post("/api/v1/staff/users", json=_new_account())
    wrong = client.post(
        "/api/v1/staff/users", json=_new_account(), headers={"X-CSRF-Token": "guessed"}
    )
    for response in (missing, wrong):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert db_session.scalar(select(func.count()).select_from(StaffUser)) == 1


def test_disable_ends_sessions_and_enable_lets_the_person_back(
    client: TestClient, db_session: Session
) -> None:
    admin, headers = _admin_client(client, db_session)
    organizer = make_staff(db_session, StaffRole.organizer)
    organizer_client = another_browser(client.app)
    open_session(organizer_client, db_session, organizer)
    assert organizer_client.get("/api/v1/staff/me").status_code == 200

    disabled = client.post(f"/api/v1/staff/users/{organizer.id}/disable", headers=headers)

    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    assert _sessions(db_session, organizer) == 0
    assert organizer_client.get("/api/v1/staff/me").status_code == 401

    assert log_in(client, organizer.email).status_code == 401
    _, headers = _admin_client(client, db_session)
    enabled = client.post(f"/api/v1/staff/users/{organizer.id}/enable", headers=headers)
    assert enabled.json()["is_active"] is True
    organizer_client = another_browser(client.app)
    assert log_in(organizer_client, organizer.email).status_code == 303

    actions = [(event.action, event.details) for event in _events(db_session)]
    assert ("staff.disable", {"sessions_revoked": 1}) in actions
    assert ("staff.enable", {"sessions_revoked": 0}) in actions
    assert admin.id != organizer.id


def test_admin_cannot_disable_themselves(client: TestClient, db_session: Session) -> None:
    admin, headers = _admin_client(client, db_session)
    response = client.post(f"/api/v1/staff/users/{admin.id}/disable", headers=headers)
    assert response.status_code == 409
    db_session.expire_all()
    assert db_session.get(StaffUser, admin.id).is_active


def test_unknown_account_is_404(client: TestClient, db_session: Session) -> None:
    _, headers = _admin_client(client, db_session)
    assert client.post("/api/v1/staff/users/999999/disable", headers=headers).status_code == 404


def test_reset_password_replaces_it_and_ends_sessions(
    client: TestClient, db_session: Session
) -> None:
    _, headers = _admin_client(client, db_session)
    lawyer = make_staff(db_session, StaffRole.lawyer)
    lawyer.failed_login_count = 3
    db_session.commit()
    lawyer_client = another_browser(client.app)
    open_session(lawyer_client, db_session, lawyer)
    response = client.post(
        f"/api/v1/staff/users/{lawyer.id}/password",
        json={"password": NEW_PASSWORD},
        headers=headers,
    )
    assert response.status_code == 200
    assert lawyer_client.get("/api/v1/staff/me").status_code == 401
    assert log_in(lawyer_client, lawyer.email, PASSWORD).status_code == 401
    assert log_in(lawyer_client, lawyer.email, NEW_PASSWORD).status_code == 303


def test_non_admins_get_403(client: TestClient, db_session: Session) -> None:
    for role in (StaffRole.organizer, StaffRole.lawyer):
        user = make_staff(db_session, role)
        staff_client = another_browser(client.app)
        csrf = open_session(staff_client, db_session, user)
        headers = {"X-CSRF-Token": csrf}
        assert staff_client.get("/api/v1/staff/users").status_code == 403
        created = staff_client.post(
            "/api/v1/staff/users", json=_new_account(role="admin"), headers=headers
        )
        assert created.status_code == 403
        page = staff_client.get("/staff/users", params={"lang": "en"})
        assert page.status_code == 403
        assert translate("en", "staff.forbidden.heading") in page.text
        assert staff_client.get("/staff").status_code == 200
    assert db_session.scalar(select(func.count()).select_from(StaffUser)) == 2


def test_pages_create_disable_and_reset_with_the_form_token(
    client: TestClient, db_session: Session
) -> None:
    admin = make_staff(db_session, StaffRole.admin)
    assert log_in(client, admin.email, next_path="/staff/users").headers["location"] == (
        "/staff/users"
    )
    page = client.get("/staff/users")
    assert page.status_code == 200
    csrf = csrf_from_page(page.text)

    created = client.post(
        "/staff/users", data={**_new_account(), "csrf_token": csrf}, follow_redirects=False
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/staff/users?done=created"
    listing = client.get(created.headers["location"])
    assert "new.lawyer@example.org" in listing.text
    assert translate("zh", "staff.users.done.created") in listing.text
    new_user = db_session.scalars(
        select(StaffUser).where(StaffUser.email == "new.lawyer@example.org")
    ).one()

    disabled = client.post(
        f"/staff/users/{new_user.id}/disable", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert disabled.headers["location"] == "/staff/users?done=disabled"
    reset = client.post(
        f"/staff/users/{new_user.id}/password",
        data={"csrf_token": csrf, "password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert reset.headers["location"] == "/staff/users?done=password"
    db_session.expire_all()
    assert not db_session.get(StaffUser, new_user.id).is_active


def test_page_form_errors_come_back_beside_the_fields(
    client: TestClient, db_session: Session
) -> None:
    admin = make_staff(db_session, StaffRole.admin)
    csrf = open_session(client, db_session, admin)
    response = client.post(
        "/staff/users",
        data={**_new_account(password="short", email="bad"), "csrf_token": csrf},
        params={"lang": "en"},
    )
    assert response.status_code == 422
    assert 'id="err-f-password"' in response.text
    assert 'id="err-f-email"' in response.text
    assert 'value="bad"' in response.text
    assert "short" not in response.text.split('id="f-password"')[1].split(">")[0]

    taken = client.post(
        "/staff/users",
        data={**_new_account(email=admin.email), "csrf_token": csrf},
        params={"lang": "en"},
    )
    assert taken.status_code == 409
    assert translate("en", "staff.error.email_taken") in taken.text


def test_pages_refuse_a_missing_or_wrong_form_token(
    client: TestClient, db_session: Session
) -> None:
    admin = make_staff(db_session, StaffRole.admin)
    open_session(client, db_session, admin)
    for data in (_new_account(), {**_new_account(), "csrf_token": "guessed"}):
        response = client.post("/staff/users", data=data, params={"lang": "en"})
        assert response.status_code == 403
        assert translate("en", "staff.error.csrf") in response.text
    assert db_session.scalar(select(func.count()).select_from(StaffUser)) == 1


def test_audit_events_hold_ids_but_no_addresses_or_passwords(
    client: TestClient, db_session: Session
) -> None:
    admin, headers = _admin_client(client, db_session)
    created = client.post("/api/v1/staff/users", json=_new_account(), headers=headers).json()
    client.post(
        f"/api/v1/staff/users/{created['id']}/password",
        json={"password": NEW_PASSWORD},
        headers=headers,
    )
    client.post(f"/api/v1/staff/users/{created['id']}/disable", headers=headers)
    other = another_browser(client.app)
    log_in(other, "nobody@example.org", "some typed password")
    log_in(other, admin.email, "another typed password")
    assert log_in(other, admin.email).status_code == 303
    csrf = csrf_from_page(other.get("/staff").text)
    other.post("/staff/logout", data={"csrf_token": csrf})

    events = _events(db_session)
    actions = {event.action for event in events}
    assert {
        "staff.create",
        "staff.password_reset",
        "staff.disable",
        "staff.login_failed",
        "staff.login",
        "staff.logout",
    } <= actions
    dumped = json.dumps(
        [[e.actor, e.subject_type, e.subject_id, e.details] for e in events], ensure_ascii=False
    )
    for secret in (
        "new.lawyer",
        "@",
        "nobody",
        "张律师",
        NEW_PASSWORD,
        PASSWORD,
        "initial password 123",
        "some typed password",
        "another typed password",
    ):
        assert secret not in dumped
