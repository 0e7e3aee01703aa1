"""The CFPB importer, its Issue → category table, and the demo data loaded by `setup`.

`cfpb_sample.csv` holds 17 complaints copied verbatim from the CFPB Consumer Complaint
Database (US government work, public domain; the same rows ship in the demo file), then five
made-up complaints (IDs 99000001–99000005: a phone number and an SSN to redact, a missing
narrative, an impossible date, no company, a debt-collection Sub-issue with an ISO date and an
unknown state) and one repeated Complaint ID.
"""

import csv
import gzip
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.cli import main
from api.config import PROJECT_DIR
from api.imports import service as import_service
from api.imports.service import ImportFileError, import_cfpb_file
from api.lenders import service as lender_service
from api.lenders.models import Lender, LenderKind
from api.reports.models import GrievanceCategory, Report, ReportSource, ReportStatus

SAMPLE = Path(__file__).with_name("cfpb_sample.csv")
SAMPLE_ROWS = 23
SAMPLE_IMPORTED = 19
SAMPLE_COMPANIES = 15
DEMO_COMPLAINTS = 2958


def _report(session: Session, complaint_id: str) -> Report:
    report = session.scalar(select(Report).where(Report.source_ref == f"cfpb:{complaint_id}"))
    assert report is not None, complaint_id
    return report


def _imported_count(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(Report).where(Report.source == ReportSource.cfpb_import)
    )


def test_import_counts_rows_imported_and_skipped_by_reason(db_session: Session) -> None:
    counts = import_cfpb_file(db_session, SAMPLE)

    assert counts.rows == SAMPLE_ROWS
    assert counts.imported == SAMPLE_IMPORTED
    assert counts.skipped == {
        "already_imported": 1,
        "bad_date": 1,
        "missing_company": 1,
        "missing_narrative": 1,
    }
    assert counts.imported + counts.skipped_total == counts.rows
    assert counts.lenders_created == SAMPLE_COMPANIES
    assert _imported_count(db_session) == SAMPLE_IMPORTED


def test_imported_report_is_an_active_anonymous_cfpb_report(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)

    report = _report(db_session, "7101726")
    assert report.source == ReportSource.cfpb_import
    assert report.status == ReportStatus.active
    assert report.language == "en"
    assert report.product == "Personal line of credit"
    assert report.first_incident_month == "2023-06"
    assert report.submitted_at == datetime(2023, 6, 11, tzinfo=UTC)
    assert report.updated_at == report.submitted_at
    assert report.contact_attempts == []
    # Nobody holds a receipt code for an imported report; each still gets its own hash.
    hashes = db_session.scalars(
        select(Report.receipt_hash).where(Report.source == ReportSource.cfpb_import)
    ).all()
    assert len(set(hashes)) == SAMPLE_IMPORTED
    assert all(len(value) == 64 for value in hashes)


def test_title_is_the_opening_of_the_narrative(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)

    short = _report(db_session, "6994004")
    assert short.title == "Made payment nothing was applied to balance."
    for report in db_session.scalars(
        select(Report).where(Report.source == ReportSource.cfpb_import)
    ):
        assert 0 < len(report.title) <= 80
        assert report.narrative.startswith(report.title.removesuffix("…").split()[0])


def test_companies_become_lenders_once_and_existing_lenders_are_reused(
    db_session: Session,
) -> None:
    onemain = Lender(
        key="onemain-financial",
        name_zh="OneMain Financial",
        name_en="OneMain Financial",
        kind=LenderKind.consumer_finance,
    )
    db_session.add(onemain)
    db_session.flush()
    lender_service.add_alias(db_session, lender=onemain, alias="OneMain Finance Corporation")

    counts = import_cfpb_file(db_session, SAMPLE)

    assert counts.lenders_created == SAMPLE_COMPANIES - 1
    for complaint_id in ("7366743", "6385260", "7091085"):
        assert _report(db_session, complaint_id).lender_id == onemain.id
    tmx_reports = [_report(db_session, i) for i in ("7012450", "7152307", "6494224")]
    assert len({report.lender_id for report in tmx_reports}) == 1
    tmx = db_session.get(Lender, tmx_reports[0].lender_id)
    assert tmx is not None
    assert (tmx.key, tmx.name_zh, tmx.name_en, tmx.kind) == (
        "tmx-finance-llc",
        "TMX Finance LLC",
        "TMX Finance LLC",
        LenderKind.small_loan,
    )
    assert lender_service.resolve_lender(db_session, "tmx finance llc") == tmx
    assert tmx_reports[0].lender_name_typed == "TMX Finance LLC"


def test_issues_map_to_categories_and_the_cfpb_labels_are_kept(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)

    improper_use = _report(db_session, "6603811")
    assert improper_use.categories == ["privacy_misuse", "credit_report"]
    assert improper_use.source_labels == {
        "product": "Payday loan, title loan, or personal loan",
        "sub_product": "Installment loan",
        "issue": "Improper use of your report",
        "sub_issue": "Report provided to employer without your written authorization",
        "company_response": "Closed with explanation",
        "tags": None,
    }
    assert _report(db_session, "7341268").categories == ["refuses_negotiation"]
    assert _report(db_session, "12742112").categories == ["unauthorized_deduction"]
    assert _report(db_session, "6494224").categories == ["abusive_collection"]
    assert _report(db_session, "7101726").categories == ["other"]
    # A Sub-issue row replaces its Issue's categories: a wrong amount is not a legal threat.
    collection = _report(db_session, "99000005")
    assert collection.categories == ["opaque_fees"]
    assert collection.source_labels is not None
    assert collection.source_labels["issue"] == "False statements or representation"
    assert collection.first_incident_month == "2024-06"
    assert _report(db_session, "6581941").source_labels["tags"] == "Servicemember"


def test_categories_for_falls_back_to_the_issue_then_to_other() -> None:
    threat = "Took or threatened to take negative or legal action"
    assert import_service.categories_for(threat, "Threatened to sue you for very old debt") == [
        GrievanceCategory.fake_legal_threats
    ]
    assert import_service.categories_for(
        threat, "Threatened or suggested your credit would be damaged"
    ) == [GrievanceCategory.credit_report]
    assert import_service.categories_for("  struggling to pay YOUR loan ", None) == [
        GrievanceCategory.refuses_negotiation
    ]
    assert import_service.categories_for("An issue CFPB has not invented yet", None) == [
        GrievanceCategory.other
    ]
    assert import_service.categories_for(None, None) == [GrievanceCategory.other]


def test_states_map_to_us_region_codes(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)

    assert _report(db_session, "7101726").region_code == "US-CA"
    assert _report(db_session, "6581941").region_code == "US-AE"
    assert _report(db_session, "7321659").region_code is None
    assert _report(db_session, "99000005").region_code is None


def test_narratives_are_redacted_like_the_web_form(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)

    report = _report(db_session, "99000001")
    for text in (report.narrative, report.title):
        assert "867-5309" not in text
        assert "212-56-7890" not in text
    assert "payment plan" in report.narrative
    assert report.redaction_counts == {"ssn": 1, "us_phone": 1}


def test_importing_the_same_file_again_adds_nothing(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE)
    lenders_before = db_session.scalar(select(func.count()).select_from(Lender))

    again = import_cfpb_file(db_session, SAMPLE)

    assert again.imported == 0
    assert again.lenders_created == 0
    assert again.skipped["already_imported"] == SAMPLE_IMPORTED + 1
    assert _imported_count(db_session) == SAMPLE_IMPORTED
    assert db_session.scalar(select(func.count()).select_from(Lender)) == lenders_before


def test_limit_reads_only_the_first_rows(db_session: Session) -> None:
    counts = import_cfpb_file(db_session, SAMPLE, limit=3)

    assert (counts.rows, counts.imported) == (3, 3)
    assert _imported_count(db_session) == 3


def test_gzipped_exports_are_read_too(db_session: Session, tmp_path: Path) -> None:
    packed = tmp_path / "sample.csv.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))

    assert import_cfpb_file(db_session, packed).imported == SAMPLE_IMPORTED


def test_one_audit_event_records_the_batch(db_session: Session) -> None:
    counts = import_cfpb_file(db_session, SAMPLE)

    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "reports.imported")
    ).all()
    assert len(events) == 1
    assert events[0].actor == "system"
    assert events[0].details == {
        "source": "cfpb_import",
        "limit": None,
        "rows": SAMPLE_ROWS,
        "imported": SAMPLE_IMPORTED,
        "skipped": counts.skipped,
        "lenders_created": SAMPLE_COMPANIES,
    }
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action != "reports.imported")
        )
        == 0
    )


def test_a_file_that_is_not_a_cfpb_export_imports_nothing(
    db_session: Session, tmp_path: Path
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("Date received,Company\n01/02/23,Someone\n", encoding="utf-8")

    with pytest.raises(ImportFileError, match="Complaint ID"):
        import_cfpb_file(db_session, other)
    assert _imported_count(db_session) == 0


def test_demo_is_not_loaded_into_a_database_that_holds_reports(db_session: Session) -> None:
    import_cfpb_file(db_session, SAMPLE, limit=1)

    assert import_service.load_demo(db_session) is None
    assert _imported_count(db_session) == 1


def test_every_mapping_row_is_a_known_category_and_covers_every_demo_issue() -> None:
    with import_service.CFPB_CATEGORY_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        GrievanceCategory(row["category"])
    keys = [(row["cfpb_issue"], row["cfpb_sub_issue"], row["category"]) for row in rows]
    assert len(set(keys)) == len(keys)

    demo = pd.read_csv(import_service.CFPB_DEMO_FILE, dtype=str, keep_default_na=False)
    mapped_issues = {row["cfpb_issue"] for row in rows if not row["cfpb_sub_issue"]}
    assert set(demo["Issue"]) <= mapped_issues
    assert len(demo) == DEMO_COMPLAINTS


@pytest.fixture
def cli_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for the in-process CLI: a fresh SQLite database under tmp_path."""
    monkeypatch.delenv("GONGSU_DATABASE_URL", raising=False)
    monkeypatch.setenv("GONGSU_DATA_DIR", str(tmp_path))
    return tmp_path


def _count(data_dir: Path, query: str) -> int:
    with sqlite3.connect(data_dir / "gongsu.db") as connection:
        return connection.execute(query).fetchone()[0]


def test_cli_import_cfpb_prints_counts(
    cli_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0

    assert main(["import-cfpb", str(SAMPLE)]) == 0
    assert main(["import-cfpb", str(SAMPLE), "--limit", "5"]) == 0
    assert main(["import-cfpb", str(cli_data_dir / "missing.csv")]) == 1

    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert f"{SAMPLE_IMPORTED} of {SAMPLE_ROWS} complaints imported, 4 skipped" in lines[0]
    assert "  skipped      1  bad_date" in lines
    assert "0 of 5 complaints imported, 5 skipped, 0 lenders added" in captured.out
    assert "nothing imported" in captured.err
    assert _count(cli_data_dir, "SELECT count(*) FROM report") == SAMPLE_IMPORTED


@pytest.mark.parametrize(("demo", "args"), [("0", []), ("1", ["--no-demo"])])
def test_setup_without_demo_imports_nothing(
    cli_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    demo: str,
    args: list[str],
) -> None:
    monkeypatch.setenv("GONGSU_DEMO", demo)

    assert main(["setup", *args]) == 0

    assert "demo data: not loaded" in capsys.readouterr().out
    assert _count(cli_data_dir, "SELECT count(*) FROM report") == 0


def _setup_in_subprocess(data_dir: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GONGSU_")}
    env.update(GONGSU_DATA_DIR=str(data_dir), GONGSU_DEMO="1")
    result = subprocess.run(
        [sys.executable, "-m", "api", "setup"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_setup_loads_the_demo_into_an_empty_database_once(tmp_path: Path) -> None:
    output = _setup_in_subprocess(tmp_path)

    assert f"{DEMO_COMPLAINTS} of {DEMO_COMPLAINTS} complaints imported" in output
    assert _count(tmp_path, "SELECT count(*) FROM report") == DEMO_COMPLAINTS
    # Every demo report has a lender to be grouped by, and is grouped at once.
    assert _count(tmp_path, "SELECT count(*) FROM report WHERE lender_id IS NULL") == 0
    assert _count(tmp_path, "SELECT count(*) FROM clustering_run WHERE status = 'succeeded'") == 1
    assert _count(tmp_path, "SELECT count(*) FROM cluster_membership") == DEMO_COMPLAINTS

    output = _setup_in_subprocess(tmp_path)

    assert "already holds reports" in output
    assert _count(tmp_path, "SELECT count(*) FROM report") == DEMO_COMPLAINTS
