from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class AuditEvent(Base):
    """One action. Rows are only ever inserted, then sealed into the hash chain.

    Sealing happens after the fact (see api.audit.service.seal_pending): `chain_seq`,
    `previous_hash` and `event_hash` stay empty until then.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime]
    # "reporter" (anonymous; never more), "system", or "staff:<id>".
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    # Counts, codes and ids only: never free text a person wrote, never identities.
    details: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    chain_seq: Mapped[int | None] = mapped_column(unique=True)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    event_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The single row naming the chain's last sealed event; sealers lock it to take turns."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))
