"""SQLite engines for experiment folders: WAL journal, busy timeout, quoted identifiers."""

from __future__ import annotations

import os
import weakref
from typing import Any

import sqlalchemy as sa

BUSY_TIMEOUT_MS = 30_000
_ENGINES: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # a forked child must never reuse the parent's pooled SQLite connections
    for engine in list(_ENGINES):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def sqlite_engine(path: str | os.PathLike[str]) -> sa.Engine:
    """A SQLAlchemy engine on the SQLite file ``path`` in WAL mode with a busy timeout.

    WAL lets readers (the dashboard) run while a training process writes; the busy timeout makes writers
    from several processes wait for each other instead of failing with "database is locked". A forked
    child process gets fresh connections instead of sharing the parent's.
    """
    engine = sa.create_engine(
        f"sqlite:///{os.fspath(path)}",
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    sa.event.listen(engine, "connect", _on_connect)
    _ENGINES.add(engine)
    return engine


def quote(name: str) -> str:
    """Quote an SQL identifier for SQLite (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'
