"""The migrations build exactly the schema the models describe, and every one reverses."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from api.all_models import Base
from api.db import alembic_config, make_engine


@pytest.fixture
def scratch_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend, so the shared test schema is left alone."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    scratch_name = f"{url.database}_migrations"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{scratch_name}"'))
    yield url.set(database=scratch_name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
    admin.dispose()


def _schema_differences(database_url: str) -> list[object]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(differences)


def _tables(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return tables


def test_upgrade_downgrade_upgrade_matches_models(scratch_database_url: str) -> None:
    config = alembic_config(scratch_database_url)

    command.upgrade(config, "head")
    assert _schema_differences(scratch_database_url) == []
    assert set(Base.metadata.tables) == _tables(scratch_database_url)

    command.downgrade(config, "base")
    assert _tables(scratch_database_url) == set()

    command.upgrade(config, "head")
    assert _schema_differences(scratch_database_url) == []
