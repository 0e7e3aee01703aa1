from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JsonColumn


class AuditEvent(Base):
    """One action. Rows are only ever inserted; each carries the hash of the one before it."""

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
    previous_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64), unique=True)
