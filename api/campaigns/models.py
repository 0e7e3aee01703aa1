from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, event, inspect
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class CampaignStatus(StrEnum):
    draft = "draft"
    open_for_signatures = "open_for_signatures"
    filed = "filed"
    awaiting_response = "awaiting_response"
    responded = "responded"
    escalated = "escalated"
    closed = "closed"


class RespondentRole(StrEnum):
    """Who a campaign is against (legal-research.md §3.7): the lender on the contract, and the
    platform, guarantor and collector for their own conduct."""

    lender_of_record = "lender_of_record"
    platform = "platform"
    guarantor = "guarantor"
    collector = "collector"


class FactPatternSource(StrEnum):
    generated = "generated"
    edited = "edited"


class Campaign(Base):
    """A joint complaint in the making: one or more clusters, one channel, one jurisdiction."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public page's address (/c/<slug>); fixed once the campaign leaves draft.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(40))
    jurisdiction: Mapped[str] = mapped_column(String(16))
    status: Mapped[CampaignStatus] = mapped_column(String(32), index=True)
    # [{"role": RespondentRole, "label": registered name, "unified_social_credit_code": str|None}]
    respondents: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The first time the campaign entered each status its deadlines are counted from; the
    # event log has every transition, these are kept for the deadline queries.
    opened_at: Mapped[datetime | None]
    filed_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]


class CampaignCluster(Base):
    """A cluster a campaign draws its reports from, by the cluster's stable key, so the campaign
    follows the group through later grouping runs."""

    __tablename__ = "campaign_cluster"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    cluster_key: Mapped[str] = mapped_column(String(40), primary_key=True)


class CampaignLawyer(Base):
    __tablename__ = "campaign_lawyer"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id"), primary_key=True, index=True
    )
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    assigned_at: Mapped[datetime]


class CampaignEvent(Base):
    """One status transition. Append-only: rows are inserted and never changed or deleted."""

    __tablename__ = "campaign_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    occurred_at: Mapped[datetime]
    actor_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    # None for the event that creates the campaign.
    from_status: Mapped[CampaignStatus | None] = mapped_column(String(32))
    to_status: Mapped[CampaignStatus] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    # The approved fact pattern version that was filed, on the transition to `filed`.
    fact_pattern_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("fact_pattern_version.id")
    )


class FactPatternVersion(Base):
    """One version of a campaign's shared fact pattern in one language. The text never changes
    after it is written: an edit is a new version. Only the approval is recorded later."""

    __tablename__ = "fact_pattern_version"
    __table_args__ = (UniqueConstraint("campaign_id", "language", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    # 1, 2, 3… per campaign and language.
    number: Mapped[int]
    language: Mapped[str] = mapped_column(String(2))
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[FactPatternSource] = mapped_column(String(16))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    approved_at: Mapped[datetime | None]


class AppendOnlyViolation(RuntimeError):
    """A bug, not a user error: code tried to rewrite history."""


@event.listens_for(CampaignEvent, "before_update")
@event.listens_for(CampaignEvent, "before_delete")
def _refuse_event_rewrite(_mapper: Any, _connection: Any, target: CampaignEvent) -> None:
    raise AppendOnlyViolation(f"campaign_event {target.id} is append-only")


@event.listens_for(FactPatternVersion, "before_delete")
def _refuse_version_delete(_mapper: Any, _connection: Any, target: FactPatternVersion) -> None:
    raise AppendOnlyViolation(f"fact_pattern_version {target.id} cannot be deleted")


_IMMUTABLE_VERSION_FIELDS = (
    "campaign_id",
    "number",
    "language",
    "body",
    "body_sha256",
    "source",
    "created_by_id",
    "created_at",
)


@event.listens_for(FactPatternVersion, "before_update")
def _refuse_version_rewrite(_mapper: Any, _connection: Any, target: FactPatternVersion) -> None:
    state = inspect(target)
    changed = [name for name in _IMMUTABLE_VERSION_FIELDS if state.attrs[name].history.deleted]
    if changed:
        raise AppendOnlyViolation(f"fact_pattern_version {target.id}: {changed} are fixed")
