"""Bulk writers per dialect, all inside the caller's transaction.

- PostgreSQL: binary ``COPY ... FROM STDIN`` through psycopg 3; the COPY stream is built column-wise with
  numpy (no Python object per value), in blocks of rows.
- SQLite: one ``executemany`` on the sqlite3 connection.
- MariaDB/MySQL: the driver's ``executemany`` (pymysql or mysqlclient), which sends multi-row
  ``INSERT ... VALUES (...), (...)``.
- anything else: multi-row ``INSERT`` statements as ``text()`` with typed bound parameters, 1,000 rows each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from fireworks.database.engines import has_mysql_fast_path
from fireworks.database.schema import (
    PG_ARRAY_DTYPE,
    ColumnSpec,
    tensor_rows_numpy,
    to_python,
)

COPY_BLOCK_ROWS = 65_536
# generic path (drivers without a fast path here): rows per multi-row INSERT, and a bound-parameter budget per
# statement well inside every database's limit (PostgreSQL and MySQL allow 65,535; SQLite 32,766)
GENERIC_ROWS_PER_STATEMENT = 1000
GENERIC_MAX_PARAMS = 30_000
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_PG_TRAILER = b"\xff\xff"
_ELEMENT_OID = {"int16": 21, "int32": 23, "int64": 20, "float32": 700, "float64": 701, "bool": 16}


def quote(conn: sa.Connection | sa.Engine, name: str) -> str:
    """``name`` as a quoted identifier for SQL sent to the driver as is (no parameter escaping)."""
    p = conn.dialect.identifier_preparer
    return p.initial_quote + name.replace(p.escape_quote, p.escape_to_quote) + p.final_quote


def qualified(conn: sa.Connection, table: sa.Table) -> str:
    name = quote(conn, table.name)
    return f"{quote(conn, table.schema)}.{name}" if table.schema else name


def raw_execute(conn: sa.Connection, sql: str) -> None:
    """Run parameterless SQL on the driver's own cursor (identifiers quoted by :func:`quote`)."""
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql)
    finally:
        cur.close()


def bulk_insert(
    conn: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, Any],
    specs: Mapping[str, ColumnSpec],
    dialect: str,
) -> None:
    """Insert ``columns`` (name → values, all of one length) into ``table`` on the dialect's fast path."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0 or not names:
        return
    if dialect == "postgresql" and _is_psycopg(conn):
        pg_types = {c: _pg_kind(table.c[c].type) for c in names}
        if all(k is not None for k in pg_types.values()):
            fields: dict[str, Any] = {c: (columns[c], specs[c], pg_types[c]) for c in names}
            copy_binary(conn, table, fields, n)
            return
    py = [to_python(c, columns[c], specs[c], dialect, table.c[c].type) for c in names]
    insert_python(conn, table, names, py, dialect)


def insert_python(
    conn: sa.Connection,
    table: sa.Table,
    names: list[str],
    py: list[list[Any]],
    dialect: str,
    suffix: str = "",
) -> None:
    """INSERT Python value lists (one list per column): the driver's executemany on SQLite and MariaDB/MySQL,
    multi-row statements through SQLAlchemy on any other driver.

    ``suffix`` (quoted identifiers only, no values) follows the VALUES clause: ON CONFLICT / ON DUPLICATE KEY.
    """
    cols = ", ".join(quote(conn, c) for c in names)
    target = qualified(conn, table)
    raw = conn.connection.driver_connection
    if dialect == "sqlite":
        sql = f"INSERT INTO {target} ({cols}) VALUES ({', '.join('?' * len(names))}){suffix}"
        cur = raw.cursor()  # type: ignore[union-attr]
        try:
            cur.executemany(sql, zip(*py))
        finally:
            cur.close()
        return
    if has_mysql_fast_path(conn):
        cols, target = cols.replace("%", "%%"), target.replace("%", "%%")
        sql = f"INSERT INTO {target} ({cols}) VALUES ({', '.join(['%s'] * len(names))}){suffix.replace('%', '%%')}"
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.executemany(sql, list(zip(*py)))
        return
    _insert_multirow(conn, table, f"INSERT INTO {target} ({cols}) VALUES ", names, py, suffix)


def _insert_multirow(
    conn: sa.Connection,
    table: sa.Table,
    head: str,
    names: list[str],
    py: list[list[Any]],
    suffix: str,
) -> None:
    """Any other driver: multi-row ``INSERT ... VALUES (...), (...)`` statements of up to
    ``GENERIC_ROWS_PER_STATEMENT`` rows as ``text()`` with typed bound parameters (SQLAlchemy adapts the
    paramstyle and applies each column type's bind processing). Drivers' own ``executemany`` is often one
    round trip per row (pg8000: ~200 µs a row), so this is what makes the generic path usable.
    """
    n = len(py[0])
    if conn.dialect.supports_multivalues_insert:
        per = max(1, min(GENERIC_ROWS_PER_STATEMENT, GENERIC_MAX_PARAMS // len(names)))
    else:
        per = 1
    # text() reads ":name" as a parameter: escape colons in the (already quoted) identifiers
    head, suffix = head.replace(":", "\\:"), suffix.replace(":", "\\:")
    types = [table.c[c].type for c in names]

    def statement(rows: int) -> Any:
        keys = [[f"p{r}_{i}" for i in range(len(names))] for r in range(rows)]
        values = ", ".join("(" + ", ".join(":" + k for k in row) + ")" for row in keys)
        binds = [sa.bindparam(k, type_=t) for row in keys for k, t in zip(row, types)]
        return sa.text(head + values + suffix).bindparams(*binds)

    rows = list(zip(*py))
    full = statement(min(per, n))
    for a in range(0, n, per):
        chunk = rows[a : a + per]
        stmt = full if len(chunk) == min(per, n) else statement(len(chunk))
        conn.execute(
            stmt, {f"p{r}_{i}": v for r, row in enumerate(chunk) for i, v in enumerate(row)}
        )


def _is_psycopg(conn: sa.Connection) -> bool:
    return conn.dialect.driver == "psycopg"


# --- PostgreSQL binary COPY ------------------------------------------------------------------------


def _pg_kind(tp: Any) -> tuple[str, Any] | None:
    """How a column of SQL type ``tp`` is encoded in binary COPY, or None when not supported here."""
    if isinstance(tp, sa.Boolean):
        return ("bool", None)
    if isinstance(tp, sa.SmallInteger):
        return ("int", ">i2")
    if isinstance(tp, sa.BigInteger):
        return ("int", ">i8")
    if isinstance(tp, sa.Integer):
        return ("int", ">i4")
    if isinstance(tp, sa.Float):
        single = isinstance(tp, sa.REAL) or (tp.precision is not None and tp.precision <= 24)
        return ("float", ">f4" if single else ">f8")
    if isinstance(tp, sa.Numeric):
        return None
    if isinstance(tp, sa.DateTime):
        return ("datetime", bool(tp.timezone))
    if isinstance(tp, sa.Text | sa.String) and not isinstance(tp, sa.Enum):
        return ("text", None)
    if isinstance(tp, sa.LargeBinary | postgresql.BYTEA):
        return ("bytes", None)
    if isinstance(tp, postgresql.ARRAY):
        item = _pg_kind(tp.item_type)
        if item is None or item[0] not in ("int", "float", "bool"):
            return None
        elem = {">i2": "int16", ">i4": "int32", ">i8": "int64", ">f4": "float32", ">f8": "float64"}
        return ("array", "bool" if item[0] == "bool" else elem[item[1]])
    return None


def copy_binary(
    conn: sa.Connection,
    table: sa.Table,
    fields: Mapping[str, tuple[Any, ColumnSpec, tuple[str, Any]]],
    n: int,
) -> None:
    """``COPY table (cols) FROM STDIN (FORMAT BINARY)`` with the stream encoded by numpy in blocks."""
    cols = ", ".join(quote(conn, c) for c in fields)
    sql = f"COPY {qualified(conn, table)} ({cols}) FROM STDIN (FORMAT BINARY)"
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        copy.write(_PG_HEADER)
        for a in range(0, n, COPY_BLOCK_ROWS):
            b = min(n, a + COPY_BLOCK_ROWS)
            encoded = [
                _pg_field(name, _rows(values, a, b), spec, kind)
                for name, (values, spec, kind) in fields.items()
            ]
            copy.write(_assemble(encoded, b - a).data)
        copy.write(_PG_TRAILER)


def _rows(values: Any, a: int, b: int) -> Any:
    if isinstance(values, pd.Series):
        return values.iloc[a:b]
    return values[a:b]


def _fixed(payload: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    n, w = payload.shape
    lengths = np.full(n, w, dtype=np.int32)
    if mask is not None and mask.any():
        lengths[mask] = -1
        payload = payload[~mask]
    return lengths, payload.reshape(-1)


def _pg_field(
    name: str, values: Any, spec: ColumnSpec, kind: tuple[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """(lengths with -1 for NULL, concatenated payload bytes) of one column in binary COPY format."""
    what, arg = kind
    n = len(values)
    if spec.kind == "tensor":
        arr = tensor_rows_numpy(values, spec)
        if what == "bytes":
            return _fixed(
                np.ascontiguousarray(arr).reshape(n, -1).view(np.uint8).reshape(n, -1), None
            )
        if spec.dtype == "bfloat16":
            arr = values.float().numpy()
        if what == "array":
            return _fixed(_pg_array_payload(arr.reshape(n, -1), spec.shape, arg), None)
        s = pd.Series(arr)
    else:
        s = values if isinstance(values, pd.Series) else pd.Series(values)
    mask = s.isna().to_numpy() if spec.nullable or s.dtype == object else None
    if what == "int":
        v = s.to_numpy(dtype=np.int64, na_value=0) if mask is not None else s.to_numpy()
        return _fixed(v.astype(arg).view(np.uint8).reshape(n, -1), mask)
    if what == "float":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return _fixed(v.astype(arg).view(np.uint8).reshape(n, -1), None)
    if what == "bool":
        v = s.to_numpy(dtype=bool, na_value=False) if mask is not None else s.to_numpy(dtype=bool)
        return _fixed(v.astype(np.uint8).reshape(n, 1), mask)
    if what == "datetime":
        dt = pd.to_datetime(s)
        if dt.dt.tz is not None:
            dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
        us = dt.to_numpy(dtype="datetime64[us]").view(np.int64) - _PG_EPOCH_US
        return _fixed(us.astype(">i8").view(np.uint8).reshape(n, 8), dt.isna().to_numpy())
    if what in ("text", "bytes"):
        arrow = pa.array(
            s, type=pa.large_string() if what == "text" else pa.large_binary(), from_pandas=True
        )
        if arrow.offset:
            arrow = pa.concat_arrays([arrow])
        offsets = np.frombuffer(arrow.buffers()[1], dtype=np.int64)[: n + 1]
        buf = arrow.buffers()[2]
        data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.empty(0, np.uint8)
        lengths = np.diff(offsets).astype(np.int32)
        if arrow.null_count:
            lengths[arrow.is_null().to_numpy(zero_copy_only=False)] = -1
        return lengths, data[offsets[0] : offsets[-1]]
    raise TypeError(f"column {name!r}: no binary COPY encoding for {what}")


def _pg_array_payload(flat: np.ndarray, shape: tuple[int, ...], elem: str) -> np.ndarray:
    """One PostgreSQL binary array per row: header (ndim, flags, oid, dims) + (length, value) per item."""
    n, k = flat.shape
    header = [len(shape), 0, _ELEMENT_OID[elem]]
    for d in shape:
        header += [d, 1]
    head = np.broadcast_to(np.array(header, dtype=">i4").view(np.uint8), (n, 4 * len(header)))
    item = (
        np.dtype(PG_ARRAY_DTYPE.get(elem, elem)).newbyteorder(">") if elem != "bool" else np.uint8
    )
    values = flat.astype(item).view(np.uint8).reshape(n, k, -1)
    size = values.shape[2]
    lens = np.broadcast_to(np.array([size], dtype=">i4").view(np.uint8), (n, k, 4))
    body = np.concatenate([lens, values], axis=2).reshape(n, -1)
    return np.concatenate([head, body], axis=1)


def _assemble(fields: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Interleave per-column (lengths, payload) into binary COPY tuples: int16 count, then per field
    int32 length and payload."""
    plens = [np.maximum(lengths, 0).astype(np.int64) for lengths, _ in fields]
    sizes = np.full(n, 2 + 4 * len(fields), dtype=np.int64)
    for p in plens:
        sizes += p
    ends = np.cumsum(sizes)
    starts = ends - sizes
    out = np.empty(int(ends[-1]) if n else 0, dtype=np.uint8)
    count = np.array([len(fields)], dtype=">i2").view(np.uint8)
    _scatter(out, starts, np.broadcast_to(count, (n, 2)))
    pos = starts + 2
    for (lengths, data), plen in zip(fields, plens):
        _scatter(out, pos, lengths.astype(">i4").view(np.uint8).reshape(n, 4))
        pos = pos + 4
        if data.size:
            width = int(plen[0]) if n else 0
            if (plen == width).all():
                _scatter(out, pos, data.reshape(n, width))
            else:
                src = np.cumsum(plen) - plen
                out[np.repeat(pos - src, plen) + np.arange(data.size)] = data
        pos = pos + plen
    return out


def _scatter(out: np.ndarray, pos: np.ndarray, mat: np.ndarray) -> None:
    w = mat.shape[1]
    out[(pos[:, None] + np.arange(w)).reshape(-1)] = mat.reshape(-1)
