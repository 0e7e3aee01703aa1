"""Appending to the audit log, sealing it into a hash chain, and checking the chain.

Appending is a single INSERT, so requests never wait for one another. A sealer then links the
committed, unsealed events in turn: each gets the next sequence number and a hash over its
content and its predecessor's hash. Linking at insert time would need a lock held until each
request's commit, which capped intake at one commit's fsync at a time.

Sealing runs every few seconds in each server process (`api.main`), at the end of CLI commands
and before every verification. An event edited or deleted after it was sealed breaks the chain.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from api.audit.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64
HEAD_ID = 1
SEAL_BATCH_SIZE = 5000


class EventFields(TypedDict):
    """What an audit event says; `details` defaults to empty (never personal data)."""

    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: NotRequired[dict[str, Any] | None]


def _event_row(fields: EventFields) -> dict[str, Any]:
    return {**fields, "details": fields.get("details") or {}}


def record_event(session: Session, **fields: Unpack[EventFields]) -> AuditEvent:
    event = AuditEvent(**_event_row(fields))
    session.add(event)
    return event


# Built once: a statement object remembers its cache key, which is otherwise worked out again on
# every execution.
_INSERT_EVENT = insert(AuditEvent.__table__)


def insert_event(session: Session, **fields: Unpack[EventFields]) -> None:
    """`record_event` as one INSERT sent at once, with no ORM object: for the busiest writes,
    where the unit of work's bookkeeping cost more than the statement."""
    session.connection().execute(_INSERT_EVENT, _event_row(fields))


def _event_hash(chain_seq: int, previous_hash: str, content: Sequence[Any]) -> str:
    """Hash of an event's link and its `_HASHED_COLUMNS` values, in that order."""
    occurred_at, *rest = content
    canonical = json.dumps(
        [chain_seq, previous_hash, occurred_at.isoformat(), *rest],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_HASHED_COLUMNS = (
    AuditEvent.occurred_at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.subject_type,
    AuditEvent.subject_id,
    AuditEvent.details,
)
_events = AuditEvent.__table__
_SEAL_EVENT = (
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(
        chain_seq=bindparam("seq"),
        previous_hash=bindparam("previous"),
        event_hash=bindparam("hash"),
    )
)


def _locked_head(session: Session) -> AuditChainHead:
    """The head row (created by the migration), locked for the rest of this transaction.

    The no-op UPDATE takes PostgreSQL's row lock and makes this SQLite's one writing
    transaction before anything is read, so two sealers take turns instead of both linking
    the same events.
    """
    session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_seq=AuditChainHead.last_seq)
    )
    return session.execute(select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)).scalar_one()


def seal_pending(session: Session, batch_size: int = SEAL_BATCH_SIZE) -> int:
    """Link committed events that are not yet in the chain; returns how many were sealed."""
    if session.scalar(select(AuditEvent.id).where(AuditEvent.chain_seq.is_(None)).limit(1)) is None:
        # Nothing to seal: take no lock, so an idle sealer never gets in a request's way.
        return 0
    head = _locked_head(session)
    # Plain rows and one batched UPDATE: sealing runs every few seconds in every server process,
    # and loading and flushing ORM objects cost several times the hashing.
    pending = session.execute(
        select(AuditEvent.id, *_HASHED_COLUMNS)
        .where(AuditEvent.chain_seq.is_(None))
        .order_by(AuditEvent.id)
        .limit(batch_size)
    ).all()
    seals = []
    for event_id, *content in pending:
        seq, previous = head.last_seq + 1, head.last_hash
        head.last_seq, head.last_hash = seq, _event_hash(seq, previous, content)
        seals.append(
            {"event_id": event_id, "seq": seq, "previous": previous, "hash": head.last_hash}
        )
    if seals:
        session.connection().execute(_SEAL_EVENT, seals)
        _expire_sealed(session, {seal["event_id"] for seal in seals})
    session.flush()
    return len(pending)


def _expire_sealed(session: Session, event_ids: set[int]) -> None:
    # The UPDATE went past the ORM: events this session already holds must be read again.
    for key in list(session.identity_map.keys()):
        if key[0] is AuditEvent and key[1][0] in event_ids:
            session.expire(session.identity_map[key])


def seal_all(session: Session) -> int:
    sealed = 0
    while batch := seal_pending(session):
        sealed += batch
    return sealed


@dataclass(frozen=True)
class ChainCheck:
    sealed_events: int
    unsealed_events: int
    broken_event_ids: list[int]
    # False when events after the last intact one were deleted, or the head row was edited.
    head_matches: bool

    @property
    def is_intact(self) -> bool:
        return not self.broken_event_ids and self.head_matches


def verify_chain(session: Session) -> ChainCheck:
    """Recompute every sealed event's hash and link; a deleted event shows up as its
    successor's broken link, a deleted last event as a head that no longer matches."""
    broken: list[int] = []
    expected_seq, expected_previous = 1, GENESIS_HASH
    sealed = 0
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.chain_seq.is_not(None))
        .order_by(AuditEvent.chain_seq)
        .execution_options(yield_per=2000)
    )
    for event in events:
        sealed += 1
        intact = (
            event.chain_seq == expected_seq
            and event.previous_hash == expected_previous
            and event.event_hash
            == _event_hash(
                event.chain_seq,
                expected_previous,
                [getattr(event, column.key) for column in _HASHED_COLUMNS],
            )
        )
        if not intact:
            broken.append(event.id)
        expected_seq = (event.chain_seq or 0) + 1
        expected_previous = event.event_hash or ""
    head = session.get(AuditChainHead, HEAD_ID)
    head_matches = head is not None and (head.last_seq, head.last_hash) == (
        expected_seq - 1,
        expected_previous,
    )
    unsealed = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.chain_seq.is_(None))
    )
    return ChainCheck(sealed, unsealed or 0, broken, head_matches)
