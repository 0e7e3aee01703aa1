"""Campaigns: creating them from clusters, who may see them, their members, status log and
deadlines, fact pattern versions and approval, and the public aggregates.

A campaign's members are computed, never stored: the active reports that the latest succeeded
grouping run put in one of the campaign's cluster keys. A report that is withdrawn or excluded
therefore leaves every campaign at once, and a new report joins as soon as a run places it.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.campaigns import documents, facts
from api.campaigns.channels import ChannelRules, Deadline, compute_deadlines, get_channel
from api.campaigns.models import (
    Campaign,
    CampaignCluster,
    CampaignEvent,
    CampaignLawyer,
    CampaignStatus,
    FactPatternSource,
    FactPatternVersion,
    RespondentRole,
)
from api.campaigns.schemas import CampaignCreate, CampaignUpdate
from api.clusters import service as cluster_service
from api.clusters.models import Cluster, ClusterMembership
from api.errors import Conflict, FieldError, NotFound, validation_body
from api.evidence.models import EvidenceFile
from api.i18n import Language, translate
from api.reports.models import Report, ReportStatus
from api.staff import service as staff_service
from api.staff.models import StaffRole, StaffUser

S = CampaignStatus
# Forward only, and a campaign can be closed from anywhere (abandoned, settled, withdrawn).
TRANSITIONS: dict[CampaignStatus, tuple[CampaignStatus, ...]] = {
    S.draft: (S.open_for_signatures, S.closed),
    S.open_for_signatures: (S.filed, S.closed),
    S.filed: (S.awaiting_response, S.closed),
    S.awaiting_response: (S.responded, S.escalated, S.closed),
    S.responded: (S.escalated, S.closed),
    S.escalated: (S.closed,),
    S.closed: (),
}
# The step each deadline anchor is counted from, and the status that starts it.
ANCHOR_STATUSES = {"opened": S.open_for_signatures, "filed": S.filed, "responded": S.responded}
PUBLIC_STATUSES = frozenset(TRANSITIONS) - {S.draft}
EDITABLE_STATUSES = frozenset({S.draft, S.open_for_signatures})
SUBJECT_TYPE = "campaign"
_SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_SLUG_LENGTH = 10


class CampaignFieldError(FieldError):
    """A 422 for one field, with its reason under `campaign.reason.*` in the catalogues."""

    def body(self, language: Language) -> dict[str, Any]:
        body = validation_body(language, [(self.field, self.reason, self.reason_params)])
        message = translate(
            language, f"campaign.reason.{self.reason}", field=self.field, **self.reason_params
        )
        body["errors"][0]["message"] = message
        body["detail"] = translate(
            language, "error.validation_failed", summary=f"{self.field}: {message}"
        )
        return body


def _record(
    session: Session,
    now: datetime,
    actor: StaffUser,
    action: str,
    campaign: Campaign,
    **details: Any,
) -> None:
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=staff_service.staff_actor(actor),
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=str(campaign.id),
        details=details,
    )


# Who sees what


def _visible_to(viewer: StaffUser) -> Select[tuple[Campaign]]:
    query = select(Campaign)
    if viewer.role == StaffRole.lawyer:
        # A lawyer sees only campaigns they are assigned to; the others do not exist for them.
        query = query.join(
            CampaignLawyer,
            (CampaignLawyer.campaign_id == Campaign.id)
            & (CampaignLawyer.staff_user_id == viewer.id),
        )
    return query


def list_campaigns(session: Session, *, viewer: StaffUser) -> list[Campaign]:
    return list(session.scalars(_visible_to(viewer).order_by(Campaign.id.desc())))


def get_campaign(session: Session, campaign_id: int, *, viewer: StaffUser) -> Campaign:
    campaign = session.scalar(_visible_to(viewer).where(Campaign.id == campaign_id))
    if campaign is None:
        raise NotFound("campaign.error.not_found")
    return campaign


def cluster_keys(session: Session, campaign: Campaign) -> list[str]:
    return list(
        session.scalars(
            select(CampaignCluster.cluster_key)
            .where(CampaignCluster.campaign_id == campaign.id)
            .order_by(CampaignCluster.cluster_key)
        )
    )


def assigned_lawyers(session: Session, campaign: Campaign) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .join(CampaignLawyer, CampaignLawyer.staff_user_id == StaffUser.id)
            .where(CampaignLawyer.campaign_id == campaign.id)
            .order_by(StaffUser.id)
        )
    )


def staff_names(session: Session, staff_user_ids: set[int]) -> dict[int, str]:
    if not staff_user_ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(staff_user_ids))
    )
    return dict(rows.all())


def active_lawyers(session: Session) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .where(StaffUser.role == StaffRole.lawyer, StaffUser.is_active.is_(True))
            .order_by(StaffUser.display_name, StaffUser.id)
        )
    )


# Members


def _members_query(campaign_ids: list[int], run_id: int) -> Select[Any]:
    return (
        select(CampaignCluster.campaign_id, Report.id.label("report_id"))
        .join(
            ClusterMembership,
            (ClusterMembership.cluster_key == CampaignCluster.cluster_key)
            & (ClusterMembership.run_id == run_id),
        )
        .join(Report, Report.id == ClusterMembership.report_id)
        .where(CampaignCluster.campaign_id.in_(campaign_ids), Report.status == ReportStatus.active)
    )


def member_counts(session: Session, campaigns: list[Campaign]) -> dict[int, int]:
    counts = dict.fromkeys((campaign.id for campaign in campaigns), 0)
    run = cluster_service.latest_succeeded_run(session)
    if run is None or not campaigns:
        return counts
    members = _members_query(list(counts), run.id).subquery()
    rows = session.execute(
        select(members.c.campaign_id, func.count()).group_by(members.c.campaign_id)
    )
    counts.update(dict(rows.all()))
    return counts


def member_frame(session: Session, campaign: Campaign) -> pd.DataFrame:
    """One row per member report, with the columns `facts.REPORT_COLUMNS`."""
    run = cluster_service.latest_succeeded_run(session)
    if run is None:
        return pd.DataFrame(columns=list(facts.REPORT_COLUMNS))
    members = _members_query([campaign.id], run.id).subquery()
    evidence = (
        select(EvidenceFile.report_id, func.count().label("files"))
        .group_by(EvidenceFile.report_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Report.id.label("report_id"),
            Report.categories,
            Report.first_incident_month,
            Report.region_code,
            Report.contract_principal,
            Report.net_received,
            Report.apr_effective,
            Report.is_above_24,
            Report.is_above_36,
            Report.is_above_4lpr,
            func.coalesce(evidence.c.files, 0).label("evidence_files"),
        )
        .join(members, members.c.report_id == Report.id)
        .outerjoin(evidence, evidence.c.report_id == Report.id)
        .order_by(Report.id)
    ).mappings()
    frame = pd.DataFrame.from_records(list(rows), columns=list(facts.REPORT_COLUMNS))
    for column in ("contract_principal", "net_received", "apr_effective"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


# Creating and editing


def _check_jurisdiction(rules: ChannelRules, jurisdiction: str) -> None:
    if jurisdiction.split("-")[0] != rules.country:
        raise CampaignFieldError("jurisdiction", "jurisdiction_mismatch", country=rules.country)


def current_clusters_by_key(session: Session, keys: list[str]) -> dict[str, Cluster]:
    """The clusters of the latest succeeded run that have one of these keys."""
    run = cluster_service.latest_succeeded_run(session)
    if run is None or not keys:
        return {}
    clusters = session.scalars(
        select(Cluster).where(Cluster.run_id == run.id, Cluster.cluster_key.in_(keys))
    )
    return {cluster.cluster_key: cluster for cluster in clusters}


def _check_clusters(session: Session, keys: list[str]) -> None:
    if len(current_clusters_by_key(session, keys)) != len(set(keys)):
        raise CampaignFieldError("cluster_keys", "unknown_cluster")


def _check_slug(session: Session, slug: str, campaign_id: int | None = None) -> None:
    taken = session.scalar(select(Campaign.id).where(Campaign.slug == slug))
    if taken is not None and taken != campaign_id:
        raise Conflict("campaign.error.slug_taken")


def _new_slug(session: Session) -> str:
    while True:
        slug = "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(_SLUG_LENGTH))
        if session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is None:
            return slug


def _lawyer(session: Session, staff_user_id: int) -> StaffUser:
    user = session.get(StaffUser, staff_user_id)
    if user is None or user.role != StaffRole.lawyer or not user.is_active:
        raise CampaignFieldError("staff_user_id", "not_a_lawyer")
    return user


def _set_clusters(session: Session, campaign: Campaign, keys: list[str]) -> None:
    existing = set(cluster_keys(session, campaign))
    for key in existing - set(keys):
        session.delete(session.get(CampaignCluster, (campaign.id, key)))
    for key in sorted(set(keys) - existing):
        session.add(CampaignCluster(campaign_id=campaign.id, cluster_key=key))


def create_campaign(
    session: Session, data: CampaignCreate, *, actor: StaffUser, now: datetime
) -> Campaign:
    rules = get_channel(data.channel)
    _check_jurisdiction(rules, data.jurisdiction)
    _check_clusters(session, data.cluster_keys)
    lawyers = [_lawyer(session, lawyer_id) for lawyer_id in data.lawyer_ids]
    if data.slug:
        _check_slug(session, data.slug)
    campaign = Campaign(
        slug=data.slug or _new_slug(session),
        title=data.title,
        channel=data.channel,
        jurisdiction=data.jurisdiction,
        status=S.draft,
        respondents=[respondent.model_dump(mode="json") for respondent in data.respondents],
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    _set_clusters(session, campaign, data.cluster_keys)
    for lawyer in lawyers:
        session.add(
            CampaignLawyer(
                campaign_id=campaign.id,
                staff_user_id=lawyer.id,
                assigned_by_id=actor.id,
                assigned_at=now,
            )
        )
    session.add(
        CampaignEvent(
            campaign_id=campaign.id, occurred_at=now, actor_id=actor.id, to_status=S.draft
        )
    )
    session.flush()
    _record(
        session,
        now,
        actor,
        "campaign.create",
        campaign,
        channel=data.channel,
        cluster_keys=sorted(data.cluster_keys),
        lawyer_ids=sorted(data.lawyer_ids),
    )
    return campaign


def update_campaign(
    session: Session, campaign: Campaign, data: CampaignUpdate, *, actor: StaffUser, now: datetime
) -> Campaign:
    if campaign.status not in EDITABLE_STATUSES:
        raise Conflict("campaign.error.locked")
    changes = data.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    if campaign.status != S.draft and {"channel", "slug"} & set(changes):
        raise Conflict("campaign.error.draft_only")
    rules = get_channel(changes.get("channel", campaign.channel))
    _check_jurisdiction(rules, changes.get("jurisdiction", campaign.jurisdiction))
    if "slug" in changes:
        _check_slug(session, changes["slug"], campaign.id)
    if "cluster_keys" in changes:
        _check_clusters(session, changes["cluster_keys"])
        _set_clusters(session, campaign, changes.pop("cluster_keys"))
    for name, value in changes.items():
        setattr(campaign, name, value)
    campaign.updated_at = now
    session.flush()
    _record(
        session,
        now,
        actor,
        "campaign.update",
        campaign,
        fields=sorted(data.model_dump(exclude_unset=True, exclude_none=True)),
    )
    return campaign


def assign_lawyer(
    session: Session, campaign: Campaign, *, staff_user_id: int, actor: StaffUser, now: datetime
) -> None:
    lawyer = _lawyer(session, staff_user_id)
    if session.get(CampaignLawyer, (campaign.id, lawyer.id)) is not None:
        return
    session.add(
        CampaignLawyer(
            campaign_id=campaign.id,
            staff_user_id=lawyer.id,
            assigned_by_id=actor.id,
            assigned_at=now,
        )
    )
    session.flush()
    _record(session, now, actor, "campaign.lawyer_assign", campaign, staff_user_id=lawyer.id)


def unassign_lawyer(
    session: Session, campaign: Campaign, *, staff_user_id: int, actor: StaffUser, now: datetime
) -> None:
    assignment = session.get(CampaignLawyer, (campaign.id, staff_user_id))
    if assignment is None:
        raise NotFound("campaign.error.lawyer_not_assigned")
    session.delete(assignment)
    session.flush()
    _record(session, now, actor, "campaign.lawyer_unassign", campaign, staff_user_id=staff_user_id)


# Status


def allowed_transitions(campaign: Campaign) -> tuple[CampaignStatus, ...]:
    return TRANSITIONS[campaign.status]


def _version_to_file(
    session: Session, campaign: Campaign, version_id: int | None
) -> FactPatternVersion:
    if version_id is not None:
        version = get_version(session, campaign, version_id)
        if version.approved_at is None:
            raise Conflict("campaign.error.version_not_approved")
        return version
    version = session.scalar(
        select(FactPatternVersion)
        .where(
            FactPatternVersion.campaign_id == campaign.id,
            FactPatternVersion.approved_at.is_not(None),
        )
        .order_by(FactPatternVersion.approved_at.desc(), FactPatternVersion.id.desc())
        .limit(1)
    )
    if version is None:
        raise Conflict("campaign.error.no_approved_version")
    return version


def transition(
    session: Session,
    campaign: Campaign,
    *,
    to_status: CampaignStatus,
    actor: StaffUser,
    now: datetime,
    note: str | None = None,
    fact_pattern_version_id: int | None = None,
) -> CampaignEvent:
    """Move the campaign on, appending the event; Conflict for a step the rules do not allow.

    Filing needs a fact pattern version that an assigned lawyer approved: what goes out is only
    ever what a lawyer signed off.
    """
    from_status = campaign.status
    if to_status not in TRANSITIONS[from_status]:
        raise Conflict("campaign.error.transition", source=from_status, target=to_status)
    filed_version = None
    if to_status == S.filed:
        filed_version = _version_to_file(session, campaign, fact_pattern_version_id)
    for anchor, status in ANCHOR_STATUSES.items():
        if to_status == status and getattr(campaign, f"{anchor}_at") is None:
            setattr(campaign, f"{anchor}_at", now)
    campaign.status = to_status
    campaign.updated_at = now
    event = CampaignEvent(
        campaign_id=campaign.id,
        occurred_at=now,
        actor_id=actor.id,
        from_status=from_status,
        to_status=to_status,
        note=note.strip() if note and note.strip() else None,
        fact_pattern_version_id=filed_version.id if filed_version else None,
    )
    session.add(event)
    session.flush()
    _record(
        session,
        now,
        actor,
        "campaign.transition",
        campaign,
        from_status=str(from_status),
        to_status=str(to_status),
        fact_pattern_version_id=event.fact_pattern_version_id,
    )
    return event


def list_events(session: Session, campaign: Campaign) -> list[CampaignEvent]:
    return list(
        session.scalars(
            select(CampaignEvent)
            .where(CampaignEvent.campaign_id == campaign.id)
            .order_by(CampaignEvent.id)
        )
    )


# Deadlines and the overview pages show


def local_today(campaign: Campaign, now: datetime) -> date:
    """Today in the recipient's calendar, which is what the channel's deadlines count in."""
    return get_channel(campaign.channel).local_date(now)


def campaign_deadlines(campaign: Campaign, *, today: date) -> list[Deadline]:
    rules = get_channel(campaign.channel)
    anchors = {
        anchor: rules.local_date(moment) if moment else None
        for anchor in ANCHOR_STATUSES
        for moment in [getattr(campaign, f"{anchor}_at")]
    }
    return compute_deadlines(rules, status=campaign.status, anchors=anchors, today=today)


@dataclass(frozen=True)
class CampaignOverview:
    campaign: Campaign
    rules: ChannelRules
    report_count: int
    cluster_keys: tuple[str, ...]
    missing_cluster_keys: tuple[str, ...]
    lawyers: tuple[StaffUser, ...]
    deadlines: tuple[Deadline, ...]

    @property
    def is_below_min_group_size(self) -> bool:
        return self.report_count < self.rules.min_group_size.value

    @property
    def allowed_transitions(self) -> tuple[CampaignStatus, ...]:
        return allowed_transitions(self.campaign)


def overview(session: Session, campaign: Campaign, *, today: date) -> CampaignOverview:
    keys = cluster_keys(session, campaign)
    current = current_clusters_by_key(session, keys)
    return CampaignOverview(
        campaign=campaign,
        rules=get_channel(campaign.channel),
        report_count=member_counts(session, [campaign])[campaign.id],
        cluster_keys=tuple(keys),
        missing_cluster_keys=tuple(key for key in keys if key not in current),
        lawyers=tuple(assigned_lawyers(session, campaign)),
        deadlines=tuple(campaign_deadlines(campaign, today=today)),
    )


# Fact patterns


def list_versions(session: Session, campaign: Campaign) -> list[FactPatternVersion]:
    return list(
        session.scalars(
            select(FactPatternVersion)
            .where(FactPatternVersion.campaign_id == campaign.id)
            .order_by(FactPatternVersion.language.desc(), FactPatternVersion.number.desc())
        )
    )


def get_version(session: Session, campaign: Campaign, version_id: int) -> FactPatternVersion:
    version = session.get(FactPatternVersion, version_id)
    if version is None or version.campaign_id != campaign.id:
        raise NotFound("campaign.error.version_not_found")
    return version


def latest_version(
    session: Session, campaign: Campaign, language: str
) -> FactPatternVersion | None:
    return session.scalar(
        select(FactPatternVersion)
        .where(
            FactPatternVersion.campaign_id == campaign.id, FactPatternVersion.language == language
        )
        .order_by(FactPatternVersion.number.desc())
        .limit(1)
    )


def group_reference(campaign: Campaign) -> str:
    return f"GS-{campaign.id:06d}"


def fact_pattern_input(
    session: Session, campaign: Campaign, *, language: Language, today: date
) -> facts.FactPatternInput:
    rules = get_channel(campaign.channel)
    statistics = facts.fact_statistics(member_frame(session, campaign))
    codes = {code for member in statistics.members for code in member.categories}
    return facts.FactPatternInput(
        language=language,
        title=campaign.title,
        group_ref=group_reference(campaign),
        drafted_on=today.isoformat(),
        channel_name=rules.name(language),
        recipient=rules.recipient(language),
        jurisdiction=campaign.jurisdiction,
        respondents=tuple(campaign.respondents),
        lawyers=tuple(lawyer.display_name for lawyer in assigned_lawyers(session, campaign)),
        representatives_min=rules.representatives.min,
        representatives_max=rules.representatives.max,
        min_group_size=rules.min_group_size.value,
        statistics=statistics,
        grounds=tuple((ground.text(language), ground.verify) for ground in rules.grounds),
        demands=tuple(demand.text(language) for demand in rules.demands),
        deadlines=tuple(
            (rule.label(language), rule.days, rule.unit, rule.verify) for rule in rules.deadlines
        ),
        category_labels={code: translate(language, f"category.{code}") for code in codes},
        respondent_role_labels={
            str(role): translate(language, f"campaign.role.{role}") for role in RespondentRole
        },
    )


def _add_version(
    session: Session,
    campaign: Campaign,
    *,
    language: str,
    body: str,
    source: FactPatternSource,
    actor: StaffUser,
    now: datetime,
) -> FactPatternVersion:
    body_sha256 = hashlib.sha256(body.encode("utf-8")).hexdigest()
    latest = latest_version(session, campaign, language)
    if latest is not None and latest.body_sha256 == body_sha256:
        raise Conflict("campaign.error.fact_pattern_unchanged", number=latest.number)
    version = FactPatternVersion(
        campaign_id=campaign.id,
        number=(latest.number if latest else 0) + 1,
        language=language,
        body=body,
        body_sha256=body_sha256,
        source=source,
        created_by_id=actor.id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError as error:
        # Someone saved the same number a moment earlier; their version stands.
        raise Conflict("campaign.error.version_race") from error
    _record(
        session,
        now,
        actor,
        f"campaign.fact_pattern_{source}",
        campaign,
        version_id=version.id,
        language=language,
        number=version.number,
        body_sha256=body_sha256,
    )
    return version


def generate_fact_pattern(
    session: Session, campaign: Campaign, *, language: Language, actor: StaffUser, now: datetime
) -> FactPatternVersion:
    data = fact_pattern_input(
        session, campaign, language=language, today=local_today(campaign, now)
    )
    body = facts.render_fact_pattern(data)
    return _add_version(
        session,
        campaign,
        language=language,
        body=body,
        source=FactPatternSource.generated,
        actor=actor,
        now=now,
    )


def edit_fact_pattern(
    session: Session,
    campaign: Campaign,
    *,
    language: Language,
    body: str,
    actor: StaffUser,
    now: datetime,
) -> FactPatternVersion:
    # One line-ending convention, so that the hash and the diff see only real changes.
    normalized = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").split("\n"))
    return _add_version(
        session,
        campaign,
        language=language,
        body=normalized.strip("\n") + "\n",
        source=FactPatternSource.edited,
        actor=actor,
        now=now,
    )


def diff_versions(old: FactPatternVersion, new: FactPatternVersion) -> str:
    lines = facts.unified_diff(
        old.body,
        new.body,
        f"{old.language} v{old.number}",
        f"{new.language} v{new.number}",
    )
    return "\n".join(lines)


def approve_version(
    session: Session,
    campaign: Campaign,
    version: FactPatternVersion,
    *,
    lawyer: StaffUser,
    now: datetime,
) -> FactPatternVersion:
    """A lawyer assigned to the campaign approves this exact text (its hash is in the audit)."""
    if session.get(CampaignLawyer, (campaign.id, lawyer.id)) is None:
        raise NotFound("campaign.error.not_found")
    if version.approved_at is not None:
        raise Conflict("campaign.error.already_approved")
    version.approved_by_id = lawyer.id
    version.approved_at = now
    session.flush()
    _record(
        session,
        now,
        lawyer,
        "campaign.fact_pattern_approve",
        campaign,
        version_id=version.id,
        language=version.language,
        number=version.number,
        body_sha256=version.body_sha256,
    )
    return version


@dataclass(frozen=True)
class RenderedDocument:
    content: bytes
    filename: str
    media_type: str


def closed_before(cutoff: datetime) -> Select[tuple[int]]:
    """Ids of campaigns that are closed and whose last closing happened at or before `cutoff`:
    the campaigns whose retention period, counted from closing, has run out."""
    closed_at = (
        select(CampaignEvent.campaign_id, func.max(CampaignEvent.occurred_at).label("closed_at"))
        .where(CampaignEvent.to_status == CampaignStatus.closed)
        .group_by(CampaignEvent.campaign_id)
        .subquery()
    )
    return (
        select(Campaign.id)
        .join(closed_at, closed_at.c.campaign_id == Campaign.id)
        .where(Campaign.status == CampaignStatus.closed, closed_at.c.closed_at <= cutoff)
    )


def download_version(
    session: Session,
    campaign: Campaign,
    version: FactPatternVersion,
    document_format: str,
    *,
    viewer: StaffUser,
    now: datetime,
) -> RenderedDocument:
    """The version rendered for a staff member; who took which version and format is audited,
    so a copy that surfaces outside the campaign can be traced to its download."""
    document = render_version(campaign, version, document_format)
    _record(
        session,
        now,
        viewer,
        "campaign.fact_pattern_download",
        campaign,
        version_id=version.id,
        format=document_format,
        body_sha256=version.body_sha256,
    )
    return document


def render_version(
    campaign: Campaign, version: FactPatternVersion, document_format: str
) -> RenderedDocument:
    meta = documents.DocumentMeta(
        title=campaign.title,
        language="zh" if version.language == "zh" else "en",
        reference=(
            f"{group_reference(campaign)} · {version.language} v{version.number}"
            f" · {version.body_sha256[:12]}"
        ),
        created_at=version.created_at,
    )
    stem = f"{campaign.slug}-{version.language}-v{version.number}"
    if document_format == "pdf":
        return RenderedDocument(
            documents.render_pdf(meta, version.body), f"{stem}.pdf", documents.PDF_MEDIA_TYPE
        )
    return RenderedDocument(
        documents.render_docx(meta, version.body), f"{stem}.docx", documents.DOCX_MEDIA_TYPE
    )


# The public page


def public_campaign(session: Session, slug: str) -> tuple[Campaign, facts.PublicAggregates]:
    """A campaign that is public (open for signatures or later) and its suppressed figures."""
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is None or campaign.status not in PUBLIC_STATUSES:
        raise NotFound("campaign.error.not_found")
    statistics = facts.fact_statistics(member_frame(session, campaign))
    return campaign, facts.public_aggregates(statistics)
