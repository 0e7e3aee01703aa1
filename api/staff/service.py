"""Staff accounts, password checks, lockout and login sessions.

Sessions live in the database rather than in a signed cookie: logging out, disabling an account
or resetting its password must end its sessions at once, which a self-contained cookie cannot do
before it expires. The cookie holds a random token and the table only its SHA-256.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.config import Settings
from api.errors import Conflict, NotFound
from api.staff.models import StaffRole, StaffSession, StaffUser
from api.staff.schemas import StaffCreate, normalize_email

# argon2-cffi's defaults (RFC 9106's low-memory profile). Stored hashes carry their parameters,
# so raising these later rehashes each account at its next login.
PASSWORD_HASHER = PasswordHasher()
SESSION_TOKEN_BYTES = 32
# A session's `last_seen_at` is written at most this often, not on every request.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
SUBJECT_TYPE = "staff_user"
UNKNOWN_SUBJECT = "unknown"
DEMO_DOMAIN = "demo.invalid"


@dataclass(frozen=True)
class LoginPolicy:
    lockout_failures: int
    lockout_window: timedelta
    lockout_duration: timedelta
    session_lifetime: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "LoginPolicy":
        return cls(
            lockout_failures=settings.staff_lockout_failures,
            lockout_window=timedelta(minutes=settings.staff_lockout_window_minutes),
            lockout_duration=timedelta(minutes=settings.staff_lockout_minutes),
            session_lifetime=timedelta(hours=settings.staff_session_hours),
        )


def staff_actor(user: StaffUser) -> str:
    return f"staff:{user.id}"


# Passwords


def hash_password(password: str, hasher: PasswordHasher = PASSWORD_HASHER) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def new_password() -> str:
    """A random password for demo accounts: 20 characters, about 120 bits."""
    return secrets.token_urlsafe(15)


# Login


def _record(
    session: Session, now: datetime, actor: str, action: str, subject_id: str, **details: object
) -> None:
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=actor,
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=subject_id,
        details=details,
    )


def find_by_email(session: Session, email: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser).where(StaffUser.email == normalize_email(email))
    ).one_or_none()


def is_locked(user: StaffUser, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _count_failure(session: Session, user: StaffUser, policy: LoginPolicy, now: datetime) -> None:
    started = user.failed_login_window_started_at
    if started is None or now - started >= policy.lockout_window:
        user.failed_login_count = 0
        user.failed_login_window_started_at = now
    user.failed_login_count += 1
    _record(
        session,
        now,
        "system",
        "staff.login_failed",
        str(user.id),
        reason="wrong_password",
        failures=user.failed_login_count,
    )
    if user.failed_login_count >= policy.lockout_failures:
        _record(
            session,
            now,
            "system",
            "staff.lockout",
            str(user.id),
            failures=user.failed_login_count,
            locked_minutes=int(policy.lockout_duration.total_seconds() // 60),
        )
        user.locked_until = now + policy.lockout_duration
        # After the lock runs out the account gets a fresh set of attempts.
        user.failed_login_count = 0
        user.failed_login_window_started_at = None


def authenticate(
    session: Session, *, email: str, password: str, policy: LoginPolicy, now: datetime
) -> StaffUser | None:
    """The account these credentials open, or None; every outcome is written to the audit log.

    The caller must say the same thing for every None, so that nobody learns from the answer
    whether an address has an account, is disabled or is locked.
    """
    user = find_by_email(session, email)
    if user is None:
        # Hash anyway, so that an unknown address takes as long to refuse as a wrong password;
        # otherwise the response time alone would tell which addresses have accounts.
        verify_password(_dummy_hash(), password)
        _record(session, now, "system", "staff.login_failed", UNKNOWN_SUBJECT, reason="unknown")
        return None
    is_correct = verify_password(user.password_hash, password)
    if not user.is_active:
        _record(session, now, "system", "staff.login_failed", str(user.id), reason="disabled")
        return None
    if is_locked(user, now):
        # Attempts during a lock do not extend it, so nobody can keep an account locked forever.
        _record(session, now, "system", "staff.login_failed", str(user.id), reason="locked")
        return None
    if not is_correct:
        _count_failure(session, user, policy, now)
        return None
    is_rehashed = PASSWORD_HASHER.check_needs_rehash(user.password_hash)
    if is_rehashed:
        user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.failed_login_window_started_at = None
    user.locked_until = None
    user.last_login_at = now
    _record(session, now, staff_actor(user), "staff.login", str(user.id), rehashed=is_rehashed)
    return user


# Sessions


def session_id_for(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    session: Session, user: StaffUser, *, policy: LoginPolicy, now: datetime
) -> tuple[StaffSession, str]:
    """A new session for `user` and the token for its cookie (shown only this once)."""
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    staff_session = StaffSession(
        id=session_id_for(token),
        staff_user_id=user.id,
        created_at=now,
        expires_at=now + policy.session_lifetime,
        last_seen_at=now,
        csrf_token=secrets.token_urlsafe(SESSION_TOKEN_BYTES),
    )
    session.add(staff_session)
    session.flush()
    return staff_session, token


def resolve_session(
    session: Session, token: str, *, now: datetime
) -> tuple[StaffSession, StaffUser] | None:
    """The live session behind a cookie token and its user; None if expired, revoked or
    disabled."""
    row = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
        .where(StaffSession.id == session_id_for(token))
    ).one_or_none()
    if row is None:
        return None
    staff_session, user = row
    if staff_session.expires_at <= now or not user.is_active:
        return None
    if now - staff_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        staff_session.last_seen_at = now
    return staff_session, user


def end_session(
    session: Session, staff_session: StaffSession, user: StaffUser, *, now: datetime
) -> None:
    session.delete(staff_session)
    _record(session, now, staff_actor(user), "staff.logout", str(user.id))


def discard_session(session: Session, token: str) -> None:
    """Drop whatever session a stale cookie names, e.g. before a new login in the same browser."""
    session.execute(delete(StaffSession).where(StaffSession.id == session_id_for(token)))


def revoke_sessions(session: Session, user: StaffUser) -> int:
    result = session.execute(delete(StaffSession).where(StaffSession.staff_user_id == user.id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Administration


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.id)))


def count_staff(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StaffUser)) or 0


def get_staff(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("staff.error.not_found")
    return user


def create_staff(
    session: Session, data: StaffCreate, *, actor: str, now: datetime, via: str = "admin"
) -> StaffUser:
    if find_by_email(session, data.email) is not None:
        raise Conflict("staff.error.email_taken")
    user = StaffUser(
        email=normalize_email(data.email),
        display_name=data.display_name,
        role=data.role,
        password_hash=hash_password(data.password),
        is_active=True,
        created_at=now,
        failed_login_count=0,
    )
    session.add(user)
    session.flush()
    _record(session, now, actor, "staff.create", str(user.id), role=str(data.role), via=via)
    return user


def set_active(
    session: Session, user: StaffUser, *, is_active: bool, actor: StaffUser, now: datetime
) -> StaffUser:
    # Nobody can lock themselves out this way, so there is always an active admin left.
    if user.id == actor.id and not is_active:
        raise Conflict("staff.error.disable_self")
    user.is_active = is_active
    revoked = 0 if is_active else revoke_sessions(session, user)
    action = "staff.enable" if is_active else "staff.disable"
    _record(session, now, staff_actor(actor), action, str(user.id), sessions_revoked=revoked)
    return user


def reset_password(
    session: Session, user: StaffUser, password: str, *, actor: StaffUser, now: datetime
) -> StaffUser:
    """A new password set by an admin; every session of the account ends and any lock lifts."""
    user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.failed_login_window_started_at = None
    user.locked_until = None
    revoked = revoke_sessions(session, user)
    _record(
        session,
        now,
        staff_actor(actor),
        "staff.password_reset",
        str(user.id),
        sessions_revoked=revoked,
    )
    return user


def create_demo_staff(session: Session, *, now: datetime) -> list[tuple[StaffUser, str]]:
    """One account per role with a fresh random password each, for a first look at the demo."""
    accounts = []
    for role in StaffRole:
        password = new_password()
        data = StaffCreate(
            email=f"{role}@{DEMO_DOMAIN}",
            display_name=f"Demo {role}",
            role=role,
            password=password,
        )
        accounts.append(
            (create_staff(session, data, actor="system", now=now, via="demo"), password)
        )
    return accounts
