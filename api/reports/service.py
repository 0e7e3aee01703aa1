"""Filing, previewing, reading, updating and withdrawing reports.

Every piece of free text is redacted before it reaches a model object, so nothing but redacted
text can be flushed to the database.
"""

import csv
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from aggregation.loan_cost import (
    LoanCost,
    LoanCostError,
    LoanFacts,
    LoanPayment,
    LprHistory,
    RegularSchedule,
    compute_loan_cost,
)
from aggregation.redaction import RedactionResult, redact_text
from aggregation.text import normalize_name
from api.audit import service as audit_service
from api.config import PACKAGE_DATA_DIR
from api.db import call_after_commit, utc_minute_now
from api.errors import Conflict, FieldError, NotFound
from api.evidence import service as evidence_service
from api.evidence.schemas import EvidenceRead
from api.evidence.service import EvidenceLimits, EvidenceUpload
from api.lenders import service as lender_service
from api.lenders.models import Lender
from api.lenders.service import KnownLender, LenderDirectory
from api.reports.models import (
    GrievanceCategory,
    Report,
    ReportSource,
    ReportStatus,
    ReportUpdate,
)
from api.reports.schemas import (
    LoanIn,
    ReceiptStatus,
    RedactionOut,
    ReportPreview,
    ReportSubmission,
    ReportUpdateRead,
)
from api.security import new_receipt_code, receipt_hash

ReportHook = Callable[[Session, Report], None]
FiledHook = Callable[[str], None]


@dataclass
class ReportHooks:
    """What higher domains do when a report is filed or withdrawn.

    Reports sit below clusters and campaigns and cannot import them, so the application
    (api.main) registers their reactions here: `filed` hooks get a new report's id once its
    transaction has committed (queueing it for its cluster); `withdrawn` hooks run inside the
    withdrawal's transaction (removing the reporter's identity from campaigns not yet filed).
    """

    filed: list[FiledHook] = field(default_factory=list)
    withdrawn: list[ReportHook] = field(default_factory=list)


NO_HOOKS = ReportHooks()


@dataclass(frozen=True)
class Region:
    code: str
    name_zh: str
    name_en: str


@lru_cache(maxsize=1)
def _regions() -> tuple[dict[str, Region], dict[str, str]]:
    by_code: dict[str, Region] = {}
    by_key: dict[str, str] = {}
    with (PACKAGE_DATA_DIR / "regions.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            region = Region(row["code"], row["name_zh"] or row["name_en"], row["name_en"])
            by_code[region.code] = region
            names = [row["code"], row["name_zh"], row["name_en"], *row["aliases"].split(";")]
            for name in names:
                if name:
                    by_key.setdefault(normalize_name(name), region.code)
    return by_code, by_key


def resolve_region(typed: str) -> str | None:
    """ISO 3166-2 code for a province or state typed as code, Chinese or English name."""
    return _regions()[1].get(normalize_name(typed))


def list_regions(country_code: str) -> list[Region]:
    """Regions of one country (ISO 3166-1 alpha-2), in the shipped file's order."""
    return [r for r in _regions()[0].values() if r.code.startswith(f"{country_code}-")]


def region_by_code(code: str) -> Region | None:
    return _regions()[0].get(code)


@lru_cache(maxsize=1)
def lpr_history() -> LprHistory:
    return LprHistory.from_frame(pd.read_csv(PACKAGE_DATA_DIR / "lpr_1y.csv"))


def loan_facts(loan: LoanIn) -> LoanFacts:
    return LoanFacts(
        net_received=loan.net_received,
        received_on=loan.received_on,
        contract_principal=loan.contract_principal,
        payments=(
            tuple(LoanPayment(due_on=p.due_on, amount=p.amount) for p in loan.payments)
            if loan.payments is not None
            else None
        ),
        schedule=(
            RegularSchedule(
                installments=loan.schedule.installments,
                amount=loan.schedule.amount,
                every=loan.schedule.every,
            )
            if loan.schedule is not None
            else None
        ),
    )


def compute_cost(loan: LoanIn | None) -> LoanCost | None:
    if loan is None:
        return None
    try:
        return compute_loan_cost(loan_facts(loan), lpr_history())
    except LoanCostError as error:
        raise FieldError(error.field, error.code, **error.params) from error


@dataclass(frozen=True)
class RedactedSubmission:
    title: RedactionResult
    narrative: RedactionResult
    product: str | None
    attempts: list[dict[str, Any]]
    redaction_counts: dict[str, int]


def _redact_submission(submission: ReportSubmission) -> RedactedSubmission:
    title = redact_text(submission.title)
    narrative = redact_text(submission.narrative)
    product = redact_text(submission.product).text if submission.product else None
    attempts = []
    outcomes = []
    for attempt in submission.attempts:
        outcome = redact_text(attempt.outcome)
        outcomes.append(outcome)
        attempts.append(
            {
                "channel": str(attempt.channel),
                "attempted_on": attempt.attempted_on.isoformat() if attempt.attempted_on else None,
                "outcome": outcome.text,
            }
        )
    counts = _count_redactions(title, narrative, *outcomes)
    return RedactedSubmission(title, narrative, product, attempts, counts)


def _check_month(submission: ReportSubmission, now: datetime) -> None:
    if submission.first_incident_month and submission.first_incident_month > now.strftime("%Y-%m"):
        raise FieldError("first_incident_month", "month_in_future")


def _check_region(submission: ReportSubmission) -> str | None:
    if not submission.province:
        return None
    code = resolve_region(submission.province)
    if code is None:
        raise FieldError("province", "unknown_region")
    return code


def _resolve_lender(
    session: Session, typed_name: str, lenders: LenderDirectory | None
) -> Lender | KnownLender | None:
    if lenders is None:
        return lender_service.resolve_lender(session, typed_name)
    return lenders.resolve(session, typed_name)


def _check_facts(submission: ReportSubmission, now: datetime) -> tuple[str | None, LoanCost | None]:
    """Month, region and loan checked in that order: the region's code and the loan's cost."""
    _check_month(submission, now)
    return _check_region(submission), compute_cost(submission.loan)


def preview_report(
    session: Session, submission: ReportSubmission, lenders: LenderDirectory | None = None
) -> ReportPreview:
    """What would be stored: the redacted text with the spans removed, and the loan's cost."""
    region_code, cost = _check_facts(submission, utc_minute_now())
    redacted = _redact_submission(submission)
    lender = _resolve_lender(session, submission.lender, lenders)
    spans = [
        RedactionOut(field=field, kind=str(r.kind), start=r.start, end=r.end)
        for field, result in (("title", redacted.title), ("narrative", redacted.narrative))
        for r in result.redactions
    ]
    return ReportPreview(
        redacted_title=redacted.title.text,
        redacted_narrative=redacted.narrative.text,
        redactions=spans,
        loan_cost=cost.as_dict() if cost else None,
        lender_key=lender.key if lender else None,
        lender_name_zh=lender.name_zh if lender else None,
        lender_name_en=lender.name_en if lender else None,
        region_code=region_code,
    )


def _loan_columns(loan: LoanIn | None, cost: LoanCost | None) -> dict[str, Any]:
    if loan is None or cost is None:
        return {}
    return {
        "currency": loan.currency,
        "contract_principal": loan.contract_principal,
        "net_received": loan.net_received,
        "received_on": loan.received_on,
        "payments": (
            [{"due_on": p.due_on.isoformat(), "amount": str(p.amount)} for p in loan.payments]
            if loan.payments is not None
            else None
        ),
        "schedule": loan.schedule.model_dump(mode="json") if loan.schedule else None,
        "disclosed_apr_percent": loan.disclosed_apr_percent,
        "apr_nominal": cost.apr_nominal,
        "apr_effective": cost.apr_effective,
        "is_above_24": cost.flags.get("above_24"),
        "is_above_36": cost.flags.get("above_36"),
        "is_above_4lpr": cost.flags.get("above_4lpr"),
        "loan_cost": {
            **cost.as_dict(),
            "deductions": [d.model_dump(mode="json") for d in loan.deductions],
        },
    }


@dataclass(frozen=True)
class FiledReport:
    report_id: str
    # Shown to the reporter once and stored nowhere: the database keeps only its hash.
    receipt_code: str


@dataclass(frozen=True)
class PreparedReport:
    """A submission checked, costed and redacted, with its id and receipt code: everything
    filing needs except the lender's database id."""

    filed: FiledReport
    typed_lender: str
    # The report's columns, apart from `lender_id`; only redacted text.
    columns: dict[str, Any]
    audit_details: dict[str, Any]


def prepare_report(
    submission: ReportSubmission,
    *,
    language: str,
    source: ReportSource,
    evidence: Sequence[EvidenceUpload] = (),
    evidence_limits: EvidenceLimits,
) -> PreparedReport:
    """Check, cost and redact a submission without touching the database; raises the first
    problem found as a `FieldError`. Pure CPU, so the API can run it outside its thread pool."""
    now = utc_minute_now()
    region_code, cost = _check_facts(submission, now)
    evidence_service.check_uploads(list(evidence), evidence_limits)
    redacted = _redact_submission(submission)
    filed = FiledReport(uuid.uuid4().hex, new_receipt_code())
    columns = {
        "id": filed.report_id,
        "receipt_hash": receipt_hash(filed.receipt_code),
        "status": ReportStatus.active.value,
        "source": source.value,
        "language": language,
        "lender_name_typed": submission.lender,
        "lender_name_key": normalize_name(submission.lender),
        "product": redacted.product,
        "categories": [str(category) for category in submission.categories],
        "title": redacted.title.text,
        "narrative": redacted.narrative.text,
        "redaction_counts": redacted.redaction_counts,
        "region_code": region_code,
        "first_incident_month": submission.first_incident_month,
        "contact_attempts": redacted.attempts,
        "submitted_at": now,
        "updated_at": now,
        **_loan_columns(submission.loan, cost),
    }
    audit_details = {
        "source": str(source),
        "evidence_files": len(evidence),
        "redactions": redacted.redaction_counts,
    }
    return PreparedReport(filed, submission.lender, columns, audit_details)


# Built once: a statement object remembers its cache key, which is otherwise worked out again on
# every execution.
_INSERT_REPORT = insert(Report.__table__)


def store_report(
    session: Session,
    prepared: PreparedReport,
    *,
    evidence: Sequence[EvidenceUpload] = (),
    evidence_dir: Path,
    evidence_limits: EvidenceLimits,
    hooks: ReportHooks = NO_HOOKS,
    lenders: LenderDirectory | None = None,
) -> FiledReport:
    """Write a prepared report, its evidence and its audit event; `hooks.filed` run with the
    report's id after the caller's commit.

    The rows are written with plain INSERTs at once rather than as ORM objects: this is the
    busiest write in the service, and the ORM's unit of work cost more CPU than the rest of the
    request (bench/intake.py). They go through the session's connection, since the session's
    own execute adds ORM handling a plain INSERT does not need. `lenders` is the process's
    memory of mapped lender names; without it the name is looked up in the database.
    """
    lender = _resolve_lender(session, prepared.typed_lender, lenders)
    report_id = prepared.filed.report_id
    session.connection().execute(
        _INSERT_REPORT,
        {**prepared.columns, "lender_id": lender.id if lender else None},
    )
    if evidence:
        evidence_service.store_evidence(
            session,
            storage_dir=evidence_dir,
            report_id=report_id,
            uploads=list(evidence),
            limits=evidence_limits,
        )
    audit_service.insert_event(
        session,
        occurred_at=prepared.columns["submitted_at"],
        actor="reporter",
        action="report.submitted",
        subject_type="report",
        subject_id=report_id,
        details=prepared.audit_details,
    )
    for hook in hooks.filed:
        call_after_commit(session, partial(hook, report_id))
    return prepared.filed


def submit_report(
    session: Session,
    *,
    submission: ReportSubmission,
    language: str,
    source: ReportSource,
    evidence: Sequence[EvidenceUpload] = (),
    evidence_dir: Path,
    evidence_limits: EvidenceLimits,
    hooks: ReportHooks = NO_HOOKS,
    lenders: LenderDirectory | None = None,
) -> tuple[Report, str]:
    """`prepare_report` then `store_report` (nothing is written when a check fails), returning
    the stored report itself with the receipt code, for pages that show it and for callers that
    go on working with it."""
    prepared = prepare_report(
        submission,
        language=language,
        source=source,
        evidence=evidence,
        evidence_limits=evidence_limits,
    )
    filed = store_report(
        session,
        prepared,
        evidence=evidence,
        evidence_dir=evidence_dir,
        evidence_limits=evidence_limits,
        hooks=hooks,
        lenders=lenders,
    )
    report = session.get(Report, filed.report_id)
    assert report is not None
    return report, filed.receipt_code


IMPORTED_TITLE_MAX_CHARS = 80
_SENTENCE_BREAK_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
_TITLE_MIN_WORDS = 5


def _count_redactions(*results: RedactionResult) -> dict[str, int]:
    counts = Counter(str(r.kind) for result in results for r in result.redactions)
    return dict(sorted(counts.items()))


def _title_from_narrative(narrative: str) -> str:
    """The opening of an already redacted narrative, for sources that have no title.

    Sentences are taken until they hold a few real words, so that a greeting ("Hi!") or a run
    of masks ("XX/XX/XXXX :", as CFPB scrubs dates and names) is not the whole title.
    """
    title = ""
    for sentence in _SENTENCE_BREAK_RE.split(narrative.strip()):
        title = f"{title} {' '.join(sentence.split())}".strip()
        words = [word for word in _WORD_RE.findall(title) if word.strip("Xx")]
        if len(words) >= _TITLE_MIN_WORDS or len(title) >= IMPORTED_TITLE_MAX_CHARS:
            break
    if len(title) <= IMPORTED_TITLE_MAX_CHARS:
        return title
    cut = title[: IMPORTED_TITLE_MAX_CHARS - 1]
    if " " in cut[IMPORTED_TITLE_MAX_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def import_report(
    session: Session,
    *,
    source: ReportSource,
    source_ref: str,
    source_labels: dict[str, Any],
    language: str,
    lender: Lender | None,
    lender_name: str,
    product: str | None,
    categories: list[GrievanceCategory],
    narrative: str,
    region_code: str | None,
    first_incident_month: str | None,
    submitted_at: datetime,
) -> Report:
    """Add a report taken from another system's record, such as one row of a CFPB export.

    Nobody could hold a receipt code for it, so the stored hash is that of a fresh code that is
    dropped at once. The narrative gets the web form's redaction; the title is the narrative's
    opening, cut only after redaction so that a cut cannot leave half a phone number behind.
    Nothing is flushed and no audit event is written: importers flush in batches and record one
    event per batch.
    """
    redacted = redact_text(narrative)
    report = Report(
        id=uuid.uuid4().hex,
        receipt_hash=receipt_hash(new_receipt_code()),
        status=ReportStatus.active,
        source=source,
        source_ref=source_ref,
        language=language,
        lender_id=lender.id if lender else None,
        lender_name_typed=lender_name,
        lender_name_key=normalize_name(lender_name),
        product=redact_text(product).text if product else None,
        categories=[str(category) for category in categories],
        source_labels=source_labels,
        title=_title_from_narrative(redacted.text),
        narrative=redacted.text,
        redaction_counts=_count_redactions(redacted),
        region_code=region_code,
        first_incident_month=first_incident_month,
        contact_attempts=[],
        submitted_at=submitted_at,
        updated_at=submitted_at,
    )
    session.add(report)
    return report


def get_report_by_receipt(session: Session, code: str) -> Report:
    report = session.scalar(select(Report).where(Report.receipt_hash == receipt_hash(code)))
    if report is None:
        raise NotFound("error.receipt_not_found")
    return report


def receipt_status(session: Session, report: Report) -> ReceiptStatus:
    lender = session.get(Lender, report.lender_id) if report.lender_id else None
    updates = session.scalars(
        select(ReportUpdate).where(ReportUpdate.report_id == report.id).order_by(ReportUpdate.id)
    )
    return ReceiptStatus(
        report_id=report.id,
        status=report.status,
        lender=lender.name_zh if lender else report.lender_name_typed,
        lender_key=lender.key if lender else None,
        product=report.product,
        categories=report.categories,
        title=report.title,
        narrative=report.narrative,
        region_code=report.region_code,
        first_incident_month=report.first_incident_month,
        loan_cost=report.loan_cost,
        contact_attempts=report.contact_attempts,
        submitted_at=report.submitted_at,
        withdrawn_at=report.withdrawn_at,
        updates=[ReportUpdateRead.model_validate(update) for update in updates],
        evidence=[
            EvidenceRead.model_validate(item)
            for item in evidence_service.list_evidence(session, report.id)
        ],
    )


def _require_open(report: Report) -> None:
    if report.status == ReportStatus.withdrawn:
        raise Conflict("error.report_withdrawn")


def append_update(session: Session, *, report: Report, text: str) -> ReportUpdate:
    _require_open(report)
    now = utc_minute_now()
    redacted = redact_text(text)
    counts = _count_redactions(redacted)
    update = ReportUpdate(
        report_id=report.id, body=redacted.text, redaction_counts=counts, submitted_at=now
    )
    session.add(update)
    report.updated_at = now
    audit_service.record_event(
        session,
        occurred_at=now,
        actor="reporter",
        action="report.updated",
        subject_type="report",
        subject_id=report.id,
        details={"redactions": counts},
    )
    return update


def add_evidence(
    session: Session,
    *,
    report: Report,
    uploads: list[EvidenceUpload],
    evidence_dir: Path,
    evidence_limits: EvidenceLimits,
) -> None:
    _require_open(report)
    now = utc_minute_now()
    evidence_service.store_evidence(
        session,
        storage_dir=evidence_dir,
        report_id=report.id,
        uploads=uploads,
        limits=evidence_limits,
    )
    report.updated_at = now
    audit_service.record_event(
        session,
        occurred_at=now,
        actor="reporter",
        action="report.evidence_added",
        subject_type="report",
        subject_id=report.id,
        details={"evidence_files": len(uploads)},
    )


def withdraw_report(session: Session, *, report: Report, hooks: ReportHooks = NO_HOOKS) -> Report:
    """Withdraw: the report stays (evidence is never destroyed silently) but leaves every
    later grouping and export, which select active reports only."""
    if report.status == ReportStatus.withdrawn:
        return report
    now = utc_minute_now()
    report.status = ReportStatus.withdrawn
    report.withdrawn_at = now
    report.updated_at = now
    audit_service.record_event(
        session,
        occurred_at=now,
        actor="reporter",
        action="report.withdrawn",
        subject_type="report",
        subject_id=report.id,
    )
    for hook in hooks.withdrawn:
        hook(session, report)
    return report


def list_unmapped_lender_names(session: Session, limit: int = 100) -> list[tuple[str, str, int]]:
    """Names typed for lenders nobody has mapped yet: (name key, an example, report count)."""
    rows = session.execute(
        select(
            Report.lender_name_key,
            func.min(Report.lender_name_typed),
            func.count(Report.id),
        )
        .where(Report.lender_id.is_(None))
        .group_by(Report.lender_name_key)
        .order_by(func.count(Report.id).desc(), Report.lender_name_key)
        .limit(limit)
    ).all()
    return [(key, example, count) for key, example, count in rows]


def map_lender_name(session: Session, *, name_key: str, lender: Lender) -> int:
    """Resolve an unmapped name: add it as the lender's alias and relink the reports using it."""
    example = session.scalar(
        select(Report.lender_name_typed).where(Report.lender_name_key == name_key).limit(1)
    )
    lender_service.add_alias(session, lender=lender, alias=example or name_key)
    reports = session.scalars(
        select(Report).where(Report.lender_name_key == name_key, Report.lender_id.is_(None))
    ).all()
    for report in reports:
        report.lender_id = lender.id
    return len(reports)
