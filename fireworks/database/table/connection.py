"""A TableSource's connection: one pending transaction, commit/rollback, savepoints per write, fork safety."""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fireworks._sqlite import immediate
from fireworks.database.engines import dialect_name, get_engine
from fireworks.database.schema import DatabaseError

_OPEN: weakref.WeakSet[TableConnection] = weakref.WeakSet()  # tables with a transaction open
_ORPHANS: list[
    Any
] = []  # connections inherited over fork: never touched, never closed in the child


class TableConnection:
    """Holds the engine and the one pending transaction of a table; every write runs inside it.

    Writes are pending until :meth:`commit` (or :meth:`rollback`); a ``with`` block commits on success and
    rolls back on error. A forked child never touches the parent's connection: it opens its own.
    """

    table_name: str

    def _init_connection(self, engine: str | sa.Engine) -> None:
        self.engine = get_engine(engine)
        self.dialect = dialect_name(self.engine)
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None
        self._pid = os.getpid()

    def _open(self) -> bool:
        return self._conn is not None and self._pid == os.getpid()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """The pending transaction's connection when there is one (a second connection could be the same
        one, e.g. in-memory SQLite, and closing it would roll the pending writes back), else a fresh one."""
        if self._open():
            yield self._conn  # type: ignore[misc]
        else:
            with self.engine.connect() as conn:
                yield conn

    def _connection(self) -> sa.Connection:
        if self._pid != os.getpid():
            if self._conn is not None:
                _ORPHANS.append(self._conn)  # the parent's: closing it here would break the parent
            self._conn, self._tx, self._pid = None, None, os.getpid()
        if self._conn is None:
            self._conn = self.engine.connect()
            # SQLite: take the write lock first, so a read-then-write cannot fail half-way
            immediate(self._conn)
            self._tx = self._conn.begin()
            _OPEN.add(self)
        return self._conn

    def commit(self) -> None:
        """Make every pending write permanent."""
        self._finish(commit=True)

    def rollback(self) -> None:
        """Discard every write since the last commit (a created table stays)."""
        self._finish(commit=False)

    def _finish(self, commit: bool) -> None:
        if self._conn is None or self._pid != os.getpid():
            return
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.commit() if commit else self._tx.rollback()
        finally:
            self._conn.close()
            self._conn, self._tx = None, None
            _OPEN.discard(self)

    def close(self) -> None:
        """Roll back pending writes and return the connection to the pool."""
        self.rollback()

    @staticmethod
    def rollback_all() -> None:
        """Roll back every TableSource of this process that has pending writes (e.g. after a crash)."""
        for t in list(_OPEN):
            t.rollback()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._finish(commit=exc_type is None)

    def __del__(self) -> None:
        try:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
        except Exception:
            pass

    def _connection_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` (a ``__dict__`` copy) made picklable: the engine as its URL, no connection."""
        state["engine"] = self.engine.url.render_as_string(hide_password=False)
        state["_conn"] = state["_tx"] = None
        return state

    @staticmethod
    def _restore_connection_state(state: dict[str, Any]) -> dict[str, Any]:
        state["engine"] = get_engine(state["engine"])
        state["_pid"] = os.getpid()
        return state

    # ---- one write = one savepoint ---------------------------------------------------------------

    def _atomic(
        self,
        what: str,
        n: int,
        cols: Mapping[str, Any],
        write: Callable[[sa.Connection, int, int], Any],
    ) -> Any:
        """Run ``write(conn, 0, n)`` in a savepoint; on a database error roll it back, find the first row
        that makes it fail, and raise :class:`DatabaseError` naming it."""
        conn = self._connection()
        errors = (sa.exc.DBAPIError, conn.dialect.loaded_dbapi.Error)
        sp = conn.begin_nested()
        try:
            out = write(conn, 0, n)
        except errors as err:
            lost = bool(getattr(err, "connection_invalidated", False) or conn.invalidated)
            if not lost:
                try:
                    sp.rollback()
                except errors:  # the rollback fails too: the connection itself is gone
                    lost = True
            if lost:
                with contextlib.suppress(Exception):
                    conn.invalidate()
                raise DatabaseError(
                    f"{what} into table {self.table_name!r} failed: the connection to the database was "
                    f"lost ({getattr(err, 'orig', None) or err}); nothing since the last commit was "
                    f"written, so write it again"
                ) from err
            bad = _locate(conn, write, n, errors)
            row = {c: _show(v, bad) for c, v in cols.items()}
            cause = getattr(err, "orig", None) or err
            raise DatabaseError(
                f"{what} into table {self.table_name!r} failed at row {bad} of {n} {row}: "
                f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}; "
                f"none of the {n} rows was written (the batch was rolled back) and the TableSource is "
                f"still usable"
            ) from err
        except BaseException:
            sp.rollback()
            raise
        sp.commit()
        return out


def _locate(
    conn: sa.Connection, write: Callable[[sa.Connection, int, int], Any], n: int, errors: Any
) -> int:
    """The first row that makes ``write`` fail, by bisection (each try in a savepoint rolled back)."""
    lo, hi = 0, n  # rows [0, lo) write fine, rows [0, hi) fail
    while hi - lo > 1:
        mid = (lo + hi) // 2
        sp = conn.begin_nested()
        try:
            write(conn, 0, mid)
            ok = True
        except errors:
            ok = False
        sp.rollback()
        lo, hi = (mid, hi) if ok else (lo, mid)
    return hi - 1


def _show(values: Any, i: int) -> Any:
    v = values.iloc[i] if isinstance(values, pd.Series) else values[i]
    if hasattr(v, "tolist") and np.ndim(v) > 0:
        v = v.tolist()
        return v if len(str(v)) < 80 else f"{str(v)[:77]}..."
    return v.item() if isinstance(v, np.generic) or (hasattr(v, "item") and np.ndim(v) == 0) else v
