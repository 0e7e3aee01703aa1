"""Deny by default: every route is either on the public list below or limited to staff roles.

The walker reads the roles from the routes themselves (`require_roles(...)` stays visible on
`route.dependant`), so a new route is checked the moment it exists: with no role requirement
and not listed here, it fails `test_every_route_is_public_or_limited_to_roles`.
"""

import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.i18n import translate
from api.staff.dependencies import SAFE_METHODS, allowed_roles
from api.staff.models import StaffRole
from tests.api.staff.factories import another_browser, make_staff, open_session

# Framework routes with nothing of ours behind them.
NOT_CHECKED = {"/static", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/healthz"}

# Open to anyone. Keep this short: each entry is a deliberate decision.
PUBLIC = {
    # The anonymous report form, and the receipt pages and API where the code is the key.
    ("GET", "/"),
    ("POST", "/"),
    ("GET", "/r/"),
    ("POST", "/r/"),
    ("GET", "/r/{code}"),
    ("POST", "/r/{code}/update"),
    ("POST", "/r/{code}/evidence"),
    ("POST", "/r/{code}/withdraw"),
    # Joining a campaign as a signatory, and leaving it, with the receipt code as the key.
    ("GET", "/r/{code}/campaigns"),
    ("GET", "/r/{code}/join/{campaign_slug}"),
    ("POST", "/r/{code}/join/{campaign_slug}"),
    ("POST", "/r/{code}/leave/{campaign_slug}"),
    ("POST", "/api/v1/reports/preview"),
    ("POST", "/api/v1/reports"),
    ("GET", "/api/v1/receipts/{code}"),
    ("POST", "/api/v1/receipts/{code}/updates"),
    ("POST", "/api/v1/receipts/{code}/evidence"),
    ("POST", "/api/v1/receipts/{code}/withdraw"),
    # Lender autocomplete for the report form.
    ("GET", "/api/v1/lenders"),
    # Public campaign pages: aggregates only, small groups suppressed.
    ("GET", "/c/{slug}"),
    # Staff have to be able to reach the login form.
    ("GET", "/staff/login"),
    ("POST", "/staff/login"),
}

LANGUAGE = {"Accept-Language": "en"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The app's audit sealer thread shares the test's connection; keep it quiet meanwhile.
    return settings.model_copy(update={"audit_seal_interval_s": 3600.0})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    roles: frozenset[StaffRole] | None

    @property
    def is_public(self) -> bool:
        return (self.method, self.path) in PUBLIC

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def url(self) -> str:
        # Any value will do for a path parameter: access is decided before it is looked at.
        return re.sub(r"\{[^}]+\}", "1", self.path)


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(app.routes):
        if context.path in NOT_CHECKED:
            continue
        dependant = getattr(context, "dependant", None)
        assert dependant is not None, f"{context.path} is not a FastAPI route; check it by hand"
        for method in sorted(context.methods or ()):
            found.append(Endpoint(method, str(context.path), allowed_roles(dependant)))
    return found


def staff_endpoints(app: FastAPI) -> list[Endpoint]:
    return [endpoint for endpoint in endpoints(app) if not endpoint.is_public]


def unguarded(app: FastAPI) -> list[str]:
    return [
        f"{endpoint.method} {endpoint.path}"
        for endpoint in staff_endpoints(app)
        if endpoint.roles is None
    ]


def test_every_route_is_public_or_limited_to_roles(app: FastAPI) -> None:
    found = endpoints(app)
    assert unguarded(app) == [], "add require_roles(...) to these routes, or list them as PUBLIC"
    public_with_roles = [e.path for e in found if e.is_public and e.roles is not None]
    assert public_with_roles == []
    assert PUBLIC - {(e.method, e.path) for e in found} == set(), "PUBLIC lists routes now gone"
    assert staff_endpoints(app), "the walker found no staff routes at all"


def test_the_walker_notices_a_new_unguarded_route(app: FastAPI) -> None:
    @app.get("/staff/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert "GET /staff/forgotten" in unguarded(app)


def test_staff_routes_refuse_anonymous_callers(client: TestClient) -> None:
    for endpoint in staff_endpoints(client.app):
        response = client.request(
            endpoint.method, endpoint.url, headers=LANGUAGE, follow_redirects=False
        )
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.is_api:
            assert response.status_code == 401, where
            assert response.json()["error"] == "unauthorized", where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/staff/login"), where


def test_staff_routes_refuse_roles_without_the_right(
    client: TestClient, db_session: Session
) -> None:
    browsers, csrf_tokens = {}, {}
    for role in StaffRole:
        browsers[role] = another_browser(client.app)
        # Pages follow the language switch, not Accept-Language (api.i18n.request_language).
        browsers[role].cookies.set("lang", "en", domain="testserver.local")
        csrf_tokens[role] = open_session(browsers[role], db_session, make_staff(db_session, role))
    role_refusal = translate("en", "error.forbidden")
    csrf_refusal = translate("en", "staff.error.csrf")

    for endpoint in staff_endpoints(client.app):
        where = f"{endpoint.method} {endpoint.path}"
        assert endpoint.roles is not None, where
        for role in StaffRole:
            browser = browsers[role]
            if role not in endpoint.roles:
                response = browser.request(
                    endpoint.method,
                    endpoint.url,
                    headers={**LANGUAGE, "X-CSRF-Token": csrf_tokens[role]},
                    follow_redirects=False,
                )
                assert response.status_code == 403, f"{where} as {role}"
                assert role_refusal in response.text, f"{where} as {role}"
            elif endpoint.method not in SAFE_METHODS:
                # Allowed, but not without the session's CSRF token.
                response = browser.request(
                    endpoint.method, endpoint.url, headers=LANGUAGE, follow_redirects=False
                )
                assert response.status_code == 403, f"{where} as {role} without CSRF"
                assert csrf_refusal in response.text, f"{where} as {role} without CSRF"
            else:
                response = browser.request(
                    endpoint.method, endpoint.url, headers=LANGUAGE, follow_redirects=False
                )
                assert response.status_code not in (401, 403), f"{where} as {role}"
