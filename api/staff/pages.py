"""HTML pages for staff: login and logout, the staff home, and account administration (admin).

Plain form posts, no JavaScript. Every form carries the CSRF token in a hidden `csrf_token`
field; the role requirement on each route checks it (see api.staff.dependencies).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.config import Settings, SettingsDep
from api.db import SessionDep, utc_now
from api.errors import DomainError, pydantic_problems, validation_body
from api.i18n import Language, request_language, translate
from api.rendering import FieldErrors, FormDep, field_id, form_text, format_moment, render_page
from api.staff import service as staff_service
from api.staff.dependencies import (
    CSRF_FIELD,
    HOME_PATH,
    LOGIN_CSRF_COOKIE,
    LOGIN_FORM_MAX_AGE,
    LOGIN_PATH,
    SESSION_COOKIE,
    AdminStaff,
    CsrfToken,
    CurrentLogin,
    CurrentStaff,
    LoginRequired,
    PageForbidden,
    is_secure,
    login_csrf_ok,
    login_url,
    new_login_csrf_token,
    safe_next_path,
)
from api.staff.models import StaffRole, StaffUser
from api.staff.schemas import PasswordReset, StaffCreate
from api.staff.service import LoginPolicy

router = APIRouter(include_in_schema=False)

USERS_PATH = "/staff/users"
_DONE_NOTICES = ("created", "disabled", "enabled", "password")
_CREATE_FIELDS = ("email", "display_name", "role")
_KNOWN_FIELDS = {*_CREATE_FIELDS, "password"}


@dataclass
class StaffForm(FieldErrors):
    """Values as typed and errors by field, in the shape `_macros.html` expects."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    summary: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add_error(self, language: Language, name: str | None, message: str) -> None:
        if name is None:
            self.summary.append((translate(language, "staff.error.summary"), message, None))
            return
        self.errors.setdefault(name, []).append(message)
        label = translate(language, f"staff.field.{name}")
        self.summary.append((label, message, field_id(name)))


def _raw(form: FormData, name: str) -> str:
    """A field exactly as typed: passwords keep their spaces."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    return render_page(
        request, template, {"csrf_field": CSRF_FIELD, **context}, status_code=status_code
    )


def install_page_handlers(app: FastAPI) -> None:
    """Pages answer a missing session with the login page and a wrong role with a 403 page."""

    async def redirect_to_login(request: Request, error: Exception) -> Response:
        assert isinstance(error, LoginRequired)
        return RedirectResponse(login_url(error.next_path), status_code=303)

    async def forbidden_page(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageForbidden)
        language = request_language(request)
        message = translate(language, error.detail_key)
        return _render(request, "staff/forbidden.html", {"message": message}, status_code=403)

    app.add_exception_handler(LoginRequired, redirect_to_login)
    app.add_exception_handler(PageForbidden, forbidden_page)


# Login and logout


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_path: str,
    email: str = "",
    message_key: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = new_login_csrf_token(settings, utc_now())
    language = request_language(request)
    response = _render(
        request,
        "staff/login.html",
        {
            "form": StaffForm(values={"email": email}),
            "next_path": next_path,
            "csrf_token": token,
            "message": translate(language, message_key) if message_key else None,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=int(LOGIN_FORM_MAX_AGE.total_seconds()),
        path=LOGIN_PATH,
        httponly=True,
        samesite="lax",
        secure=is_secure(request, settings),
    )
    return response


@router.get(LOGIN_PATH, response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _login_page(
        request, settings, next_path=safe_next_path(request.query_params.get("next"))
    )


@router.post(LOGIN_PATH, response_model=None)
def post_login(
    request: Request, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    next_path = safe_next_path(form_text(form, "next"))
    email = form_text(form, "email")
    page = partial(_login_page, request, settings, next_path=next_path, email=email)
    client = request.client.host if request.client else "unknown"
    if not request.app.state.staff_login_limiter.allow(client):
        return page(message_key="staff.login.too_many", status_code=429)
    now = utc_now()
    if not login_csrf_ok(
        settings, request.cookies.get(LOGIN_CSRF_COOKIE), form_text(form, CSRF_FIELD), now
    ):
        return page(message_key="staff.login.expired", status_code=403)
    password = _raw(form, "password")
    if not email or not password:
        return page(message_key="staff.login.missing", status_code=422)
    policy = LoginPolicy.from_settings(settings)
    user = staff_service.authenticate(
        session, email=email, password=password, policy=policy, now=now
    )
    if user is None:
        # One message for every refusal; see staff_service.authenticate.
        return page(message_key="staff.login.failed", status_code=401)
    stale_token = request.cookies.get(SESSION_COOKIE)
    if stale_token:
        staff_service.discard_session(session, stale_token)
    _, token = staff_service.start_session(session, user, policy=policy, now=now)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(policy.session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request, settings),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/staff/logout", response_model=None)
def post_logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentStaff,
    login: CurrentLogin,
) -> Response:
    staff_service.end_session(session, login.session, user, now=utc_now())
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request, settings),
    )
    return response


# Staff home


@router.get(HOME_PATH, response_class=HTMLResponse)
def staff_home(request: Request, user: CurrentStaff, csrf_token: CsrfToken) -> HTMLResponse:
    return _render(
        request,
        "staff/home.html",
        {"staff": user, "csrf_token": csrf_token, "is_admin": user.role == StaffRole.admin},
    )


# Account administration


def _user_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "role": str(user.role),
            "is_active": user.is_active,
            "is_locked": staff_service.is_locked(user, now),
            "created_at": format_moment(user.created_at),
            "last_login_at": format_moment(user.last_login_at),
        }
        for user in staff_service.list_staff(session)
    ]


def _users_page(
    request: Request,
    session: Session,
    admin: StaffUser,
    csrf_token: str,
    *,
    form: StaffForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    done = request.query_params.get("done")
    language = request_language(request)
    return _render(
        request,
        "staff/users.html",
        {
            "staff": admin,
            "csrf_token": csrf_token,
            "users": _user_rows(session, utc_now()),
            "roles_options": [
                (str(role), translate(language, f"staff.role.{role}")) for role in StaffRole
            ],
            "form": form or StaffForm(values={"role": str(StaffRole.organizer)}),
            "done": done if done in _DONE_NOTICES else None,
        },
        status_code=status_code,
    )


def _form_with_errors(
    language: Language, values: dict[str, str], error: ValidationError | DomainError
) -> StaffForm:
    form = StaffForm(values=values)
    if isinstance(error, ValidationError):
        problems = validation_body(language, pydantic_problems(list(error.errors())))["errors"]
        for problem in problems:
            name = str(problem["field"])
            form.add_error(language, name if name in _KNOWN_FIELDS else None, problem["message"])
    else:
        form.add_error(language, None, str(error.body(language)["detail"]))
    return form


def _after(done: str) -> RedirectResponse:
    # Post/redirect/get, so reloading the page cannot repeat the action.
    return RedirectResponse(f"{USERS_PATH}?done={done}", status_code=303)


@router.get(USERS_PATH, response_class=HTMLResponse)
def users_page(
    request: Request, session: SessionDep, admin: AdminStaff, csrf_token: CsrfToken
) -> HTMLResponse:
    return _users_page(request, session, admin, csrf_token)


@router.post(USERS_PATH, response_model=None)
def post_create_user(
    request: Request,
    session: SessionDep,
    admin: AdminStaff,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    values = {name: form_text(form, name) for name in _CREATE_FIELDS}
    try:
        data = StaffCreate.model_validate({**values, "password": _raw(form, "password")})
        staff_service.create_staff(
            session, data, actor=staff_service.staff_actor(admin), now=utc_now()
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        status_code = error.status_code if isinstance(error, DomainError) else 422
        view = _form_with_errors(request_language(request), values, error)
        return _users_page(request, session, admin, csrf_token, form=view, status_code=status_code)
    return _after("created")


def _account_action(
    request: Request,
    session: Session,
    admin: StaffUser,
    csrf_token: str,
    action: Callable[[], object],
    done: str,
) -> Response:
    try:
        action()
    except (ValidationError, DomainError) as error:
        session.rollback()
        status_code = error.status_code if isinstance(error, DomainError) else 422
        view = _form_with_errors(request_language(request), {}, error)
        return _users_page(request, session, admin, csrf_token, form=view, status_code=status_code)
    return _after(done)


@router.post(f"{USERS_PATH}/{{user_id}}/disable", response_model=None)
def post_disable_user(
    request: Request, user_id: int, session: SessionDep, admin: AdminStaff, csrf_token: CsrfToken
) -> Response:
    def disable() -> object:
        user = staff_service.get_staff(session, user_id)
        return staff_service.set_active(session, user, is_active=False, actor=admin, now=utc_now())

    return _account_action(request, session, admin, csrf_token, disable, "disabled")


@router.post(f"{USERS_PATH}/{{user_id}}/enable", response_model=None)
def post_enable_user(
    request: Request, user_id: int, session: SessionDep, admin: AdminStaff, csrf_token: CsrfToken
) -> Response:
    def enable() -> object:
        user = staff_service.get_staff(session, user_id)
        return staff_service.set_active(session, user, is_active=True, actor=admin, now=utc_now())

    return _account_action(request, session, admin, csrf_token, enable, "enabled")


@router.post(f"{USERS_PATH}/{{user_id}}/password", response_model=None)
def post_reset_password(
    request: Request,
    user_id: int,
    session: SessionDep,
    admin: AdminStaff,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    def reset() -> object:
        data = PasswordReset.model_validate({"password": _raw(form, "password")})
        user = staff_service.get_staff(session, user_id)
        return staff_service.reset_password(
            session, user, data.password, actor=admin, now=utc_now()
        )

    return _account_action(request, session, admin, csrf_token, reset, "password")
