"""Campaign requests and responses (JSON API; the staff pages build the same request models)."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from api.campaigns.channels import channel_codes
from api.campaigns.models import CampaignStatus, FactPatternSource, RespondentRole
from api.i18n import Language

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,78}[a-z0-9])$"
# ISO 3166-1 country, optionally with an ISO 3166-2 subdivision: CN, CN-GD, US-CA.
JURISDICTION_PATTERN = r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$"
# GB 32100-2015: 18 characters from this alphabet, the last one a check character.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(rf"^[{_USCC_ALPHABET}]{{18}}$")
FACT_PATTERN_MAX_CHARS = 200_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "cannot be blank")
    return value.strip()


def _known_channel(value: str) -> str:
    if value not in channel_codes():
        raise PydanticCustomError(
            "enum", "is not a known channel", {"expected": ", ".join(channel_codes())}
        )
    return value


def _uscc(value: str | None) -> str | None:
    """A unified social credit code with a valid check character, or None when left blank."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if not _USCC_RE.match(code):
        raise PydanticCustomError("string_pattern_mismatch", "has the wrong format")
    total = sum(
        _USCC_ALPHABET.index(character) * weight
        for character, weight in zip(code[:17], _USCC_WEIGHTS, strict=True)
    )
    if _USCC_ALPHABET[(31 - total % 31) % 31] != code[17]:
        raise PydanticCustomError("string_pattern_mismatch", "has the wrong format")
    return code


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_items", "lists the same item twice")
    return values


Title = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)]
RespondentLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)
]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Jurisdiction = Annotated[str, StringConstraints(pattern=JURISDICTION_PATTERN)]
ChannelCode = Annotated[str, AfterValidator(_known_channel)]
ClusterKeys = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=40)]],
    Field(min_length=1, max_length=50),
    AfterValidator(_unique),
]
LawyerIds = Annotated[list[int], Field(max_length=20), AfterValidator(_unique)]
Note = Annotated[str, StringConstraints(max_length=2000)]
FactPatternBody = Annotated[
    str,
    StringConstraints(min_length=1, max_length=FACT_PATTERN_MAX_CHARS),
    AfterValidator(_not_blank),
]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Respondent(Schema):
    role: RespondentRole
    name: RespondentLabel
    unified_social_credit_code: Annotated[str | None, AfterValidator(_uscc)] = None


class CampaignCreate(Schema):
    title: Title
    # Made up from random letters when left out, so the public address reveals nothing.
    slug: Slug | None = None
    channel: ChannelCode
    jurisdiction: Jurisdiction
    cluster_keys: ClusterKeys
    respondents: Annotated[list[Respondent], Field(max_length=20)] = []
    lawyer_ids: LawyerIds = []


class CampaignUpdate(Schema):
    """Only the fields given change. Channel and slug can change in draft only; nothing can
    change once the campaign is filed."""

    title: Title | None = None
    slug: Slug | None = None
    channel: ChannelCode | None = None
    jurisdiction: Jurisdiction | None = None
    cluster_keys: ClusterKeys | None = None
    respondents: Annotated[list[Respondent], Field(max_length=20)] | None = None


class LawyerAssignment(Schema):
    staff_user_id: int


class TransitionRequest(Schema):
    to_status: CampaignStatus
    note: Note | None = None
    # Which approved version is filed; the latest approved one when left out.
    fact_pattern_version_id: int | None = None


class FactPatternGenerate(Schema):
    language: Language


class FactPatternEdit(Schema):
    language: Language
    body: FactPatternBody


class DeadlineRead(BaseModel):
    key: str
    label: str
    kind: str
    days: int
    unit: str
    due_on: date | None
    days_left: int | None
    is_active: bool
    is_overdue: bool
    source: str
    verify: bool


class CampaignRead(Schema):
    id: int
    slug: str
    title: str
    channel: str
    jurisdiction: str
    status: CampaignStatus
    respondents: list[Respondent]
    cluster_keys: list[str]
    lawyer_ids: list[int]
    created_by_id: int
    created_at: datetime
    updated_at: datetime
    opened_at: datetime | None
    filed_at: datetime | None
    responded_at: datetime | None


class CampaignDetail(CampaignRead):
    report_count: int
    min_group_size: int
    min_group_size_verify: bool
    is_below_min_group_size: bool
    representatives_min: int
    representatives_max: int | None
    # Keys no longer found in the latest grouping run: their reports no longer count.
    missing_cluster_keys: list[str]
    allowed_transitions: list[CampaignStatus]
    deadlines: list[DeadlineRead]


class CampaignEventRead(Schema):
    id: int
    occurred_at: datetime
    actor_id: int
    from_status: CampaignStatus | None
    to_status: CampaignStatus
    note: str | None
    fact_pattern_version_id: int | None


class FactPatternSummary(Schema):
    id: int
    number: int
    language: str
    source: FactPatternSource
    body_sha256: str
    created_by_id: int
    created_at: datetime
    approved_by_id: int | None
    approved_at: datetime | None


class FactPatternRead(FactPatternSummary):
    body: str


class FactPatternDiff(BaseModel):
    from_id: int
    to_id: int
    diff: str
