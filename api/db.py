"""Engine, session factory and the declarative base shared by every domain's models."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from alembic.config import Config
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from api.config import PROJECT_DIR

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL so JSON columns can be indexed and compared; plain JSON elsewhere.
JsonColumn = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_minute_now() -> datetime:
    """Current UTC time cut to the minute.

    Anything stored with a report is kept no finer than the minute, so that a submission cannot
    be matched to a web-server or network log by its exact time.
    """
    return utc_now().replace(second=0, microsecond=0)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets page reads go on while a submission writes; the timeout queues writers
    # instead of failing them with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # IMMEDIATE takes SQLite's write lock at the start. A deferred transaction that reads and
    # then writes fails at once ("database is locked") when another one committed in between,
    # whatever the busy timeout; taking the lock first makes writers queue instead. SQLite is
    # the small-deployment default, where queueing requests costs little.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        # pysqlite opens transactions on its own schedule, which breaks SAVEPOINT and lets a
        # read run outside the transaction; SQLAlchemy's documented fix is to emit BEGIN itself.
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    # No pre-ping: it costs a round trip on every request. After a database restart a pooled
    # connection fails once and is replaced; recycling bounds how stale one can get.
    return create_engine(database_url, pool_recycle=300, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_AFTER_COMMIT = "gongsu_after_commit"


def call_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed; never if it rolls
    back. Kept in `session.info` and run by one listener for every session, which costs far
    less per request than registering an event listener on each session."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit_callbacks(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        callback()


@event.listens_for(Session, "after_rollback")
def _forget_after_commit_callbacks(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed once after the handler and before the response.

    A coroutine, so that opening the session (no I/O) costs no trip through the request thread
    pool: as a plain generator both ends ran in that pool, three hand-offs per request instead
    of two, and under load requests waited for a thread just to start. Commit and rollback do
    I/O and go to the pool; closing after either returns the connection without a round trip.
    The clean-up is shielded so a client that disconnects cannot leave the transaction open.
    """
    session = request.app.state.sessionmaker()
    try:
        yield session
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.commit)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration (from pyproject.toml) aimed at one database."""
    config = Config(toml_file=str(PROJECT_DIR / "pyproject.toml"))
    config.attributes["database_url"] = database_url
    return config
