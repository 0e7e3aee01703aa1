"""Cluster review requests and responses (JSON API; the staff pages build the same requests)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from api.reports.models import GrievanceCategory

REASON_MAX_CHARS = 2000
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "cannot be blank")
    return value.strip()


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_items", "lists the same item twice")
    return values


# Why the organizer decided: required, because every decision must be explainable later.
Reason = Annotated[
    str, StringConstraints(min_length=1, max_length=REASON_MAX_CHARS), AfterValidator(_not_blank)
]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)]
ClusterKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
ReportId = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RenameRequest(_Request):
    label: Label
    reason: Reason


class MergeRequest(_Request):
    """Clusters to merge into this one; this one keeps its key."""

    cluster_keys: Annotated[
        list[ClusterKey], Field(min_length=1, max_length=50), AfterValidator(_unique)
    ]
    reason: Reason


class SplitRequest(_Request):
    """Reports that leave this cluster for a new one (their duplicates go with them)."""

    report_ids: Annotated[
        list[ReportId], Field(min_length=1, max_length=500), AfterValidator(_unique)
    ]
    reason: Reason


class ReportExclusion(_Request):
    report_id: ReportId
    reason: Reason


class DuplicateMark(_Request):
    report_id: ReportId
    duplicate_of_id: ReportId
    reason: Reason


class DuplicateUnmark(_Request):
    report_id: ReportId
    reason: Reason


class ClusterQuery(_Request):
    """Dashboard filters, sort and page; every filter is optional."""

    lender: Annotated[str, StringConstraints(max_length=120)] | None = None
    category: GrievanceCategory | None = None
    min_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    month: Annotated[str, StringConstraints(pattern=MONTH_PATTERN)] | None = None
    sort: Literal["size", "newest", "lender", "apr"] = "size"
    page: Annotated[int, Field(ge=1, le=100_000)] = 1


# Responses


class MonthCount(BaseModel):
    month: str
    reports: int


class CategoryShare(BaseModel):
    category: str
    share: float


class LenderRead(BaseModel):
    key: str
    name_zh: str | None
    name_en: str | None
    typed: str | None
    is_mapped: bool


class ClusterSummaryRead(BaseModel):
    cluster_key: str
    label: str
    lender: LenderRead
    size: int
    duplicate_count: int
    open_duplicate_count: int
    keywords: list[str]
    newest_month: str | None
    months: list[MonthCount]
    month_unknown_count: int
    categories: list[CategoryShare]
    apr_known_count: int
    share_apr_above_24pct: float | None
    share_apr_above_36pct: float | None


class ClusterPageRead(BaseModel):
    run_id: int | None
    total: int
    page: int
    pages: int
    per_page: int
    items: list[ClusterSummaryRead]


class ReportRead(BaseModel):
    """A redacted report as organizers see it: no identity, no receipt, month precision."""

    id: str
    title: str
    narrative_excerpt: str
    month: str | None
    region_code: str | None
    categories: list[str]
    apr_effective: float | None
    is_above_24: bool | None
    is_above_36: bool | None


class DuplicateGroupRead(BaseModel):
    original_id: str
    original: ReportRead | None
    duplicates: list[ReportRead]


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    cluster_keys: list[str]
    report_ids: list[str]
    label: str | None
    duplicate_of_id: str | None
    reason: str
    decided_by_id: int
    decided_at: datetime


class SplitRead(DecisionRead):
    new_cluster_key: str


class ClusterDetailRead(BaseModel):
    run_id: int
    summary: ClusterSummaryRead
    representative_report_ids: list[str]
    representatives: list[ReportRead]
    reports: list[ReportRead]
    report_total: int
    page: int
    pages: int
    duplicate_groups: list[DuplicateGroupRead]
    region_counts: dict[str, int]
    merge_candidates: list[str]
    decisions: list[DecisionRead]


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    progress: float
    progress_note: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    report_count: int | None
    cluster_count: int | None
    duplicate_count: int | None
    timings_s: dict[str, float]
    code_version: str
    error: str | None
