"""HTML pages for exhibit bundles: /staff/campaigns/{id}/bundle.

The page lists the campaign's builds, offers to start one, and shows a build's progress while
it runs (the page reloads itself every few seconds; no JavaScript), then the download link.
Lawyers assigned to the campaign only.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.db import SessionDep, utc_now
from api.errors import DomainError
from api.exhibits import service as exhibit_service
from api.exhibits.models import ACTIVE_STATUSES
from api.exhibits.router import ZIP_MEDIA_TYPE, download_name
from api.i18n import request_language
from api.rendering import render_page
from api.staff.dependencies import CSRF_FIELD, CsrfToken, require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(include_in_schema=False)

BUNDLE_PATH = "/staff/campaigns/{campaign_id}/bundle"
REFRESH_SECONDS = 2
Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]


def _moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    # Bundle builds are timed to the second, so their progress is shown to the second.
    helpers = {"csrf_field": CSRF_FIELD, "moment": _moment}
    return render_page(request, template, {**helpers, **context}, status_code=status_code)


def _bundle_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    campaign_id: int,
    *,
    error: DomainError | None = None,
) -> HTMLResponse:
    language = request_language(request)
    try:
        campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=staff)
    except DomainError as not_found:
        return _render(
            request,
            "exhibits/error.html",
            {
                "staff": staff,
                "csrf_token": csrf_token,
                "message": not_found.body(language)["detail"],
            },
            status_code=not_found.status_code,
        )
    bundles = exhibit_service.list_bundles(session, campaign)
    is_building = any(bundle.status in ACTIVE_STATUSES for bundle in bundles)
    response = _render(
        request,
        "exhibits/bundle.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "campaign": campaign,
            "bundles": bundles,
            "is_building": is_building,
            "has_approved": bool(exhibit_service.approved_fact_patterns(session, campaign)),
            "error_message": error.body(language)["detail"] if error else None,
        },
        status_code=error.status_code if error else 200,
    )
    if is_building:
        # Browsers reload on this header; the page needs no script to follow the build.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@router.get(BUNDLE_PATH, response_class=HTMLResponse)
def bundle_page(
    request: Request, campaign_id: int, session: SessionDep, staff: Lawyer, csrf_token: CsrfToken
) -> HTMLResponse:
    return _bundle_page(request, session, staff, csrf_token, campaign_id)


@router.post(BUNDLE_PATH, response_model=None)
def post_request_bundle(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Lawyer,
    csrf_token: CsrfToken,
    background: BackgroundTasks,
) -> Response:
    try:
        campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=staff)
        bundle, is_new = exhibit_service.request_bundle(
            session, campaign, lawyer=staff, now=utc_now()
        )
    except DomainError as error:
        session.rollback()
        return _bundle_page(request, session, staff, csrf_token, campaign_id, error=error)
    if is_new:
        state = request.app.state
        background.add_task(state.start_bundle_build, state.sessionmaker, state.settings, bundle.id)
    # No fragment: the page's Refresh reloads its own address, and a browser treats a reload
    # of an address with a fragment as a jump within the page, which never reloads.
    return RedirectResponse(BUNDLE_PATH.format(campaign_id=campaign_id), status_code=303)


@router.get(BUNDLE_PATH + "/{bundle_id}/download", response_model=None)
def download_bundle(
    request: Request,
    campaign_id: int,
    bundle_id: int,
    session: SessionDep,
    staff: Lawyer,
    csrf_token: CsrfToken,
) -> Response:
    try:
        campaign = exhibit_service.lawyer_campaign(session, campaign_id, lawyer=staff)
        bundle = exhibit_service.get_bundle(session, campaign, bundle_id)
        path = exhibit_service.bundle_path(request.app.state.settings.data_dir, bundle)
    except DomainError as error:
        return _bundle_page(request, session, staff, csrf_token, campaign_id, error=error)
    exhibit_service.record_download(session, bundle, lawyer=staff, now=utc_now())
    return FileResponse(
        path,
        media_type=ZIP_MEDIA_TYPE,
        filename=download_name(campaign.slug, bundle),
        headers={"Cache-Control": "no-store", "X-Content-SHA256": bundle.sha256 or ""},
    )
