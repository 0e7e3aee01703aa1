"""Joining, the encrypted identity store, the consent ledger, leaving, retention and the
lawyer's view, through the service."""

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.errors import Conflict, Forbidden, NotFound
from api.reports import service as report_service
from api.reports.service import ReportHooks
from api.signatories import service as signatory_service
from api.signatories.crypto import IdentityCryptoError
from api.signatories.models import (
    Consent,
    ConsentLedgerEntry,
    ConsentPurpose,
    LedgerRewrite,
    Signatory,
    SignatoryIdentity,
    SignatoryRole,
    SignatoryStatus,
    WithdrawalCause,
)
from api.signatories.schemas import JoinSubmission
from api.signatories.service import JoinInvalid
from api.staff.models import StaffRole
from tests.api.campaigns.conftest import NOW, make_run
from tests.api.signatories.conftest import (
    HASH_KEY,
    PEOPLE,
    RETENTION_DAYS,
    World,
    close_campaign,
    file_campaign,
    file_report,
    open_campaign,
    ring,
)
from tests.api.staff.factories import make_staff


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_joining_numbers_signatories_in_order_and_the_lawyer_reads_them(world: World) -> None:
    first = world.join(0)
    second = world.join(1)

    assert (first.member_code, second.member_code) == ("S001", "S002")
    records = world.records()
    assert [record.member_code for record in records] == ["S001", "S002"]
    assert records[0].identity == PEOPLE[0].identity()
    assert records[0].report_id == world.reports[0].id
    assert records[0].role == "member"
    consents = world.session.scalars(
        select(Consent).where(Consent.signatory_id == first.id).order_by(Consent.id)
    ).all()
    assert [(c.purpose, c.recipient) for c in consents] == [
        (ConsentPurpose.join_group, "organizers"),
        (ConsentPurpose.share_with_lawyer, "campaign_lawyers"),
        (ConsentPurpose.file_with_recipient, "channel_recipient:regulator_complaint"),
        (ConsentPurpose.contact_for_updates, "campaign_lawyers"),
    ]
    lawyer_text = consents[1].text
    assert world.lawyer.display_name in lawyer_text
    assert "姓名" in lawyer_text and "居民身份证号码" in lawyer_text
    assert consents[1].text_version == "2026-11-28.1"


def test_the_form_asks_only_what_the_channel_needs(world: World, tmp_path: Path) -> None:
    mediation = open_campaign(
        world.session, world.organizer, [world.lawyer], channel="consumer_mediation"
    )
    form = signatory_service.join_form(
        world.session,
        report=world.reports[0],
        campaign_slug=mediation.slug,
        language="en",
        retention_days=RETENTION_DAYS,
    )
    assert [spec.key for spec in form.fields] == ["full_name", "phone", "address"]
    assert form.paper_fields == ("signature",)
    assert form.can_represent
    # No ID number is asked, so none is kept even when one is sent.
    signatory = world.join(0, campaign=mediation)
    assert signatory.identity_hash is None
    rows = world.session.scalars(
        select(SignatoryIdentity.field).where(SignatoryIdentity.signatory_id == signatory.id)
    ).all()
    assert sorted(rows) == ["address", "full_name", "phone"]


def test_no_identity_value_is_stored_in_clear(world: World) -> None:
    for index in range(len(PEOPLE)):
        world.join(index)

    connection = world.session.connection()
    texts, blobs = [], []
    for table in inspect(connection).get_table_names():
        for row in connection.execute(text(f'SELECT * FROM "{table}"')):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    blobs.append(bytes(value))
                else:
                    texts.append(json.dumps(value, ensure_ascii=False, default=str))
    everything = "\n".join(texts)
    for person in PEOPLE:
        for value in (person.full_name, person.id_number, person.phone, person.address):
            assert value not in everything
            assert all(value.encode("utf-8") not in blob for blob in blobs)
    assert count(world.session, SignatoryIdentity) == 5 * len(PEOPLE)


def test_a_ciphertext_moved_to_another_row_does_not_open(world: World) -> None:
    first, second = world.join(0), world.join(1)
    stolen = world.session.get(SignatoryIdentity, (first.id, "full_name"))
    target = world.session.get(SignatoryIdentity, (second.id, "full_name"))
    assert stolen is not None and target is not None
    target.nonce, target.ciphertext = stolen.nonce, stolen.ciphertext
    world.session.flush()

    with pytest.raises(IdentityCryptoError):
        world.records()


def test_old_keys_stay_readable_and_rotation_moves_rows_to_the_newest(world: World) -> None:
    world.join(0, key_ring=ring("k1"))
    both = ring("k2", "k1")
    world.join(1, key_ring=both)
    key_ids = world.session.scalars(select(SignatoryIdentity.key_id).distinct()).all()
    assert sorted(key_ids) == ["k1", "k2"]
    assert [r.identity["full_name"] for r in world.records(key_ring=both)] == ["张晓梅", "李建国"]

    rotated = signatory_service.rotate_identity_keys(world.session, key_ring=both, now=NOW)

    assert rotated == 5
    assert world.session.scalars(select(SignatoryIdentity.key_id).distinct()).all() == ["k2"]
    records = world.records(key_ring=ring("k2"))
    assert [record.identity for record in records] == [PEOPLE[0].identity(), PEOPLE[1].identity()]


def test_bad_input_names_the_field_and_changes_nothing(world: World) -> None:
    wrong_check_digit = PEOPLE[0].id_number[:17] + ("0" if PEOPLE[0].id_number[17] != "0" else "1")
    with pytest.raises(JoinInvalid) as caught:
        world.join(
            0,
            id_number=wrong_check_digit,
            phone="12",
            consents={ConsentPurpose.join_group},
        )
    assert caught.value.problems == [
        ("identity.id_number", "invalid_id_number"),
        ("identity.phone", "invalid_phone"),
        ("consent.share_with_lawyer", "consent_required"),
        ("consent.file_with_recipient", "consent_required"),
    ]
    body = caught.value.body("en")
    assert body["errors"][0]["field"] == "identity.id_number"
    assert "check character" in body["errors"][0]["message"]
    assert wrong_check_digit not in json.dumps(body)
    world.session.rollback()
    assert count(world.session, Signatory) == 0
    assert count(world.session, Consent) == 0


def test_a_report_joins_once_and_a_person_once(world: World) -> None:
    world.join(0)
    with pytest.raises(Conflict) as again:
        world.join(0)
    assert again.value.detail_key == "signatory.error.already_joined"
    world.session.rollback()

    # Another report, the same person (the ID typed with a space and a lower-case x is the same).
    spaced = PEOPLE[0].id_number[:6] + " " + PEOPLE[0].id_number[6:].lower()
    with pytest.raises(Conflict) as twice:
        world.join(1, PEOPLE[0], id_number=spaced, full_name="别的名字")
    assert twice.value.detail_key == "signatory.error.duplicate_person"
    world.session.rollback()
    assert count(world.session, Signatory) == 1


def test_only_open_campaigns_the_report_belongs_to_can_be_joined(
    world: World, tmp_path: Path
) -> None:
    outsider, _code = file_report(world.session, tmp_path)
    world.session.commit()
    with pytest.raises(NotFound):
        signatory_service.join_form(
            world.session,
            report=outsider,
            campaign_slug=world.campaign.slug,
            language="zh",
            retention_days=RETENTION_DAYS,
        )
    offers = signatory_service.campaigns_for_report(world.session, world.reports[0])
    assert [(item.campaign.id, item.can_join) for item in offers] == [(world.campaign.id, True)]
    assert signatory_service.campaigns_for_report(world.session, outsider) == []


def test_leaving_withdraws_every_consent_deletes_the_identity_and_is_never_offered_again(
    world: World, later: Callable[[int], datetime]
) -> None:
    signatory = world.join(0)
    world.join(1)
    fingerprint = signatory_service.consent_fingerprint(
        world.session, campaign_id=world.campaign.id
    )

    signatory_service.leave_campaign(
        world.session, report=world.reports[0], campaign_slug=world.campaign.slug, now=later(1)
    )
    world.session.commit()

    assert [record.member_code for record in world.records()] == ["S002"]
    assert signatory.status == SignatoryStatus.withdrawn
    assert signatory.withdrawal_cause == WithdrawalCause.consent_withdrawn
    assert signatory.identity_purged_at == later(1)
    assert signatory.campaign_filed_before_withdrawal_at is None
    remaining = world.session.scalars(
        select(SignatoryIdentity).where(SignatoryIdentity.signatory_id == signatory.id)
    ).all()
    assert remaining == []
    withdrawn = world.session.scalars(
        select(Consent.withdrawn_at).where(Consent.signatory_id == signatory.id)
    ).all()
    assert withdrawn == [later(1)] * 4
    assert (
        signatory_service.consent_fingerprint(world.session, campaign_id=world.campaign.id)
        != fingerprint
    )
    offers = signatory_service.campaigns_for_report(world.session, world.reports[0])
    assert [(item.can_join, item.can_leave) for item in offers] == [(False, False)]
    with pytest.raises(Conflict) as again:
        world.join(0)
    assert again.value.detail_key == "signatory.error.left"
    world.session.rollback()
    # The number is never reused: the next one to join is S003.
    assert world.join(2).member_code == "S003"
    assert signatory_service.verify_ledger(world.session).is_intact


def test_leaving_after_filing_records_that_the_filing_came_first(
    world: World, later: Callable[[int], datetime]
) -> None:
    signatory = world.join(0)
    file_campaign(world.session, world.campaign, world.organizer, world.lawyer, later(2))

    signatory_service.leave_campaign(
        world.session, report=world.reports[0], campaign_slug=world.campaign.slug, now=later(5)
    )
    world.session.commit()

    assert signatory.campaign_filed_before_withdrawal_at == later(2)
    assert world.records() == []
    entries = world.session.scalars(
        select(ConsentLedgerEntry).where(ConsentLedgerEntry.action == "withdrawn")
    ).all()
    assert {entry.content["campaign_filed_at"] for entry in entries} == {
        later(2).isoformat(timespec="microseconds")
    }
    offers = signatory_service.campaigns_for_report(world.session, world.reports[0])
    assert offers[0].signatory is signatory and not offers[0].can_leave


def test_withdrawing_the_report_removes_the_identity_from_campaigns_not_yet_filed(
    world: World, later: Callable[[int], datetime]
) -> None:
    filed = world.campaign
    world.join(0)
    world.join(1)
    file_campaign(world.session, filed, world.organizer, world.lawyer, later(1))
    # A second campaign over the same group, a regulator complaint after the lender complaint.
    unfiled = open_campaign(world.session, world.organizer, [world.lawyer])
    in_unfiled = world.join(0, campaign=unfiled)

    removed = signatory_service.remove_from_unfiled_campaigns(
        world.session, world.reports[0], now=later(3)
    )
    world.session.commit()

    assert removed == 1
    assert in_unfiled.status == SignatoryStatus.withdrawn
    assert in_unfiled.withdrawal_cause == WithdrawalCause.report_withdrawn
    assert in_unfiled.identity_purged_at == later(3)
    # The filed campaign keeps them as a party until its retention ends.
    assert [record.member_code for record in world.records()] == ["S001", "S002"]


def test_the_report_hook_runs_when_a_report_is_withdrawn(world: World) -> None:
    signatory = world.join(0)
    hooks = ReportHooks(withdrawn=[signatory_service.on_report_withdrawn])

    report_service.withdraw_report(world.session, report=world.reports[0], hooks=hooks)
    world.session.commit()

    assert signatory.status == SignatoryStatus.withdrawn
    assert world.records() == []


def test_identities_are_deleted_after_the_retention_period_once_a_campaign_closes(
    world: World, later: Callable[[int], datetime]
) -> None:
    signatories = [world.join(0), world.join(1)]
    close_campaign(world.session, world.campaign, world.organizer, later(10))

    assert (
        signatory_service.purge_expired_identities(
            world.session, later(10 + RETENTION_DAYS - 1), retention_days=RETENTION_DAYS
        )
        == 0
    )
    assert len(world.records()) == 2

    purged = signatory_service.purge_expired_identities(
        world.session, later(10 + RETENTION_DAYS), retention_days=RETENTION_DAYS
    )
    world.session.commit()

    assert purged == 2
    assert count(world.session, SignatoryIdentity) == 0
    assert all(s.identity_purged_at == later(10 + RETENTION_DAYS) for s in signatories)
    assert all(s.identity_hash is None for s in signatories)
    assert count(world.session, Signatory) == 2
    assert world.records() == []
    assert (
        signatory_service.purge_expired_identities(
            world.session, later(400), retention_days=RETENTION_DAYS
        )
        == 0
    )


def test_only_assigned_lawyers_see_identities_and_every_view_is_audited(world: World) -> None:
    world.join(0)
    for viewer in (world.organizer, world.admin, world.other_lawyer):
        with pytest.raises(Forbidden):
            signatory_service.consenting_signatories(
                world.session,
                campaign_id=world.campaign.id,
                viewer=viewer,
                purpose=signatory_service.VIEW,
                key_ring=ring("k1"),
            )

    signatory_service.consenting_signatories(
        world.session,
        campaign_id=world.campaign.id,
        viewer=world.lawyer,
        purpose=signatory_service.EXPORT,
        key_ring=ring("k1"),
    )

    event = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "signatories.exported")
    ).one()
    assert event.actor == f"staff:{world.lawyer.id}"
    assert event.subject_id == str(world.campaign.id)
    assert event.details == {"signatories": 1, "representatives": 0}
    logged = json.dumps(
        [e.details for e in world.session.scalars(select(AuditEvent))], ensure_ascii=False
    )
    for value in PEOPLE[0].identity().values():
        assert value not in logged


def test_a_lawyer_sees_a_signatory_only_while_the_share_consent_stands(world: World) -> None:
    world.join(0, consents=set(signatory_service.REQUIRED_PURPOSES))
    consent = world.session.scalars(
        select(Consent).where(Consent.purpose == ConsentPurpose.share_with_lawyer)
    ).one()
    assert len(world.records()) == 1
    consent.withdrawn_at = NOW
    world.session.flush()
    assert world.records() == []


def test_representatives_and_the_litigation_proofs(world: World, tmp_path: Path) -> None:
    report, _code = file_report(world.session, tmp_path, evidence=2)
    make_run(world.session, {"c-lit": [report]})
    litigation = open_campaign(
        world.session,
        world.organizer,
        [world.lawyer],
        channel="representative_litigation",
        cluster_keys=("c-lit",),
    )
    form = signatory_service.join_form(
        world.session,
        report=report,
        campaign_slug=litigation.slug,
        language="zh",
        retention_days=RETENTION_DAYS,
    )
    evidence_ids = [item.id for item in form.evidence]
    assert form.paper_fields == ("power_of_attorney",)
    person = PEOPLE[0]
    identity = {
        **person.identity(),
        "sex": "female",
        "date_of_birth": "1985-06-13",
        "ethnicity": "汉族",
        "occupation": "职员",
        "employer": "某公司",
        "domicile": person.address,
        "claim_amount": "12,000",
        "payment_method": "银行转账",
        "service_address": person.address,
    }
    submission = JoinSubmission(
        identity=identity,
        evidence_fields={"proof_of_relationship": evidence_ids[:1]},
        consents=set(ConsentPurpose),
        wants_to_represent=True,
    )
    with pytest.raises(JoinInvalid) as caught:
        signatory_service.check_submission(form, submission)
    assert caught.value.problems == [
        ("identity.proof_of_loss", "missing"),
        ("identity.date_of_birth", "birth_date_mismatch"),
    ]

    signatory = signatory_service.join_campaign(
        world.session,
        report=report,
        campaign_slug=litigation.slug,
        submission=submission.model_copy(
            update={
                "identity": {**identity, "date_of_birth": "1985-06-12"},
                "evidence_fields": {
                    "proof_of_relationship": evidence_ids[:1],
                    "proof_of_loss": evidence_ids[1:],
                },
            }
        ),
        language="zh",
        key_ring=ring("k1"),
        hash_key=HASH_KEY,
        retention_days=RETENTION_DAYS,
        now=NOW,
    )
    world.session.commit()
    assert signatory.role == SignatoryRole.proposed_representative
    assert signatory.evidence_ids == evidence_ids
    (record,) = signatory_service.consenting_signatories(
        world.session,
        campaign_id=litigation.id,
        viewer=world.lawyer,
        purpose=signatory_service.VIEW,
        key_ring=ring("k1"),
    )
    assert record.identity["claim_amount"] == "12000.00"
    assert record.identity["proof_of_loss"] == evidence_ids[1]
    assert record.identity["id_number"] == person.id_number
    assert record.evidence_ids == evidence_ids


def test_the_consent_fingerprint_is_stable_and_covers_standing_consents(world: World) -> None:
    empty = signatory_service.consent_fingerprint(world.session, campaign_id=world.campaign.id)
    world.join(0)
    first = signatory_service.consent_fingerprint(world.session, campaign_id=world.campaign.id)
    again = signatory_service.consent_fingerprint(world.session, campaign_id=world.campaign.id)
    assert len(first) == 64 and first == again != empty


def test_the_ledger_shows_what_was_changed_or_deleted(world: World) -> None:
    world.join(0)
    world.join(1)
    signatory_service.leave_campaign(
        world.session, report=world.reports[1], campaign_slug=world.campaign.slug, now=NOW
    )
    world.session.commit()
    check = signatory_service.verify_ledger(world.session)
    # Four consents each given by two people, then four withdrawn by the second.
    assert check.is_intact and check.entries == 12
    withdrawn_id = world.session.scalars(
        select(Consent.id).where(Consent.withdrawn_at.is_not(None)).order_by(Consent.id)
    ).first()

    connection = world.session.connection()
    connection.execute(
        text("UPDATE consent SET withdrawn_at = NULL WHERE id = :id"), {"id": withdrawn_id}
    )
    connection.execute(text("UPDATE consent_ledger_entry SET action = 'withdrawn' WHERE seq = 3"))
    connection.execute(text("DELETE FROM consent_ledger_entry WHERE seq = 12"))
    world.session.expire_all()

    check = signatory_service.verify_ledger(world.session)
    assert not check.is_intact
    assert check.broken_seqs == [3]
    assert not check.head_matches
    assert withdrawn_id in check.altered_consent_ids


def test_the_ledger_refuses_rewrites_through_the_orm(world: World) -> None:
    world.join(0)
    entry = world.session.scalars(select(ConsentLedgerEntry)).first()
    assert entry is not None
    entry.action = "withdrawn"  # type: ignore[assignment]
    with pytest.raises(LedgerRewrite):
        world.session.flush()
    world.session.rollback()


def test_a_disabled_lawyer_sees_nothing(world: World) -> None:
    world.join(0)
    world.lawyer.is_active = False
    world.session.flush()
    with pytest.raises(Forbidden):
        world.records()


def test_a_new_lawyer_account_is_not_assigned(world: World) -> None:
    newcomer = make_staff(world.session, StaffRole.lawyer)
    with pytest.raises(Forbidden):
        signatory_service.consenting_signatories(
            world.session,
            campaign_id=world.campaign.id,
            viewer=newcomer,
            purpose=signatory_service.VIEW,
        )
