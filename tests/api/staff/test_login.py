"""Logging in and out: cookies, CSRF on the login form, lockout, expiry, disabled accounts."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.config import Settings
from api.db import utc_now
from api.i18n import translate
from api.main import create_app
from api.staff import service as staff_service
from api.staff.dependencies import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    login_csrf_ok,
    new_login_csrf_token,
)
from api.staff.models import StaffRole, StaffSession, StaffUser
from tests.api.staff.factories import (
    PASSWORD,
    another_browser,
    csrf_from_page,
    log_in,
    make_staff,
    open_session,
)

FAILED = translate("zh", "staff.login.failed")


def _set_cookie_headers(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined]


def _session_cookie(response: object) -> str:
    (header,) = [h for h in _set_cookie_headers(response) if h.startswith(f"{SESSION_COOKIE}=")]
    return header


def _sessions(db_session: Session, user: StaffUser) -> int:
    return (
        db_session.scalar(
            select(func.count())
            .select_from(StaffSession)
            .where(StaffSession.staff_user_id == user.id)
        )
        or 0
    )


def _events(db_session: Session, action: str) -> list[AuditEvent]:
    return list(
        db_session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_login_sets_a_strict_session_cookie_and_goes_to_the_staff_home(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session, StaffRole.organizer)
    response = log_in(client, user.email.upper())

    assert response.status_code == 303
    assert response.headers["location"] == "/staff"
    cookie = _session_cookie(response).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie
    home = client.get("/staff")
    assert home.status_code == 200
    assert translate("zh", "staff.role.organizer") in home.text
    assert home.headers["cache-control"] == "no-store"

    db_session.expire_all()
    assert db_session.get(StaffUser, user.id).last_login_at is not None
    # The database keeps only a hash of the cookie's token.
    token = client.cookies[SESSION_COOKIE]
    stored = db_session.scalars(select(StaffSession.id)).all()
    assert token not in stored
    assert staff_service.session_id_for(token) in stored


def test_cookie_is_secure_over_https(app: FastAPI, db_session: Session) -> None:
    user = make_staff(db_session)
    https_client = another_browser(app, base_url="https://testserver")
    page = https_client.get("/staff/login")
    login_cookie = next(
        h for h in _set_cookie_headers(page) if h.startswith(f"{LOGIN_CSRF_COOKIE}=")
    )
    assert "secure" in login_cookie.lower()
    response = log_in(https_client, user.email)
    assert response.status_code == 303
    assert "secure" in _session_cookie(response).lower()


def test_cookie_secure_setting_forces_the_flag(
    settings: Settings, session_factory: object, db_session: Session
) -> None:
    app = create_app(settings.model_copy(update={"cookie_secure": True}))
    app.state.sessionmaker = session_factory
    user = make_staff(db_session)
    plain_http_client = another_browser(app)
    page = plain_http_client.get("/staff/login")
    token = csrf_from_page(page.text)
    # An http client does not send Secure cookies back, so hand the login cookie over.
    plain_http_client.cookies.set(LOGIN_CSRF_COOKIE, token)
    response = plain_http_client.post(
        "/staff/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "secure" in _session_cookie(response).lower()


def test_logout_deletes_the_session(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session, StaffRole.lawyer)
    assert log_in(client, user.email).status_code == 303
    token = client.cookies[SESSION_COOKIE]
    csrf = csrf_from_page(client.get("/staff").text)

    response = client.post("/staff/logout", data={"csrf_token": csrf}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login"
    assert f'{SESSION_COOKIE}=""' in _session_cookie(response)
    assert _sessions(db_session, user) == 0
    assert [event.subject_id for event in _events(db_session, "staff.logout")] == [str(user.id)]
    # The old token is dead even if a copy of the cookie survived somewhere.
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/api/v1/staff/me").status_code == 401


def test_logout_needs_the_csrf_token(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session)
    open_session(client, db_session, user)
    assert client.post("/staff/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert _sessions(db_session, user) == 1


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session)
    wrong_password = log_in(client, user.email, "not the password at all")
    unknown_email = log_in(client, "nobody@example.org")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert FAILED in wrong_password.text
    assert FAILED in unknown_email.text
    assert SESSION_COOKIE not in client.cookies
    reasons = [event.details["reason"] for event in _events(db_session, "staff.login_failed")]
    assert reasons == ["wrong_password", "unknown"]


def test_login_form_needs_its_csrf_cookie(client: TestClient, db_session: Session) -> None:
    """A page elsewhere cannot log a browser into an account of the attacker's choosing."""
    user = make_staff(db_session)
    page = client.get("/staff/login")
    token = csrf_from_page(page.text)
    client.cookies.delete(LOGIN_CSRF_COOKIE)

    no_cookie = client.post(
        "/staff/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    client.get("/staff/login")
    mismatched = client.post(
        "/staff/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    missing_field = client.post("/staff/login", data={"email": user.email, "password": PASSWORD})

    for response in (no_cookie, mismatched, missing_field):
        assert response.status_code == 403
        assert translate("zh", "staff.login.expired") in response.text
    assert _sessions(db_session, user) == 0


def test_login_csrf_token_is_signed_and_dated(settings: Settings) -> None:
    now = utc_now()
    token = new_login_csrf_token(settings, now)
    assert login_csrf_ok(settings, token, token, now)
    forged = "forged-nonce." + token.split(".", 1)[1]
    assert not login_csrf_ok(settings, forged, forged, now)
    other_key = settings.model_copy(update={"secret_key": SecretStr("x" * 40)})
    assert not login_csrf_ok(other_key, token, token, now)
    assert not login_csrf_ok(settings, token, token, now + timedelta(hours=3))


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/staff",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_cannot_leave_the_site(
    client: TestClient, db_session: Session, next_path: str
) -> None:
    user = make_staff(db_session)
    response = log_in(client, user.email, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff"


def test_next_takes_a_local_path_and_pages_send_you_there(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session)
    bounced = client.get("/staff/users?sort=email", follow_redirects=False)
    assert bounced.status_code == 303
    assert bounced.headers["location"] == "/staff/login?next=/staff/users%3Fsort%3Demail"

    page = client.get(bounced.headers["location"])
    assert 'name="next" value="/staff/users?sort=email"' in page.text
    response = log_in(client, user.email, next_path="/staff/users?sort=email")
    assert response.headers["location"] == "/staff/users?sort=email"


def test_lockout_after_repeated_failures_then_unlock(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session)
    for _ in range(5):
        assert log_in(client, user.email, "wrong password guess").status_code == 401
    db_session.expire_all()
    locked = db_session.get(StaffUser, user.id)
    assert locked.locked_until is not None
    assert locked.locked_until > utc_now() + timedelta(minutes=14)
    assert len(_events(db_session, "staff.lockout")) == 1

    # The right password does not open a locked account, and the answer does not say why.
    refused = log_in(client, user.email)
    assert refused.status_code == 401
    assert FAILED in refused.text
    assert _events(db_session, "staff.login_failed")[-1].details == {"reason": "locked"}

    locked.locked_until = utc_now() - timedelta(seconds=1)
    db_session.commit()
    assert log_in(client, user.email).status_code == 303
    db_session.expire_all()
    unlocked = db_session.get(StaffUser, user.id)
    assert unlocked.locked_until is None
    assert unlocked.failed_login_count == 0


def test_failures_spread_beyond_the_window_do_not_lock(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session)
    for _ in range(4):
        log_in(client, user.email, "wrong password guess")
    db_session.expire_all()
    stale = db_session.get(StaffUser, user.id)
    assert stale.failed_login_count == 4
    stale.failed_login_window_started_at = utc_now() - timedelta(minutes=16)
    db_session.commit()

    log_in(client, user.email, "wrong password guess")

    db_session.expire_all()
    fresh = db_session.get(StaffUser, user.id)
    assert fresh.locked_until is None
    assert fresh.failed_login_count == 1


def test_login_attempts_are_limited_per_client(
    settings: Settings, session_factory: object, db_session: Session
) -> None:
    app = create_app(settings.model_copy(update={"staff_logins_per_window": 2}))
    app.state.sessionmaker = session_factory
    user = make_staff(db_session)
    limited = another_browser(app)
    assert log_in(limited, user.email, "wrong password guess").status_code == 401
    assert log_in(limited, user.email, "wrong password guess").status_code == 401
    blocked = log_in(limited, user.email)
    assert blocked.status_code == 429
    assert translate("zh", "staff.login.too_many") in blocked.text
    assert SESSION_COOKIE not in limited.cookies


def test_expired_session_is_refused(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session)
    open_session(client, db_session, user)
    assert client.get("/api/v1/staff/me").status_code == 200

    staff_session = db_session.scalars(
        select(StaffSession).where(StaffSession.staff_user_id == user.id)
    ).one()
    staff_session.expires_at = utc_now() - timedelta(seconds=1)
    db_session.commit()

    assert client.get("/api/v1/staff/me").status_code == 401
    page = client.get("/staff", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/staff/login")


def test_session_lifetime_follows_the_setting(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session)
    before = utc_now()
    response = log_in(client, user.email)
    staff_session = db_session.scalars(
        select(StaffSession).where(StaffSession.staff_user_id == user.id)
    ).one()
    lifetime = staff_session.expires_at - before
    assert timedelta(hours=7, minutes=59) < lifetime <= timedelta(hours=8, seconds=5)
    assert "max-age=28800" in _session_cookie(response).lower()


def test_disabled_users_sessions_stop_working(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session, StaffRole.organizer)
    open_session(client, db_session, user)
    assert client.get("/staff").status_code == 200

    user.is_active = False
    db_session.commit()

    assert client.get("/api/v1/staff/me").status_code == 401
    assert client.get("/staff", follow_redirects=False).status_code == 303
    refused = log_in(client, user.email)
    assert refused.status_code == 401
    assert FAILED in refused.text


def test_new_login_replaces_the_session_the_browser_had(
    client: TestClient, db_session: Session
) -> None:
    """No session fixation: a token planted before login is not the one that gets logged in."""
    user = make_staff(db_session)
    open_session(client, db_session, user)
    planted = client.cookies[SESSION_COOKIE]

    log_in(client, user.email)

    assert client.cookies[SESSION_COOKIE] != planted
    assert _sessions(db_session, user) == 1
    assert db_session.get(StaffSession, staff_service.session_id_for(planted)) is None


def test_staff_api_without_a_session_is_401_json(client: TestClient) -> None:
    response = client.get("/api/v1/staff/me", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "Please log in first."}
