"""Appending to and checking the audit chain."""

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any fixed number: it names the PostgreSQL advisory lock that serializes appends.
_CHAIN_LOCK_ID = 0x6A6F696E


def _event_hash(
    previous_hash: str,
    occurred_at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
) -> str:
    canonical = json.dumps(
        [
            previous_hash,
            occurred_at.isoformat(),
            actor,
            action,
            subject_type,
            subject_id,
            details,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record_event(
    session: Session,
    *,
    occurred_at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event linked to the latest; call it last in a transaction.

    Appends must be serialized or two transactions would link to the same predecessor. On
    PostgreSQL a transaction-scoped advisory lock does that until commit; SQLite allows one
    writer at a time, and flushing first makes this transaction that writer.
    """
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _CHAIN_LOCK_ID})
    previous_hash = session.scalar(
        select(AuditEvent.event_hash).order_by(AuditEvent.id.desc()).limit(1)
    )
    previous_hash = previous_hash or GENESIS_HASH
    details = details or {}
    event = AuditEvent(
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
        previous_hash=previous_hash,
        event_hash=_event_hash(
            previous_hash, occurred_at, actor, action, subject_type, subject_id, details
        ),
    )
    session.add(event)
    session.flush()
    return event


def verify_chain(session: Session) -> list[int]:
    """Ids of events whose content or link no longer matches; empty when the chain is intact."""
    broken: list[int] = []
    expected_previous = GENESIS_HASH
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        recomputed = _event_hash(
            event.previous_hash,
            event.occurred_at,
            event.actor,
            event.action,
            event.subject_type,
            event.subject_id,
            event.details,
        )
        if event.previous_hash != expected_previous or recomputed != event.event_hash:
            broken.append(event.id)
        expected_previous = event.event_hash
    return broken
