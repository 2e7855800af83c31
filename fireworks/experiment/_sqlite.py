"""SQLite engines for experiment folders: the shared connection policy (:mod:`fireworks._sqlite`), fork safety."""

from __future__ import annotations

import os
import weakref

import sqlalchemy as sa

from fireworks._sqlite import BUSY_TIMEOUT_MS, prepare_sqlite

_ENGINES: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # a forked child must never reuse the parent's pooled SQLite connections
    for engine in list(_ENGINES):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def sqlite_engine(path: str | os.PathLike[str]) -> sa.Engine:
    """A SQLAlchemy engine on the SQLite file ``path`` with Fireworks' SQLite policy (WAL, busy timeout).

    WAL lets readers (the dashboard) run while a training process writes; the busy timeout and the retry
    while locked make writers from several processes wait for each other instead of failing with "database
    is locked"; DDL runs inside transactions. A forked child process gets fresh connections instead of
    sharing the parent's.
    """
    engine = sa.create_engine(
        f"sqlite:///{os.fspath(path)}",
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    prepare_sqlite(engine)
    _ENGINES.add(engine)
    return engine


def quote(name: str) -> str:
    """Quote an SQL identifier for SQLite (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'
