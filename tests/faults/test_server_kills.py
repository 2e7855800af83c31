"""The database server ending a connection mid-read or mid-write (``pg_terminate_backend`` on PostgreSQL,
``KILL`` on MariaDB, sent from another connection) gives a clear error and no partial rows, and the next
write on the same URL works.

The victim's connections are told apart from everything else on the shared servers by PostgreSQL's
``application_name`` and, on MariaDB, by a user of their own (created here, with rights on the test database
only).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import torch

from fireworks import DBSource, Message, TableSource

pytestmark = pytest.mark.db

DEAD = ("terminat", "lost connection", "server closed", "connection", "killed", "gone away")
BIG = 200_000


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request, table_name) -> dict[str, Any]:
    """The admin URL, the victim's URL, and how to end the victim's connections."""
    tag = f"fw_{uuid.uuid4().hex[:10]}"
    if request.param == "postgresql":
        admin = request.getfixturevalue("postgres_url")
        victim = f"{admin}{'&' if '?' in admin else '?'}application_name={tag}"
        find = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :tag")
        active = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag AND state = 'active'"
        )

        def kill(conn: sa.Connection) -> int:
            pids = [r[0] for r in conn.execute(find, {"tag": tag})]
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            return len(pids)

    else:
        admin = request.getfixturevalue("mariadb_url")
        url = sa.engine.make_url(admin)
        engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{tag}'@'%%'")
            conn.exec_driver_sql(f"GRANT ALL ON `{url.database}`.* TO '{tag}'@'%%'")
        engine.dispose()
        victim = url.set(username=tag, password=None).render_as_string(hide_password=False)
        find = sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = :tag")
        active = sa.text(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = :tag AND COMMAND = 'Query'"
        )

        def kill(conn: sa.Connection) -> int:
            ids = [r[0] for r in conn.execute(find, {"tag": tag})]
            for i in ids:
                with contextlib.suppress(sa.exc.DBAPIError):  # it may have ended meanwhile
                    conn.exec_driver_sql(f"KILL {int(i)}")
            return len(ids)

    engine = sa.create_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    yield {
        "kind": request.param,
        "admin": engine,
        "victim": victim,
        "kill": lambda: _with(engine, kill),
        "active": lambda: _with(engine, lambda c: int(c.execute(active, {"tag": tag}).scalar())),
    }
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table_name}")
        if request.param == "mariadb":
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{tag}'@'%%'")
    engine.dispose()


def _with(engine: sa.Engine, fn: Callable[[sa.Connection], Any]) -> Any:
    with engine.connect() as conn:
        return fn(conn)


def _rows(n: int, start: int = 0) -> Message:
    return Message(
        {
            "k": torch.arange(start, start + n),
            "v": torch.arange(start, start + n, dtype=torch.float64),
        }
    )


def _count(server: dict[str, Any], table: str) -> list[int]:
    with server["admin"].connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"SELECT k FROM {table} ORDER BY k")]


def _assert_dead(err: BaseException) -> None:
    text = " ".join(str(e) for e in (err, err.__cause__, err.__context__) if e is not None).lower()
    assert any(word in text for word in DEAD), f"unclear error: {type(err).__name__}: {err}"


def test_connection_ended_mid_read(server, table_name, counts):
    with TableSource(table_name, server["admin"].url) as table:
        table.insert(_rows(BIG))
    src = DBSource(table_name, server["victim"], batch_size=1000)
    seen = 0
    with pytest.raises(Exception) as info:
        for i, batch in enumerate(src):
            seen += len(batch)
            if i == 2:
                assert server["kill"]() >= 1
                counts["server_kills"] += 1
    _assert_dead(info.value)
    counts["rows_checked"] += seen
    assert seen < BIG, "the read must not look finished"
    # the next read on the same URL works (the dead connection is not reused)
    assert len(DBSource(table_name, server["victim"]).all()) == BIG
    counts["rows_checked"] += BIG


def test_connection_ended_between_writes_of_a_transaction(server, table_name, counts):
    with TableSource(table_name, server["victim"]) as table:
        table.insert(_rows(10))
    table = TableSource(table_name, server["victim"])
    table.insert(_rows(100, start=10))  # pending
    assert server["kill"]() >= 1
    counts["server_kills"] += 1
    with pytest.raises(Exception) as info:
        table.insert(_rows(100, start=110))
        table.commit()
    _assert_dead(info.value)
    table.rollback()
    got = _count(server, table_name)
    counts["rows_checked"] += len(got)
    half = got != list(range(10))
    counts["half_written"] += int(half)
    assert not half, f"{len(got)} rows after the connection died mid-transaction"
    with TableSource(table_name, server["victim"]) as again:  # the next writer goes on
        again.insert(_rows(5, start=1000))
    assert _count(server, table_name) == [*range(10), *range(1000, 1005)]


def test_connection_ended_during_a_big_insert(server, table_name, counts):
    with TableSource(table_name, server["victim"]) as table:
        table.insert(_rows(3))
    for attempt, n in enumerate((BIG, 4 * BIG, 10 * BIG)):
        errors: list[BaseException] = []

        def insert(n: int = n, attempt: int = attempt, errors: list = errors) -> None:
            try:
                with TableSource(table_name, server["victim"]) as t:
                    t.insert(_rows(n, start=10 * BIG * (attempt + 1)))
            except Exception as err:
                errors.append(err)

        worker = threading.Thread(target=insert)
        worker.start()
        deadline = time.monotonic() + 30
        while worker.is_alive() and not server["active"]() and time.monotonic() < deadline:
            time.sleep(0.002)
        killed = worker.is_alive() and server["kill"]()
        worker.join(120)
        got = _count(server, table_name)
        counts["rows_checked"] += len(got)
        if errors:
            counts["server_kills"] += 1
            _assert_dead(errors[0])
            half = got != [0, 1, 2]
            counts["half_written"] += int(half)
            assert not half, f"{len(got)} rows after the connection died during an insert"
            break
        assert len(got) == 3 + n, "an insert that did not fail must be whole"
        assert not killed or attempt < 2, "the insert finished before the kill three times"
        with server["admin"].begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM {table_name} WHERE k >= 3")
    else:
        pytest.fail("could not end the connection while the insert ran")
    with TableSource(table_name, server["victim"]) as again:
        again.insert(_rows(2, start=5))
    assert _count(server, table_name) == [0, 1, 2, 5, 6]
    assert np.all(np.diff(_count(server, table_name)) > 0)
