"""Organizer review of the current clusters: the dashboard and detail queries, starting a run,
and recording review decisions.

Every figure shown is computed here from the reports and the latest succeeded run's
memberships, not read from `cluster.statistics`, whose keys belong to the engine. A report
counts in a cluster when its membership names the cluster, it is still active and it is not a
near-duplicate of another report, so a story sent ten times weighs once, as in the engine.

A decision is appended (never changed), written to the audit log and applied at once to the
current run's rows so the organizer sees its effect; every later run re-applies all decisions
in order through the engine, which therefore stays the authority on what they mean.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, and_, case, cast, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from aggregation.clustering.stability import split_cluster_id
from api.audit import service as audit_service
from api.clusters import service as cluster_service
from api.clusters.models import (
    Cluster,
    ClusteringRun,
    ClusterMembership,
    DecisionKind,
    ReviewDecision,
    RunStatus,
)
from api.clusters.schemas import (
    ClusterQuery,
    DuplicateMark,
    DuplicateUnmark,
    MergeRequest,
    RenameRequest,
    ReportExclusion,
    SplitRequest,
)
from api.errors import Conflict, FieldError, NotFound, validation_body
from api.i18n import Language, translate
from api.lenders.models import Lender
from api.reports.models import Report, ReportStatus
from api.staff import service as staff_service
from api.staff.models import StaffUser

PER_PAGE = 25
REPORTS_PER_PAGE = 25
TOP_CATEGORIES = 3
# Enough months for two years of history on a dashboard card; older months are summed away.
CHART_MONTHS = 24
EXCERPT_CHARS = 160
SUBJECT_TYPE = "cluster"
_MONTH_RE = re.compile(r"^\d{4}-\d{2}$")

SortKey = Literal["size", "newest", "lender", "apr"]


class ClusterFieldError(FieldError):
    """A 422 for one field, with its reason under `cluster.reason.*` in the catalogues."""

    def body(self, language: Language) -> dict[str, Any]:
        body = validation_body(language, [(self.field, self.reason, self.reason_params)])
        message = translate(
            language, f"cluster.reason.{self.reason}", field=self.field, **self.reason_params
        )
        body["errors"][0]["message"] = message
        body["detail"] = translate(
            language, "error.validation_failed", summary=f"{self.field}: {message}"
        )
        return body


# Figures per cluster


@dataclass(frozen=True)
class LenderName:
    key: str
    name_zh: str | None
    name_en: str | None
    # What a reporter typed, for a lender key nobody has mapped to a lender yet.
    typed: str | None = None

    def display(self, language: Language) -> str:
        if self.name_zh is None or self.name_en is None:
            return self.typed or self.key
        return self.name_zh if language == "zh" else self.name_en

    @property
    def is_mapped(self) -> bool:
        return self.name_zh is not None


@dataclass
class ClusterSummary:
    cluster: Cluster
    lender: LenderName
    member_count: int
    duplicate_count: int
    open_duplicate_count: int
    newest_month: str | None
    apr_known_count: int
    above_24_count: int
    above_36_count: int
    # Filled for the clusters on the page only.
    months: list[tuple[str, int]] = field(default_factory=list)
    month_unknown_count: int = 0
    months_before_chart: int = 0
    categories: list[tuple[str, float]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.cluster.cluster_key

    @property
    def label(self) -> str:
        return cluster_label(self.cluster)

    @property
    def share_above_24(self) -> float | None:
        return self.above_24_count / self.apr_known_count if self.apr_known_count else None

    @property
    def share_above_36(self) -> float | None:
        return self.above_36_count / self.apr_known_count if self.apr_known_count else None

    @property
    def busiest_month_count(self) -> int:
        return max((count for _, count in self.months), default=0)


def cluster_label(cluster: Cluster) -> str:
    """The organizer's name for the cluster, else its top keywords."""
    return cluster.label or "、".join(cluster.keywords[:4]) or cluster.cluster_key


def _counted() -> ColumnElement[bool]:
    return ClusterMembership.duplicate_of_id.is_(None)


def _ones(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _category_match(category: str) -> ColumnElement[bool]:
    # The JSON list as text holds each code in quotes on both backends; codes are checked
    # against the taxonomy before they get here, and autoescape keeps `_` literal.
    return cast(Report.categories, String).contains(f'"{category}"', autoescape=True)


def _members(run: ClusteringRun) -> Any:
    return (
        select()
        .select_from(ClusterMembership)
        .join(Report, Report.id == ClusterMembership.report_id)
        .where(
            ClusterMembership.run_id == run.id,
            ClusterMembership.cluster_key.is_not(None),
            Report.status == ReportStatus.active,
        )
    )


def confirmed_duplicate_ids(session: Session) -> set[str]:
    """Reports an organizer marked as duplicates: their flag is settled, not open."""
    confirmed: set[str] = set()
    for report_ids in session.scalars(
        select(ReviewDecision.report_ids).where(ReviewDecision.kind == DecisionKind.mark_duplicate)
    ):
        confirmed.update(report_ids)
    return confirmed


def _lender_names(session: Session, keys: set[str]) -> dict[str, LenderName]:
    if not keys:
        return {}
    names = {
        key: LenderName(key, zh, en)
        for key, zh, en in session.execute(
            select(Lender.key, Lender.name_zh, Lender.name_en).where(Lender.key.in_(keys))
        )
    }
    unmapped = keys - set(names)
    if unmapped:
        typed = session.execute(
            select(Report.lender_name_key, func.min(Report.lender_name_typed))
            .where(Report.lender_name_key.in_(unmapped), Report.lender_id.is_(None))
            .group_by(Report.lender_name_key)
        )
        examples = dict(typed.all())
        for key in unmapped:
            names[key] = LenderName(key, None, None, examples.get(key))
    return names


def _summaries(
    session: Session,
    run: ClusteringRun,
    clusters: Sequence[Cluster],
    *,
    month: str | None = None,
    category: str | None = None,
) -> list[ClusterSummary]:
    """One grouped query over the run's memberships for every cluster given; clusters without
    an active member are left out, and so are those that miss the month or category."""
    by_key = {cluster.cluster_key: cluster for cluster in clusters}
    if not by_key:
        return []
    duplicate = ClusterMembership.duplicate_of_id.is_not(None)
    confirmed = confirmed_duplicate_ids(session)
    open_duplicate = (
        and_(duplicate, ClusterMembership.report_id.not_in(confirmed)) if confirmed else duplicate
    )
    columns = [
        ClusterMembership.cluster_key,
        _ones(_counted()).label("members"),
        _ones(duplicate).label("duplicates"),
        _ones(open_duplicate).label("open_duplicates"),
        func.max(case((_counted(), Report.first_incident_month))).label("newest_month"),
        _ones(and_(_counted(), Report.is_above_24.is_not(None))).label("apr_known"),
        _ones(and_(_counted(), Report.is_above_24.is_(True))).label("above_24"),
        _ones(and_(_counted(), Report.is_above_36.is_(True))).label("above_36"),
        _ones(and_(_counted(), Report.first_incident_month == month)).label("month_hits")
        if month
        else func.count().label("month_hits"),
        _ones(and_(_counted(), _category_match(category))).label("category_hits")
        if category
        else func.count().label("category_hits"),
    ]
    query = (
        _members(run)
        .add_columns(*columns)
        .where(ClusterMembership.cluster_key.in_(by_key))
        .group_by(ClusterMembership.cluster_key)
    )
    rows = [row for row in session.execute(query) if row.month_hits and row.category_hits]
    lenders = _lender_names(session, {by_key[row.cluster_key].lender_key for row in rows})
    return [
        ClusterSummary(
            cluster=by_key[row.cluster_key],
            lender=lenders[by_key[row.cluster_key].lender_key],
            member_count=int(row.members),
            duplicate_count=int(row.duplicates),
            open_duplicate_count=int(row.open_duplicates),
            newest_month=row.newest_month,
            apr_known_count=int(row.apr_known),
            above_24_count=int(row.above_24),
            above_36_count=int(row.above_36),
        )
        for row in rows
    ]


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def month_series(counts: dict[str, int]) -> tuple[list[tuple[str, int]], int]:
    """Every month from the first to the last with a report (empty months as 0), at most the
    last `CHART_MONTHS`, and how many reports fall in the months cut off before them."""
    if not counts:
        return [], 0
    months = sorted(counts)
    series, current = [], months[0]
    while current <= months[-1]:
        series.append((current, counts.get(current, 0)))
        current = _next_month(current)
    cut_off = series[:-CHART_MONTHS]
    return series[-CHART_MONTHS:], sum(count for _, count in cut_off)


def _fill_details(session: Session, run: ClusteringRun, summaries: list[ClusterSummary]) -> None:
    """Months and top categories for the clusters shown: two queries, whatever their number."""
    if not summaries:
        return
    keys = [summary.key for summary in summaries]
    counted_members = _members(run).where(ClusterMembership.cluster_key.in_(keys)).where(_counted())
    month_counts: dict[str, dict[str, int]] = {key: {} for key in keys}
    unknown: Counter[str] = Counter()
    for key, month, count in session.execute(
        counted_members.add_columns(
            ClusterMembership.cluster_key, Report.first_incident_month, func.count()
        ).group_by(ClusterMembership.cluster_key, Report.first_incident_month)
    ):
        if month and _MONTH_RE.match(month):
            month_counts[key][month] = int(count)
        else:
            unknown[key] += int(count)
    category_counts: dict[str, Counter[str]] = {key: Counter() for key in keys}
    for key, categories in session.execute(
        counted_members.add_columns(ClusterMembership.cluster_key, Report.categories)
    ):
        category_counts[key].update(set(categories or ()))
    for summary in summaries:
        summary.months, summary.months_before_chart = month_series(month_counts[summary.key])
        summary.month_unknown_count = unknown[summary.key]
        total = summary.member_count or 1
        ranked = sorted(category_counts[summary.key].items(), key=lambda item: (-item[1], item[0]))
        summary.categories = [(code, count / total) for code, count in ranked]


# The dashboard


@dataclass
class Dashboard:
    run: ClusteringRun | None
    summaries: list[ClusterSummary]
    total: int
    page: int
    pages: int
    lenders: list[LenderName]


def _sort(summaries: list[ClusterSummary], sort: SortKey, language: Language) -> None:
    # Stable sorts from the last tie-breaker to the first; `reverse` keeps ties in order.
    summaries.sort(key=lambda summary: summary.key)
    summaries.sort(key=lambda summary: summary.member_count, reverse=True)
    if sort == "newest":
        summaries.sort(
            key=lambda summary: (summary.newest_month is not None, summary.newest_month or ""),
            reverse=True,
        )
    elif sort == "lender":
        summaries.sort(key=lambda summary: summary.lender.display(language))
    elif sort == "apr":
        summaries.sort(
            key=lambda summary: (summary.share_above_24 is not None, summary.share_above_24 or 0),
            reverse=True,
        )


def dashboard(session: Session, query: ClusterQuery, language: Language) -> Dashboard:
    run = cluster_service.latest_succeeded_run(session)
    if run is None:
        return Dashboard(None, [], 0, 1, 1, [])
    clusters = list(session.scalars(select(Cluster).where(Cluster.run_id == run.id)))
    lender_keys = {cluster.lender_key for cluster in clusters}
    lenders = sorted(
        _lender_names(session, lender_keys).values(), key=lambda name: name.display(language)
    )
    if query.lender:
        clusters = [cluster for cluster in clusters if cluster.lender_key == query.lender]
    summaries = _summaries(
        session,
        run,
        clusters,
        month=query.month,
        category=str(query.category) if query.category else None,
    )
    if query.min_size:
        summaries = [s for s in summaries if s.member_count >= query.min_size]
    _sort(summaries, query.sort, language)
    pages = max(1, math.ceil(len(summaries) / PER_PAGE))
    page = min(query.page, pages)
    shown = summaries[(page - 1) * PER_PAGE : page * PER_PAGE]
    _fill_details(session, run, shown)
    return Dashboard(run, shown, len(summaries), page, pages, lenders)


# One cluster


@dataclass(frozen=True)
class ReportRow:
    id: str
    title: str
    excerpt: str
    narrative: str
    month: str | None
    region_code: str | None
    categories: list[str]
    apr_effective: float | None
    is_above_24: bool | None
    is_above_36: bool | None


@dataclass(frozen=True)
class DuplicateGroup:
    original: ReportRow | None
    original_id: str
    copies: list[ReportRow]


@dataclass
class ClusterDetail:
    run: ClusteringRun
    summary: ClusterSummary
    reports: list[ReportRow]
    report_total: int
    page: int
    pages: int
    representatives: list[ReportRow]
    duplicate_groups: list[DuplicateGroup]
    region_counts: list[tuple[str, int]]
    merge_candidates: list[ClusterSummary]
    decisions: list[ReviewDecision]
    staff_names: dict[int, str]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


_REPORT_COLUMNS = (
    Report.id,
    Report.title,
    Report.narrative,
    Report.first_incident_month,
    Report.region_code,
    Report.categories,
    Report.apr_effective,
    Report.is_above_24,
    Report.is_above_36,
)


def _report_row(row: Any) -> ReportRow:
    return ReportRow(
        id=row.id,
        title=row.title,
        excerpt=_excerpt(row.narrative),
        narrative=row.narrative,
        month=row.first_incident_month,
        region_code=row.region_code,
        categories=list(row.categories or ()),
        apr_effective=row.apr_effective,
        is_above_24=row.is_above_24,
        is_above_36=row.is_above_36,
    )


def _reports_by_id(session: Session, report_ids: set[str]) -> dict[str, ReportRow]:
    """Active reports only: a withdrawn report's text is no longer shown to anyone."""
    if not report_ids:
        return {}
    rows = session.execute(
        select(*_REPORT_COLUMNS).where(
            Report.id.in_(report_ids), Report.status == ReportStatus.active
        )
    )
    return {row.id: _report_row(row) for row in rows}


def current_cluster(session: Session, cluster_key: str) -> tuple[ClusteringRun, Cluster]:
    run = cluster_service.latest_succeeded_run(session)
    cluster = (
        session.scalar(
            select(Cluster).where(Cluster.run_id == run.id, Cluster.cluster_key == cluster_key)
        )
        if run
        else None
    )
    if run is None or cluster is None:
        raise NotFound("cluster.error.not_found")
    return run, cluster


def _empty_summary(session: Session, cluster: Cluster) -> ClusterSummary:
    lender = _lender_names(session, {cluster.lender_key})[cluster.lender_key]
    return ClusterSummary(cluster, lender, 0, 0, 0, None, 0, 0, 0)


def decisions_about(session: Session, cluster_key: str) -> list[ReviewDecision]:
    return list(
        session.scalars(
            select(ReviewDecision)
            .where(cast(ReviewDecision.cluster_keys, String).contains(f'"{cluster_key}"'))
            .order_by(ReviewDecision.id.desc())
        )
    )


def cluster_detail(session: Session, cluster_key: str, *, page: int = 1) -> ClusterDetail:
    run, cluster = current_cluster(session, cluster_key)
    summaries = _summaries(session, run, [cluster])
    summary = summaries[0] if summaries else _empty_summary(session, cluster)
    _fill_details(session, run, [summary])

    pages = max(1, math.ceil(summary.member_count / REPORTS_PER_PAGE))
    page = min(max(page, 1), pages)
    members = (
        select(*_REPORT_COLUMNS)
        .join(ClusterMembership, ClusterMembership.report_id == Report.id)
        .where(
            ClusterMembership.run_id == run.id,
            ClusterMembership.cluster_key == cluster_key,
            _counted(),
            Report.status == ReportStatus.active,
        )
        # Newest trouble first; reports without a month after those with one.
        .order_by(Report.first_incident_month.is_(None), Report.first_incident_month.desc())
        .order_by(Report.id)
        .limit(REPORTS_PER_PAGE)
        .offset((page - 1) * REPORTS_PER_PAGE)
    )
    reports = [_report_row(row) for row in session.execute(members)]

    copies = session.execute(
        select(ClusterMembership.report_id, ClusterMembership.duplicate_of_id)
        .where(
            ClusterMembership.run_id == run.id,
            ClusterMembership.cluster_key == cluster_key,
            ClusterMembership.duplicate_of_id.is_not(None),
        )
        .order_by(ClusterMembership.duplicate_of_id, ClusterMembership.report_id)
    ).all()
    wanted = {report_id for pair in copies for report_id in pair}
    wanted.update(cluster.representative_report_ids)
    texts = _reports_by_id(session, wanted)
    groups: dict[str, list[ReportRow]] = {}
    for report_id, original_id in copies:
        if report_id in texts:
            groups.setdefault(original_id, []).append(texts[report_id])

    regions = session.execute(
        _members(run)
        .add_columns(Report.region_code, func.count())
        .where(ClusterMembership.cluster_key == cluster_key, _counted())
        .group_by(Report.region_code)
    ).all()
    others = session.scalars(
        select(Cluster).where(
            Cluster.run_id == run.id,
            Cluster.lender_key == cluster.lender_key,
            Cluster.cluster_key != cluster_key,
        )
    ).all()
    candidates = sorted(
        _summaries(session, run, others), key=lambda other: (-other.member_count, other.key)
    )
    decisions = decisions_about(session, cluster_key)
    return ClusterDetail(
        run=run,
        summary=summary,
        reports=reports,
        report_total=summary.member_count,
        page=page,
        pages=pages,
        representatives=[
            texts[report_id]
            for report_id in cluster.representative_report_ids
            if report_id in texts
        ],
        duplicate_groups=[
            DuplicateGroup(texts.get(original_id), original_id, members)
            for original_id, members in groups.items()
        ],
        region_counts=sorted(
            ((code or "", int(count)) for code, count in regions), key=lambda r: (-r[1], r[0])
        ),
        merge_candidates=candidates,
        decisions=decisions,
        staff_names=staff_names(session, {decision.decided_by_id for decision in decisions}),
    )


def staff_names(session: Session, staff_user_ids: set[int]) -> dict[int, str]:
    if not staff_user_ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(staff_user_ids))
    )
    return dict(rows.all())


# Runs


def active_run(session: Session) -> ClusteringRun | None:
    return session.scalar(
        select(ClusteringRun)
        .where(ClusteringRun.status.in_((RunStatus.queued, RunStatus.running)))
        .order_by(ClusteringRun.id)
        .limit(1)
    )


def start_run(session: Session, *, actor: StaffUser, now: datetime) -> ClusteringRun:
    """Queue a run; Conflict while another is queued or running, so clicks do not pile up."""
    cluster_service.fail_stale_runs(session)
    # A queued run that no worker claimed in time was lost with its process (a restart
    # between the request and the claim); it would otherwise block every run after it.
    for lost in session.scalars(
        select(ClusteringRun).where(
            ClusteringRun.status == RunStatus.queued,
            ClusteringRun.requested_at < now - cluster_service.STALE_RUN_AFTER,
        )
    ):
        cluster_service.fail_run(session, lost, "abandoned: no worker claimed it")
    session.flush()
    busy = active_run(session)
    if busy is not None:
        raise Conflict("cluster.error.run_in_progress", run_id=busy.id)
    run = cluster_service.request_run(
        session, requested_by=staff_service.staff_actor(actor), params={}
    )
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=staff_service.staff_actor(actor),
        action="clustering_run.request",
        subject_type="clustering_run",
        subject_id=str(run.id),
    )
    return run


def get_run(session: Session, run_id: int) -> ClusteringRun:
    run = cluster_service.get_run(session, run_id)
    if run is None:
        raise NotFound("cluster.error.run_not_found")
    return run


# Decisions


def _record(
    session: Session,
    *,
    kind: DecisionKind,
    cluster_keys: list[str],
    report_ids: list[str],
    reason: str,
    actor: StaffUser,
    now: datetime,
    label: str | None = None,
    duplicate_of_id: str | None = None,
) -> ReviewDecision:
    decision = ReviewDecision(
        kind=kind,
        cluster_keys=cluster_keys,
        report_ids=report_ids,
        label=label,
        duplicate_of_id=duplicate_of_id,
        reason=reason,
        decided_by_id=actor.id,
        decided_at=now,
    )
    session.add(decision)
    session.flush()
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=staff_service.staff_actor(actor),
        action=f"cluster.{kind}",
        subject_type=SUBJECT_TYPE,
        subject_id=cluster_keys[0],
        details={
            "decision_id": decision.id,
            "cluster_keys": cluster_keys,
            "report_ids": report_ids,
            "label": label,
            "duplicate_of_id": duplicate_of_id,
        },
    )
    return decision


def split_key(decision: ReviewDecision) -> str:
    """The split cluster's key, computed the way the engine does when it re-applies the
    decision (with the decision id as text), so the new cluster keeps its key across runs."""
    return split_cluster_id(str(decision.id))


def _membership(session: Session, run: ClusteringRun, report_id: str) -> ClusterMembership | None:
    return session.get(ClusterMembership, (run.id, report_id))


def _member(
    session: Session, run: ClusteringRun, cluster_key: str, report_id: str
) -> ClusterMembership:
    """The report's membership, which must be in `cluster_key` for a decision about it there."""
    membership = _membership(session, run, report_id)
    if membership is None or membership.cluster_key != cluster_key:
        raise ClusterFieldError("report_id", "not_member")
    return membership


def _report_and_copies(run: ClusteringRun, report_id: str) -> ColumnElement[bool]:
    """Memberships of the report and of the reports marked as its copies: they move together."""
    is_report_or_copy = (ClusterMembership.report_id == report_id) | (
        ClusterMembership.duplicate_of_id == report_id
    )
    return (ClusterMembership.run_id == run.id) & is_report_or_copy


def _refresh_counts(session: Session, run: ClusteringRun, keys: set[str]) -> None:
    """Sizes as the engine counts them: members that are not duplicates, and the duplicates."""
    counts = {
        key: (int(members), int(duplicates))
        for key, members, duplicates in session.execute(
            select(
                ClusterMembership.cluster_key,
                _ones(_counted()),
                _ones(ClusterMembership.duplicate_of_id.is_not(None)),
            )
            .where(ClusterMembership.run_id == run.id, ClusterMembership.cluster_key.in_(keys))
            .group_by(ClusterMembership.cluster_key)
        )
    }
    for cluster in session.scalars(
        select(Cluster).where(Cluster.run_id == run.id, Cluster.cluster_key.in_(keys))
    ):
        cluster.size, cluster.duplicate_count = counts.get(cluster.cluster_key, (0, 0))


def rename(
    session: Session, cluster_key: str, data: RenameRequest, *, actor: StaffUser, now: datetime
) -> ReviewDecision:
    _run, cluster = current_cluster(session, cluster_key)
    decision = _record(
        session,
        kind=DecisionKind.rename,
        cluster_keys=[cluster_key],
        report_ids=[],
        label=data.label,
        reason=data.reason,
        actor=actor,
        now=now,
    )
    cluster.label = data.label
    return decision


def merge(
    session: Session, cluster_key: str, data: MergeRequest, *, actor: StaffUser, now: datetime
) -> ReviewDecision:
    """The other clusters join this one, which keeps its key (as in the engine)."""
    run, cluster = current_cluster(session, cluster_key)
    if cluster_key in data.cluster_keys:
        raise ClusterFieldError("cluster_keys", "same_cluster")
    others = {
        other.cluster_key: other
        for other in session.scalars(
            select(Cluster).where(
                Cluster.run_id == run.id, Cluster.cluster_key.in_(data.cluster_keys)
            )
        )
    }
    if set(data.cluster_keys) - set(others):
        raise ClusterFieldError("cluster_keys", "unknown_cluster")
    if any(other.lender_key != cluster.lender_key for other in others.values()):
        raise ClusterFieldError("cluster_keys", "other_lender")
    decision = _record(
        session,
        kind=DecisionKind.merge,
        cluster_keys=[cluster_key, *data.cluster_keys],
        report_ids=[],
        reason=data.reason,
        actor=actor,
        now=now,
    )
    session.execute(
        update(ClusterMembership)
        .where(
            ClusterMembership.run_id == run.id,
            ClusterMembership.cluster_key.in_(data.cluster_keys),
        )
        .values(cluster_key=cluster_key)
    )
    _refresh_counts(session, run, {cluster_key, *data.cluster_keys})
    return decision


def _counted_members(
    session: Session, run: ClusteringRun, cluster_key: str, report_ids: Sequence[str]
) -> set[str]:
    return set(
        session.scalars(
            select(ClusterMembership.report_id).where(
                ClusterMembership.run_id == run.id,
                ClusterMembership.cluster_key == cluster_key,
                ClusterMembership.report_id.in_(report_ids),
                _counted(),
            )
        )
    )


def split(
    session: Session, cluster_key: str, data: SplitRequest, *, actor: StaffUser, now: datetime
) -> tuple[ReviewDecision, str]:
    """The chosen reports, with their duplicates, leave for a new cluster; returns its key."""
    run, cluster = current_cluster(session, cluster_key)
    if _counted_members(session, run, cluster_key, data.report_ids) != set(data.report_ids):
        raise ClusterFieldError("report_ids", "not_member")
    if len(data.report_ids) >= cluster.size:
        raise ClusterFieldError("report_ids", "whole_cluster")
    decision = _record(
        session,
        kind=DecisionKind.split,
        cluster_keys=[cluster_key],
        report_ids=list(data.report_ids),
        reason=data.reason,
        actor=actor,
        now=now,
    )
    new_key = split_key(decision)
    session.execute(
        update(ClusterMembership)
        .where(
            ClusterMembership.run_id == run.id,
            ClusterMembership.cluster_key == cluster_key,
            ClusterMembership.report_id.in_(data.report_ids)
            | ClusterMembership.duplicate_of_id.in_(data.report_ids),
        )
        .values(cluster_key=new_key)
    )
    session.add(
        Cluster(
            run_id=run.id,
            cluster_key=new_key,
            lender_key=cluster.lender_key,
            label=None,
            size=0,
            duplicate_count=0,
            # The parent's words describe these reports too until the next run finds their own.
            keywords=list(cluster.keywords),
            representative_report_ids=sorted(data.report_ids)[:3],
            statistics={},
        )
    )
    session.flush()
    _refresh_counts(session, run, {cluster_key, new_key})
    return decision, new_key


def exclude(
    session: Session, cluster_key: str, data: ReportExclusion, *, actor: StaffUser, now: datetime
) -> ReviewDecision:
    """The report and its duplicates leave every cluster; the report itself stays filed."""
    run, _cluster = current_cluster(session, cluster_key)
    _member(session, run, cluster_key, data.report_id)
    decision = _record(
        session,
        kind=DecisionKind.exclude,
        cluster_keys=[cluster_key],
        report_ids=[data.report_id],
        reason=data.reason,
        actor=actor,
        now=now,
    )
    session.execute(
        update(ClusterMembership)
        .where(
            _report_and_copies(run, data.report_id), ClusterMembership.cluster_key == cluster_key
        )
        .values(cluster_key=None)
    )
    _refresh_counts(session, run, {cluster_key})
    return decision


def mark_duplicate(
    session: Session, cluster_key: str, data: DuplicateMark, *, actor: StaffUser, now: datetime
) -> ReviewDecision:
    """The report (and its own duplicates) become copies of the original, in its cluster."""
    run, cluster = current_cluster(session, cluster_key)
    _member(session, run, cluster_key, data.report_id)
    if data.duplicate_of_id == data.report_id:
        raise ClusterFieldError("duplicate_of_id", "same_report")
    original = _membership(session, run, data.duplicate_of_id)
    if original is not None and original.duplicate_of_id is not None:
        # A copy of a copy is a copy of the first: groups stay one level deep.
        original = _membership(session, run, original.duplicate_of_id)
    if original is None or original.cluster_key is None:
        raise ClusterFieldError("duplicate_of_id", "unknown_report")
    if original.report_id == data.report_id:
        raise ClusterFieldError("duplicate_of_id", "same_report")
    target = session.scalar(
        select(Cluster).where(Cluster.run_id == run.id, Cluster.cluster_key == original.cluster_key)
    )
    if target is None or target.lender_key != cluster.lender_key:
        raise ClusterFieldError("duplicate_of_id", "other_lender")
    decision = _record(
        session,
        kind=DecisionKind.mark_duplicate,
        cluster_keys=[cluster_key],
        report_ids=[data.report_id],
        duplicate_of_id=original.report_id,
        reason=data.reason,
        actor=actor,
        now=now,
    )
    session.execute(
        update(ClusterMembership)
        .where(_report_and_copies(run, data.report_id))
        .values(duplicate_of_id=original.report_id, cluster_key=original.cluster_key)
    )
    _refresh_counts(session, run, {cluster_key, target.cluster_key})
    return decision


def unmark_duplicate(
    session: Session, cluster_key: str, data: DuplicateUnmark, *, actor: StaffUser, now: datetime
) -> ReviewDecision:
    """The duplicate counts as a member again, in the cluster it is in."""
    run, _cluster = current_cluster(session, cluster_key)
    membership = _membership(session, run, data.report_id)
    if (
        membership is None
        or membership.cluster_key != cluster_key
        or membership.duplicate_of_id is None
    ):
        raise ClusterFieldError("report_id", "not_duplicate")
    decision = _record(
        session,
        kind=DecisionKind.unmark_duplicate,
        cluster_keys=[cluster_key],
        report_ids=[data.report_id],
        reason=data.reason,
        actor=actor,
        now=now,
    )
    membership.duplicate_of_id = None
    session.flush()
    _refresh_counts(session, run, {cluster_key})
    return decision
