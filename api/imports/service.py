"""Importing CFPB Consumer Complaint Database exports (CSV, or CSV gzipped) as reports.

Each complaint becomes an active report with source `cfpb_import` and `source_ref`
"cfpb:<Complaint ID>", so importing a file twice adds nothing. Rows that cannot become a report
are skipped and counted by reason; one audit event records the whole batch.
"""

import csv
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregation.text import normalize_name
from api.audit import service as audit_service
from api.config import PACKAGE_DATA_DIR
from api.db import utc_minute_now
from api.lenders import service as lender_service
from api.lenders.models import Lender, LenderKind
from api.reports import service as report_service
from api.reports.models import GrievanceCategory, Report, ReportSource

logger = logging.getLogger(__name__)

CFPB_DEMO_FILE = PACKAGE_DATA_DIR / "demo" / "cfpb_payday_personal_loans.csv.gz"
CFPB_CATEGORY_FILE = PACKAGE_DATA_DIR / "cfpb_issue_categories.csv"
SOURCE_REF_PREFIX = "cfpb:"
# Flushing per row costs a round trip each; a few hundred at a time keeps memory flat.
BATCH_SIZE = 500

# Column names of the CFPB export, spelled here only.
COMPLAINT_ID = "Complaint ID"
DATE_RECEIVED = "Date received"
NARRATIVE = "Consumer complaint narrative"
COMPANY = "Company"
STATE = "State"
# Kept verbatim in `report.source_labels`, beside the category codes mapped from them.
LABEL_COLUMNS = {
    "product": "Product",
    "sub_product": "Sub-product",
    "issue": "Issue",
    "sub_issue": "Sub-issue",
    "company_response": "Company response to consumer",
    "tags": "Tags",
}
REQUIRED_COLUMNS = (COMPLAINT_ID, DATE_RECEIVED, NARRATIVE, COMPANY, STATE, *LABEL_COLUMNS.values())

# The website's export writes 03/22/23; the bulk download (complaints.csv) writes 2023-03-22.
_DATE_FORMATS = ("%m/%d/%y", "%Y-%m-%d", "%m/%d/%Y")
# The same floor as a month typed into the web form.
_EARLIEST_DATE = date(2000, 1, 1)
# The website's export writes the literal "None" where a complaint has no Sub-issue, Tags…
_BLANK_VALUES = frozenset({"", "None", "N/A"})
_COMPLAINT_ID_RE = re.compile(r"[0-9]{1,20}")
_LENDER_NAME_MAX = Report.__table__.c.lender_name_typed.type.length
_LENDER_KEY_MAX = Lender.__table__.c.key.type.length
_PRODUCT_MAX = Report.__table__.c.product.type.length
# CFPB says nothing about a company's charter. Most companies complained about under payday,
# title and personal loans are non-bank small-dollar lenders, the nearest kind to a Chinese
# small-loan company (小额贷款公司); an admin corrects the few banks by hand.
_IMPORTED_LENDER_KIND = LenderKind.small_loan
_IMPORTED_LENDER_NOTES = "Added by the CFPB import from the company name; kind not verified."


class ImportFileError(ValueError):
    """The file as a whole cannot be read as a CFPB export; nothing was imported."""


@dataclass(frozen=True)
class ImportCounts:
    rows: int
    imported: int
    # Reason → number of rows skipped for it.
    skipped: dict[str, int]
    lenders_created: int

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _label_key(label: str) -> str:
    return " ".join(label.casefold().split())


@lru_cache(maxsize=1)
def issue_categories() -> dict[tuple[str, str], tuple[GrievanceCategory, ...]]:
    """(Issue, Sub-issue) → category codes from the shipped table; a blank Sub-issue means any.

    A row naming a Sub-issue replaces its Issue's categories for that Sub-issue, so that, for
    instance, a collector's "False statements: Attempted to collect wrong amount" is about
    opaque fees rather than fake legal threats.
    """
    table: dict[tuple[str, str], list[GrievanceCategory]] = {}
    with CFPB_CATEGORY_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (_label_key(row["cfpb_issue"]), _label_key(row["cfpb_sub_issue"]))
            table.setdefault(key, []).append(GrievanceCategory(row["category"]))
    order = list(GrievanceCategory)
    return {key: tuple(sorted(set(codes), key=order.index)) for key, codes in table.items()}


def categories_for(issue: str | None, sub_issue: str | None) -> list[GrievanceCategory]:
    """Our categories for a CFPB Issue and Sub-issue; `other` when the table has no row."""
    table = issue_categories()
    issue_key = _label_key(issue or "")
    codes = table.get((issue_key, _label_key(sub_issue or ""))) or table.get((issue_key, ""))
    return list(codes) if codes else [GrievanceCategory.other]


def read_cfpb_csv(path: Path, limit: int | None = None) -> pd.DataFrame:
    """The export's first `limit` rows, every cell a string ("" when empty)."""
    try:
        # Strings only: pandas would otherwise read CFPB's "None" as NaN and IDs as numbers.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=limit)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ImportFileError(f"cannot read {path.name} as CSV: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ImportFileError(f"{path.name} is not a CFPB export; missing: {', '.join(missing)}")
    return frame


def _parse_dates(values: pd.Series) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for date_format in _DATE_FORMATS:
        attempt = pd.to_datetime(values.str.strip(), format=date_format, errors="coerce")
        parsed = parsed.fillna(attempt)
    return parsed


def _value(cell: str) -> str | None:
    text = cell.strip()
    return None if text in _BLANK_VALUES else text


def _region_code(state: str | None) -> str | None:
    if state is None:
        return None
    # CFPB's State is a USPS code; the prefix keeps it from matching another country's region.
    return report_service.resolve_region(f"US-{state}")


class _LenderCache:
    """Each company name is resolved (or its lender created) once per import, not per row."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_alias_key: dict[str, Lender] = {}
        self.created = 0

    def lender_for(self, company: str) -> Lender:
        alias_key = normalize_name(company)
        lender = self.by_alias_key.get(alias_key)
        if lender is None:
            lender = lender_service.resolve_lender(self.session, company) or self._create(company)
            self.by_alias_key[alias_key] = lender
        return lender

    def _create(self, company: str) -> Lender:
        key = lender_service.lender_key_for(company)[:_LENDER_KEY_MAX].strip("-")
        if not key:
            # A name without Latin letters or digits has no slug; its hash is stable instead.
            key = "lender-" + hashlib.sha256(normalize_name(company).encode()).hexdigest()[:12]
        # Names differing only in punctuation ("Inc" / "Inc.") share a key and so a lender.
        lender = lender_service.get_lender_by_key(self.session, key)
        if lender is None:
            lender = Lender(
                key=key,
                name_zh=company,
                name_en=company,
                kind=_IMPORTED_LENDER_KIND,
                notes=_IMPORTED_LENDER_NOTES,
            )
            self.session.add(lender)
            self.session.flush()
            self.created += 1
        lender_service.add_alias(self.session, lender=lender, alias=company)
        return lender


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_cfpb_file(session: Session, path: Path, *, limit: int | None = None) -> ImportCounts:
    """Import a CFPB export's complaints (the first `limit` rows) as reports; never commits."""
    frame = read_cfpb_csv(path, limit)
    received = _parse_dates(frame[DATE_RECEIVED])
    today = utc_minute_now().date()
    taken_refs = set(
        session.scalars(
            select(Report.source_ref).where(Report.source_ref.startswith(SOURCE_REF_PREFIX))
        )
    )
    lenders = _LenderCache(session)
    skipped: Counter[str] = Counter()
    imported = 0
    for position, row in enumerate(frame.to_dict("records")):
        complaint_id = _value(row[COMPLAINT_ID]) or ""
        source_ref = SOURCE_REF_PREFIX + complaint_id
        narrative = _value(row[NARRATIVE])
        company = _value(row[COMPANY])
        received_at = received.iat[position]
        if not _COMPLAINT_ID_RE.fullmatch(complaint_id):
            skipped["bad_complaint_id"] += 1
        elif source_ref in taken_refs:
            skipped["already_imported"] += 1
        elif narrative is None:
            skipped["missing_narrative"] += 1
        elif company is None:
            skipped["missing_company"] += 1
        elif len(company) > _LENDER_NAME_MAX:
            skipped["company_name_too_long"] += 1
        elif pd.isna(received_at) or not _EARLIEST_DATE <= received_at.date() <= today:
            skipped["bad_date"] += 1
        else:
            labels = {name: _value(row[column]) for name, column in LABEL_COLUMNS.items()}
            product = labels["sub_product"] or labels["product"]
            report_service.import_report(
                session,
                source=ReportSource.cfpb_import,
                source_ref=source_ref,
                source_labels=labels,
                language="en",
                lender=lenders.lender_for(company),
                lender_name=company,
                product=product[:_PRODUCT_MAX] if product else None,
                categories=categories_for(labels["issue"], labels["sub_issue"]),
                narrative=narrative,
                region_code=_region_code(_value(row[STATE])),
                # CFPB records no incident date; the day it received the complaint is the
                # latest the incident can have begun.
                first_incident_month=f"{received_at:%Y-%m}",
                submitted_at=datetime(
                    received_at.year, received_at.month, received_at.day, tzinfo=UTC
                ),
            )
            taken_refs.add(source_ref)
            imported += 1
            if imported % BATCH_SIZE == 0:
                session.flush()
                logger.info("CFPB import: %d of %d rows read", position + 1, len(frame))
    session.flush()
    counts = ImportCounts(
        rows=len(frame),
        imported=imported,
        skipped=dict(sorted(skipped.items())),
        lenders_created=lenders.created,
    )
    audit_service.record_event(
        session,
        occurred_at=utc_minute_now(),
        actor="system",
        action="reports.imported",
        subject_type="import_file",
        subject_id=_file_sha256(path),
        details={
            "source": str(ReportSource.cfpb_import),
            "limit": limit,
            "rows": counts.rows,
            "imported": counts.imported,
            "skipped": counts.skipped,
            "lenders_created": counts.lenders_created,
        },
    )
    return counts


def load_demo(session: Session) -> ImportCounts | None:
    """Import the shipped demo set into a database holding no report yet; None otherwise.

    Only an empty database gets it, so demo complaints never mix into real reports.
    """
    if session.scalar(select(Report.id).limit(1)) is not None:
        return None
    return import_cfpb_file(session, CFPB_DEMO_FILE)
