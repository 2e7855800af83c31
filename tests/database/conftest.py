"""The database test fixture: a fresh table name on every real database, dropped afterwards."""

from __future__ import annotations

import gc

import pytest
import sqlalchemy as sa

from fireworks import TableSource
from fireworks.database import get_engine
from fireworks.database.schema import METADATA_TABLE


@pytest.fixture
def db(db_url, table_name):
    """(url, engine, name of a fresh table); the tables named ``name*`` are dropped afterwards."""
    engine = get_engine(db_url)
    yield db_url, engine, table_name
    TableSource.rollback_all()  # a failed test's TableSources must let go of their locks
    gc.collect()
    with engine.begin() as conn:
        insp = sa.inspect(conn)
        for t in insp.get_table_names():
            if t.startswith(table_name):
                conn.execute(sa.text(f"DROP TABLE {conn.dialect.identifier_preparer.quote(t)}"))
        if insp.has_table(METADATA_TABLE):
            conn.execute(
                sa.text(f"DELETE FROM {METADATA_TABLE} WHERE table_name LIKE :p"),
                {"p": f"{table_name}%"},
            )
    engine.dispose()
