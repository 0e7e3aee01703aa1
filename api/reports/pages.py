"""HTML pages for reporters: the report form, the one-time receipt and the receipt status page.

Every page works without JavaScript (plain form posts); `frontend/static/app.js` only adds
lender suggestions, a live preview and more payment rows. Routes here turn form fields into the
same `ReportSubmission` the JSON API takes, call `api.reports.service`, and render the result;
errors come back as the form again with a message beside each field, in the request's language.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from api.config import SettingsDep
from api.db import SessionDep
from api.errors import DomainError, FieldError, pydantic_problems, validation_body
from api.evidence.service import EvidenceUpload
from api.i18n import Language, catalogue, request_language, translate
from api.lenders import service as lender_service
from api.rendering import FieldErrors, FormDep, field_id, form_text, render_page
from api.reports import service as report_service
from api.reports.models import ContactChannel, GrievanceCategory, Report, ReportSource
from api.reports.router import evidence_limits, limit_receipt_lookups
from api.reports.schemas import (
    ReceiptStatus,
    ReportPreview,
    ReportSubmission,
    ReportUpdateIn,
    ScheduleIn,
)

router = APIRouter(include_in_schema=False)

# Rows shown without JavaScript; app.js can add payment rows up to the schema's limits.
PAYMENT_ROWS = 6
ATTEMPT_ROWS = 3
MAX_PAYMENT_ROWS = 600
MAX_ATTEMPT_ROWS = 20
SCHEDULE_PERIODS: tuple[str, ...] = get_args(ScheduleIn.model_fields["every"].annotation)

_PAYMENT_FIELD_RE = re.compile(r"^loan\.payments\.(\d+)\.(due_on|amount)$")
_ATTEMPT_FIELD_RE = re.compile(r"^attempts\.(\d+)\.(channel|attempted_on|outcome)$")
_ROW_PATH_RE = re.compile(r"^(loan\.payments|attempts)\.(\d+)(\..*)?$")
# Thousands separators and currency marks people type into amounts; the schema wants digits.
_AMOUNT_NOISE_RE = re.compile(r"[\s,，_¥￥元%]")
# Placeholders the redaction leaves in stored text, e.g. "[ID_NUMBER]".
_PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z_]*\]")

_FLAGS = ("above_24", "above_36", "above_4lpr")
_DONE_NOTICES = ("update", "evidence", "withdrawn")
_LOAN_FIELDS = ("contract_principal", "net_received", "received_on", "disclosed_apr_percent")
_AMOUNT_FIELDS = {
    "loan.contract_principal",
    "loan.net_received",
    "loan.disclosed_apr_percent",
    "loan.schedule.amount",
}
# Error paths that name a whole group rather than one input, and the input they point to.
_GROUP_ANCHORS = {
    "categories": f"categories.{GrievanceCategory.refuses_negotiation}",
    "loan": "loan.net_received",
    "loan.payments": "loan.payments.0.due_on",
    "loan.schedule": "loan.schedule.installments",
    "attempts": "attempts.0.channel",
    "evidence": "evidence",
}


@dataclass
class FormView(FieldErrors):
    """What the form shows: the values as typed, and the errors found in them by field name."""

    values: dict[str, str] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()
    payment_rows: int = PAYMENT_ROWS
    attempt_rows: int = ATTEMPT_ROWS
    had_files: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    # (label, message, id of the input to jump to), in the order the errors came.
    summary: list[tuple[str, str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedForm:
    view: FormView
    data: dict[str, Any]
    # Row numbers in the submitted list → row numbers on the page, since blank rows are skipped.
    rows: dict[str, list[int]]
    uploads: list[EvidenceUpload]


def _amount(raw: str) -> str:
    return _AMOUNT_NOISE_RE.sub("", raw)


def _row_indices(form: FormData, pattern: re.Pattern[str], limit: int) -> list[int]:
    found = {int(match.group(1)) for key in form if (match := pattern.match(key))}
    return sorted(index for index in found if index < limit)


def _uploads(form: FormData) -> list[EvidenceUpload]:
    files = [item for item in form.getlist("evidence") if isinstance(item, UploadFile)]
    # A file input left empty still sends one nameless, empty part.
    return [
        EvidenceUpload(content=item.file.read()) for item in files if item.filename or item.size
    ]


def parse_report_form(form: FormData) -> ParsedForm:
    """The submission the form fields describe; blank optional fields and rows are left out."""
    values: dict[str, str] = {}
    data: dict[str, Any] = {}
    for name in ("lender", "product", "title", "province", "first_incident_month"):
        values[name] = form_text(form, name)
        if values[name]:
            data[name] = values[name]
    narrative = form.get("narrative")
    values["narrative"] = narrative if isinstance(narrative, str) else ""
    if values["narrative"].strip():
        data["narrative"] = values["narrative"]
    categories = [value for value in form.getlist("categories") if isinstance(value, str)]
    data["categories"] = categories

    loan: dict[str, Any] = {}
    for name in _LOAN_FIELDS:
        key = f"loan.{name}"
        values[key] = form_text(form, key)
        if values[key]:
            loan[name] = _amount(values[key]) if key in _AMOUNT_FIELDS else values[key]
    schedule: dict[str, Any] = {}
    for name in ("installments", "amount", "every"):
        key = f"loan.schedule.{name}"
        values[key] = form_text(form, key)
        if values[key] and name != "every":
            schedule[name] = _amount(values[key]) if key in _AMOUNT_FIELDS else values[key]
    if schedule:
        schedule["every"] = values["loan.schedule.every"] or "month"
        loan["schedule"] = schedule

    payment_indices = _row_indices(form, _PAYMENT_FIELD_RE, MAX_PAYMENT_ROWS)
    payments, payment_rows = [], []
    for index in payment_indices:
        row: dict[str, str] = {}
        for name in ("due_on", "amount"):
            key = f"loan.payments.{index}.{name}"
            values[key] = form_text(form, key)
            if values[key]:
                row[name] = _amount(values[key]) if name == "amount" else values[key]
        if row:
            payments.append(row)
            payment_rows.append(index)
    if payments:
        loan["payments"] = payments
    if loan:
        data["loan"] = loan

    attempt_indices = _row_indices(form, _ATTEMPT_FIELD_RE, MAX_ATTEMPT_ROWS)
    attempts, attempt_rows = [], []
    for index in attempt_indices:
        row = {}
        for name in ("channel", "attempted_on", "outcome"):
            key = f"attempts.{index}.{name}"
            values[key] = form_text(form, key)
            if values[key]:
                row[name] = values[key]
        if row:
            attempts.append(row)
            attempt_rows.append(index)
    if attempts:
        data["attempts"] = attempts

    uploads = _uploads(form)
    view = FormView(
        values=values,
        categories=frozenset(categories),
        payment_rows=max([PAYMENT_ROWS, *(index + 1 for index in payment_indices)]),
        attempt_rows=max([ATTEMPT_ROWS, *(index + 1 for index in attempt_indices)]),
        had_files=bool(uploads),
    )
    rows = {"loan.payments": payment_rows, "attempts": attempt_rows}
    return ParsedForm(view=view, data=data, rows=rows, uploads=uploads)


def _page_field(path: str, rows: dict[str, list[int]], known: set[str]) -> str | None:
    """The form field an error path belongs to: `loan.payments.2.amount` → that row's input."""
    match = _ROW_PATH_RE.match(path)
    if match and match.group(1) in rows:
        listed = rows[match.group(1)]
        position = int(match.group(2))
        if position < len(listed):
            path = f"{match.group(1)}.{listed[position]}{match.group(3) or ''}"
    parts = path.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known or candidate in _GROUP_ANCHORS:
            return candidate
        parts.pop()
    return None


def field_label(language: Language, name: str) -> str:
    """`loan.payments.3.amount` → "逐笔还款 · 第 4 行 · 金额（元）"."""
    match = _ROW_PATH_RE.match(name)
    if match and match.group(3):
        group, row, rest = match.group(1), int(match.group(2)), match.group(3)
        return " · ".join(
            (
                translate(language, f"field.{group}"),
                translate(language, "form.row", number=row + 1),
                translate(language, f"field.{group}{rest}"),
            )
        )
    return translate(language, f"field.{name}")


def attach_errors(
    view: FormView,
    language: Language,
    errors: list[dict[str, Any]],
    rows: dict[str, list[int]] | None = None,
) -> FormView:
    """Put each `{field, message}` error beside its input and into the summary at the top."""
    known = set(view.values) | {"categories", "evidence"}
    for error in errors:
        name = _page_field(str(error["field"]), rows or {}, known)
        message = str(error["message"])
        if name is None:
            view.summary.append((translate(language, "form.error.general"), message, None))
            continue
        view.errors.setdefault(name, []).append(message)
        anchor = _GROUP_ANCHORS.get(name, name)
        view.summary.append((field_label(language, name), message, field_id(anchor)))
    return view


def _domain_errors(language: Language, error: DomainError) -> list[dict[str, Any]]:
    body = error.body(language)
    return body.get("errors") or [{"field": "", "message": body["detail"]}]


def _validation_errors(language: Language, error: ValidationError) -> list[dict[str, Any]]:
    return validation_body(language, pydantic_problems(list(error.errors())))["errors"]


# Rendering


def _region_options(language: Language) -> list[tuple[str, str]]:
    return [
        (region.code, region.name_zh if language == "zh" else region.name_en)
        for region in report_service.list_regions("CN")
    ]


def _region_name(language: Language, code: str | None) -> str | None:
    region = report_service.region_by_code(code) if code else None
    if region is None:
        return code
    return region.name_zh if language == "zh" else region.name_en


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}%"


def loan_cost_view(language: Language, cost: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cost figures and cap comparisons as sentences, for preview and status pages."""
    if not cost:
        return None
    t = partial(translate, language)
    flags: dict[str, bool] = cost.get("flags") or {}
    statements = []
    for name in _FLAGS:
        if name not in flags:
            statements.append((None, t(f"cost.{name}.unknown")))
            continue
        answer = "yes" if flags[name] else "no"
        statements.append(
            (flags[name], t(f"cost.{name}.{answer}", cap=percent(cost.get("cap_4lpr"))))
        )
    rows = [
        (t("cost.total_paid"), cost.get("total_paid")),
        (t("cost.total_cost"), cost.get("total_cost")),
    ]
    if cost.get("upfront_deduction") is not None:
        rows.append((t("cost.upfront_deduction"), cost["upfront_deduction"]))
    if cost.get("lpr_percent_at_contract") is not None:
        rows.append((t("cost.lpr"), f"{cost['lpr_percent_at_contract']:.2f}%"))
    return {
        "nominal": percent(cost.get("apr_nominal")),
        "effective": percent(cost.get("apr_effective")),
        "method": t(f"cost.method.{cost.get('method')}"),
        "rows": rows,
        "statements": statements,
    }


def placeholder_segments(text: str) -> list[tuple[str, bool]]:
    """Redacted text as (piece, is_placeholder) pieces, so removed spans can be highlighted."""
    segments: list[tuple[str, bool]] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(text):
        if match.start() > position:
            segments.append((text[position : match.start()], False))
        segments.append((match.group(0), True))
        position = match.end()
    if position < len(text):
        segments.append((text[position:], False))
    return segments


def _client_strings(language: Language) -> dict[str, str]:
    """Strings app.js needs for the live preview, so it renders the same words as the server."""
    keys = [
        *(f"cost.{flag}.{answer}" for flag in _FLAGS for answer in ("yes", "no", "unknown")),
        "cost.apr_effective",
        "cost.apr_nominal",
        "cost.lpr",
        "cost.method",
        "cost.method.periodic",
        "cost.method.xirr",
        "cost.total_cost",
        "cost.total_paid",
        "cost.upfront_deduction",
        "form.error.general",
        "form.row",
        "preview.errors_title",
        "preview.failed",
        "preview.lender_matched",
        "preview.lender_unmatched",
        "preview.live",
        "preview.loan_title",
        "preview.narrative",
        "preview.no_loan",
        "preview.redactions",
        "preview.redactions_none",
        "preview.title",
    ]
    return {key: translate(language, key) for key in sorted(keys)}


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    private: bool = False,
) -> HTMLResponse:
    # The public form may be cached; pages with receipt codes or report contents never are.
    return render_page(request, template, context, status_code=status_code, private=private)


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
            "offer_lookup": error.status_code == 404,
        },
        status_code=error.status_code,
        private=True,
    )


def _form_page(
    request: Request,
    session: Session,
    view: FormView,
    *,
    preview: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language = request_language(request)
    settings = request.app.state.settings
    return _render(
        request,
        "report_form.html",
        {
            "form": view,
            "field_id": field_id,
            "preview": preview,
            "categories": [
                (str(code), translate(language, f"category.{code}")) for code in GrievanceCategory
            ],
            "channels": [
                (str(code), translate(language, f"channel.{code}")) for code in ContactChannel
            ],
            "regions": _region_options(language),
            "periods": [
                (period, translate(language, f"period.{period}")) for period in SCHEDULE_PERIODS
            ],
            "lenders": lender_service.list_lenders(session),
            "max_files": settings.evidence_max_files,
            "max_mb": settings.evidence_max_bytes // (1024 * 1024),
            "client_strings": _client_strings(language),
        },
        status_code=status_code,
        private=request.method == "POST",
    )


def _preview_view(language: Language, preview: ReportPreview) -> dict[str, Any]:
    return {
        "title": placeholder_segments(preview.redacted_title),
        "narrative": placeholder_segments(preview.redacted_narrative),
        "redaction_count": len(preview.redactions),
        "lender": preview.lender_name_zh if language == "zh" else preview.lender_name_en,
        "cost": loan_cost_view(language, preview.loan_cost),
    }


@router.get("/", response_class=HTMLResponse)
def report_form(request: Request, session: SessionDep) -> HTMLResponse:
    return _form_page(request, session, FormView())


@router.post("/", response_class=HTMLResponse)
def post_report_form(
    request: Request, session: SessionDep, settings: SettingsDep, form: FormDep
) -> HTMLResponse:
    """`action=preview` shows what would be stored; `action=submit` files the report."""
    language = request_language(request)
    parsed = parse_report_form(form)
    try:
        submission = ReportSubmission.model_validate(parsed.data)
        if form_text(form, "action") == "submit":
            report, code = report_service.submit_report(
                session,
                submission=submission,
                language=language,
                source=ReportSource.web_form,
                evidence=parsed.uploads,
                evidence_dir=settings.evidence_dir,
                evidence_limits=evidence_limits(settings),
                hooks=request.app.state.report_hooks,
                lenders=request.app.state.lender_directory,
            )
            return _render(request, "receipt.html", {"code": code, "report": report}, private=True)
        preview = report_service.preview_report(
            session, submission, request.app.state.lender_directory
        )
    except ValidationError as error:
        errors = _validation_errors(language, error)
        view = attach_errors(parsed.view, language, errors, parsed.rows)
        return _form_page(request, session, view, status_code=422)
    except DomainError as error:
        # The service raises before it writes; the rollback keeps it that way whatever it did.
        session.rollback()
        view = attach_errors(parsed.view, language, _domain_errors(language, error), parsed.rows)
        return _form_page(request, session, view, status_code=error.status_code)
    # The form comes back holding the redacted text, so the details removed are not sent back
    # to the browser; submitting it stores the same text, since redaction leaves placeholders be.
    parsed.view.values["title"] = preview.redacted_title
    parsed.view.values["narrative"] = preview.redacted_narrative
    return _form_page(request, session, parsed.view, preview=_preview_view(language, preview))


# Receipt pages. The code is in the path (never a query string, which ends up in logs); the
# access log records only the route template, and every response is no-store.


def _status_view(language: Language, status: ReceiptStatus) -> dict[str, Any]:
    t = partial(translate, language)
    return {
        "status": str(status.status),
        "is_open": str(status.status) != "withdrawn",
        "lender": status.lender,
        "product": status.product,
        "categories": [t(f"category.{code}") for code in status.categories],
        "title": placeholder_segments(status.title),
        "narrative": placeholder_segments(status.narrative),
        "region": _region_name(language, status.region_code),
        "first_incident_month": status.first_incident_month,
        "submitted_at": _minute(status.submitted_at),
        "withdrawn_at": _minute(status.withdrawn_at) if status.withdrawn_at else None,
        "cost": loan_cost_view(language, status.loan_cost),
        "attempts": [
            {
                "channel": t(f"channel.{attempt.get('channel')}"),
                "attempted_on": attempt.get("attempted_on"),
                "outcome": placeholder_segments(attempt.get("outcome") or ""),
            }
            for attempt in status.contact_attempts
        ],
        "updates": [
            {
                "body": placeholder_segments(update.body),
                "submitted_at": _minute(update.submitted_at),
            }
            for update in status.updates
        ],
        "evidence": [
            {
                "sequence": item.sequence,
                "media_type": item.media_type,
                "size": _size(item.size_bytes),
                "sha256": item.sha256_original,
                "received_at": _minute(item.received_at),
                "metadata_removed": item.sha256_redacted is not None,
            }
            for item in status.evidence
        ],
    }


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} B"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / (1024 * 1024):.1f} MB"


def _receipt_path(code: str) -> str:
    return "/r/" + quote(code, safe="")


def _status_page(
    request: Request,
    session: Session,
    report: Report,
    code: str,
    *,
    view: FormView | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language = request_language(request)
    settings = request.app.state.settings
    status = report_service.receipt_status(session, report)
    return _render(
        request,
        "receipt_status.html",
        {
            "report": _status_view(language, status),
            "base_path": _receipt_path(code),
            "done": done if (done := request.query_params.get("done")) in _DONE_NOTICES else None,
            "form": view or FormView(),
            "field_id": field_id,
            "max_files": settings.evidence_max_files,
            "max_mb": settings.evidence_max_bytes // (1024 * 1024),
        },
        status_code=status_code,
        private=True,
    )


def _open_report(request: Request, session: Session, code: str) -> Report:
    # Same limit as the JSON receipt routes, so pages are no way around it.
    limit_receipt_lookups(request)
    return report_service.get_report_by_receipt(session, code)


@router.get("/r/", response_class=HTMLResponse)
def receipt_lookup(request: Request) -> HTMLResponse:
    return _render(request, "receipt_lookup.html", {"form": FormView(), "field_id": field_id})


@router.post("/r/", response_model=None)
def post_receipt_lookup(request: Request, form: FormDep) -> Response:
    """Go to the status page for a typed code, by redirect so the code never sits in a query."""
    code = "".join(form_text(form, "code").split())
    if not code:
        language = request_language(request)
        view = attach_errors(
            FormView(values={"code": ""}),
            language,
            [{"field": "code", "message": translate(language, "reason.missing")}],
        )
        return _render(
            request,
            "receipt_lookup.html",
            {"form": view, "field_id": field_id},
            status_code=422,
            private=True,
        )
    return RedirectResponse(_receipt_path(code), status_code=303)


@router.get("/r/{code}", response_class=HTMLResponse)
def receipt_page(request: Request, code: str, session: SessionDep) -> HTMLResponse:
    try:
        report = _open_report(request, session, code)
    except DomainError as error:
        return _error_page(request, error)
    return _status_page(request, session, report, code)


def _after(code: str, done: str) -> RedirectResponse:
    # Post/redirect/get, so reloading the page cannot post the same update twice.
    return RedirectResponse(f"{_receipt_path(code)}?done={done}", status_code=303)


def _status_with_errors(
    request: Request,
    session: Session,
    report: Report,
    code: str,
    values: dict[str, str],
    errors: list[dict[str, Any]],
    status_code: int,
) -> HTMLResponse:
    view = attach_errors(FormView(values=values), request_language(request), errors)
    return _status_page(request, session, report, code, view=view, status_code=status_code)


@router.post("/r/{code}/update", response_model=None)
def post_update(request: Request, code: str, session: SessionDep, form: FormDep) -> Response:
    language = request_language(request)
    text = form.get("text")
    values = {"text": text if isinstance(text, str) else ""}
    try:
        report = _open_report(request, session, code)
    except DomainError as error:
        return _error_page(request, error)
    try:
        update = ReportUpdateIn.model_validate(values)
        report_service.append_update(session, report=report, text=update.text)
    except ValidationError as error:
        errors = _validation_errors(language, error)
        return _status_with_errors(request, session, report, code, values, errors, 422)
    except DomainError as error:
        session.rollback()
        errors = _domain_errors(language, error)
        return _status_with_errors(
            request, session, report, code, values, errors, error.status_code
        )
    return _after(code, "update")


@router.post("/r/{code}/evidence", response_model=None)
def post_evidence(
    request: Request, code: str, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    language = request_language(request)
    uploads = _uploads(form)
    try:
        report = _open_report(request, session, code)
    except DomainError as error:
        return _error_page(request, error)
    try:
        if not uploads:
            raise FieldError("evidence", "missing")
        report_service.add_evidence(
            session,
            report=report,
            uploads=uploads,
            evidence_dir=settings.evidence_dir,
            evidence_limits=evidence_limits(settings),
        )
    except DomainError as error:
        session.rollback()
        errors = _domain_errors(language, error)
        return _status_with_errors(request, session, report, code, {}, errors, error.status_code)
    return _after(code, "evidence")


@router.post("/r/{code}/withdraw", response_model=None)
def post_withdraw(request: Request, code: str, session: SessionDep, form: FormDep) -> Response:
    language = request_language(request)
    try:
        report = _open_report(request, session, code)
    except DomainError as error:
        return _error_page(request, error)
    if form_text(form, "confirm") != "yes":
        errors = [{"field": "confirm", "message": translate(language, "withdraw.confirm_needed")}]
        return _status_with_errors(request, session, report, code, {"confirm": ""}, errors, 422)
    report_service.withdraw_report(session, report=report, hooks=request.app.state.report_hooks)
    return _after(code, "withdrawn")
