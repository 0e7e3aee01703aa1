"""The audit log is sealed into a hash chain: any edited or deleted sealed event is found."""

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.audit.models import AuditEvent
from api.db import utc_minute_now


def _append(session: Session, count: int) -> list[AuditEvent]:
    events = [
        audit_service.record_event(
            session,
            occurred_at=utc_minute_now(),
            actor="system",
            action="test.event",
            subject_type="test",
            subject_id=str(number),
            details={"number": number},
        )
        for number in range(count)
    ]
    session.flush()
    return events


def test_sealing_links_each_event_to_its_predecessor(db_session: Session) -> None:
    audit_service.seal_all(db_session)
    events = _append(db_session, 3)
    assert all(event.chain_seq is None for event in events)
    assert audit_service.verify_chain(db_session).unsealed_events == 3

    assert audit_service.seal_pending(db_session) == 3

    assert events[1].previous_hash == events[0].event_hash
    assert events[2].previous_hash == events[1].event_hash
    assert [e.chain_seq for e in events] == [events[0].chain_seq + n for n in range(3)]
    check = audit_service.verify_chain(db_session)
    assert check.is_intact and check.unsealed_events == 0
    assert audit_service.seal_pending(db_session) == 0


def test_sealing_in_small_batches_gives_one_chain(db_session: Session) -> None:
    _append(db_session, 7)

    assert audit_service.seal_pending(db_session, batch_size=3) == 3
    assert audit_service.seal_all(db_session) >= 4
    assert audit_service.verify_chain(db_session).is_intact


def test_an_edited_event_is_detected(db_session: Session) -> None:
    events = _append(db_session, 3)
    audit_service.seal_all(db_session)
    db_session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(details={"number": 99})
    )
    db_session.expire_all()

    check = audit_service.verify_chain(db_session)
    assert check.broken_event_ids == [events[1].id]
    assert not check.is_intact


def test_a_deleted_event_is_detected(db_session: Session) -> None:
    events = _append(db_session, 3)
    audit_service.seal_all(db_session)
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db_session.expire_all()

    assert audit_service.verify_chain(db_session).broken_event_ids == [events[2].id]


def test_deleting_the_last_event_is_detected_by_the_head(db_session: Session) -> None:
    events = _append(db_session, 2)
    audit_service.seal_all(db_session)
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db_session.expire_all()

    check = audit_service.verify_chain(db_session)
    assert check.broken_event_ids == []
    assert not check.head_matches
