"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Each backend's schema is built once per run by the Alembic migrations. Each test then works
inside one outer transaction that is rolled back, with the app's sessions joined to it through
savepoints, so tests see committed behaviour without leaving data behind.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.config import PACKAGE_DATA_DIR, Settings
from api.db import alembic_config, make_engine
from api.lenders import service as lender_service
from api.main import create_app

POSTGRES_ENV = "GONGSU_TEST_DATABASE_URL"


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the database tests on PostgreSQL")
    return None


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gongsu-test.db'}"
    url = _postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests skipped: set {POSTGRES_ENV} to run them")
    return url


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        # Start from nothing, whatever an earlier run or an older revision left behind.
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    command.upgrade(alembic_config(database_url), "head")
    with engine.begin() as connection, Session(bind=connection) as session:
        lender_service.load_lenders(session, PACKAGE_DATA_DIR / "lenders.csv")
        session.flush()
    yield engine
    engine.dispose()


@pytest.fixture
def db_connection(migrated_engine: Engine) -> Iterator[Connection]:
    connection = migrated_engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture
def session_factory(db_connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The audit sealer and report placer threads would share the test's connection; tests seal
    # and place explicitly.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        demo=False,
        audit_seal_interval_s=3600,
        clustering_recheck_s=0,
        placement_worker=False,
    )


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    application = create_app(settings)
    application.state.sessionmaker = session_factory
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
