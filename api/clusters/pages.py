"""HTML pages for reviewing clusters: the dashboard, one cluster with its review actions, and a
grouping run's progress. Organizers and admins only.

Plain form posts, no JavaScript: each form carries the session's CSRF token, which the role
requirement checks, and each action redirects back (post/redirect/get), so reloading never
repeats it. The run page refreshes itself with a meta refresh while the run is going.
"""

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.clusters import review
from api.clusters import service as cluster_service
from api.clusters.models import ReviewDecision, RunStatus
from api.clusters.schemas import (
    ClusterQuery,
    DuplicateMark,
    DuplicateUnmark,
    MergeRequest,
    RenameRequest,
    ReportExclusion,
    SplitRequest,
)
from api.db import SessionDep, utc_now
from api.errors import DomainError, pydantic_problems, validation_body
from api.i18n import Language, request_language, translate
from api.rendering import FormDep, form_text, render_page
from api.reports import service as report_service
from api.reports.models import GrievanceCategory
from api.staff.dependencies import CSRF_FIELD, CsrfToken, require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(include_in_schema=False)

CLUSTERS_PATH = "/staff/clusters"
RUNS_PATH = f"{CLUSTERS_PATH}/runs"
REFRESH_SECONDS = 2
SORTS = ("size", "newest", "lender", "apr")
_DONE_NOTICES = ("rename", "merge", "split", "exclude", "mark_duplicate", "unmark_duplicate")

Organizer = Annotated[StaffUser, Depends(require_roles(StaffRole.organizer, StaffRole.admin))]


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    language = request_language(request)

    def region_name(code: str | None) -> str:
        region = report_service.region_by_code(code) if code else None
        if region is None:
            return code or "—"
        return region.name_zh if language == "zh" else region.name_en

    helpers = {"csrf_field": CSRF_FIELD, "percent": _percent, "region_name": region_name}
    return render_page(request, template, {**helpers, **context}, status_code=status_code)


def _problems(language: Language, error: ValidationError | DomainError) -> list[dict[str, str]]:
    """Field and message of each problem, as the JSON API words them."""
    if isinstance(error, ValidationError):
        body = validation_body(language, pydantic_problems(list(error.errors())))
    else:
        body = error.body(language)
    errors = body.get("errors") or [{"field": "", "message": body["detail"]}]
    return [{"field": str(e["field"]), "message": str(e["message"])} for e in errors]


# The dashboard


def _dashboard_query(request: Request) -> tuple[ClusterQuery, list[dict[str, str]]]:
    """The filters as given; a filter that does not parse is dropped and reported, so one
    mistyped value never hides the whole dashboard."""
    given = {
        name: value
        for name, value in request.query_params.items()
        if name in ClusterQuery.model_fields and value.strip()
    }
    try:
        return ClusterQuery.model_validate(given), []
    except ValidationError as error:
        bad = {str(problem["loc"][0]) for problem in error.errors()}
        kept = {name: value for name, value in given.items() if name not in bad}
        return ClusterQuery.model_validate(kept), _problems(request_language(request), error)


def _query_url(query: ClusterQuery, **changes: Any) -> str:
    values = {**query.model_dump(exclude_defaults=True), **changes}
    cleaned = {name: str(value) for name, value in values.items() if value not in (None, "")}
    return f"{CLUSTERS_PATH}?{urlencode(cleaned)}" if cleaned else CLUSTERS_PATH


def _dashboard_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    *,
    error: DomainError | None = None,
) -> HTMLResponse:
    language = request_language(request)
    query, filter_problems = _dashboard_query(request)
    board = review.dashboard(session, query, language)
    return _render(
        request,
        "clusters/dashboard.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "board": board,
            "query": query,
            "filter_problems": filter_problems,
            "error_message": str(error.body(language)["detail"]) if error else None,
            "active_run": review.active_run(session),
            "runs": cluster_service.list_runs(session, limit=5),
            "categories": [
                (str(code), translate(language, f"category.{code}")) for code in GrievanceCategory
            ],
            "sorts": SORTS,
            "page_url": partial(_query_url, query),
        },
        status_code=error.status_code if error else 200,
    )


@router.get(CLUSTERS_PATH, response_class=HTMLResponse)
def clusters_page(
    request: Request, session: SessionDep, staff: Organizer, csrf_token: CsrfToken
) -> HTMLResponse:
    return _dashboard_page(request, session, staff, csrf_token)


# Runs


@router.post(RUNS_PATH, response_model=None)
def post_start_run(
    request: Request,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    background: BackgroundTasks,
) -> Response:
    try:
        run = review.start_run(session, actor=staff, now=utc_now())
    except DomainError as error:
        session.rollback()
        return _dashboard_page(request, session, staff, csrf_token, error=error)
    state = request.app.state
    background.add_task(state.start_clustering_run, state.sessionmaker, run.id)
    return RedirectResponse(f"{RUNS_PATH}/{run.id}", status_code=303)


@router.get(f"{RUNS_PATH}/{{run_id}}", response_class=HTMLResponse)
def run_page(
    request: Request, run_id: int, session: SessionDep, staff: Organizer, csrf_token: CsrfToken
) -> HTMLResponse:
    try:
        run = review.get_run(session, run_id)
    except DomainError as error:
        return _error_page(request, staff, csrf_token, error)
    return _render(
        request,
        "clusters/run.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "run": run,
            "is_going": run.status in (RunStatus.queued, RunStatus.running),
            "refresh_seconds": REFRESH_SECONDS,
        },
    )


def _error_page(
    request: Request, staff: StaffUser, csrf_token: str, error: DomainError
) -> HTMLResponse:
    return _render(
        request,
        "clusters/error.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "message": str(error.body(request_language(request))["detail"]),
        },
        status_code=error.status_code,
    )


# One cluster


def _detail_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    cluster_key: str,
    *,
    failed: str | None = None,
    form: FormData | None = None,
    error: ValidationError | DomainError | None = None,
) -> HTMLResponse:
    page_value = request.query_params.get("page", "1")
    page = int(page_value) if page_value.isdigit() else 1
    try:
        detail = review.cluster_detail(session, cluster_key, page=page)
    except DomainError as not_found:
        return _error_page(request, staff, csrf_token, not_found)
    done = request.query_params.get("done")
    status_code = 200
    if error is not None:
        status_code = error.status_code if isinstance(error, DomainError) else 422
    return _render(
        request,
        "clusters/detail.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "d": detail,
            "s": detail.summary,
            "done": done if done in _DONE_NOTICES else None,
            "new_key": request.query_params.get("new"),
            "failed": failed,
            "problems": _problems(request_language(request), error) if error else [],
            "typed": {key: value for key, value in form.items() if key != CSRF_FIELD}
            if form
            else {},
            "checked": set(form.getlist("report_ids")) if form else set(),
            "page_url": lambda number: f"{CLUSTERS_PATH}/{cluster_key}?page={number}",
        },
        status_code=status_code,
    )


@router.get(f"{CLUSTERS_PATH}/{{cluster_key}}", response_class=HTMLResponse)
def cluster_page(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
) -> HTMLResponse:
    return _detail_page(request, session, staff, csrf_token, cluster_key)


def _act(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    cluster_key: str,
    form: FormData,
    *,
    kind: str,
    schema: type[BaseModel],
    data: dict[str, Any],
    action: Callable[..., ReviewDecision | tuple[ReviewDecision, str]],
) -> Response:
    try:
        result = action(
            session, cluster_key, schema.model_validate(data), actor=staff, now=utc_now()
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        return _detail_page(
            request, session, staff, csrf_token, cluster_key, failed=kind, form=form, error=error
        )
    target = f"{CLUSTERS_PATH}/{cluster_key}?done={kind}"
    if isinstance(result, tuple):
        target += "&" + urlencode({"new": result[1]})
    return RedirectResponse(target, status_code=303)


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/rename", response_model=None)
def post_rename(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    data = {"label": form_text(form, "label"), "reason": form_text(form, "reason")}
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="rename",
        schema=RenameRequest,
        data=data,
        action=review.rename,
    )


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/merge", response_model=None)
def post_merge(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    keys = [value for value in form.getlist("cluster_keys") if isinstance(value, str)]
    data = {"cluster_keys": keys, "reason": form_text(form, "reason")}
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="merge",
        schema=MergeRequest,
        data=data,
        action=review.merge,
    )


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/split", response_model=None)
def post_split(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    report_ids = [value for value in form.getlist("report_ids") if isinstance(value, str)]
    data = {"report_ids": report_ids, "reason": form_text(form, "reason")}
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="split",
        schema=SplitRequest,
        data=data,
        action=review.split,
    )


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/exclude", response_model=None)
def post_exclude(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    data = {"report_id": form_text(form, "report_id"), "reason": form_text(form, "reason")}
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="exclude",
        schema=ReportExclusion,
        data=data,
        action=review.exclude,
    )


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/duplicates", response_model=None)
def post_mark_duplicate(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    data = {
        "report_id": form_text(form, "report_id"),
        "duplicate_of_id": form_text(form, "duplicate_of_id"),
        "reason": form_text(form, "reason"),
    }
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="mark_duplicate",
        schema=DuplicateMark,
        data=data,
        action=review.mark_duplicate,
    )


@router.post(f"{CLUSTERS_PATH}/{{cluster_key}}/duplicates/unmark", response_model=None)
def post_unmark_duplicate(
    request: Request,
    cluster_key: str,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    data = {"report_id": form_text(form, "report_id"), "reason": form_text(form, "reason")}
    return _act(
        request,
        session,
        staff,
        csrf_token,
        cluster_key,
        form,
        kind="unmark_duplicate",
        schema=DuplicateUnmark,
        data=data,
        action=review.unmark_duplicate,
    )
