"""Password hashing: argon2id, verification, and rehashing when the parameters change."""

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.config import Settings
from api.db import utc_now
from api.staff import service as staff_service
from api.staff.models import StaffUser
from api.staff.service import LoginPolicy
from tests.api.staff.factories import PASSWORD, log_in, make_staff, password_hash


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    password_hash = staff_service.hash_password(PASSWORD)
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert staff_service.verify_password(password_hash, PASSWORD)
    assert not staff_service.verify_password(password_hash, PASSWORD + " ")
    assert not staff_service.verify_password("not a hash", PASSWORD)
    assert staff_service.hash_password(PASSWORD) != password_hash


def test_login_rehashes_a_hash_made_with_older_parameters(
    client: TestClient, db_session: Session
) -> None:
    user = make_staff(db_session)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    user.password_hash = staff_service.hash_password(PASSWORD, weak)
    db_session.commit()
    assert staff_service.PASSWORD_HASHER.check_needs_rehash(user.password_hash)

    assert log_in(client, user.email).status_code == 303

    db_session.expire_all()
    rehashed = db_session.get(StaffUser, user.id).password_hash
    assert not staff_service.PASSWORD_HASHER.check_needs_rehash(rehashed)
    assert staff_service.verify_password(rehashed, PASSWORD)
    login = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.login")).one()
    assert login.details == {"rehashed": True}


def test_login_keeps_a_current_hash(client: TestClient, db_session: Session) -> None:
    user = make_staff(db_session)
    before = user.password_hash
    assert log_in(client, user.email).status_code == 303
    db_session.expire_all()
    assert db_session.get(StaffUser, user.id).password_hash == before


def test_every_refusal_costs_one_password_check(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown, disabled, locked and wrong all hash once, so timing tells them apart no better
    than the message does."""
    checks: list[str] = []
    real_verify = staff_service.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        checks.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(staff_service, "verify_password", counting_verify)
    policy = LoginPolicy.from_settings(Settings())
    now = utc_now()
    disabled = make_staff(db_session, is_active=False)
    locked = make_staff(db_session)
    locked.locked_until = now + timedelta(minutes=5)
    active = make_staff(db_session)
    db_session.commit()

    attempts = [
        ("nobody@example.org", PASSWORD),
        (disabled.email, PASSWORD),
        (locked.email, PASSWORD),
        (active.email, "wrong password guess"),
    ]
    for email, password in attempts:
        before = len(checks)
        user = staff_service.authenticate(
            db_session, email=email, password=password, policy=policy, now=now
        )
        assert user is None
        assert len(checks) == before + 1, email
    assert checks[0] != password_hash()
