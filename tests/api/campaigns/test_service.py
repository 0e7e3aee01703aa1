"""Campaign rules in the service: members, deadlines, transitions, versions and approval."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.campaigns import service as campaign_service
from api.campaigns.models import (
    AppendOnlyViolation,
    Campaign,
    CampaignEvent,
    CampaignStatus,
    FactPatternSource,
)
from api.campaigns.schemas import CampaignCreate, CampaignUpdate
from api.errors import Conflict, FieldError, NotFound
from api.reports.models import Report, ReportStatus
from api.staff.models import StaffRole, StaffUser
from tests.api.campaigns.conftest import NOW, make_reports, make_run
from tests.api.staff.factories import make_staff

S = CampaignStatus


@pytest.fixture
def organizer(db_session: Session) -> StaffUser:
    return make_staff(db_session, StaffRole.organizer)


@pytest.fixture
def lawyer(db_session: Session) -> StaffUser:
    return make_staff(db_session, StaffRole.lawyer)


def create(
    session: Session, actor: StaffUser, channel: str = "lender_complaint", **fields: object
) -> Campaign:
    data = CampaignCreate.model_validate(
        {
            "title": "提钱游拒绝协商",
            "channel": channel,
            "jurisdiction": "CN-GD",
            "cluster_keys": ["c-one", "c-two"],
            "respondents": [
                {
                    "role": "lender_of_record",
                    "name": "南京银行股份有限公司",
                    "unified_social_credit_code": "91320000704043766D",
                }
            ],
            **fields,
        }
    )
    return campaign_service.create_campaign(session, data, actor=actor, now=NOW)


def test_campaign_from_two_clusters_counts_their_active_reports(
    db_session: Session, organizer: StaffUser, lawyer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, lawyer_ids=[lawyer.id])

    overview = campaign_service.overview(db_session, campaign, today=NOW.date())
    assert campaign.status == S.draft
    assert len(campaign.slug) == 10
    assert overview.cluster_keys == ("c-one", "c-two")
    assert overview.report_count == 12
    assert [user.id for user in overview.lawyers] == [lawyer.id]
    assert not overview.is_below_min_group_size
    assert campaign.respondents[0]["unified_social_credit_code"] == "91320000704043766D"
    events = campaign_service.list_events(db_session, campaign)
    assert [(e.from_status, e.to_status) for e in events] == [(None, S.draft)]
    audit = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "campaign.create")
    ).one()
    assert audit.details["cluster_keys"] == ["c-one", "c-two"]


def test_withdrawn_and_excluded_reports_never_count(
    db_session: Session, organizer: StaffUser, two_clusters: dict[str, list[Report]]
) -> None:
    campaign = create(db_session, organizer)
    two_clusters["c-one"][0].status = ReportStatus.withdrawn
    two_clusters["c-two"][0].status = ReportStatus.excluded
    db_session.flush()

    assert campaign_service.member_counts(db_session, [campaign]) == {campaign.id: 10}
    frame = campaign_service.member_frame(db_session, campaign)
    assert len(frame) == 10
    assert two_clusters["c-one"][0].id not in set(frame["report_id"])


def test_members_follow_the_latest_succeeded_run(
    db_session: Session, organizer: StaffUser, two_clusters: dict, tmp_path: Path
) -> None:
    campaign = create(db_session, organizer)
    newcomers = make_reports(db_session, 3, tmp_path)
    make_run(db_session, {"c-one": [*two_clusters["c-one"], *newcomers]})

    overview = campaign_service.overview(db_session, campaign, today=NOW.date())
    assert overview.report_count == 10
    assert overview.missing_cluster_keys == ("c-two",)


def test_a_campaign_needs_current_clusters_and_a_matching_jurisdiction(
    db_session: Session, organizer: StaffUser, two_clusters: dict
) -> None:
    with pytest.raises(FieldError) as unknown:
        create(db_session, organizer, cluster_keys=["c-one", "nowhere"])
    assert (unknown.value.field, unknown.value.reason) == ("cluster_keys", "unknown_cluster")

    with pytest.raises(FieldError) as mismatch:
        create(db_session, organizer, channel="cfpb_complaint")
    assert mismatch.value.reason == "jurisdiction_mismatch"

    with pytest.raises(FieldError) as not_lawyer:
        create(db_session, organizer, lawyer_ids=[organizer.id])
    assert not_lawyer.value.reason == "not_a_lawyer"


def test_below_the_channels_minimum_is_flagged(
    db_session: Session, organizer: StaffUser, two_clusters: dict
) -> None:
    litigation = create(db_session, organizer, channel="representative_litigation")
    class_action = create(
        db_session, organizer, channel="us_class_action", jurisdiction="US-CA", slug="us-case"
    )

    assert not campaign_service.overview(
        db_session, litigation, today=NOW.date()
    ).is_below_min_group_size
    us = campaign_service.overview(db_session, class_action, today=NOW.date())
    assert us.is_below_min_group_size and us.rules.min_group_size.value == 40


def test_transitions_follow_the_rules_and_append_events(
    db_session: Session, organizer: StaffUser, lawyer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, lawyer_ids=[lawyer.id])

    with pytest.raises(Conflict):
        campaign_service.transition(
            db_session, campaign, to_status=S.awaiting_response, actor=organizer, now=NOW
        )
    campaign_service.transition(
        db_session, campaign, to_status=S.open_for_signatures, actor=organizer, now=NOW
    )
    with pytest.raises(Conflict) as unapproved:
        campaign_service.transition(
            db_session, campaign, to_status=S.filed, actor=organizer, now=NOW
        )
    assert unapproved.value.detail_key == "campaign.error.no_approved_version"

    version = campaign_service.generate_fact_pattern(
        db_session, campaign, language="zh", actor=organizer, now=NOW
    )
    campaign_service.approve_version(db_session, campaign, version, lawyer=lawyer, now=NOW)
    filed_at = NOW + timedelta(days=2)
    filing = campaign_service.transition(
        db_session, campaign, to_status=S.filed, actor=organizer, now=filed_at, note="  挂号信  "
    )
    campaign_service.transition(
        db_session, campaign, to_status=S.awaiting_response, actor=organizer, now=filed_at
    )

    assert filing.fact_pattern_version_id == version.id
    assert filing.note == "挂号信"
    assert campaign.status == S.awaiting_response
    assert campaign.opened_at == NOW and campaign.filed_at == filed_at
    events = campaign_service.list_events(db_session, campaign)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, S.draft),
        (S.draft, S.open_for_signatures),
        (S.open_for_signatures, S.filed),
        (S.filed, S.awaiting_response),
    ]
    assert campaign_service.allowed_transitions(campaign) == (S.responded, S.escalated, S.closed)
    with pytest.raises(Conflict):
        campaign_service.update_campaign(
            db_session, campaign, CampaignUpdate(title="新标题"), actor=organizer, now=NOW
        )


def test_deadlines_come_from_the_data_file_and_the_filing_date(
    db_session: Session, organizer: StaffUser, lawyer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, lawyer_ids=[lawyer.id])
    campaign_service.transition(
        db_session, campaign, to_status=S.open_for_signatures, actor=organizer, now=NOW
    )
    version = campaign_service.edit_fact_pattern(
        db_session, campaign, language="zh", body="# 事实\n", actor=organizer, now=NOW
    )
    campaign_service.approve_version(db_session, campaign, version, lawyer=lawyer, now=NOW)
    campaign_service.transition(db_session, campaign, to_status=S.filed, actor=organizer, now=NOW)

    deadlines = {
        d.rule.key: d
        for d in campaign_service.campaign_deadlines(campaign, today=date(2026, 12, 20))
    }
    # NOW is 2026-11-28 18:00 in Beijing, so filing day is the 28th there; 15 days later is
    # Sunday 13 December, so the period ends on Monday the 14th (Civil Code Art. 203).
    assert deadlines["decision"].due_on == date(2026, 12, 14)
    assert deadlines["decision"].days_left == -6 and deadlines["decision"].is_overdue
    assert deadlines["decision_extended"].due_on == date(2026, 12, 28)
    assert not deadlines["decision_extended"].is_overdue
    assert deadlines["decision_extended_max"].due_on == date(2027, 1, 27)


def test_the_event_log_is_append_only(
    db_session: Session, organizer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer)
    db_session.commit()
    event = campaign_service.list_events(db_session, campaign)[0]

    event.note = "rewritten"
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()
    db_session.rollback()

    event = db_session.scalars(select(CampaignEvent)).first()
    assert event is not None
    db_session.delete(event)
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()


def test_every_edit_is_a_new_version_and_versions_diff(
    db_session: Session, organizer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer)
    first = campaign_service.generate_fact_pattern(
        db_session, campaign, language="zh", actor=organizer, now=NOW
    )
    edited_body = first.body.replace("共同事实陈述（草稿）", "共同事实陈述（第二稿）")
    second = campaign_service.edit_fact_pattern(
        db_session,
        campaign,
        language="zh",
        body=edited_body.replace("\n", "\r\n"),
        actor=organizer,
        now=NOW,
    )
    english = campaign_service.generate_fact_pattern(
        db_session, campaign, language="en", actor=organizer, now=NOW
    )

    assert (first.number, first.source) == (1, FactPatternSource.generated)
    assert (second.number, second.source) == (2, FactPatternSource.edited)
    assert english.number == 1
    assert second.body == edited_body
    assert first.body_sha256 != second.body_sha256
    assert "12 名借款人" in first.body
    diff = campaign_service.diff_versions(first, second)
    assert "-共同事实陈述（草稿）" in diff and "+共同事实陈述（第二稿）" in diff
    with pytest.raises(Conflict):
        campaign_service.edit_fact_pattern(
            db_session, campaign, language="zh", body=edited_body, actor=organizer, now=NOW
        )

    first.body = "tampered"
    with pytest.raises(AppendOnlyViolation):
        db_session.flush()


def test_only_an_assigned_lawyer_approves_and_only_once(
    db_session: Session, organizer: StaffUser, lawyer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, lawyer_ids=[lawyer.id])
    version = campaign_service.generate_fact_pattern(
        db_session, campaign, language="zh", actor=organizer, now=NOW
    )
    outsider = make_staff(db_session, StaffRole.lawyer)

    with pytest.raises(NotFound):
        campaign_service.get_campaign(db_session, campaign.id, viewer=outsider)
    with pytest.raises(NotFound):
        campaign_service.approve_version(db_session, campaign, version, lawyer=outsider, now=NOW)
    assert campaign_service.list_campaigns(db_session, viewer=outsider) == []

    campaign_service.approve_version(db_session, campaign, version, lawyer=lawyer, now=NOW)
    assert (version.approved_by_id, version.approved_at) == (lawyer.id, NOW)
    with pytest.raises(Conflict):
        campaign_service.approve_version(db_session, campaign, version, lawyer=lawyer, now=NOW)


def test_filing_a_named_version_needs_its_approval(
    db_session: Session, organizer: StaffUser, lawyer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, lawyer_ids=[lawyer.id])
    campaign_service.transition(
        db_session, campaign, to_status=S.open_for_signatures, actor=organizer, now=NOW
    )
    approved = campaign_service.generate_fact_pattern(
        db_session, campaign, language="zh", actor=organizer, now=NOW
    )
    campaign_service.approve_version(db_session, campaign, approved, lawyer=lawyer, now=NOW)
    later = campaign_service.edit_fact_pattern(
        db_session,
        campaign,
        language="zh",
        body=approved.body + "\n补充。\n",
        actor=organizer,
        now=NOW,
    )

    with pytest.raises(Conflict) as refused:
        campaign_service.transition(
            db_session,
            campaign,
            to_status=S.filed,
            fact_pattern_version_id=later.id,
            actor=organizer,
            now=NOW,
        )
    assert refused.value.detail_key == "campaign.error.version_not_approved"
    assert campaign.status == S.open_for_signatures


def test_drafts_are_not_public_and_public_figures_are_suppressed(
    db_session: Session, organizer: StaffUser, two_clusters: dict
) -> None:
    campaign = create(db_session, organizer, slug="tiqianyou-2026")

    with pytest.raises(NotFound):
        campaign_service.public_campaign(db_session, "tiqianyou-2026")
    campaign_service.transition(
        db_session, campaign, to_status=S.open_for_signatures, actor=organizer, now=NOW
    )
    _, public = campaign_service.public_campaign(db_session, "tiqianyou-2026")

    assert public.report_count.count == 12
    categories = dict(public.categories)
    assert categories["refuses_negotiation"].count == 7
    assert categories["third_party_contact"].count == 5
    assert categories["opaque_fees"].count == 7
    assert categories["abusive_collection"].count == 5
    months = dict(public.months)
    assert months["2024-03"].count == 7 and months["2024-05"].count == 5
