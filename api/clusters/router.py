"""JSON API for reviewing clusters (/api/v1/clusters) and starting grouping runs
(/api/v1/clustering-runs). Organizers and admins only: lawyers work on campaigns, not on the
raw groups of reports."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, status

from api.clusters import review
from api.clusters import service as cluster_service
from api.clusters.models import ReviewDecision
from api.clusters.review import ClusterSummary, ReportRow
from api.clusters.schemas import (
    CategoryShare,
    ClusterDetailRead,
    ClusterPageRead,
    ClusterQuery,
    ClusterSummaryRead,
    DecisionRead,
    DuplicateGroupRead,
    DuplicateMark,
    DuplicateUnmark,
    LenderRead,
    MergeRequest,
    MonthCount,
    RenameRequest,
    ReportExclusion,
    ReportRead,
    RunRead,
    SplitRead,
    SplitRequest,
)
from api.db import SessionDep, utc_now
from api.i18n import request_language
from api.staff.dependencies import require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(tags=["clusters"])

CLUSTERS = "/api/v1/clusters"
RUNS = "/api/v1/clustering-runs"

Organizer = Annotated[StaffUser, Depends(require_roles(StaffRole.organizer, StaffRole.admin))]

_ERRORS = {
    401: {"description": "Not logged in, or the session expired"},
    403: {"description": "Not an organizer or admin, or the CSRF token is missing or wrong"},
    404: {"description": "No such cluster in the latest succeeded run"},
}
_DECISION_ERRORS = {
    **_ERRORS,
    422: {"description": "A field is invalid (a reason is required); the body names it"},
}


def summary_read(summary: ClusterSummary) -> ClusterSummaryRead:
    lender = summary.lender
    return ClusterSummaryRead(
        cluster_key=summary.key,
        label=summary.label,
        lender=LenderRead(
            key=lender.key,
            name_zh=lender.name_zh,
            name_en=lender.name_en,
            typed=lender.typed,
            is_mapped=lender.is_mapped,
        ),
        size=summary.member_count,
        duplicate_count=summary.duplicate_count,
        open_duplicate_count=summary.open_duplicate_count,
        keywords=list(summary.cluster.keywords),
        newest_month=summary.newest_month,
        months=[MonthCount(month=month, reports=count) for month, count in summary.months],
        month_unknown_count=summary.month_unknown_count,
        categories=[
            CategoryShare(category=code, share=round(share, 4))
            for code, share in summary.categories
        ],
        apr_known_count=summary.apr_known_count,
        share_apr_above_24pct=summary.share_above_24,
        share_apr_above_36pct=summary.share_above_36,
    )


def report_read(row: ReportRow) -> ReportRead:
    return ReportRead(
        id=row.id,
        title=row.title,
        narrative_excerpt=row.excerpt,
        month=row.month,
        region_code=row.region_code,
        categories=row.categories,
        apr_effective=row.apr_effective,
        is_above_24=row.is_above_24,
        is_above_36=row.is_above_36,
    )


@router.get(CLUSTERS, response_model=ClusterPageRead, responses=_ERRORS)
def list_clusters(
    request: Request,
    session: SessionDep,
    organizer: Organizer,
    query: Annotated[ClusterQuery, Query()],
) -> ClusterPageRead:
    """Clusters of the latest succeeded run, with figures computed from their reports."""
    board = review.dashboard(session, query, request_language(request))
    return ClusterPageRead(
        run_id=board.run.id if board.run else None,
        total=board.total,
        page=board.page,
        pages=board.pages,
        per_page=review.PER_PAGE,
        items=[summary_read(summary) for summary in board.summaries],
    )


@router.get(f"{CLUSTERS}/{{cluster_key}}", response_model=ClusterDetailRead, responses=_ERRORS)
def get_cluster(
    cluster_key: str,
    session: SessionDep,
    organizer: Organizer,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> ClusterDetailRead:
    detail = review.cluster_detail(session, cluster_key, page=page)
    return ClusterDetailRead(
        run_id=detail.run.id,
        summary=summary_read(detail.summary),
        representative_report_ids=list(detail.summary.cluster.representative_report_ids),
        representatives=[report_read(row) for row in detail.representatives],
        reports=[report_read(row) for row in detail.reports],
        report_total=detail.report_total,
        page=detail.page,
        pages=detail.pages,
        duplicate_groups=[
            DuplicateGroupRead(
                original_id=group.original_id,
                original=report_read(group.original) if group.original else None,
                duplicates=[report_read(row) for row in group.copies],
            )
            for group in detail.duplicate_groups
        ],
        region_counts=dict(detail.region_counts),
        merge_candidates=[candidate.key for candidate in detail.merge_candidates],
        decisions=[_decision(decision) for decision in detail.decisions],
    )


def _decision(decision: ReviewDecision) -> DecisionRead:
    return DecisionRead.model_validate(decision)


_CREATED = {"status_code": status.HTTP_201_CREATED, "responses": _DECISION_ERRORS}


@router.post(f"{CLUSTERS}/{{cluster_key}}/rename", response_model=DecisionRead, **_CREATED)
def rename_cluster(
    cluster_key: str, data: RenameRequest, session: SessionDep, organizer: Organizer
) -> DecisionRead:
    return _decision(review.rename(session, cluster_key, data, actor=organizer, now=utc_now()))


@router.post(f"{CLUSTERS}/{{cluster_key}}/merge", response_model=DecisionRead, **_CREATED)
def merge_clusters(
    cluster_key: str, data: MergeRequest, session: SessionDep, organizer: Organizer
) -> DecisionRead:
    """The listed clusters (same lender only) join this one, which keeps its key."""
    return _decision(review.merge(session, cluster_key, data, actor=organizer, now=utc_now()))


@router.post(f"{CLUSTERS}/{{cluster_key}}/split", response_model=SplitRead, **_CREATED)
def split_cluster(
    cluster_key: str, data: SplitRequest, session: SessionDep, organizer: Organizer
) -> SplitRead:
    decision, new_key = review.split(session, cluster_key, data, actor=organizer, now=utc_now())
    return SplitRead(**_decision(decision).model_dump(), new_cluster_key=new_key)


@router.post(f"{CLUSTERS}/{{cluster_key}}/exclude", response_model=DecisionRead, **_CREATED)
def exclude_report(
    cluster_key: str, data: ReportExclusion, session: SessionDep, organizer: Organizer
) -> DecisionRead:
    return _decision(review.exclude(session, cluster_key, data, actor=organizer, now=utc_now()))


@router.post(f"{CLUSTERS}/{{cluster_key}}/duplicates", response_model=DecisionRead, **_CREATED)
def mark_duplicate(
    cluster_key: str, data: DuplicateMark, session: SessionDep, organizer: Organizer
) -> DecisionRead:
    return _decision(
        review.mark_duplicate(session, cluster_key, data, actor=organizer, now=utc_now())
    )


@router.post(
    f"{CLUSTERS}/{{cluster_key}}/duplicates/unmark", response_model=DecisionRead, **_CREATED
)
def unmark_duplicate(
    cluster_key: str, data: DuplicateUnmark, session: SessionDep, organizer: Organizer
) -> DecisionRead:
    return _decision(
        review.unmark_duplicate(session, cluster_key, data, actor=organizer, now=utc_now())
    )


# Runs


@router.post(
    RUNS,
    response_model=RunRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_ERRORS, 409: {"description": "A run is already queued or running"}},
)
def start_run(
    request: Request, session: SessionDep, organizer: Organizer, background: BackgroundTasks
) -> RunRead:
    """Queue a grouping run and start it once this request has committed."""
    run = review.start_run(session, actor=organizer, now=utc_now())
    state = request.app.state
    background.add_task(state.start_clustering_run, state.sessionmaker, run.id)
    return RunRead.model_validate(run)


@router.get(RUNS, response_model=list[RunRead], responses=_ERRORS)
def list_runs(session: SessionDep, organizer: Organizer) -> list[RunRead]:
    return [RunRead.model_validate(run) for run in cluster_service.list_runs(session)]


@router.get(f"{RUNS}/{{run_id}}", response_model=RunRead, responses=_ERRORS)
def get_run(run_id: int, session: SessionDep, organizer: Organizer) -> RunRead:
    """Status, progress, note, counts and timings: poll this while a run is going."""
    return RunRead.model_validate(review.get_run(session, run_id))
