"""JSON API for exhibit bundles, under /api/v1/campaigns/{id}/bundles.

Lawyers only, and only for campaigns assigned to them; any other campaign answers 404, as the
campaign API does. Requesting a build answers at once (202) and the build runs after the
request has committed; poll the bundle for its progress, then download it.
"""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from fastapi.responses import FileResponse

from api.db import SessionDep, utc_now
from api.exhibits import service as exhibit_service
from api.exhibits.models import BundleStatus, ExhibitBundle
from api.exhibits.schemas import BundleRead
from api.staff.dependencies import require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(prefix="/api/v1/campaigns/{campaign_id}/bundles", tags=["exhibits"])

Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]

_ERRORS = {
    401: {"description": "Not logged in, or the session expired"},
    403: {"description": "Not a lawyer, or the CSRF token is missing or wrong"},
    404: {"description": "No such campaign or bundle, or a campaign not assigned to you"},
}
ZIP_MEDIA_TYPE = "application/zip"


def bundle_read(bundle: ExhibitBundle) -> BundleRead:
    read = BundleRead.model_validate(bundle)
    if bundle.status == BundleStatus.succeeded:
        read.download_url = f"/api/v1/campaigns/{bundle.campaign_id}/bundles/{bundle.id}/download"
    return read


def download_name(campaign_slug: str, bundle: ExhibitBundle) -> str:
    return f"{campaign_slug}-bundle-{bundle.id}-{(bundle.sha256 or '')[:12]}.zip"


@router.post(
    "",
    response_model=BundleRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_ERRORS, 409: {"description": "No fact pattern is approved yet"}},
)
def request_bundle(
    campaign_id: int,
    request: Request,
    response: Response,
    session: SessionDep,
    lawyer: Lawyer,
    background: BackgroundTasks,
) -> BundleRead:
    """Queue a build, or answer with the build already under way for this campaign."""
    campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=lawyer)
    bundle, is_new = exhibit_service.request_bundle(session, campaign, lawyer=lawyer, now=utc_now())
    if is_new:
        state = request.app.state
        background.add_task(state.start_bundle_build, state.sessionmaker, state.settings, bundle.id)
    response.headers["Location"] = f"/api/v1/campaigns/{campaign_id}/bundles/{bundle.id}"
    return bundle_read(bundle)


@router.get("", response_model=list[BundleRead], responses=_ERRORS)
def list_bundles(campaign_id: int, session: SessionDep, lawyer: Lawyer) -> list[BundleRead]:
    campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=lawyer)
    return [bundle_read(bundle) for bundle in exhibit_service.list_bundles(session, campaign)]


@router.get("/{bundle_id}", response_model=BundleRead, responses=_ERRORS)
def get_bundle(campaign_id: int, bundle_id: int, session: SessionDep, lawyer: Lawyer) -> BundleRead:
    """Status and progress: poll this while the build runs."""
    campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=lawyer)
    return bundle_read(exhibit_service.get_bundle(session, campaign, bundle_id))


@router.get(
    "/{bundle_id}/download",
    response_class=FileResponse,
    responses={
        **_ERRORS,
        200: {"content": {ZIP_MEDIA_TYPE: {}}, "description": "The bundle ZIP"},
        409: {"description": "The build has not succeeded"},
    },
)
def download_bundle(
    campaign_id: int, bundle_id: int, request: Request, session: SessionDep, lawyer: Lawyer
) -> FileResponse:
    """The ZIP; every download is written to the audit log."""
    campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=lawyer)
    bundle = exhibit_service.get_bundle(session, campaign, bundle_id)
    path = exhibit_service.bundle_path(request.app.state.settings.data_dir, bundle)
    exhibit_service.record_download(session, bundle, lawyer=lawyer, now=utc_now())
    return FileResponse(
        path,
        media_type=ZIP_MEDIA_TYPE,
        filename=download_name(campaign.slug, bundle),
        headers={"Cache-Control": "no-store", "X-Content-SHA256": bundle.sha256 or ""},
    )
