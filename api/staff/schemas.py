from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from api.staff.models import StaffRole

PASSWORD_MIN_LENGTH = 12
# Long enough for any passphrase; bounded so nobody makes the server hash megabytes.
PASSWORD_MAX_LENGTH = 256
# Deliberately loose: the address is checked by the admin who types it, not by sending mail.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"


def normalize_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[
    str, Field(max_length=254, pattern=EMAIL_PATTERN), AfterValidator(normalize_email)
]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]


def _trimmed_not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "cannot be blank")
    return value.strip()


DisplayName = Annotated[
    str, Field(min_length=1, max_length=120), AfterValidator(_trimmed_not_blank)
]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    display_name: DisplayName
    role: StaffRole
    password: Password


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


class StaffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: StaffRole
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None


class StaffMe(StaffRead):
    """The logged-in user, with the token that JSON calls send back in `X-CSRF-Token`."""

    csrf_token: str
