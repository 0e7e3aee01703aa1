from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from api.config import Settings, SettingsDep
from api.db import SessionDep
from api.errors import TooManyRequests
from api.evidence.service import EvidenceLimits, EvidenceUpload
from api.i18n import request_language
from api.reports import service as report_service
from api.reports.models import ReportSource
from api.reports.schemas import (
    ReceiptStatus,
    ReportPreview,
    ReportReceipt,
    ReportSubmission,
    ReportUpdateIn,
    ReportUpdateRead,
)

router = APIRouter(prefix="/api/v1", tags=["reports"])

_ERRORS = {
    404: {"description": "No report has this receipt code"},
    409: {"description": "The report was withdrawn"},
    422: {"description": "A field is invalid; the body names it and says why"},
    429: {"description": "Too many receipt look-ups from this client"},
}


def evidence_limits(settings: Settings) -> EvidenceLimits:
    return EvidenceLimits(settings.evidence_max_files, settings.evidence_max_bytes)


def limit_receipt_lookups(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    if not request.app.state.receipt_limiter.allow(client):
        raise TooManyRequests()


ReceiptLookup = Depends(limit_receipt_lookups)


@router.post("/reports/preview", response_model=ReportPreview, responses=_ERRORS)
def preview_report(
    submission: ReportSubmission, request: Request, session: SessionDep
) -> ReportPreview:
    """Show what would be stored: redacted title and narrative, removed spans, loan cost."""
    return report_service.preview_report(session, submission, request.app.state.lender_directory)


@router.post(
    "/reports",
    response_model=ReportReceipt,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
async def submit_report(
    submission: ReportSubmission, request: Request, settings: SettingsDep
) -> ReportReceipt:
    """File an anonymous report. The receipt code in the answer is shown only this once."""
    # Checking, costing and redacting need no database and run here on the event loop, off the
    # thread pool whose threads would otherwise compete with the loop for the interpreter lock.
    # The writes and the commit then go to the pool in one trip, in a session of their own: the
    # session dependency would take a second trip to commit. This is the busiest endpoint
    # (bench/intake.py).
    prepared = report_service.prepare_report(
        submission,
        language=request_language(request),
        source=ReportSource.api,
        evidence_limits=evidence_limits(settings),
    )

    def store_and_commit() -> report_service.FiledReport:
        with request.app.state.sessionmaker() as session:
            filed = report_service.store_report(
                session,
                prepared,
                evidence_dir=settings.evidence_dir,
                evidence_limits=evidence_limits(settings),
                hooks=request.app.state.report_hooks,
                lenders=request.app.state.lender_directory,
            )
            session.commit()
        return filed

    filed = await run_in_threadpool(store_and_commit)
    return ReportReceipt(report_id=filed.report_id, receipt_code=filed.receipt_code)


@router.get(
    "/receipts/{code}",
    response_model=ReceiptStatus,
    responses=_ERRORS,
    dependencies=[ReceiptLookup],
)
def read_receipt(code: str, session: SessionDep) -> ReceiptStatus:
    """The report behind a receipt code: status and the stored (redacted) content."""
    report = report_service.get_report_by_receipt(session, code)
    return report_service.receipt_status(session, report)


@router.post(
    "/receipts/{code}/updates",
    response_model=ReportUpdateRead,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
    dependencies=[ReceiptLookup],
)
def append_update(code: str, update: ReportUpdateIn, session: SessionDep) -> ReportUpdateRead:
    """Add a fact to the report; what was filed before stays as it was."""
    report = report_service.get_report_by_receipt(session, code)
    return ReportUpdateRead.model_validate(
        report_service.append_update(session, report=report, text=update.text)
    )


@router.post(
    "/receipts/{code}/evidence",
    response_model=ReceiptStatus,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
    dependencies=[ReceiptLookup],
)
def add_evidence(
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="Images, PDF or audio")],
) -> ReceiptStatus:
    """Attach evidence files to the report."""
    uploads = [EvidenceUpload(content=upload.file.read()) for upload in files]
    report = report_service.get_report_by_receipt(session, code)
    report_service.add_evidence(
        session,
        report=report,
        uploads=uploads,
        evidence_dir=settings.evidence_dir,
        evidence_limits=evidence_limits(settings),
    )
    return report_service.receipt_status(session, report)


@router.post(
    "/receipts/{code}/withdraw",
    response_model=ReceiptStatus,
    responses=_ERRORS,
    dependencies=[ReceiptLookup],
)
def withdraw_report(code: str, request: Request, session: SessionDep) -> ReceiptStatus:
    """Withdraw the report: it leaves every later grouping and export at once."""
    report = report_service.get_report_by_receipt(session, code)
    report_service.withdraw_report(session, report=report, hooks=request.app.state.report_hooks)
    return report_service.receipt_status(session, report)
