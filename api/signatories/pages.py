"""HTML pages for signatories: the reporter's campaigns page, join form and one-click leave
under their receipt code, and the lawyer's signatory list.

Receipt-code pages are rate limited like the other receipt pages and never cached. Staff
pages follow api.campaigns.pages: a lawyer not assigned to the campaign gets the same 404 as
for the campaign itself, and the role requirement answers 403 to organizers and admins.
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.campaigns import service as campaign_service
from api.campaigns.channels import get_channel
from api.config import Settings
from api.db import SessionDep
from api.errors import DomainError
from api.evidence.models import EvidenceFile
from api.i18n import Language, catalogue, request_language, translate
from api.rendering import FormDep, field_id, format_moment, render_page
from api.reports import service as report_service
from api.reports.models import Report
from api.reports.pages import FormView
from api.reports.router import limit_receipt_lookups
from api.signatories import service as signatory_service
from api.signatories.fields import FieldKind
from api.signatories.models import ConsentPurpose
from api.signatories.schemas import JoinSubmission
from api.signatories.service import JoinForm, JoinInvalid
from api.staff.dependencies import CSRF_FIELD, CsrfToken, require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(include_in_schema=False)

Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]

_DONE_NOTICES = ("joined", "left")


def _render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return render_page(
        request, template, {"csrf_field": CSRF_FIELD, **context}, status_code=status_code
    )


def _error_page(request: Request, error: DomainError) -> HTMLResponse:
    language = request_language(request)
    heading_key = f"page.error.heading_{error.status_code}"
    if heading_key not in catalogue("en"):
        heading_key = "page.error.heading"
    return _render(
        request,
        "error.html",
        {
            "heading": translate(language, heading_key),
            "message": translate(language, error.detail_key, **error.params),
            "offer_lookup": False,
        },
        status_code=error.status_code,
    )


def _receipt_path(code: str) -> str:
    return "/r/" + quote(code, safe="")


def _open_report(request: Request, session: Session, code: str) -> Report:
    limit_receipt_lookups(request)
    return report_service.get_report_by_receipt(session, code)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


# The reporter's campaigns


@router.get("/r/{code}/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, code: str, session: SessionDep) -> HTMLResponse:
    language = request_language(request)
    try:
        report = _open_report(request, session, code)
    except DomainError as error:
        return _error_page(request, error)
    items = signatory_service.campaigns_for_report(session, report)
    done = request.query_params.get("done")
    return _render(
        request,
        "signatories/campaigns.html",
        {
            "base_path": _receipt_path(code),
            "done": done if done in _DONE_NOTICES else None,
            "items": [
                {
                    "campaign": item.campaign,
                    "channel": item.rules.name(language),
                    "recipient": item.rules.recipient(language),
                    "signatory": item.signatory,
                    "can_join": item.can_join,
                    "can_leave": item.can_leave,
                }
                for item in items
            ],
        },
    )


def _field_label(language: Language, name: str) -> str:
    kind, _, key = name.partition(".")
    if kind == "identity":
        return translate(language, f"signatory.field.{key}")
    if kind == "consent":
        return translate(language, f"consent.label.{key}")
    return translate(language, f"signatory.form.{name}")


def _evidence_options(language: Language, evidence: tuple[EvidenceFile, ...]) -> list[Any]:
    return [
        {
            "id": item.id,
            "label": translate(
                language,
                "signatory.form.evidence_item",
                sequence=item.sequence,
                media_type=item.media_type,
                received_at=format_moment(item.received_at),
            ),
        }
        for item in evidence
    ]


def _join_page(
    request: Request,
    code: str,
    form: JoinForm,
    view: FormView,
    chosen: dict[str, set[str]],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    language = request_language(request)
    return _render(
        request,
        "signatories/join.html",
        {
            "base_path": _receipt_path(code),
            "join": form,
            "channel": form.rules.name(language),
            "recipient": form.rules.recipient(language),
            "form": view,
            "chosen": chosen,
            "evidence_options": _evidence_options(language, form.evidence),
            "field_kind": FieldKind,
        },
        status_code=status_code,
    )


@router.get("/r/{code}/join/{campaign_slug}", response_class=HTMLResponse)
def join_page(request: Request, code: str, campaign_slug: str, session: SessionDep) -> HTMLResponse:
    try:
        report = _open_report(request, session, code)
        form = signatory_service.join_form(
            session,
            report=report,
            campaign_slug=campaign_slug,
            language=request_language(request),
            retention_days=_settings(request).identity_retention_days,
        )
    except DomainError as error:
        return _error_page(request, error)
    chosen = {"shared_evidence": {item.id for item in form.evidence}}
    return _join_page(request, code, form, FormView(), chosen)


def _strings(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str) and value]


def _parse_join(form: FormData, join: JoinForm) -> tuple[JoinSubmission, FormView, dict]:
    values: dict[str, str] = {}
    identity: dict[str, str] = {}
    evidence_fields: dict[str, list[str]] = {}
    chosen: dict[str, set[str]] = {}
    for spec in join.fields:
        name = f"identity.{spec.key}"
        if spec.kind == FieldKind.evidence:
            evidence_fields[spec.key] = _strings(form, name)
            chosen[name] = set(evidence_fields[spec.key])
            continue
        raw = form.get(name)
        identity[spec.key] = raw if isinstance(raw, str) else ""
        values[name] = identity[spec.key]
    shared = _strings(form, "shared_evidence")
    chosen["shared_evidence"] = set(shared)
    consents = {purpose for purpose in ConsentPurpose if form.get(f"consent.{purpose}") == "yes"}
    chosen["consents"] = {str(purpose) for purpose in consents}
    wants_to_represent = form.get("represent") == "yes"
    chosen["represent"] = {"yes"} if wants_to_represent else set()
    submission = JoinSubmission(
        identity=identity,
        evidence_fields=evidence_fields,
        shared_evidence_ids=shared,
        consents=consents,
        wants_to_represent=wants_to_represent,
    )
    return submission, FormView(values=values), chosen


@router.post("/r/{code}/join/{campaign_slug}", response_model=None)
def post_join(
    request: Request, code: str, campaign_slug: str, session: SessionDep, form: FormDep
) -> Response:
    language = request_language(request)
    settings = _settings(request)
    try:
        report = _open_report(request, session, code)
        join = signatory_service.join_form(
            session,
            report=report,
            campaign_slug=campaign_slug,
            language=language,
            retention_days=settings.identity_retention_days,
        )
    except DomainError as error:
        return _error_page(request, error)
    submission, view, chosen = _parse_join(form, join)
    try:
        signatory_service.join_campaign(
            session,
            report=report,
            campaign_slug=campaign_slug,
            submission=submission,
            language=language,
            key_ring=signatory_service.settings_key_ring(settings),
            hash_key=signatory_service.settings_hash_key(settings),
            retention_days=settings.identity_retention_days,
            now=datetime.now(UTC).replace(microsecond=0),
        )
    except JoinInvalid as error:
        session.rollback()
        for name, message in error.messages(language):
            view.errors.setdefault(name, []).append(message)
            view.summary.append((_field_label(language, name), message, field_id(name)))
        return _join_page(request, code, join, view, chosen, status_code=422)
    except DomainError as error:
        session.rollback()
        message = translate(language, error.detail_key, **error.params)
        view.summary.append((translate(language, "signatory.form.not_joined"), message, None))
        return _join_page(request, code, join, view, chosen, status_code=error.status_code)
    return RedirectResponse(f"{_receipt_path(code)}/campaigns?done=joined", status_code=303)


@router.post("/r/{code}/leave/{campaign_slug}", response_model=None)
def post_leave(request: Request, code: str, campaign_slug: str, session: SessionDep) -> Response:
    """One click, no confirmation step: withdrawing consent must be as easy as giving it."""
    try:
        report = _open_report(request, session, code)
        signatory_service.leave_campaign(
            session,
            report=report,
            campaign_slug=campaign_slug,
            now=datetime.now(UTC).replace(microsecond=0),
        )
    except DomainError as error:
        return _error_page(request, error)
    return RedirectResponse(f"{_receipt_path(code)}/campaigns?done=left", status_code=303)


# The lawyer's list


@router.get("/staff/campaigns/{campaign_id}/signatories", response_class=HTMLResponse)
def lawyer_signatories_page(
    request: Request, campaign_id: int, session: SessionDep, staff: Lawyer, csrf_token: CsrfToken
) -> HTMLResponse:
    try:
        campaign = campaign_service.get_campaign(session, campaign_id, viewer=staff)
    except DomainError as error:
        return _render(
            request,
            "campaigns/error.html",
            {
                "staff": staff,
                "csrf_token": csrf_token,
                "message": str(error.body(request_language(request))["detail"]),
            },
            status_code=error.status_code,
        )
    records = signatory_service.consenting_signatories(
        session,
        campaign_id=campaign.id,
        viewer=staff,
        purpose=signatory_service.VIEW,
        key_ring=signatory_service.settings_key_ring(_settings(request)),
    )
    rules = get_channel(campaign.channel)
    return _render(
        request,
        "signatories/lawyer.html",
        {
            "staff": staff,
            "csrf_token": csrf_token,
            "campaign": campaign,
            "rules": rules,
            "fields": signatory_service.collected_fields(rules),
            "records": records,
            "counts": signatory_service.signatory_counts(session, campaign.id),
        },
    )
