from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class StaffRole(StrEnum):
    admin = "admin"
    organizer = "organizer"
    lawyer = "lawyer"


class StaffUser(Base):
    """A person who works on the platform. Accounts are disabled, never deleted, so that every
    audit event keeps naming someone."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Trimmed and lower-cased before it is stored or looked up, so one address is one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[StaffRole] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # Failed logins since `failed_login_window_started_at`; reset by a success or by the window
    # running out, and the account is locked when it reaches the threshold inside the window.
    failed_login_count: Mapped[int] = mapped_column(default=0)
    failed_login_window_started_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class StaffSession(Base):
    """A login. The browser holds a random token; only its SHA-256 is kept here, so a copy of the
    database cannot be replayed as a cookie."""

    __tablename__ = "staff_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    csrf_token: Mapped[str] = mapped_column(String(64))
