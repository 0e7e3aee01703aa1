from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class GrievanceCategory(StrEnum):
    """The grievance taxonomy. Codes are stable; labels live in the locale catalogues."""

    refuses_negotiation = "refuses_negotiation"
    opaque_fees = "opaque_fees"
    excessive_cost = "excessive_cost"
    bundled_fees = "bundled_fees"
    abusive_collection = "abusive_collection"
    third_party_contact = "third_party_contact"
    privacy_misuse = "privacy_misuse"
    extra_documents = "extra_documents"
    credit_report = "credit_report"
    unauthorized_deduction = "unauthorized_deduction"
    fake_legal_threats = "fake_legal_threats"
    no_response = "no_response"
    other = "other"


class ReportStatus(StrEnum):
    active = "active"
    withdrawn = "withdrawn"
    excluded = "excluded"
    duplicate = "duplicate"


class ReportSource(StrEnum):
    web_form = "web_form"
    api = "api"
    cfpb_import = "cfpb_import"


class ContactChannel(StrEnum):
    """Where the reporter already tried to resolve the matter."""

    lender = "lender"
    regulator_12378 = "regulator_12378"
    pboc_12363 = "pboc_12363"
    consumer_12315 = "consumer_12315"
    court = "court"
    other = "other"


class Report(Base):
    """One borrower's anonymous account. Holds redacted text only, and no identity at all."""

    __tablename__ = "report"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[ReportStatus] = mapped_column(String(16), index=True)
    source: Mapped[ReportSource] = mapped_column(String(16))
    # Id in the source system for imports, so importing the same file twice adds nothing.
    source_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(2))

    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lender.id"), index=True)
    lender_name_typed: Mapped[str] = mapped_column(String(120))
    lender_name_key: Mapped[str] = mapped_column(String(120), index=True)
    product: Mapped[str | None] = mapped_column(String(120))
    categories: Mapped[list[str]] = mapped_column(JsonColumn)
    # Labels from an imported source (e.g. CFPB Issue/Sub-issue), kept beside our codes.
    source_labels: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)

    title: Mapped[str] = mapped_column(String(400))
    narrative: Mapped[str] = mapped_column(Text)
    redaction_counts: Mapped[dict[str, int]] = mapped_column(JsonColumn)
    region_code: Mapped[str | None] = mapped_column(String(8), index=True)
    first_incident_month: Mapped[str | None] = mapped_column(String(7))

    currency: Mapped[str | None] = mapped_column(String(3))
    contract_principal: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    net_received: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    received_on: Mapped[date | None]
    payments: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonColumn)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)
    disclosed_apr_percent: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    apr_nominal: Mapped[float | None] = mapped_column(Float)
    apr_effective: Mapped[float | None] = mapped_column(Float)
    is_above_24: Mapped[bool | None] = mapped_column(Boolean)
    is_above_36: Mapped[bool | None] = mapped_column(Boolean)
    is_above_4lpr: Mapped[bool | None] = mapped_column(Boolean)
    loan_cost: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)

    contact_attempts: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn)
    duplicate_of_id: Mapped[str | None] = mapped_column(ForeignKey("report.id"))

    # Minute precision only (see api.db.utc_minute_now).
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class ReportUpdate(Base):
    """A fact the reporter added later. Appended, never overwriting what was filed."""

    __tablename__ = "report_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    redaction_counts: Mapped[dict[str, int]] = mapped_column(JsonColumn)
    submitted_at: Mapped[datetime]
