"""HTML pages for campaigns: the staff pages under /staff/campaigns and the public /c/{slug}.

Plain form posts, no JavaScript. Each form carries the session's CSRF token, which the role
requirement on the route checks (api.staff.dependencies). Every action redirects back to the
page it came from (post/redirect/get), so reloading never repeats it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.campaigns import service as campaign_service
from api.campaigns.channels import load_channels, next_deadline
from api.campaigns.models import Campaign, CampaignStatus, RespondentRole
from api.campaigns.schemas import CampaignCreate, CampaignUpdate
from api.campaigns.service import CampaignFieldError, CampaignOverview
from api.clusters import service as cluster_service
from api.clusters.models import Cluster
from api.db import SessionDep, utc_now
from api.errors import DomainError, pydantic_problems, validation_body
from api.i18n import Language, parse_language, request_language, translate
from api.rendering import FieldErrors, FormDep, field_id, form_text, render_page
from api.reports.models import GrievanceCategory
from api.staff.dependencies import CSRF_FIELD, CsrfToken, CurrentStaff, require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(include_in_schema=False)

CAMPAIGNS_PATH = "/staff/campaigns"
RESPONDENT_ROWS = 4
# The schema's limit; the form grows to one empty row past the respondents already entered.
MAX_RESPONDENT_ROWS = 20
_DONE_NOTICES = (
    "created",
    "updated",
    "transitioned",
    "lawyer_assigned",
    "lawyer_removed",
    "generated",
    "edited",
    "approved",
)
_FORM_FIELDS = ("title", "slug", "channel", "jurisdiction")
_REQUIRED_FIELDS = ("title", "jurisdiction")

Organizer = Annotated[StaffUser, Depends(require_roles(StaffRole.organizer, StaffRole.admin))]
Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]


@dataclass
class CampaignForm(FieldErrors):
    """Values as typed and errors by field, in the shape `_macros.html` expects."""

    values: dict[str, str] = field(default_factory=dict)
    cluster_keys: frozenset[str] = frozenset()
    lawyer_ids: frozenset[int] = frozenset()
    errors: dict[str, list[str]] = field(default_factory=dict)
    summary: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add_error(self, language: Language, name: str | None, message: str) -> None:
        if name is None:
            self.summary.append((translate(language, "campaign.error.summary"), message, None))
            return
        self.errors.setdefault(name, []).append(message)
        top = name.split(".")[0]
        label = translate(language, f"campaign.field.{top}")
        self.summary.append((label, message, field_id(name)))


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    private: bool = True,
) -> HTMLResponse:
    return render_page(
        request,
        template,
        {"csrf_field": CSRF_FIELD, **context},
        status_code=status_code,
        private=private,
    )


def _error_page(
    request: Request, staff: StaffUser, csrf_token: str, error: DomainError
) -> HTMLResponse:
    message = str(error.body(request_language(request))["detail"])
    return _render(
        request,
        "campaigns/error.html",
        {"staff": staff, "csrf_token": csrf_token, "message": message},
        status_code=error.status_code,
    )


def _can_manage(user: StaffUser) -> bool:
    return user.role in (StaffRole.organizer, StaffRole.admin)


# The list


@router.get(CAMPAIGNS_PATH, response_class=HTMLResponse)
def campaigns_page(
    request: Request, session: SessionDep, staff: CurrentStaff, csrf_token: CsrfToken
) -> HTMLResponse:
    rows = []
    now = utc_now()
    campaigns = campaign_service.list_campaigns(session, viewer=staff)
    counts = campaign_service.member_counts(session, campaigns)
    for campaign in campaigns:
        deadlines = campaign_service.campaign_deadlines(
            campaign, today=campaign_service.local_today(campaign, now)
        )
        rules = load_channels()[campaign.channel]
        rows.append(
            {
                "campaign": campaign,
                "rules": rules,
                "report_count": counts[campaign.id],
                "is_below_min": counts[campaign.id] < rules.min_group_size.value,
                "next_deadline": next_deadline(deadlines),
                "overdue": [deadline for deadline in deadlines if deadline.is_overdue],
            }
        )
    return _render(
        request,
        "campaigns/list.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "rows": rows,
            "can_manage": _can_manage(staff),
        },
    )


# Creating and editing


def _cluster_option(cluster: Cluster) -> dict[str, Any]:
    return {
        "key": cluster.cluster_key,
        "lender": cluster.lender_key,
        "label": cluster.label or ", ".join(cluster.keywords[:5]),
        "size": cluster.size,
    }


def _form_context(
    request: Request, session: Session, form: CampaignForm, campaign: Campaign | None
) -> dict[str, Any]:
    language = request_language(request)
    channels = load_channels()
    return {
        "form": form,
        "campaign": campaign,
        "clusters": [
            _cluster_option(cluster) for cluster in cluster_service.current_clusters(session)
        ],
        "lawyers": campaign_service.active_lawyers(session),
        "channel_options": [(code, rules.name(language)) for code, rules in channels.items()],
        "role_options": [
            (str(role), translate(language, f"campaign.role.{role}")) for role in RespondentRole
        ],
        "respondent_rows": range(_respondent_rows(form)),
    }


def _respondent_rows(form: CampaignForm) -> int:
    filled = [
        index
        for index in range(MAX_RESPONDENT_ROWS)
        if form.value(f"respondents.{index}.name")
        or form.value(f"respondents.{index}.unified_social_credit_code")
    ]
    return min(MAX_RESPONDENT_ROWS, max(RESPONDENT_ROWS, (max(filled) + 2) if filled else 0))


def _form_from_campaign(session: Session, campaign: Campaign) -> CampaignForm:
    values = {name: str(getattr(campaign, name)) for name in _FORM_FIELDS}
    for index, respondent in enumerate(campaign.respondents):
        for key in ("role", "name", "unified_social_credit_code"):
            values[f"respondents.{index}.{key}"] = respondent.get(key) or ""
    return CampaignForm(
        values=values,
        cluster_keys=frozenset(campaign_service.cluster_keys(session, campaign)),
    )


def _parse_form(form: FormData) -> tuple[CampaignForm, dict[str, Any]]:
    values = {name: form_text(form, name) for name in _FORM_FIELDS}
    respondents = []
    for index in range(MAX_RESPONDENT_ROWS):
        row = {
            key: form_text(form, f"respondents.{index}.{key}")
            for key in ("role", "name", "unified_social_credit_code")
        }
        values.update({f"respondents.{index}.{key}": value for key, value in row.items()})
        if row["name"] or row["unified_social_credit_code"]:
            uscc = row["unified_social_credit_code"] or None
            respondents.append({**row, "unified_social_credit_code": uscc})
    cluster_keys = [value for value in form.getlist("cluster_keys") if isinstance(value, str)]
    lawyer_ids = [
        int(value)
        for value in form.getlist("lawyer_ids")
        if isinstance(value, str) and value.isdigit()
    ]
    view = CampaignForm(
        values=values, cluster_keys=frozenset(cluster_keys), lawyer_ids=frozenset(lawyer_ids)
    )
    data: dict[str, Any] = {
        # An emptied title or jurisdiction is an error, not "leave it unchanged".
        **{name: values[name] for name in _FORM_FIELDS if values[name] or name in _REQUIRED_FIELDS},
        "cluster_keys": cluster_keys,
        "respondents": respondents,
        "lawyer_ids": lawyer_ids,
    }
    return view, data


def _show_errors(
    language: Language, view: CampaignForm, error: ValidationError | DomainError
) -> None:
    if isinstance(error, ValidationError):
        problems = validation_body(language, pydantic_problems(list(error.errors())))["errors"]
        for problem in problems:
            name = str(problem["field"])
            known = name.split(".")[0] in (*_FORM_FIELDS, "cluster_keys", "respondents")
            view.add_error(language, name if known else None, problem["message"])
    elif isinstance(error, CampaignFieldError):
        view.add_error(language, error.field, str(error.body(language)["errors"][0]["message"]))
    else:
        view.add_error(language, None, str(error.body(language)["detail"]))


@router.get(f"{CAMPAIGNS_PATH}/new", response_class=HTMLResponse)
def new_campaign_page(
    request: Request, session: SessionDep, staff: Organizer, csrf_token: CsrfToken
) -> HTMLResponse:
    form = CampaignForm(values={"channel": "lender_complaint", "jurisdiction": "CN"})
    return _render(
        request,
        "campaigns/form.html",
        {"staff": staff, "csrf_token": csrf_token, **_form_context(request, session, form, None)},
    )


@router.post(CAMPAIGNS_PATH, response_model=None)
def post_new_campaign(
    request: Request,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    view, data = _parse_form(form)
    try:
        campaign = campaign_service.create_campaign(
            session, CampaignCreate.model_validate(data), actor=staff, now=utc_now()
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        _show_errors(request_language(request), view, error)
        return _render(
            request,
            "campaigns/form.html",
            {
                "staff": staff,
                "csrf_token": csrf_token,
                **_form_context(request, session, view, None),
            },
            status_code=error.status_code if isinstance(error, DomainError) else 422,
        )
    return _done(campaign.id, "created")


@router.get(f"{CAMPAIGNS_PATH}/{{campaign_id}}/edit", response_class=HTMLResponse)
def edit_campaign_page(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
) -> HTMLResponse:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
    except DomainError as error:
        return _error_page(request, staff, csrf_token, error)
    form = _form_from_campaign(session, campaign)
    return _render(
        request,
        "campaigns/form.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            **_form_context(request, session, form, campaign),
        },
    )


@router.post(f"{CAMPAIGNS_PATH}/{{campaign_id}}/edit", response_model=None)
def post_edit_campaign(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    view, data = _parse_form(form)
    data.pop("lawyer_ids")
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        if campaign.status != CampaignStatus.draft:
            # These two are fixed once the campaign is public; the form shows them read-only.
            data.pop("channel", None)
            data.pop("slug", None)
        campaign_service.update_campaign(
            session, campaign, CampaignUpdate.model_validate(data), actor=staff, now=utc_now()
        )
    except (ValidationError, DomainError) as error:
        session.rollback()
        if isinstance(error, DomainError) and error.status_code == 404:
            return _error_page(request, staff, csrf_token, error)
        _show_errors(request_language(request), view, error)
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        return _render(
            request,
            "campaigns/form.html",
            {
                "staff": staff,
                "csrf_token": csrf_token,
                **_form_context(request, session, view, campaign),
            },
            status_code=error.status_code if isinstance(error, DomainError) else 422,
        )
    return _done(campaign_id, "updated")


# The campaign page


def _done(campaign_id: int, notice: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"{CAMPAIGNS_PATH}/{campaign_id}?done={notice}{anchor}", status_code=303
    )


def _detail_context(
    request: Request, session: Session, staff: StaffUser, overview: CampaignOverview
) -> dict[str, Any]:
    campaign = overview.campaign
    versions = campaign_service.list_versions(session, campaign)
    lawyer_ids = {lawyer.id for lawyer in overview.lawyers}
    clusters = campaign_service.current_clusters_by_key(session, list(overview.cluster_keys))
    events = campaign_service.list_events(session, campaign)
    people = (
        lawyer_ids
        | {event.actor_id for event in events}
        | {version.created_by_id for version in versions}
        | {version.approved_by_id for version in versions if version.approved_by_id}
    )
    done = request.query_params.get("done")
    return {
        "staff": staff,
        "o": overview,
        "campaign": campaign,
        "rules": overview.rules,
        "clusters": [
            _cluster_option(clusters[key]) if key in clusters else {"key": key, "missing": True}
            for key in overview.cluster_keys
        ],
        "versions": versions,
        "approved_versions": [version for version in versions if version.approved_at],
        "events": events,
        "staff_names": campaign_service.staff_names(session, people),
        "can_manage": _can_manage(staff),
        "is_assigned_lawyer": staff.role == StaffRole.lawyer and staff.id in lawyer_ids,
        "available_lawyers": [
            lawyer
            for lawyer in campaign_service.active_lawyers(session)
            if lawyer.id not in lawyer_ids
        ],
        "is_public": campaign.status in campaign_service.PUBLIC_STATUSES,
        "is_editable": campaign.status in campaign_service.EDITABLE_STATUSES,
        "done": done if done in _DONE_NOTICES else None,
    }


def _detail_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    campaign_id: int,
    *,
    error: DomainError | None = None,
) -> HTMLResponse:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
    except DomainError as not_found:
        return _error_page(request, staff, csrf_token, not_found)
    today = campaign_service.local_today(campaign, utc_now())
    overview = campaign_service.overview(session, campaign, today=today)
    message = str(error.body(request_language(request))["detail"]) if error else None
    return _render(
        request,
        "campaigns/detail.html",
        {
            "csrf_token": csrf_token,
            "error_message": message,
            **_detail_context(request, session, staff, overview),
        },
        status_code=error.status_code if error else 200,
    )


@router.get(f"{CAMPAIGNS_PATH}/{{campaign_id}}", response_class=HTMLResponse)
def campaign_page(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: CurrentStaff,
    csrf_token: CsrfToken,
) -> HTMLResponse:
    return _detail_page(request, session, staff, csrf_token, campaign_id)


def _action(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    campaign_id: int,
    action: Callable[[Campaign], object],
    done: str,
) -> Response:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        action(campaign)
    except DomainError as error:
        session.rollback()
        return _detail_page(request, session, staff, csrf_token, campaign_id, error=error)
    return _done(campaign_id, done)


def _optional_int(form: FormData, name: str) -> int | None:
    value = form_text(form, name)
    return int(value) if value.isdigit() else None


@router.post(f"{CAMPAIGNS_PATH}/{{campaign_id}}/transitions", response_model=None)
def post_transition(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    def move(campaign: Campaign) -> object:
        target = form_text(form, "to_status")
        if target not in set(CampaignStatus):
            raise CampaignFieldError("to_status", "unknown_status")
        return campaign_service.transition(
            session,
            campaign,
            to_status=CampaignStatus(target),
            note=form_text(form, "note")[:2000] or None,
            fact_pattern_version_id=_optional_int(form, "fact_pattern_version_id"),
            actor=staff,
            now=utc_now(),
        )

    return _action(request, session, staff, csrf_token, campaign_id, move, "transitioned")


@router.post(f"{CAMPAIGNS_PATH}/{{campaign_id}}/lawyers", response_model=None)
def post_assign_lawyer(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    def assign(campaign: Campaign) -> object:
        lawyer_id = _optional_int(form, "staff_user_id")
        if lawyer_id is None:
            raise CampaignFieldError("staff_user_id", "not_a_lawyer")
        campaign_service.assign_lawyer(
            session, campaign, staff_user_id=lawyer_id, actor=staff, now=utc_now()
        )
        return None

    return _action(request, session, staff, csrf_token, campaign_id, assign, "lawyer_assigned")


@router.post(
    f"{CAMPAIGNS_PATH}/{{campaign_id}}/lawyers/{{staff_user_id}}/remove", response_model=None
)
def post_remove_lawyer(
    request: Request,
    campaign_id: int,
    staff_user_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
) -> Response:
    def remove(campaign: Campaign) -> object:
        campaign_service.unassign_lawyer(
            session, campaign, staff_user_id=staff_user_id, actor=staff, now=utc_now()
        )
        return None

    return _action(request, session, staff, csrf_token, campaign_id, remove, "lawyer_removed")


# Fact patterns


def _language_field(form: FormData) -> Language:
    language = parse_language(form_text(form, "language"))
    if language is None:
        raise CampaignFieldError("language", "unknown_language")
    return language


@router.post(f"{CAMPAIGNS_PATH}/{{campaign_id}}/fact-patterns/generate", response_model=None)
def post_generate(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    def generate(campaign: Campaign) -> object:
        return campaign_service.generate_fact_pattern(
            session, campaign, language=_language_field(form), actor=staff, now=utc_now()
        )

    return _action(request, session, staff, csrf_token, campaign_id, generate, "generated")


def _version_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    csrf_token: str,
    campaign_id: int,
    version_id: int,
    *,
    body: str | None = None,
    error: DomainError | None = None,
) -> HTMLResponse:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        version = campaign_service.get_version(session, campaign, version_id)
    except DomainError as not_found:
        return _error_page(request, staff, csrf_token, not_found)
    lawyer_ids = {lawyer.id for lawyer in campaign_service.assigned_lawyers(session, campaign)}
    people = {version.created_by_id, version.approved_by_id or version.created_by_id}
    return _render(
        request,
        "campaigns/version.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "campaign": campaign,
            "version": version,
            "staff_names": campaign_service.staff_names(session, people),
            "body": version.body if body is None else body,
            "can_manage": _can_manage(staff),
            "can_approve": staff.role == StaffRole.lawyer
            and staff.id in lawyer_ids
            and version.approved_at is None,
            "error_message": str(error.body(request_language(request))["detail"])
            if error
            else None,
            "done": request.query_params.get("done") in ("edited", "approved"),
        },
        status_code=error.status_code if error else 200,
    )


@router.get(f"{CAMPAIGNS_PATH}/{{campaign_id}}/fact-patterns/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: CurrentStaff,
    csrf_token: CsrfToken,
) -> HTMLResponse:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        from_id = _query_int(request, "from")
        to_id = _query_int(request, "to")
        old = campaign_service.get_version(session, campaign, from_id)
        new = campaign_service.get_version(session, campaign, to_id)
    except DomainError as error:
        return _error_page(request, staff, csrf_token, error)
    lines = campaign_service.diff_versions(old, new).splitlines()
    return _render(
        request,
        "campaigns/compare.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "campaign": campaign,
            "old": old,
            "new": new,
            "lines": [(_diff_kind(line), line) for line in lines],
        },
    )


def _query_int(request: Request, name: str) -> int:
    value = request.query_params.get(name, "")
    if not value.isdigit():
        raise CampaignFieldError(name, "unknown_version")
    return int(value)


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "same")


@router.get(
    f"{CAMPAIGNS_PATH}/{{campaign_id}}/fact-patterns/{{version_id}}", response_class=HTMLResponse
)
def version_page(
    request: Request,
    campaign_id: int,
    version_id: int,
    session: SessionDep,
    staff: CurrentStaff,
    csrf_token: CsrfToken,
) -> HTMLResponse:
    return _version_page(request, session, staff, csrf_token, campaign_id, version_id)


@router.post(f"{CAMPAIGNS_PATH}/{{campaign_id}}/fact-patterns", response_model=None)
def post_edit_fact_pattern(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    staff: Organizer,
    csrf_token: CsrfToken,
    form: FormDep,
) -> Response:
    body = form.get("body")
    text = body if isinstance(body, str) else ""
    based_on = _optional_int(form, "based_on") or 0
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        language = _language_field(form)
        if not text.strip():
            raise CampaignFieldError("body", "blank_body")
        version = campaign_service.edit_fact_pattern(
            session, campaign, language=language, body=text, actor=staff, now=utc_now()
        )
    except DomainError as error:
        session.rollback()
        return _version_page(
            request, session, staff, csrf_token, campaign_id, based_on, body=text, error=error
        )
    return RedirectResponse(
        f"{CAMPAIGNS_PATH}/{campaign_id}/fact-patterns/{version.id}?done=edited", status_code=303
    )


@router.post(
    f"{CAMPAIGNS_PATH}/{{campaign_id}}/fact-patterns/{{version_id}}/approve", response_model=None
)
def post_approve(
    request: Request,
    campaign_id: int,
    version_id: int,
    session: SessionDep,
    staff: Lawyer,
    csrf_token: CsrfToken,
) -> Response:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
        version = campaign_service.get_version(session, campaign, version_id)
        campaign_service.approve_version(session, campaign, version, lawyer=staff, now=utc_now())
    except DomainError as error:
        session.rollback()
        return _version_page(
            request, session, staff, csrf_token, campaign_id, version_id, error=error
        )
    return RedirectResponse(
        f"{CAMPAIGNS_PATH}/{campaign_id}/fact-patterns/{version_id}?done=approved",
        status_code=303,
    )


# The public page


@router.get("/c/{slug}", response_class=HTMLResponse)
def public_campaign_page(request: Request, slug: str, session: SessionDep) -> HTMLResponse:
    """Aggregates only, every small count suppressed; drafts do not exist here."""
    language = request_language(request)
    try:
        campaign, aggregates = campaign_service.public_campaign(session, slug)
    except DomainError as error:
        return _render(
            request,
            "error.html",
            {
                "heading": translate(language, "campaign.public.not_found_heading"),
                "message": str(error.body(language)["detail"]),
                "offer_lookup": False,
            },
            status_code=error.status_code,
            private=False,
        )
    rules = load_channels()[campaign.channel]
    category_order = {str(category): index for index, category in enumerate(GrievanceCategory)}
    return _render(
        request,
        "public/campaign.html",
        {
            "campaign": campaign,
            "rules": rules,
            "channel_name": rules.name(language),
            "a": aggregates,
            "categories": sorted(
                aggregates.categories, key=lambda item: category_order.get(item[0], 99)
            ),
            "join_link": "/r/?" + urlencode({"lang": language}),
            "min_cell": 5,
        },
        private=False,
    )
