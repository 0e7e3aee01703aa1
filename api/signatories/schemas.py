from datetime import datetime

from pydantic import BaseModel, Field

from api.signatories.models import ConsentPurpose


class JoinSubmission(BaseModel):
    """What the join form sends, before the service checks it against the channel's fields."""

    # Typed values by field key (as in channels.json); keys the channel does not ask are ignored.
    identity: dict[str, str] = Field(default_factory=dict)
    # Evidence-reference fields (proof_of_relationship, proof_of_loss) → chosen evidence ids.
    evidence_fields: dict[str, list[str]] = Field(default_factory=dict)
    # Further evidence files to share with the lawyers.
    shared_evidence_ids: list[str] = Field(default_factory=list)
    consents: set[ConsentPurpose] = Field(default_factory=set)
    wants_to_represent: bool = False


class SignatoryRead(BaseModel):
    member_code: str
    role: str
    joined_at: datetime
    identity: dict[str, str]
    evidence_ids: list[str]


class SignatoryList(BaseModel):
    campaign_id: int
    # The channel's identity fields, in the order the channel lists them.
    fields: list[str]
    signatories: list[SignatoryRead]
