"""The audit log is a hash chain: any edited or deleted event is found."""

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.audit.models import AuditEvent
from api.db import utc_minute_now


def _append(session: Session, count: int) -> list[AuditEvent]:
    return [
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


def test_events_link_to_their_predecessor(db_session: Session) -> None:
    events = _append(db_session, 3)

    assert events[1].previous_hash == events[0].event_hash
    assert events[2].previous_hash == events[1].event_hash
    assert audit_service.verify_chain(db_session) == []


def test_an_edited_event_is_detected(db_session: Session) -> None:
    events = _append(db_session, 3)
    db_session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(details={"number": 99})
    )
    db_session.expire_all()

    assert audit_service.verify_chain(db_session) == [events[1].id]


def test_a_deleted_event_is_detected(db_session: Session) -> None:
    events = _append(db_session, 3)
    db_session.execute(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db_session.expire_all()

    assert audit_service.verify_chain(db_session) == [events[2].id]
