"""The report submission contract (JSON and the web form share it) and what comes back."""

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from api.evidence.schemas import EvidenceRead
from api.reports.models import ContactChannel, GrievanceCategory, ReportStatus

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2, allow_inf_nan=False)]


def _month(value: str) -> str:
    if not _MONTH_RE.match(value):
        raise PydanticCustomError("month_format", "must be a month as YYYY-MM")
    if value < "2000-01":
        raise PydanticCustomError("month_too_early", "cannot be before 2000")
    return value


def _unique_categories(values: list[GrievanceCategory]) -> list[GrievanceCategory]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_items", "lists the same item twice")
    return values


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "cannot be blank")
    return value.strip()


YearMonth = Annotated[str, AfterValidator(_month)]
# Length limits on the string itself (so errors say "string_too_long"), then the blank check.
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)
]
NameText = Annotated[
    str, StringConstraints(min_length=1, max_length=120), AfterValidator(_not_blank)
]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=20000), AfterValidator(_not_blank)
]
UpdateText = Annotated[
    str, StringConstraints(min_length=1, max_length=5000), AfterValidator(_not_blank)
]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class PaymentIn(Schema):
    due_on: date
    amount: Money


class ScheduleIn(Schema):
    installments: int
    amount: Money
    every: Literal["month", "week", "day"] = "month"


class DeductionIn(Schema):
    """Something taken off the loan before it was paid out (service, membership, insurance…)."""

    name: Annotated[str, Field(max_length=60)]
    amount: Money


class LoanIn(Schema):
    contract_principal: Money | None = None
    net_received: Money
    received_on: date | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    payments: Annotated[list[PaymentIn], Field(max_length=600)] | None = None
    schedule: ScheduleIn | None = None
    deductions: Annotated[list[DeductionIn], Field(max_length=20)] = []
    disclosed_apr_percent: Annotated[Decimal, Field(ge=0, le=10000, decimal_places=4)] | None = None


class ContactAttemptIn(Schema):
    channel: ContactChannel
    attempted_on: date | None = None
    outcome: Annotated[str, Field(max_length=1000)] = ""


class ReportSubmission(Schema):
    lender: NameText
    product: Annotated[str, Field(max_length=120)] | None = None
    categories: Annotated[
        list[GrievanceCategory],
        Field(min_length=1, max_length=len(GrievanceCategory)),
        AfterValidator(_unique_categories),
    ]
    title: ShortText
    narrative: LongText
    province: Annotated[str, Field(max_length=40)] | None = None
    first_incident_month: YearMonth | None = None
    loan: LoanIn | None = None
    attempts: Annotated[list[ContactAttemptIn], Field(max_length=20)] = []


class RedactionOut(BaseModel):
    field: Literal["title", "narrative"]
    kind: str
    start: int
    end: int


class ReportPreview(BaseModel):
    redacted_title: str
    redacted_narrative: str
    redactions: list[RedactionOut]
    loan_cost: dict[str, Any] | None
    lender_key: str | None
    lender_name_zh: str | None
    lender_name_en: str | None
    region_code: str | None


class ReportReceipt(BaseModel):
    """Returned once: the code is not stored and cannot be shown again."""

    report_id: str
    receipt_code: str


class ReportUpdateIn(Schema):
    text: UpdateText


class ReportUpdateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    body: str
    submitted_at: datetime


class ReceiptStatus(BaseModel):
    """What the holder of a receipt code sees: the stored, redacted report."""

    report_id: str
    status: ReportStatus
    lender: str
    lender_key: str | None
    product: str | None
    categories: list[str]
    title: str
    narrative: str
    region_code: str | None
    first_incident_month: str | None
    loan_cost: dict[str, Any] | None
    contact_attempts: list[dict[str, Any]]
    submitted_at: datetime
    withdrawn_at: datetime | None
    updates: list[ReportUpdateRead]
    evidence: list[EvidenceRead]
