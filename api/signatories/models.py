from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class SignatoryRole(StrEnum):
    member = "member"
    proposed_representative = "proposed_representative"


class SignatoryStatus(StrEnum):
    active = "active"
    withdrawn = "withdrawn"


class WithdrawalCause(StrEnum):
    # The reporter pressed "leave" on the campaign.
    consent_withdrawn = "consent_withdrawn"
    # The reporter withdrew the whole report (api.reports hook).
    report_withdrawn = "report_withdrawn"


class ConsentPurpose(StrEnum):
    join_group = "join_group"
    share_with_lawyer = "share_with_lawyer"
    file_with_recipient = "file_with_recipient"
    contact_for_updates = "contact_for_updates"


class LedgerAction(StrEnum):
    given = "given"
    withdrawn = "withdrawn"


class Signatory(Base):
    """A report's owner who joined one campaign. Holds no identity in clear: the identity lives
    in `signatory_identity`, encrypted, and is deleted while this row stays as the record."""

    __tablename__ = "signatory"
    __table_args__ = (
        # A report joins a campaign once, and one person (by keyed ID hash) once per campaign.
        UniqueConstraint("campaign_id", "report_id"),
        UniqueConstraint("campaign_id", "identity_hash", name="uq_signatory_campaign_person"),
        UniqueConstraint("campaign_id", "member_number", name="uq_signatory_campaign_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("report.id"), index=True)
    # 1, 2, 3… in join order per campaign; shown as member_code "S001". Never reused.
    member_number: Mapped[int]
    member_code: Mapped[str] = mapped_column(String(16))
    role: Mapped[SignatoryRole] = mapped_column(String(32))
    status: Mapped[SignatoryStatus] = mapped_column(String(16), index=True)
    language: Mapped[str] = mapped_column(String(2))
    # The field keys the channel asked for at the time of joining (keys only, never values).
    identity_fields: Mapped[list[str]] = mapped_column(JsonColumn)
    # The report's evidence files the signatory agreed to share with the campaign's lawyers.
    evidence_ids: Mapped[list[str]] = mapped_column(JsonColumn)
    # HMAC-SHA256 of the normalized ID number; None for channels without one and after purging.
    identity_hash: Mapped[str | None] = mapped_column(String(64))
    joined_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawal_cause: Mapped[WithdrawalCause | None] = mapped_column(String(32))
    # The campaign's filing time when the signatory withdrew after it: that filing happened
    # with their consent and cannot be recalled (PIPL Art. 15(2)).
    campaign_filed_before_withdrawal_at: Mapped[datetime | None]
    identity_purged_at: Mapped[datetime | None]


class SignatoryIdentity(Base):
    """One identity field of one signatory, sealed with AES-256-GCM (api.signatories.crypto)."""

    __tablename__ = "signatory_identity"

    signatory_id: Mapped[int] = mapped_column(ForeignKey("signatory.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_at: Mapped[datetime]


class Consent(Base):
    """One consent: one purpose, one recipient, the exact text shown. Its history (given,
    withdrawn) is also written to the hash-chained `consent_ledger_entry`, which is what
    `verify_ledger` checks this row against."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("signatory_id", "purpose", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    signatory_id: Mapped[int] = mapped_column(ForeignKey("signatory.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    purpose: Mapped[ConsentPurpose] = mapped_column(String(32))
    # "organizers", "campaign_lawyers" or "channel_recipient:<channel code>".
    recipient: Mapped[str] = mapped_column(String(64))
    # The version of api/data/consent/<language>.json the text was rendered from.
    text_version: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class ConsentLedgerEntry(Base):
    """A consent given or withdrawn, chained: each entry hashes its content with the previous
    entry's hash, so an edited or deleted entry breaks the chain from there on."""

    __tablename__ = "consent_ledger_entry"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id"), index=True)
    action: Mapped[LedgerAction] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    # Ids, codes and hashes only, never identity values.
    content: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    previous_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class ConsentLedgerHead(Base):
    """The single row naming the ledger's last entry; appending locks it, so appends take turns."""

    __tablename__ = "consent_ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))


class LedgerRewrite(RuntimeError):
    """A bug, not a user error: code tried to change or delete a ledger entry."""


@event.listens_for(ConsentLedgerEntry, "before_update")
@event.listens_for(ConsentLedgerEntry, "before_delete")
def _refuse_ledger_rewrite(_mapper: Any, _connection: Any, target: ConsentLedgerEntry) -> None:
    raise LedgerRewrite(f"consent ledger entry {target.seq} is append-only")
