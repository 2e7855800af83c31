"""Engines from a URL or an Engine: SQLite pragmas, savepoint-safe SQLite transactions, fork safety.

An Engine's pool must never be shared across ``fork``: a child that talks on the parent's sockets corrupts
both. Every engine that passes through :func:`get_engine` is remembered (weakly) and, in a forked child, its
pool is replaced without closing the parent's connections (SQLAlchemy's ``dispose(close=False)``).
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from fireworks._sqlite import BUSY_TIMEOUT_MS, prepare_sqlite, retry_while_locked

# the SQLite connection policy lives in fireworks._sqlite (shared with experiments and Factory storage)
SQLITE_BUSY_TIMEOUT_MS = BUSY_TIMEOUT_MS
_retry_while_locked = retry_while_locked
# Key in a pooled connection's ``info`` under which DBSource keeps the unbuffered cursor it is streaming from.
STREAM_CURSOR = "fireworks_stream_cursor"

_ENGINES: dict[str, sa.Engine] = {}
_KNOWN: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_LOCK = threading.Lock()


def dialect_name(engine: sa.Engine | sa.Connection) -> str:
    """``"postgresql"``, ``"sqlite"``, ``"mysql"`` (MariaDB too) or another SQLAlchemy dialect name."""
    name = engine.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


# MySQL/MariaDB drivers whose own cursors Fireworks drives directly (format paramstyle, multi-row
# executemany, unbuffered SSCursor): pymysql (pure Python) and mysqlclient (``MySQLdb``, C).
MYSQL_DRIVERS = ("pymysql", "mysqldb")


def has_mysql_fast_path(conn: sa.Engine | sa.Connection) -> bool:
    """True on MariaDB/MySQL through a driver whose cursor Fireworks uses directly (see MYSQL_DRIVERS)."""
    return dialect_name(conn) == "mysql" and conn.dialect.driver in MYSQL_DRIVERS


def _close_stream_cursor(_dbapi_conn: Any, record: Any, _state: Any = None) -> None:
    """Pool reset hook: close a streaming (unbuffered) cursor left on a connection before it is reused.

    A MySQL connection cannot run another statement (the pool's ROLLBACK) until an unbuffered result is read
    to its end. DBSource closes its cursor when a stream ends or is closed, but a stream abandoned to the
    garbage collector can reach the pool first, since weak-reference callbacks run before finalizers.
    """
    cursor = record.info.pop(STREAM_CURSOR, None) if record is not None else None
    if cursor is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Previous unbuffered result", UserWarning)
            cursor.close()


def _prepare(engine: sa.Engine) -> sa.Engine:
    prepare_sqlite(engine)
    if dialect_name(engine) == "mysql" and not event.contains(
        engine, "reset", _close_stream_cursor
    ):
        event.listen(engine, "reset", _close_stream_cursor)
    _KNOWN.add(engine)
    return engine


# database driver module -> the extra that installs it
DRIVER_EXTRAS = {"psycopg": "db", "pymysql": "db", "MySQLdb": "mysql"}


def missing_driver(url: str | sa.URL, err: ImportError) -> ImportError | None:
    """The install hint for a URL whose DBAPI driver is not installed (SQLAlchemy imports it on create)."""
    from fireworks._imports import install_hint, missing_dependency
    from fireworks.exceptions import MissingDependencyError

    module = (err.name or "").partition(".")[0]
    shown = sa.make_url(url).render_as_string(hide_password=True)
    extra = DRIVER_EXTRAS.get(module)
    if extra is not None:
        return missing_dependency(f"the database URL {shown!r}", module, extra, err)
    if module == "psycopg2":
        return MissingDependencyError(
            f"the database URL {shown!r} needs the psycopg2 driver (SQLAlchemy's default for "
            f"postgresql://), which is not installed; Fireworks works with psycopg 3: "
            f"{install_hint('db')}, then write the URL as postgresql+psycopg://..."
        )
    return None


def create_engine(url: str | sa.URL, **kwargs) -> sa.Engine:
    """A new Engine on ``url`` prepared for Fireworks (SQLite: WAL, busy timeout; fork-safe pool).

    >>> engine = create_engine("sqlite://")
    >>> engine.dialect.name
    'sqlite'
    """
    kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = sa.create_engine(url, **kwargs)
    except ImportError as err:
        hint = missing_driver(url, err)
        if hint is None:
            raise
        raise hint from err
    return _prepare(engine)


def get_engine(engine: str | sa.URL | sa.Engine) -> sa.Engine:
    """The Engine for ``engine``: an Engine is prepared and returned; a URL gives one shared Engine per URL.

    >>> get_engine("sqlite://") is get_engine("sqlite://")
    True
    """
    if isinstance(engine, sa.Engine):
        return _prepare(engine)
    if isinstance(engine, sa.Connection):
        raise TypeError(
            "engine must be an Engine or a URL, but got a Connection; pass connection.engine instead"
        )
    if not isinstance(engine, str | sa.URL):
        raise TypeError(
            f"engine must be a SQLAlchemy Engine or a database URL string, but got {type(engine).__name__}"
        )
    key = str(engine) if isinstance(engine, str) else engine.render_as_string(hide_password=False)
    with _LOCK:
        found = _ENGINES.get(key)
        if found is None:
            try:
                found = create_engine(engine)
            except sa.exc.ArgumentError as err:
                raise ValueError(
                    f"engine {key!r} is not a valid database URL ({err}); use e.g. "
                    "'sqlite:///data.sqlite' or 'postgresql+psycopg://user@host/db'"
                ) from err
            _ENGINES[key] = found
        return found


def _after_fork_in_child() -> None:
    for engine in list(_KNOWN):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
