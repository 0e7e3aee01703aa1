from pydantic import BaseModel, ConfigDict

from api.lenders.models import LenderKind


class LenderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name_zh: str
    name_en: str
    kind: LenderKind


class LenderMatch(LenderRead):
    """An autocomplete suggestion: the lender plus the alias the query matched."""

    matched_alias: str


class UnmappedLenderName(BaseModel):
    name_key: str
    example_as_typed: str
    report_count: int
