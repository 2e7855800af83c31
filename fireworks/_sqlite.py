"""The one SQLite connection policy every Fireworks engine uses: WAL, busy timeout, retry while locked.

Experiments (``logs.sqlite``, ``Experiment.get_engine``), Factory trial storage and ``TableSource``/``DBSource``
on a ``sqlite://`` URL all open SQLite through :func:`prepare_sqlite`, so they behave the same under several
processes:

- ``PRAGMA busy_timeout``: a writer waits for another writer's lock instead of failing at once.
- WAL journal (set once per file, retried while another process holds the file): readers (the dashboard) run
  while a training process writes, and a crash at any moment leaves the last committed transaction.
- ``synchronous = NORMAL``: in WAL mode a power cut may lose the last transactions but never corrupts the file;
  a killed process loses nothing it committed.
- Transactions are begun by SQLAlchemy (``BEGIN``), not by the ``sqlite3`` module, so DDL (``CREATE TABLE``,
  ``ALTER TABLE``) is part of the transaction instead of being committed on its own, and savepoints work.
  A writer that reads before it writes opts into ``BEGIN IMMEDIATE`` with :func:`immediate`, which takes the
  write lock first (waiting for it under the busy timeout) so the transaction can never fail half-way with
  "database is locked" when it upgrades from reading to writing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

BUSY_TIMEOUT_MS = 30_000
# Connection execution option naming the BEGIN mode: "DEFERRED" (default) or "IMMEDIATE".
BEGIN_OPTION = "fireworks_sqlite_begin"
T = TypeVar("T")


def retry_while_locked(fn: Callable[[], T], timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> T:
    """Call ``fn`` until it does not fail with SQLite's "database is locked"/"busy", for up to ``timeout_s``.

    ``fn`` must be safe to repeat (a whole transaction, or a statement outside one). SQLite does not apply the
    busy timeout everywhere (setting WAL, upgrading a read transaction to a write one), so waiting on a lock
    alone is not enough under several processes.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            return fn()
        except (sqlite3.OperationalError, sa.exc.OperationalError) as err:
            text = str(err)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


# (st_dev, st_ino) -> a read-only descriptor of that file, never closed (see check_file)
_HEADER_FDS: dict[tuple[int, int], int] = {}
_HEADER_LOCK = threading.Lock()


def _header(path: str) -> tuple[int, bytes]:
    """The size and first 100 bytes of the file at ``path``, read without ever closing a descriptor of it.

    SQLite keeps its locks with ``fcntl`` (POSIX advisory locks), which belong to the process and are all
    released when the process closes ANY descriptor of the file, so a plain ``open()``/``close()`` here, while
    another connection of this process has the database open, would silently drop that connection's locks.
    One descriptor per file is opened the first time and reused."""
    # Windows: locks belong to handles, and closing one releases only its own
    if not hasattr(os, "pread"):
        with open(path, "rb") as f:
            return os.fstat(f.fileno()).st_size, f.read(100)
    st = os.stat(path)
    with _HEADER_LOCK:
        fd = _HEADER_FDS.get((st.st_dev, st.st_ino))
        if fd is None:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            fst = os.fstat(fd)
            # never closed, even if the path now names another file: keep it under the file it opened
            _HEADER_FDS.setdefault((fst.st_dev, fst.st_ino), fd)
    return os.fstat(fd).st_size, os.pread(fd, 100, 0)


def check_file(path: str) -> None:
    """Refuse an SQLite file that is visibly cut short: smaller than its own header says it is.

    SQLite reads the pages missing from a truncated file as zeros and can return rows whose values are all
    NULL without any error, so the size is checked before the file is used. The header's page count is
    trusted only when SQLite marks it valid, and not while a WAL file is present (a checkpoint in progress
    writes page 1 before it extends the file).

    The file is read through a descriptor that stays open for the life of the process (see :func:`_header`):
    closing any descriptor of a file releases every POSIX lock this process holds on it, including the
    locks of SQLite connections already open on it, and another process could then take this one's WAL for
    unused, checkpoint it and delete the ``-wal``/``-shm`` files under the open connections.
    """
    import struct

    from fireworks.exceptions import CorruptFileError

    try:
        size, header = _header(path)
    except OSError:
        return
    fix = "restore the file from a copy; `sqlite3 FILE .recover` can rescue what is left"
    if 0 < size < 512:  # SQLite would take it for an empty database
        raise CorruptFileError(
            path, f"it has {size} bytes, fewer than an SQLite header (cut short)", fix
        )
    if size == 0 or not header.startswith(b"SQLite format 3\0"):
        return  # empty (a new database), or not SQLite at all: SQLite itself says so
    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        return
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    (pages, counter, valid_for) = (
        struct.unpack(">I", header[28:32])[0],
        header[24:28],
        header[92:96],
    )
    if pages and counter == valid_for and size < pages * page_size:
        raise CorruptFileError(
            path,
            f"it has {size} bytes but its header says {pages} pages of {page_size} bytes (cut short)",
            fix,
        )


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy, not the sqlite3 module, decide when transactions begin (DDL inside them, SAVEPOINT)
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        for _seq, name, file in cur.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                check_file(file)
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

        # WAL is a property of the file: set it only when it is not set yet. Setting it can fail at once with
        # "database is locked" while another process opens or closes the file (SQLite does not apply the busy
        # timeout there), so retry it.
        def use_wal() -> None:
            mode = str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode not in ("wal", "memory"):
                cur.execute("PRAGMA journal_mode = WAL")

        retry_while_locked(use_wal)
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def _on_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"{BEGIN_OPTION} must be 'DEFERRED' or 'IMMEDIATE', but got {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


# what SQLite says when the file itself is damaged (cut short, overwritten, not a database)
_DAMAGE = ("malformed", "not a database", "file is encrypted", "disk image")


def damage_error(path: str | None, err: BaseException) -> Exception | None:
    """CorruptFileError naming ``path`` when ``err`` is SQLite saying the file is damaged, else None."""
    if not isinstance(err, sqlite3.DatabaseError) or not any(d in str(err) for d in _DAMAGE):
        return None
    if not path or path == ":memory:":
        return None
    from fireworks.exceptions import CorruptFileError

    return CorruptFileError(
        path,
        f"SQLite cannot read it, it may be cut short or overwritten ({err})",
        "restore the file from a copy; `sqlite3 FILE .recover` can rescue what is left",
    )


def _on_error(context: Any) -> BaseException | None:
    path = context.engine.url.database if context.engine is not None else None
    damaged = damage_error(path, context.original_exception)
    if damaged is not None:
        damaged.__cause__ = context.sqlalchemy_exception
    return damaged


_FORK_SAFE: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engine in list(_FORK_SAFE):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def fork_safe(engine: sa.Engine) -> sa.Engine:
    """Make a forked child open its own connections instead of reusing ``engine``'s pooled ones.

    A child writing through its parent's SQLite connection does not hold the parent's file locks (POSIX
    locks belong to a process), so its writes could be lost; on a server database both would talk on one
    socket.
    """
    _FORK_SAFE.add(engine)
    return engine


def prepare_sqlite(engine: sa.Engine) -> sa.Engine:
    """Give an SQLite ``engine`` the Fireworks connection policy (idempotent); other dialects are returned as is.

    Besides the pragmas and transactions above, an error SQLite raises because the file is damaged comes out
    as :class:`~fireworks.exceptions.CorruptFileError` naming the file.
    """
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        event.listen(engine, "handle_error", _on_error)
        fork_safe(engine)
    return engine


def immediate(conn: sa.Connection) -> sa.Connection:
    """Make the next transaction on ``conn`` start with ``BEGIN IMMEDIATE`` (SQLite; a no-op elsewhere)."""
    if conn.dialect.name == "sqlite":
        conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
    return conn
