"""Building bundles from the database: same inputs, same bytes; Bates numbers kept across
builds; a withdrawn signatory leaves the list and a gap; one build at a time."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.audit.models import AuditEvent
from api.campaigns import service as campaign_service
from api.campaigns.models import CampaignStatus
from api.campaigns.schemas import CampaignCreate
from api.errors import Conflict, NotFound
from api.evidence.models import EvidenceFile
from api.exhibits import runner
from api.exhibits import service as exhibit_service
from api.exhibits.models import BatesAssignment, BundleStatus, ExhibitBundle
from api.exhibits.verify import check_bundle
from tests.api.campaigns.conftest import NOW
from tests.api.exhibits.conftest import World


def entries(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_building_twice_gives_identical_bytes_and_a_verifiable_bundle(world: World) -> None:
    for index in range(3):
        world.join(index)
    first = world.build()
    second = world.build()
    assert first.status == second.status == BundleStatus.succeeded, first.error
    assert first.id != second.id
    assert world.bundle_bytes(first) == world.bundle_bytes(second)
    assert first.sha256 == second.sha256 and first.inputs_fingerprint == second.inputs_fingerprint
    path = exhibit_service.bundle_path(world.settings.data_dir, first)
    assert check_bundle(path, first.sha256).is_intact

    files = entries(world.bundle_bytes(first))
    manifest = json.loads(files["manifest.json"])
    assert manifest["consent_fingerprint"] == first.consent_fingerprint
    assert manifest["inputs"]["member_reports"] == 3
    assert manifest["inputs"]["evidence_files"] == 5
    assert manifest["inputs"]["bates_pages"] == 6
    assert [v["language"] for v in manifest["fact_pattern_versions"]] == ["zh"]
    assert any(name.endswith("-zh-v1.docx") for name in files)
    assert any(name.endswith("-zh-v1.pdf") for name in files)
    assert sorted(n for n in files if n.startswith("04_narratives/")) == [
        "04_narratives/M001.md",
        "04_narratives/M002.md",
        "04_narratives/M003.md",
    ]


def test_narratives_and_statistics_hold_no_identity(world: World) -> None:
    for index in range(3):
        world.join(index)
    files = entries(world.bundle_bytes(world.build()))
    anonymous = b"".join(
        content
        for name, content in files.items()
        if name.startswith(("03_statistics/", "04_narratives/")) and name.endswith((".csv", ".md"))
    ).decode("utf-8-sig")
    signatories = files["02_signatories/signatories.csv"].decode("utf-8-sig")
    for person in ("张晓梅", "李建国", "王芳", "13912345678"):
        assert person not in anonymous
        assert person in signatories


def test_bates_numbers_are_kept_and_a_withdrawal_leaves_a_noted_gap(world: World) -> None:
    world.join(0)
    world.join(1)
    first = world.build()
    numbers = {
        row.evidence_id: (row.member_code, row.first_page, row.page_count)
        for row in world.session.scalars(select(BatesAssignment))
    }
    assert sorted(numbers.values()) == [
        ("S001", 1, 1),
        ("S001", 2, 2),
        ("S002", 4, 1),
        ("S002", 5, 1),
    ]
    world.leave(0)
    world.join(2)
    second = world.build()
    assert second.status == BundleStatus.succeeded, second.error
    assert second.consent_fingerprint != first.consent_fingerprint
    rows = {row.evidence_id: row for row in world.session.scalars(select(BatesAssignment))}
    assert {key: (r.member_code, r.first_page, r.page_count) for key, r in rows.items()} == {
        **numbers,
        **{
            evidence.id: ("S003", 6, 1)
            for evidence in world.session.scalars(
                select(EvidenceFile).where(EvidenceFile.report_id == world.reports[2].id)
            )
        },
    }
    files = entries(world.bundle_bytes(second))
    signatories = files["02_signatories/signatories.csv"].decode("utf-8-sig")
    assert "张晓梅" not in signatories and "S001" not in signatories
    assert "S002" in signatories and "S003" in signatories
    code = exhibit_service.campaign_code(world.campaign)
    exhibits = sorted(n for n in files if n.startswith("05_evidence/exhibits/"))
    assert exhibits == [
        f"05_evidence/exhibits/{code}-S002-000004.pdf",
        f"05_evidence/exhibits/{code}-S002-000005.pdf",
        f"05_evidence/exhibits/{code}-S003-000006.pdf",
    ]
    catalogue = files["05_evidence/catalogue.csv"].decode("utf-8-sig")
    assert (
        f"{code}-S001-000001" in catalogue
        and f"{code}-S001-000002 – {code}-S001-000003" in catalogue
    )
    assert catalogue.count("S001 已撤回同意") == 2
    assert json.loads(files["manifest.json"])["inputs"]["bates_gaps"] == [[1, 1], [2, 2]]


def test_a_bundle_needs_an_approved_fact_pattern(world: World) -> None:
    world.join(0)
    other = campaign_service.create_campaign(
        world.session,
        CampaignCreate.model_validate(
            {
                "title": "另一个",
                "channel": "regulator_complaint",
                "jurisdiction": "CN",
                "cluster_keys": ["c-one"],
                "lawyer_ids": [world.lawyer.id],
            }
        ),
        actor=world.organizer,
        now=NOW,
    )
    with pytest.raises(Conflict):
        exhibit_service.request_bundle(world.session, other, lawyer=world.lawyer, now=NOW)


def test_one_build_at_a_time_per_campaign(world: World) -> None:
    first, is_new = exhibit_service.request_bundle(
        world.session, world.campaign, lawyer=world.lawyer, now=NOW
    )
    again, again_new = exhibit_service.request_bundle(
        world.session, world.campaign, lawyer=world.lawyer, now=NOW
    )
    assert is_new and not again_new and again.id == first.id


def test_a_changed_evidence_file_fails_the_build_with_the_reason(world: World) -> None:
    world.join(0)
    evidence = world.session.scalars(
        select(EvidenceFile).where(EvidenceFile.report_id == world.reports[0].id)
    ).first()
    assert evidence is not None
    digest = evidence.sha256_redacted or evidence.sha256_original
    folder = "redacted" if evidence.sha256_redacted else "original"
    (world.settings.evidence_dir / folder / digest[:2] / digest).write_bytes(b"swapped")
    bundle = world.build()
    assert bundle.status == BundleStatus.failed
    assert "EvidenceChanged" in (bundle.error or "")
    assert not list((world.settings.data_dir / "bundles").rglob("*.part"))


def test_building_reads_signatories_as_the_lawyer_and_is_audited(world: World) -> None:
    world.join(0)
    bundle = world.build()
    actions = [
        (event.action, event.actor)
        for event in world.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]
    actor = f"staff:{world.lawyer.id}"
    assert ("exhibit.bundle_requested", actor) in actions
    assert ("signatories.exported", actor) in actions
    assert ("exhibit.bundle_built", actor) in actions
    built = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "exhibit.bundle_built")
    ).one()
    assert built.details["sha256"] == bundle.sha256


def test_a_lawyer_no_longer_assigned_gets_a_failed_build(world: World) -> None:
    world.join(0)
    bundle, _ = exhibit_service.request_bundle(
        world.session, world.campaign, lawyer=world.lawyer, now=NOW
    )
    campaign_service.unassign_lawyer(
        world.session, world.campaign, staff_user_id=world.lawyer.id, actor=world.organizer, now=NOW
    )
    world.session.commit()
    runner.execute_build(world.sessions, world.settings, bundle.id)
    world.session.expire_all()
    assert world.session.get(ExhibitBundle, bundle.id).status == BundleStatus.failed


def test_campaign_code_is_short_and_unique(world: World) -> None:
    code = exhibit_service.campaign_code(world.campaign)
    assert code == world.campaign.slug[:4].upper() + str(world.campaign.id)


def test_bundles_are_deleted_once_the_closed_campaigns_retention_runs_out(world: World) -> None:
    world.join(0)
    bundle = world.build()
    campaign_dir = world.settings.data_dir / "bundles" / f"campaign-{world.campaign.id}"
    zip_path = exhibit_service.bundle_path(world.settings.data_dir, bundle)
    assert (campaign_dir / "exhibits").is_dir()
    campaign_service.transition(
        world.session,
        world.campaign,
        to_status=CampaignStatus.closed,
        actor=world.organizer,
        now=NOW,
    )
    world.session.commit()
    retention = timedelta(days=30)

    kept = exhibit_service.purge_expired_bundles(
        world.session,
        world.settings.data_dir,
        NOW + retention - timedelta(days=1),
        retention_days=30,
    )
    assert kept == 0 and zip_path.is_file()

    purged = exhibit_service.purge_expired_bundles(
        world.session, world.settings.data_dir, NOW + retention, retention_days=30
    )
    world.session.commit()

    assert purged == 1
    assert not zip_path.exists() and not campaign_dir.exists()
    assert bundle.status == BundleStatus.purged and bundle.file_path is None
    assert bundle.sha256 is not None
    with pytest.raises(NotFound):
        exhibit_service.bundle_path(world.settings.data_dir, bundle)
    events = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "exhibit.bundle_purged")
    ).all()
    assert [(e.actor, e.subject_id) for e in events] == [("system", str(bundle.id))]
    assert (
        exhibit_service.purge_expired_bundles(
            world.session, world.settings.data_dir, NOW + 2 * retention, retention_days=30
        )
        == 0
    )
