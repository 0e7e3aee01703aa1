"""Who may call a staff route: the session cookie, role checks and CSRF, as FastAPI dependencies.

Every staff route declares the roles it allows with `require_roles(...)`, as a parameter or in
`dependencies=[...]`. The requirement is a value that stays visible on the route
(`allowed_roles(route.dependant)`), so tests/api/test_access.py can walk every route and fail on
one that is neither on its public list nor limited to roles. The same dependency checks the CSRF
token on every request that can change something, so no staff route can forget to.

Without a session, JSON routes (under /api/) answer 401 and pages redirect to the login page;
with the wrong role both answer 403.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant

from api.config import Settings
from api.db import SessionDep, utc_now
from api.errors import Forbidden, Unauthorized
from api.staff import service as staff_service
from api.staff.models import StaffRole, StaffSession, StaffUser

SESSION_COOKIE = "gongsu_staff"
LOGIN_CSRF_COOKIE = "gongsu_staff_login"
LOGIN_PATH = "/staff/login"
HOME_PATH = "/staff"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_FORM_MAX_AGE = timedelta(hours=2)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginRequired(Unauthorized):
    """No session on a page request; `api.staff.pages` turns it into a redirect to the login
    page (without that handler it is still a plain 401)."""

    def __init__(self, next_path: str | None) -> None:
        super().__init__()
        self.next_path = next_path


class PageForbidden(Forbidden):
    """403 on a page request; `api.staff.pages` renders it as a page."""


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def safe_next_path(value: str | None) -> str:
    """`value` if it is a path on this site, else the staff home: `next` must not send anyone to
    another site after logging in (`//evil.example`, `/\\evil.example`, `https://…`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME_PATH
    # Browsers drop tabs and newlines from URLs, which would turn "/\t/evil" into "//evil".
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        return HOME_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    return value


def login_url(next_path: str | None) -> str:
    if not next_path or safe_next_path(next_path) != next_path:
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"


def is_secure(request: Request, settings: Settings) -> bool:
    return settings.cookie_secure or request.url.scheme == "https"


def _unauthorized(request: Request) -> Unauthorized:
    if is_api_request(request):
        return Unauthorized()
    # Only a GET can be repeated after logging in; a form post goes back to the staff home.
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        return LoginRequired(request.url.path + query)
    return LoginRequired(None)


def _forbidden(request: Request, detail_key: str | None = None) -> Forbidden:
    return Forbidden(detail_key) if is_api_request(request) else PageForbidden(detail_key)


@dataclass(frozen=True)
class StaffLogin:
    user: StaffUser
    session: StaffSession


def current_login(request: Request, db: SessionDep) -> StaffLogin:
    """The session the cookie names, if it is live and its account enabled; any role."""
    token = request.cookies.get(SESSION_COOKIE)
    resolved = staff_service.resolve_session(db, token, now=utc_now()) if token else None
    if resolved is None:
        raise _unauthorized(request)
    staff_session, user = resolved
    return StaffLogin(user=user, session=staff_session)


CurrentLogin = Annotated[StaffLogin, Depends(current_login)]


async def _submitted_csrf_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette keeps the parsed form on the request, so the route reads the same one.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def tokens_match(expected: str, given: str) -> bool:
    # compare_digest, so the comparison takes as long however many characters match.
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass(frozen=True)
class RoleRequirement:
    """A dependency giving the logged-in `StaffUser` if their role is one of `roles`.

    On any method but GET/HEAD/OPTIONS it also wants the session's CSRF token, in the
    `X-CSRF-Token` header (JSON) or the `csrf_token` form field (pages). Frozen, so equal
    requirements are one dependency that FastAPI runs once per request.
    """

    roles: frozenset[StaffRole]

    async def __call__(self, request: Request, login: CurrentLogin) -> StaffUser:
        if login.user.role not in self.roles:
            raise _forbidden(request)
        if request.method not in SAFE_METHODS:
            given = await _submitted_csrf_token(request)
            if not tokens_match(login.session.csrf_token, given):
                raise _forbidden(request, "staff.error.csrf")
        return login.user


def require_roles(*roles: StaffRole) -> RoleRequirement:
    if not roles:
        raise ValueError("name at least one role; routes open to everyone need no requirement")
    return RoleRequirement(frozenset(roles))


def allowed_roles(dependant: Dependant) -> frozenset[StaffRole] | None:
    """The roles every requirement on a route (and its dependencies) lets through, or None if
    the route has no requirement at all."""
    allowed: frozenset[StaffRole] | None = None
    pending = [dependant]
    while pending:
        current = pending.pop()
        if isinstance(current.call, RoleRequirement):
            roles = current.call.roles
            allowed = roles if allowed is None else allowed & roles
        pending.extend(current.dependencies)
    return allowed


CurrentStaff = Annotated[StaffUser, Depends(require_roles(*StaffRole))]
AdminStaff = Annotated[StaffUser, Depends(require_roles(StaffRole.admin))]


async def _csrf_token(login: CurrentLogin) -> str:
    # A coroutine, so reading an attribute costs no trip through the thread pool.
    return login.session.csrf_token


# For forms on staff pages and for JSON clients; the route still needs a role requirement.
CsrfToken = Annotated[str, Depends(_csrf_token)]


# The login form's own CSRF token. There is no session yet to bind it to, so it is a double
# submit: the same value in a cookie and in the form, which another site can neither read nor
# set. It is also signed and dated, so only this server can mint one and an old one expires.


def _login_signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def new_login_csrf_token(settings: Settings, now: datetime) -> str:
    payload = f"{secrets.token_urlsafe(16)}.{int(now.timestamp())}"
    return f"{payload}.{_login_signature(settings.secret_key.get_secret_value(), payload)}"


def login_csrf_ok(settings: Settings, cookie: str | None, form: str, now: datetime) -> bool:
    if not cookie or not tokens_match(cookie, form):
        return False
    payload, _, signature = cookie.rpartition(".")
    expected = _login_signature(settings.secret_key.get_secret_value(), payload)
    if not tokens_match(expected, signature):
        return False
    issued = payload.rpartition(".")[2]
    if not issued.isdigit():
        return False
    return now.timestamp() - int(issued) <= LOGIN_FORM_MAX_AGE.total_seconds()
