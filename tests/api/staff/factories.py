"""Staff accounts and logins for tests.

Accounts are inserted with one password hash computed per run, since argon2 is slow on purpose;
tests about passwords go through the real login form instead.
"""

import itertools
import re
from functools import cache

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.db import utc_now
from api.staff import service as staff_service
from api.staff.dependencies import SESSION_COOKIE
from api.staff.models import StaffRole, StaffUser
from api.staff.service import LoginPolicy

PASSWORD = "correct horse battery staple"
CSRF_FIELD_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
_numbers = itertools.count(1)


@cache
def password_hash() -> str:
    return staff_service.hash_password(PASSWORD)


def make_staff(
    session: Session,
    role: StaffRole = StaffRole.admin,
    *,
    email: str | None = None,
    is_active: bool = True,
) -> StaffUser:
    """An account with the password `PASSWORD`, committed so the app's requests see it."""
    number = next(_numbers)
    user = StaffUser(
        email=email or f"{role}-{number}@example.org",
        display_name=f"Test {role} {number}",
        role=role,
        password_hash=password_hash(),
        is_active=is_active,
        created_at=utc_now(),
        failed_login_count=0,
    )
    session.add(user)
    session.commit()
    return user


def csrf_from_page(html: str) -> str:
    match = CSRF_FIELD_RE.search(html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def log_in(
    client: TestClient, email: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    """Log in through the login form, as a browser would."""
    page = client.get("/staff/login")
    assert page.status_code == 200
    return client.post(
        "/staff/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_from_page(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def open_session(client: TestClient, session: Session, user: StaffUser) -> str:
    """Log `client` in as `user` without the slow password check; returns the CSRF token."""
    policy = LoginPolicy.from_settings(Settings())
    staff_session, token = staff_service.start_session(session, user, policy=policy, now=utc_now())
    session.commit()
    # The domain a cookie set by the test server gets, so that a later login replaces this one.
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")
    return staff_session.csrf_token


def another_browser(app: FastAPI, base_url: str = "http://testserver") -> TestClient:
    """A second browser on the app. Not entered with `with`, so it starts no second lifespan,
    and with it no second audit-sealer thread on the test's database connection."""
    return TestClient(app, base_url=base_url)
