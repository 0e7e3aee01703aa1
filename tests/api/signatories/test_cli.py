"""`python -m api verify-ledger`, `rotate-identity-keys` and `purge-identities`."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.cli import main
from api.config import Settings
from api.db import make_engine, utc_now
from api.signatories import service as signatory_service
from api.signatories.models import ConsentPurpose, Signatory, SignatoryIdentity
from api.signatories.schemas import JoinSubmission
from api.staff.models import StaffRole
from tests.api.campaigns.conftest import make_run
from tests.api.signatories.conftest import (
    PEOPLE,
    RETENTION_DAYS,
    close_campaign,
    file_report,
    key_spec,
    open_campaign,
)
from tests.api.staff.factories import make_staff
from tests.api.staff.test_cli import cli_database_url

__all__ = ["cli_database_url"]


def _join_two(database_url: str, tmp_path: Path) -> int:
    """Two signatories in an open campaign, committed; returns the campaign id."""
    settings = Settings()
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        organizer = make_staff(session, StaffRole.organizer)
        lawyer = make_staff(session, StaffRole.lawyer)
        reports = [file_report(session, tmp_path)[0] for _ in range(2)]
        make_run(session, {"c-one": reports})
        campaign = open_campaign(session, organizer, [lawyer])
        for report, person in zip(reports, PEOPLE, strict=False):
            signatory_service.join_campaign(
                session,
                report=report,
                campaign_slug=campaign.slug,
                submission=JoinSubmission(identity=person.identity(), consents=set(ConsentPurpose)),
                language="zh",
                key_ring=signatory_service.settings_key_ring(settings),
                hash_key=signatory_service.settings_hash_key(settings),
                retention_days=RETENTION_DAYS,
                now=utc_now(),
            )
        session.commit()
        close_campaign(session, campaign, organizer, utc_now() - timedelta(days=1))
    engine.dispose()
    return campaign.id


def test_the_ledger_commands(
    cli_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GONGSU_IDENTITY_KEYS", json.dumps([key_spec("k1")]))
    assert main(["verify-ledger"]) == 0
    _join_two(cli_database_url, tmp_path)
    capsys.readouterr()

    assert main(["verify-ledger"]) == 0
    assert "consent ledger: 8 entries\nconsent ledger: intact" in capsys.readouterr().out

    monkeypatch.setenv("GONGSU_IDENTITY_KEYS", json.dumps([key_spec("k2"), key_spec("k1")]))
    assert main(["rotate-identity-keys"]) == 0
    assert "10 fields re-encrypted under key 'k2'" in capsys.readouterr().out
    monkeypatch.setenv("GONGSU_IDENTITY_KEYS", json.dumps([key_spec("k3")]))
    assert main(["rotate-identity-keys"]) == 1
    assert "nothing changed: no key with id 'k2'" in capsys.readouterr().err

    engine = make_engine(cli_database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE consent SET text_sha256 = :x WHERE id = 2"), {"x": "0" * 64}
        )
        connection.execute(text("DELETE FROM consent_ledger_entry WHERE seq = 8"))
    engine.dispose()
    assert main(["verify-ledger"]) == 1
    out = capsys.readouterr().out
    assert "the newest entries were deleted" in out
    assert "consent 2 no longer matches what the ledger recorded" in out


def test_purge_identities_after_the_retention_period(
    cli_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _join_two(cli_database_url, tmp_path)
    capsys.readouterr()

    # Closed a day ago: kept with two days' retention, deleted with one.
    monkeypatch.setenv("GONGSU_IDENTITY_RETENTION_DAYS", "2")
    assert main(["purge-identities"]) == 0
    out = capsys.readouterr().out
    assert "identities: 0 signatories' identities and 0 exhibit bundles deleted" in out
    monkeypatch.setenv("GONGSU_IDENTITY_RETENTION_DAYS", "1")
    assert main(["purge-identities"]) == 0
    out = capsys.readouterr().out
    assert "identities: 2 signatories' identities and 0 exhibit bundles deleted" in out

    engine = make_engine(cli_database_url)
    with Session(engine) as session:
        assert session.scalars(select(SignatoryIdentity)).all() == []
        purged = session.scalars(select(Signatory.identity_purged_at)).all()
    engine.dispose()
    assert len(purged) == 2 and all(purged)
