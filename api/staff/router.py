"""JSON API for staff accounts. Logging in happens on the login page; JSON clients then send
the session cookie, and the token from `GET /api/v1/staff/me` in `X-CSRF-Token`."""

from fastapi import APIRouter, status

from api.db import SessionDep, utc_now
from api.staff import service as staff_service
from api.staff.dependencies import AdminStaff, CsrfToken, CurrentStaff
from api.staff.schemas import PasswordReset, StaffCreate, StaffMe, StaffRead

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

_ERRORS = {
    401: {"description": "Not logged in, or the session expired"},
    403: {"description": "This role may not do this, or the CSRF token is missing or wrong"},
}
_ACCOUNT_ERRORS = {
    **_ERRORS,
    404: {"description": "No staff account has this id"},
    409: {"description": "The e-mail address is taken, or an admin tried to disable themselves"},
    422: {"description": "A field is invalid; the body names it and says why"},
}


@router.get("/me", response_model=StaffMe, responses=_ERRORS)
def read_me(user: CurrentStaff, csrf_token: CsrfToken) -> StaffMe:
    """The logged-in account and the CSRF token its JSON calls must send."""
    return StaffMe.model_validate(
        {**StaffRead.model_validate(user).model_dump(), "csrf_token": csrf_token}
    )


@router.get("/users", response_model=list[StaffRead], responses=_ERRORS)
def list_users(session: SessionDep, admin: AdminStaff) -> list[StaffRead]:
    return [StaffRead.model_validate(user) for user in staff_service.list_staff(session)]


@router.post(
    "/users",
    response_model=StaffRead,
    status_code=status.HTTP_201_CREATED,
    responses=_ACCOUNT_ERRORS,
)
def create_user(data: StaffCreate, session: SessionDep, admin: AdminStaff) -> StaffRead:
    """Open an account with an initial password, to be handed over outside this system."""
    user = staff_service.create_staff(
        session, data, actor=staff_service.staff_actor(admin), now=utc_now()
    )
    return StaffRead.model_validate(user)


@router.post("/users/{user_id}/disable", response_model=StaffRead, responses=_ACCOUNT_ERRORS)
def disable_user(user_id: int, session: SessionDep, admin: AdminStaff) -> StaffRead:
    """Disable the account and end its sessions at once. Accounts are never deleted."""
    user = staff_service.get_staff(session, user_id)
    staff_service.set_active(session, user, is_active=False, actor=admin, now=utc_now())
    return StaffRead.model_validate(user)


@router.post("/users/{user_id}/enable", response_model=StaffRead, responses=_ACCOUNT_ERRORS)
def enable_user(user_id: int, session: SessionDep, admin: AdminStaff) -> StaffRead:
    user = staff_service.get_staff(session, user_id)
    staff_service.set_active(session, user, is_active=True, actor=admin, now=utc_now())
    return StaffRead.model_validate(user)


@router.post("/users/{user_id}/password", response_model=StaffRead, responses=_ACCOUNT_ERRORS)
def reset_password(
    user_id: int, data: PasswordReset, session: SessionDep, admin: AdminStaff
) -> StaffRead:
    """Set a new password; the account's sessions end and any lockout lifts."""
    user = staff_service.get_staff(session, user_id)
    staff_service.reset_password(session, user, data.password, actor=admin, now=utc_now())
    return StaffRead.model_validate(user)
