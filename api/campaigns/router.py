"""JSON API for campaigns, under /api/v1/campaigns.

Organizers and admins run campaigns; lawyers read the campaigns assigned to them and approve
their fact patterns. A campaign a lawyer is not assigned to answers 404, as if it did not
exist, so that nobody learns which campaigns exist from the answer.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from api.campaigns import service as campaign_service
from api.campaigns.models import Campaign, FactPatternVersion
from api.campaigns.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignEventRead,
    CampaignRead,
    CampaignUpdate,
    DeadlineRead,
    FactPatternDiff,
    FactPatternEdit,
    FactPatternGenerate,
    FactPatternRead,
    FactPatternSummary,
    LawyerAssignment,
    TransitionRequest,
)
from api.campaigns.service import CampaignOverview
from api.db import SessionDep, utc_now
from api.i18n import Language, request_language
from api.staff.dependencies import CurrentStaff, require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

Organizer = Annotated[StaffUser, Depends(require_roles(StaffRole.organizer, StaffRole.admin))]
Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]

_ERRORS = {
    401: {"description": "Not logged in, or the session expired"},
    403: {"description": "This role may not do this, or the CSRF token is missing or wrong"},
    404: {"description": "No such campaign, or a lawyer not assigned to it"},
}
_WRITE_ERRORS = {
    **_ERRORS,
    409: {"description": "Not allowed in the campaign's status, or nothing changed"},
    422: {"description": "A field is invalid; the body names it and says why"},
}


_CAMPAIGN_COLUMNS = (
    "id",
    "slug",
    "title",
    "channel",
    "jurisdiction",
    "status",
    "respondents",
    "created_by_id",
    "created_at",
    "updated_at",
    "opened_at",
    "filed_at",
    "responded_at",
)


def campaign_read(
    campaign: Campaign, cluster_keys: list[str], lawyers: list[StaffUser]
) -> CampaignRead:
    return CampaignRead.model_validate(
        {
            **{column: getattr(campaign, column) for column in _CAMPAIGN_COLUMNS},
            "cluster_keys": cluster_keys,
            "lawyer_ids": [lawyer.id for lawyer in lawyers],
        }
    )


def campaign_detail(overview: CampaignOverview, language: Language) -> CampaignDetail:
    rules = overview.rules
    return CampaignDetail.model_validate(
        {
            **campaign_read(
                overview.campaign, list(overview.cluster_keys), list(overview.lawyers)
            ).model_dump(),
            "report_count": overview.report_count,
            "min_group_size": rules.min_group_size.value,
            "min_group_size_verify": rules.min_group_size.verify,
            "is_below_min_group_size": overview.is_below_min_group_size,
            "representatives_min": rules.representatives.min,
            "representatives_max": rules.representatives.max,
            "missing_cluster_keys": list(overview.missing_cluster_keys),
            "allowed_transitions": list(overview.allowed_transitions),
            "deadlines": [
                DeadlineRead(
                    key=deadline.rule.key,
                    label=deadline.rule.label(language),
                    kind=deadline.rule.kind,
                    days=deadline.rule.days,
                    unit=deadline.rule.unit,
                    due_on=deadline.due_on,
                    days_left=deadline.days_left,
                    is_active=deadline.is_active,
                    is_overdue=deadline.is_overdue,
                    source=deadline.rule.source,
                    verify=deadline.rule.verify,
                )
                for deadline in overview.deadlines
            ],
        }
    )


def _detail(request: Request, session: Session, campaign: Campaign) -> CampaignDetail:
    today = campaign_service.local_today(campaign, utc_now())
    overview = campaign_service.overview(session, campaign, today=today)
    return campaign_detail(overview, request_language(request))


@router.get("", response_model=list[CampaignRead], responses=_ERRORS)
def list_campaigns(session: SessionDep, viewer: CurrentStaff) -> list[CampaignRead]:
    """Every campaign for organizers and admins; a lawyer's own campaigns for lawyers."""
    return [
        campaign_read(
            campaign,
            campaign_service.cluster_keys(session, campaign),
            campaign_service.assigned_lawyers(session, campaign),
        )
        for campaign in campaign_service.list_campaigns(session, viewer=viewer)
    ]


@router.post(
    "",
    response_model=CampaignDetail,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
def create_campaign(
    data: CampaignCreate, session: SessionDep, organizer: Organizer, request: Request
) -> CampaignDetail:
    """A draft campaign over current clusters (by their stable keys)."""
    campaign = campaign_service.create_campaign(session, data, actor=organizer, now=utc_now())
    return _detail(request, session, campaign)


@router.get("/{campaign_id}", response_model=CampaignDetail, responses=_ERRORS)
def read_campaign(
    campaign_id: int, session: SessionDep, viewer: CurrentStaff, request: Request
) -> CampaignDetail:
    """The campaign with its member count against the channel's minimum, and its deadlines."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=viewer)
    return _detail(request, session, campaign)


@router.patch("/{campaign_id}", response_model=CampaignDetail, responses=_WRITE_ERRORS)
def update_campaign(
    campaign_id: int,
    data: CampaignUpdate,
    session: SessionDep,
    organizer: Organizer,
    request: Request,
) -> CampaignDetail:
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    campaign_service.update_campaign(session, campaign, data, actor=organizer, now=utc_now())
    return _detail(request, session, campaign)


@router.post("/{campaign_id}/lawyers", response_model=CampaignDetail, responses=_WRITE_ERRORS)
def assign_lawyer(
    campaign_id: int,
    data: LawyerAssignment,
    session: SessionDep,
    organizer: Organizer,
    request: Request,
) -> CampaignDetail:
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    campaign_service.assign_lawyer(
        session, campaign, staff_user_id=data.staff_user_id, actor=organizer, now=utc_now()
    )
    return _detail(request, session, campaign)


@router.delete(
    "/{campaign_id}/lawyers/{staff_user_id}",
    response_model=CampaignDetail,
    responses=_WRITE_ERRORS,
)
def unassign_lawyer(
    campaign_id: int,
    staff_user_id: int,
    session: SessionDep,
    organizer: Organizer,
    request: Request,
) -> CampaignDetail:
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    campaign_service.unassign_lawyer(
        session, campaign, staff_user_id=staff_user_id, actor=organizer, now=utc_now()
    )
    return _detail(request, session, campaign)


@router.post(
    "/{campaign_id}/transitions",
    response_model=CampaignEventRead,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
def transition_campaign(
    campaign_id: int, data: TransitionRequest, session: SessionDep, organizer: Organizer
) -> CampaignEventRead:
    """Move the campaign to its next status. Filing needs a lawyer-approved fact pattern."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    event = campaign_service.transition(
        session,
        campaign,
        to_status=data.to_status,
        note=data.note,
        fact_pattern_version_id=data.fact_pattern_version_id,
        actor=organizer,
        now=utc_now(),
    )
    return CampaignEventRead.model_validate(event)


@router.get("/{campaign_id}/events", response_model=list[CampaignEventRead], responses=_ERRORS)
def list_events(
    campaign_id: int, session: SessionDep, viewer: CurrentStaff
) -> list[CampaignEventRead]:
    """The status log, oldest first. It is only ever appended to."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=viewer)
    return [
        CampaignEventRead.model_validate(event)
        for event in campaign_service.list_events(session, campaign)
    ]


@router.get(
    "/{campaign_id}/fact-patterns", response_model=list[FactPatternSummary], responses=_ERRORS
)
def list_fact_patterns(
    campaign_id: int, session: SessionDep, viewer: CurrentStaff
) -> list[FactPatternSummary]:
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=viewer)
    return [
        FactPatternSummary.model_validate(version)
        for version in campaign_service.list_versions(session, campaign)
    ]


@router.post(
    "/{campaign_id}/fact-patterns/generate",
    response_model=FactPatternRead,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
def generate_fact_pattern(
    campaign_id: int, data: FactPatternGenerate, session: SessionDep, organizer: Organizer
) -> FactPatternRead:
    """A new version drafted from the templates and the campaign's current reports."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    version = campaign_service.generate_fact_pattern(
        session, campaign, language=data.language, actor=organizer, now=utc_now()
    )
    return FactPatternRead.model_validate(version)


@router.post(
    "/{campaign_id}/fact-patterns",
    response_model=FactPatternRead,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
def edit_fact_pattern(
    campaign_id: int, data: FactPatternEdit, session: SessionDep, organizer: Organizer
) -> FactPatternRead:
    """An edited text, saved as the next version; earlier versions stay as they were."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=organizer)
    version = campaign_service.edit_fact_pattern(
        session, campaign, language=data.language, body=data.body, actor=organizer, now=utc_now()
    )
    return FactPatternRead.model_validate(version)


@router.get("/{campaign_id}/fact-patterns/diff", response_model=FactPatternDiff, responses=_ERRORS)
def diff_fact_patterns(
    campaign_id: int,
    session: SessionDep,
    viewer: CurrentStaff,
    from_id: Annotated[int, Query(alias="from")],
    to_id: Annotated[int, Query(alias="to")],
) -> FactPatternDiff:
    """A unified diff between two versions of the campaign's fact pattern."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=viewer)
    old = campaign_service.get_version(session, campaign, from_id)
    new = campaign_service.get_version(session, campaign, to_id)
    return FactPatternDiff(
        from_id=old.id, to_id=new.id, diff=campaign_service.diff_versions(old, new)
    )


def _version(
    session: SessionDep, campaign_id: int, version_id: int, viewer: StaffUser
) -> tuple[Campaign, FactPatternVersion]:
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=viewer)
    return campaign, campaign_service.get_version(session, campaign, version_id)


@router.get(
    "/{campaign_id}/fact-patterns/{version_id}",
    response_model=FactPatternRead,
    responses=_ERRORS,
)
def read_fact_pattern(
    campaign_id: int, version_id: int, session: SessionDep, viewer: CurrentStaff
) -> FactPatternRead:
    _, version = _version(session, campaign_id, version_id, viewer)
    return FactPatternRead.model_validate(version)


@router.post(
    "/{campaign_id}/fact-patterns/{version_id}/approve",
    response_model=FactPatternRead,
    responses=_WRITE_ERRORS,
)
def approve_fact_pattern(
    campaign_id: int, version_id: int, session: SessionDep, lawyer: Lawyer
) -> FactPatternRead:
    """A lawyer assigned to the campaign approves this version; only approved text is filed."""
    campaign, version = _version(session, campaign_id, version_id, lawyer)
    campaign_service.approve_version(session, campaign, version, lawyer=lawyer, now=utc_now())
    return FactPatternRead.model_validate(version)


@router.get(
    "/{campaign_id}/fact-patterns/{version_id}/{document_format}",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {
            "content": {
                "application/pdf": {},
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {},
            }
        },
    },
)
def download_fact_pattern(
    campaign_id: int,
    version_id: int,
    document_format: Literal["docx", "pdf"],
    session: SessionDep,
    viewer: CurrentStaff,
) -> Response:
    """The version as a Word document or a PDF with the Chinese font embedded."""
    campaign, version = _version(session, campaign_id, version_id, viewer)
    document = campaign_service.download_version(
        session, campaign, version, document_format, viewer=viewer, now=utc_now()
    )
    return Response(
        document.content,
        media_type=document.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document.filename}"',
            "Cache-Control": "no-store",
        },
    )
