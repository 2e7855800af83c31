"""Batched logging of metrics and Messages into an experiment's SQLite tables.

Logging every training step must cost next to nothing, so :meth:`MetricLogger.log` only appends to an
in-memory buffer; rows reach SQLite in one ``executemany`` transaction every ``flush_rows`` rows or
``flush_seconds`` seconds, on :meth:`~MetricLogger.read`, on :meth:`~MetricLogger.close` and at interpreter
exit. Tables are created on first use and gain a column whenever a new metric name appears (earlier rows hold
NULL there). The kind, dtype and per-row shape of every column are recorded in ``_fireworks_columns`` so that
:meth:`~MetricLogger.read` gives back tensor columns as tensors.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
import torch

from fireworks._sqlite import immediate, retry_while_locked
from fireworks.experiment._sqlite import quote

COLUMNS_TABLE = "_fireworks_columns"
_SCALARS = (int, float, str, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_SQL_TYPES = {bool: "INTEGER", int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    raise TypeError(
        f"a logged metric must be a scalar (int, float, bool, str, None or a 1-element tensor/array), "
        f"but {key!r} is a {type(value).__qualname__}"
        + (f" of shape {tuple(value.shape)}" if hasattr(value, "shape") else "")
        + "; log a Message to store vector or tensor columns"
    )


class _Chunk:
    """Rows of one logged Message, held as columns until flushed."""

    __slots__ = ("columns", "info", "n")

    def __init__(self, columns: dict[str, list[Any]], info: dict[str, dict[str, Any]], n: int):
        self.columns, self.info, self.n = columns, info, n


class _Table:
    __slots__ = ("columns", "info", "keys", "next_step", "pending")

    def __init__(self) -> None:
        self.pending: list[dict[str, Any] | _Chunk] = []
        self.next_step = 0
        self.columns: set[str] | None = None  # known columns in the database
        self.info: dict[str, dict[str, Any]] = {}  # column -> kind/dtype/shape, recorded once
        self.keys: set[Any] = set()  # metric names already validated


def _message_columns(msg: Any, step: int, now: float) -> _Chunk:
    n = len(msg)
    columns: dict[str, list[Any]] = {}
    info: dict[str, dict[str, Any]] = {}
    for name in msg.columns:
        col = msg[name]
        if isinstance(col, torch.Tensor):
            arr = col.detach().cpu()
            dtype = str(arr.dtype).removeprefix("torch.")
            shape = list(arr.shape[1:])
            if arr.dtype == torch.bfloat16:
                arr = arr.float()
            values = arr.numpy()
            if values.ndim == 1:
                columns[name] = values.tolist()
            else:
                flat = np.ascontiguousarray(values).reshape(n, -1)
                columns[name] = [row.tobytes() for row in flat]
            info[name] = {"kind": "tensor", "dtype": dtype, "shape": shape, "np": values.dtype.str}
        else:
            series = col if isinstance(col, pd.Series) else pd.Series(col)
            values = series.to_numpy()
            if values.dtype.kind not in "biufUSO" and not pd.api.types.is_string_dtype(series):
                raise TypeError(
                    f"cannot log column {name!r} of dtype {series.dtype}: vector columns must hold "
                    f"numbers, booleans or strings; convert it first"
                )
            py = values.tolist()
            bad = next((v for v in py if not isinstance(v, _SCALARS)), None)
            if bad is not None:
                raise TypeError(
                    f"cannot log column {name!r}: it holds a {type(bad).__qualname__}, but vector "
                    f"columns must hold numbers, booleans or strings; make it a tensor column instead"
                )
            columns[name] = [None if isinstance(v, float) and v != v else v for v in py]
            info[name] = {"kind": "vector", "dtype": str(series.dtype), "shape": []}
    if "step" not in columns:
        columns["step"] = [step] * n
    if "time" not in columns:
        columns["time"] = [now] * n
    return _Chunk(columns, info, n)


_LOGGERS: weakref.WeakSet[MetricLogger] = weakref.WeakSet()


def _forget_parent_rows() -> None:
    # rows buffered before a fork belong to the parent, which writes them; the child starts empty
    for logger in list(_LOGGERS):
        logger._lock = threading.RLock()
        for entry in logger._tables.values():
            entry.pending.clear()
        logger._pending_rows = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_rows)


class MetricLogger:
    """Buffers logged rows per table and writes them to SQLite in batches.

    >>> import tempfile, os
    >>> from fireworks.experiment._sqlite import sqlite_engine
    >>> logger = MetricLogger(sqlite_engine(os.path.join(tempfile.mkdtemp(), "m.sqlite")))
    >>> for i in range(3):
    ...     logger.log("train", {"loss": 1.0 / (i + 1)})
    >>> len(logger.read("train"))
    3
    """

    def __init__(
        self, engine: sa.Engine, flush_rows: int = 1000, flush_seconds: float = 2.0
    ) -> None:
        if flush_rows < 1:
            raise ValueError(f"flush_rows must be at least 1, but got {flush_rows}")
        if flush_seconds < 0:
            raise ValueError(f"flush_seconds must be >= 0, but got {flush_seconds}")
        self.engine = engine
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._tables: dict[str, _Table] = {}
        self._pending_rows = 0
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()
        self._closed = False
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda obj: obj.close() if obj is not None else None)(ref())
        atexit.register(self._atexit)
        _LOGGERS.add(self)

    def log(self, table: str, data: Mapping[str, Any] | Any, step: int | None = None) -> None:
        """Append one row (a dict of scalar metrics) or every row of a Message to ``table``.

        Each row gets a ``step`` (the given one, else one more than the table's last step) and a ``time``
        (Unix seconds) unless the data has those columns itself.
        """
        if self._closed:
            raise ValueError(
                "cannot log to a closed experiment; reopen it with load_experiment(path)"
            )
        with self._lock:
            entry = self._tables.get(table)
            if entry is None:
                entry = self._table(table)
            if isinstance(data, Mapping):
                row = dict(data)
                if not entry.keys.issuperset(row):
                    for key in row:
                        if not isinstance(key, str) or not key:
                            raise TypeError(f"metric names must be non-empty str, but got {key!r}")
                    entry.keys.update(row)
                for key, value in row.items():
                    if type(value) not in _SCALAR_TYPES:
                        row[key] = _scalar(key, value)
                if "step" in row:
                    s = row["step"]
                else:
                    s = entry.next_step if step is None else step
                    row["step"] = s
                if "time" not in row:
                    row["time"] = time.time()
                entry.pending.append(row)
                n = 1
            elif hasattr(data, "columns") and hasattr(data, "__len__"):
                s = entry.next_step if step is None else step
                chunk = _message_columns(data, s, time.time())
                entry.pending.append(chunk)
                n = chunk.n
            else:
                raise TypeError(
                    f"log() takes a dict of metrics or a Message, but got a {type(data).__qualname__}"
                )
            entry.next_step = (s if isinstance(s, int) else entry.next_step) + 1
            self._pending_rows += n
            if (
                self._pending_rows >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_seconds
            ):
                self.flush()

    def _table(self, table: str) -> _Table:
        if not isinstance(table, str) or not table:
            raise ValueError(f"a table name must be a non-empty str, but got {table!r}")
        if table.startswith(("sqlite_", "_fireworks")):
            raise ValueError(
                f"table names starting with 'sqlite_' or '_fireworks' are reserved, but got {table!r}; "
                f"pick another name"
            )
        entry = _Table()
        columns = self._db_columns(table)
        if "step" in columns:
            with self.engine.connect() as conn:
                last = conn.exec_driver_sql(f"SELECT MAX(step) FROM {quote(table)}").scalar()
            entry.next_step = int(last) + 1 if isinstance(last, (int, float)) else 0
        else:
            entry.next_step = 0
        self._tables[table] = entry
        return entry

    def _db_columns(self, table: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"PRAGMA table_info({quote(table)})").fetchall()
        return {r[1] for r in rows}

    @property
    def pending(self) -> int:
        """Rows logged but not yet written."""
        return self._pending_rows

    def flush(self) -> None:
        """Write every buffered row now, one transaction for all tables."""
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._pending_rows:
                return

            def write() -> None:
                with self.engine.connect() as conn:
                    immediate(conn)  # take the write lock before reading the schema
                    with conn.begin():
                        for name, entry in self._tables.items():
                            if entry.pending:
                                self._write(conn, name, entry)

            try:
                retry_while_locked(write)
            except BaseException:
                # the schema seen inside the failed transaction may be gone
                for entry in self._tables.values():
                    entry.columns = None
                raise
            for entry in self._tables.values():
                entry.pending.clear()
            self._pending_rows = 0

    def _write(self, conn: sa.Connection, table: str, entry: _Table) -> None:
        needed: dict[str, Any] = {}
        info: dict[str, dict[str, Any]] = {}
        for item in entry.pending:
            if isinstance(item, _Chunk):
                for key, values in item.columns.items():
                    if needed.get(key) is None:
                        needed[key] = next((v for v in values if v is not None), None)
                info.update(item.info)
            else:
                for key, value in item.items():
                    if needed.get(key) is None:
                        needed[key] = value
        self._ensure_schema(conn, table, entry, needed, info)
        run_keys: tuple[str, ...] | None = None
        run: list[tuple[Any, ...]] = []
        qt = quote(table)

        def emit() -> None:
            if run and run_keys is not None:
                cols = ", ".join(quote(k) for k in run_keys)
                marks = ", ".join("?" * len(run_keys))
                conn.exec_driver_sql(f"INSERT INTO {qt} ({cols}) VALUES ({marks})", run)  # type: ignore[arg-type]

        for item in entry.pending:
            if isinstance(item, _Chunk):
                emit()
                run, run_keys = [], None
                keys = tuple(item.columns)
                rows = list(zip(*(item.columns[k] for k in keys)))
                if rows:
                    run_keys, run = keys, rows
                    emit()
                run, run_keys = [], None
                continue
            keys = tuple(item)
            if keys != run_keys:
                emit()
                run, run_keys = [], keys
            run.append(tuple(item.values()))
        emit()

    def _ensure_schema(
        self,
        conn: sa.Connection,
        table: str,
        entry: _Table,
        needed: dict[str, Any],
        info: dict[str, dict[str, Any]],
    ) -> None:
        # Runs inside the flush's write transaction (BEGIN IMMEDIATE), so no other process sees a table
        # half-made: a new table is created with every column at once, new metrics add columns in the
        # same transaction as their first rows.
        if entry.columns is not None and needed.keys() <= entry.columns:
            return
        qt = quote(table)
        existing = {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({qt})")}
        missing = [k for k in needed if k not in existing]
        if not missing:
            entry.columns = existing
            return
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {quote(COLUMNS_TABLE)} (table_name TEXT, "
            "column_name TEXT, kind TEXT, dtype TEXT, shape TEXT, "
            "PRIMARY KEY (table_name, column_name))"
        )

        def decl(key: str) -> str:
            return f"{quote(key)} {_SQL_TYPES.get(type(needed[key]), '')}".rstrip()

        if not existing:
            conn.exec_driver_sql(f"CREATE TABLE {qt} ({', '.join(decl(k) for k in missing)})")
        else:
            for key in missing:
                conn.exec_driver_sql(f"ALTER TABLE {qt} ADD COLUMN {decl(key)}")
        for key in missing:
            self._record(conn, table, key, needed[key], info.get(key))
        entry.columns = existing | set(missing)

    @staticmethod
    def _record(
        conn: sa.Connection, table: str, column: str, sample: Any, info: dict[str, Any] | None
    ) -> None:
        if info is None:
            info = {
                "kind": "vector",
                "dtype": "bool" if isinstance(sample, bool) else "",
                "shape": [],
            }
        conn.exec_driver_sql(
            f"INSERT OR IGNORE INTO {quote(COLUMNS_TABLE)} VALUES (?, ?, ?, ?, ?)",
            (
                table,
                column,
                info["kind"],
                info.get("np") or info["dtype"],
                json.dumps(info["shape"]),
            ),
        )

    def tables(self) -> list[str]:
        """Names of the logged tables (written or still buffered)."""
        with self.engine.connect() as conn:
            names = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith(("sqlite_", "_fireworks"))
            }
        return sorted(names | {n for n, e in self._tables.items() if e.pending})

    def read(self, table: str) -> Any:
        """Flush, then return every row of ``table`` as a Message (tensor columns come back as tensors)."""
        from fireworks.message import Message

        self.flush()
        with self.engine.connect() as conn:
            if not conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchall():
                raise KeyError(f"no table {table!r} in this experiment; it has {self.tables()}")
            result = conn.exec_driver_sql(f"SELECT * FROM {quote(table)} ORDER BY rowid")
            names = list(result.keys())
            rows = result.fetchall()
            meta = (
                {
                    r[0]: (r[1], r[2], json.loads(r[3]))
                    for r in conn.exec_driver_sql(
                        f"SELECT column_name, kind, dtype, shape FROM {quote(COLUMNS_TABLE)} "
                        "WHERE table_name = ?",
                        (table,),
                    )
                }
                if self._has_columns_table(conn)
                else {}
            )
        frame = pd.DataFrame.from_records(rows, columns=names)
        data: dict[str, Any] = {}
        for name in names:
            kind, dtype, shape = meta.get(name, ("vector", "", []))
            col = frame[name]
            if kind == "tensor":
                data[name] = _tensor_column(col, dtype, shape)
            elif dtype == "bool" and not col.isna().any():
                data[name] = col.astype(bool).to_numpy()
            else:
                data[name] = col
        return Message(data)

    @staticmethod
    def _has_columns_table(conn: sa.Connection) -> bool:
        return bool(
            conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (COLUMNS_TABLE,)
            ).fetchall()
        )

    def close(self) -> None:
        """Flush and stop accepting rows."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            atexit.unregister(self._atexit)


def _tensor_column(col: pd.Series, np_dtype: str, shape: list[int]) -> Any:
    dtype = np.dtype(np_dtype)
    if col.isna().any():
        if not shape and dtype.kind in "fc":
            return torch.from_numpy(col.to_numpy(dtype=dtype, na_value=np.nan))
        return col
    if shape:
        raw = b"".join(col.tolist())
        arr = np.frombuffer(raw, dtype=dtype).reshape(len(col), *shape).copy()
    else:
        arr = col.to_numpy().astype(dtype)
    return torch.from_numpy(arr)
