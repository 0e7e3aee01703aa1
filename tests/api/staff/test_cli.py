"""`python -m api create-admin`, the demo logins `setup` prints, and the production checks."""

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.cli import first_staff_login, main
from api.config import Settings
from api.db import make_engine
from api.staff import service as staff_service
from api.staff.models import StaffRole, StaffUser

ADMIN_PASSWORD = "the first admin's passphrase"
# Private values for every secret a production start-up checks (api.config).
PRODUCTION = {
    "env": "production",
    "identity_keys": ["prod-1:" + "cHJvZHVjdGlvbi1pZGVudGl0eS1rZXktMzItYnl0ZXM="],
    "identity_hash_key": "h" * 40,
}
DEMO_LINE_RE = re.compile(r"^\s+(\w+)\s+(\S+@demo\.invalid) / (\S+)$", re.M)


@pytest.fixture
def cli_database_url(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database of the test backend that the CLI, which commits, may fill."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        scratch = f"sqlite:///{tmp_path / 'cli.db'}"
        admin = None
    else:
        name = f"{url.database}_cli"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = url.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("GONGSU_DATABASE_URL", scratch)
    monkeypatch.setenv("GONGSU_DATA_DIR", str(tmp_path / "data"))
    assert main(["migrate"]) == 0
    yield scratch
    if admin is not None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _accounts(database_url: str) -> list[StaffUser]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.id)))
    engine.dispose()
    return users


def _events(database_url: str) -> list[AuditEvent]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    engine.dispose()
    return events


def _create_admin(monkeypatch: pytest.MonkeyPatch, email: str, password: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["create-admin", email, "--password-stdin"])


def test_create_admin_reads_the_password_from_stdin(
    cli_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _create_admin(monkeypatch, " Root@Example.ORG ", ADMIN_PASSWORD) == 0

    (admin,) = _accounts(cli_database_url)
    assert admin.email == "root@example.org"
    assert admin.role == StaffRole.admin
    assert admin.display_name == "Root"
    assert staff_service.verify_password(admin.password_hash, ADMIN_PASSWORD)
    output = capsys.readouterr().out
    assert "root@example.org" in output
    assert ADMIN_PASSWORD not in output
    (event,) = [event for event in _events(cli_database_url) if event.action == "staff.create"]
    assert (event.actor, event.details) == ("system", {"role": "admin", "via": "cli"})
    assert event.event_hash is not None, "the CLI seals what it wrote"


def test_create_admin_refuses_weak_passwords_and_taken_addresses(
    cli_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _create_admin(monkeypatch, "root@example.org", "short") == 2
    assert "password" in capsys.readouterr().err
    assert _accounts(cli_database_url) == []

    assert _create_admin(monkeypatch, "root@example.org", ADMIN_PASSWORD) == 0
    assert _create_admin(monkeypatch, "ROOT@example.org", ADMIN_PASSWORD + "!") == 1
    assert "already has an account" in capsys.readouterr().err
    assert len(_accounts(cli_database_url)) == 1


def test_setup_prints_demo_logins_once(
    cli_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first_staff_login(Settings(), demo_requested=True)
    printed = capsys.readouterr().out
    logins = DEMO_LINE_RE.findall(printed)
    assert [role for role, _, _ in logins] == ["admin", "organizer", "lawyer"]
    assert "/staff/login" in printed
    accounts = {user.email: user for user in _accounts(cli_database_url)}
    for role, email, password in logins:
        assert accounts[email].role == role
        assert staff_service.verify_password(accounts[email].password_hash, password)
    assert len({password for _, _, password in logins}) == 3

    first_staff_login(Settings(), demo_requested=True)
    again = capsys.readouterr().out
    assert "/staff/login" in again
    assert DEMO_LINE_RE.search(again) is None
    assert len(_accounts(cli_database_url)) == 3


@pytest.mark.parametrize(
    "settings_overrides",
    [{"demo": False}, {**PRODUCTION, "secret_key": "p" * 40}],
)
def test_setup_without_demo_points_to_create_admin(
    cli_database_url: str, capsys: pytest.CaptureFixture[str], settings_overrides: dict[str, object]
) -> None:
    first_staff_login(Settings(**settings_overrides), demo_requested=True)
    assert "create-admin" in capsys.readouterr().out
    assert _accounts(cli_database_url) == []


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(ValidationError, match="GONGSU_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="GONGSU_SECRET_KEY"):
        Settings(env="production", secret_key="too short")
    assert Settings(**PRODUCTION, secret_key="k" * 40).env == "production"
    with pytest.raises(ValidationError):
        Settings(env="prod")
