"""Read-only browsing of SQLite tables: server-side paging, sorting and filtering.

Every connection is opened read-only (``file:...?mode=ro`` plus ``PRAGMA query_only``), identifiers are quoted
and values are bound parameters. Pages are found by *keyset* (seek) pagination: the next page starts after the
last row shown, ``WHERE (sort, rowid) > (?, ?) ORDER BY sort, rowid LIMIT n``, so page 10,000 of a table costs
what page 1 costs (``OFFSET`` would scan every skipped row). The row count is never computed on the way: rowid
tables report ``MAX(rowid)`` (an index lookup) as an estimate, and :func:`count_rows` counts on demand.
Views and ``WITHOUT ROWID`` tables have no rowid to seek on and fall back to ``LIMIT/OFFSET``.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_S = 5.0
OPS = ("=", "!=", "<", "<=", ">", ">=", "contains", "starts with", "is null", "not null")
_ROWID_ALIASES = ("rowid", "_rowid_", "oid")
_HIDDEN_PREFIXES = ("sqlite_",)


def quote(name: str) -> str:
    """Quote an SQLite identifier (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def connect_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection to the SQLite file ``path``; a missing file raises ``sqlite3.OperationalError``.

    ``mode=ro`` never creates the file, and ``query_only`` refuses writes even through ``ATTACH`` tricks.
    """
    target = Path(path).resolve()
    if not target.is_file():
        raise sqlite3.OperationalError(f"no SQLite file at {target}")
    conn = sqlite3.connect(
        f"{target.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only = 1")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


@dataclass
class TableInfo:
    """One table (or view) of a SQLite file as the browser shows it."""

    name: str
    kind: str  # "table" or "view"
    columns: list[tuple[str, str]]  # (name, declared type)
    rowid: str | None  # the alias to seek on, None for views and WITHOUT ROWID tables
    approx_rows: int | None  # MAX(rowid): an upper bound found without a scan

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def list_tables(path: str | os.PathLike[str]) -> list[TableInfo]:
    """Every table and view of the SQLite file ``path`` with its columns (no row is scanned)."""
    conn = connect_readonly(path)
    try:
        entries = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
        ).fetchall()
        out = []
        for name, kind, sql in entries:
            if name.startswith(_HIDDEN_PREFIXES):
                continue
            out.append(_table_info(conn, name, kind, sql or ""))
        return out
    finally:
        conn.close()


def _table_info(conn: sqlite3.Connection, name: str, kind: str, sql: str) -> TableInfo:
    columns = [(r[1], r[2] or "") for r in conn.execute(f"PRAGMA table_info({quote(name)})")]
    rowid = None
    if kind == "table" and "WITHOUT ROWID" not in sql.upper().replace("\n", " "):
        names = {c.lower() for c, _ in columns}
        rowid = next((a for a in _ROWID_ALIASES if a not in names), None)
    approx = None
    if rowid is not None:
        value = conn.execute(f"SELECT MAX({rowid}) FROM {quote(name)}").fetchone()[0]
        approx = int(value) if value is not None else 0
    return TableInfo(name, kind, columns, rowid, approx)


def table_info(path: str | os.PathLike[str], table: str) -> TableInfo:
    """The :class:`TableInfo` of ``table`` in ``path``; ``KeyError`` naming the tables there if it is missing."""
    conn = connect_readonly(path)
    try:
        row = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
            (table,),
        ).fetchone()
        if row is None:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
                )
            ]
            raise KeyError(f"no table {table!r} in {Path(path).name}; it has {names}")
        return _table_info(conn, row[0], row[1], row[2] or "")
    finally:
        conn.close()


@dataclass(frozen=True)
class Filter:
    """``column op value``; ``op`` is one of :data:`OPS` (``value`` is ignored by the null tests)."""

    column: str
    op: str
    value: Any = None


def parse_value(text: Any) -> Any:
    """A filter value typed into a form: int or float when it reads as one, else the text itself."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            continue
    return text


def _filter_sql(info: TableInfo, filters: list[Filter]) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    columns = info.column_names
    for f in filters:
        if f.column not in columns:
            raise ValueError(
                f"cannot filter on {f.column!r}: table {info.name!r} has the columns {columns}"
            )
        if f.op not in OPS:
            raise ValueError(f"unknown filter operator {f.op!r}; use one of {list(OPS)}")
        col = quote(f.column)
        if f.op == "is null":
            clauses.append(f"{col} IS NULL")
        elif f.op == "not null":
            clauses.append(f"{col} IS NOT NULL")
        elif f.op in ("contains", "starts with"):
            text = str(f.value if f.value is not None else "")
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%" if f.op == "contains" else f"{escaped}%"
            clauses.append(f"CAST({col} AS TEXT) LIKE ? ESCAPE '\\'")
            params.append(pattern)
        else:
            if f.value is None or (isinstance(f.value, str) and not f.value.strip()):
                raise ValueError(
                    f"filter {f.column!r} {f.op} needs a value; use 'is null' to find missing values"
                )
            clauses.append(f"{col} {f.op} ?")
            params.append(parse_value(f.value))
    return clauses, params


@dataclass
class Page:
    """One page of rows and the keys to move from it.

    ``first`` / ``last`` are the seek keys of the first and last row (JSON-able lists; an int offset for tables
    without rowid); pass them back as ``after=`` / ``before=`` to get the next / previous page.
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    first: Any
    last: Any
    has_next: bool
    has_prev: bool
    seconds: float
    sql: str = ""
    approx_rows: int | None = None
    keyset: bool = True
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts with display-safe values (bytes become ``<N bytes>``)."""
        return [{c: display_value(v) for c, v in zip(self.columns, row)} for row in self.rows]


def display_value(value: Any) -> Any:
    """A cell value as the browser shows it: bytes as their length, NaN/inf as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _encode_key(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"hex": bytes(value).hex()}
    return value


def _decode_key(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    return value


def _seek(sort: str | None, rid: str, ascending: bool, key: list[Any]) -> tuple[str, list[Any]]:
    """SQL for "strictly after ``key`` in the order (sort, rowid) ascending/descending" (NULLs sort lowest)."""
    if not isinstance(key, list) or len(key) != (1 if sort is None else 2):
        raise ValueError(
            f"the page key {key!r} was made for another sort order than {sort!r}; "
            "start again from the first page"
        )
    if sort is None:
        return (f"{rid} > ?" if ascending else f"{rid} < ?"), [key[0]]
    col = quote(sort)
    value, row = _decode_key(key[0]), key[1]
    if ascending:
        if value is None:
            return f"(({col} IS NULL AND {rid} > ?) OR {col} IS NOT NULL)", [row]
        return f"(({col}, {rid}) > (?, ?))", [value, row]
    if value is None:
        return f"({col} IS NULL AND {rid} < ?)", [row]
    return f"(({col}, {rid}) < (?, ?) OR {col} IS NULL)", [value, row]


def read_page(
    path: str | os.PathLike[str],
    table: str,
    *,
    size: int = 50,
    sort: str | None = None,
    descending: bool = False,
    filters: list[Filter] | None = None,
    after: Any = None,
    before: Any = None,
    last: bool = False,
) -> Page:
    """A page of ``size`` rows of ``table``: the first page, the one ``after``/``before`` a key, or the ``last``.

    Rows are ordered by ``sort`` (then rowid, so the order is total) or by rowid. ``filters`` are ANDed.
    """
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 10_000:
        raise ValueError(f"page size must be an int from 1 to 10000, but got {size!r}")
    if after is not None and before is not None:
        raise ValueError("pass at most one of after= and before=")
    start = time.perf_counter()
    filters = list(filters or [])
    conn = connect_readonly(path)
    try:
        row = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
            (table,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no table {table!r} in {Path(path).name}")
        info = _table_info(conn, row[0], row[1], row[2] or "")
        if sort is not None and sort not in info.column_names:
            raise ValueError(
                f"cannot sort on {sort!r}: table {table!r} has the columns {info.column_names}"
            )
        where, params = _filter_sql(info, filters)
        if info.rowid is None:
            page = _offset_page(
                conn, info, size, sort, descending, where, params, after, before, last
            )
        else:
            page = _keyset_page(
                conn, info, size, sort, descending, where, params, after, before, last
            )
    finally:
        conn.close()
    page.seconds = time.perf_counter() - start
    page.approx_rows = info.approx_rows
    return page


def _keyset_page(
    conn: sqlite3.Connection,
    info: TableInfo,
    size: int,
    sort: str | None,
    descending: bool,
    where: list[str],
    params: list[Any],
    after: Any,
    before: Any,
    last: bool,
) -> Page:
    rid = info.rowid
    assert rid is not None
    backwards = before is not None or last
    ascending = descending == backwards  # walking backwards flips the order
    clauses, values = list(where), list(params)
    key = before if before is not None else after
    if key is not None:
        sql, extra = _seek(sort, rid, ascending, list(key))
        clauses.append(sql)
        values += extra
    direction = "ASC" if ascending else "DESC"
    order = f"{quote(sort)} {direction}, {rid} {direction}" if sort else f"{rid} {direction}"
    where_sql = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {rid} AS __rowid__, * FROM {quote(info.name)}{where_sql} ORDER BY {order} LIMIT ?"
    )
    cur = conn.execute(sql, [*values, size + 1])
    columns = [d[0] for d in cur.description][1:]
    fetched = cur.fetchall()
    more = len(fetched) > size
    fetched = fetched[:size]
    if backwards:
        fetched.reverse()
    sort_pos = columns.index(sort) + 1 if sort else None

    def key_of(r: tuple[Any, ...]) -> list[Any]:
        return [_encode_key(r[sort_pos]), r[0]] if sort_pos is not None else [r[0]]

    rows = [r[1:] for r in fetched]
    first = key_of(fetched[0]) if fetched else None
    last_key = key_of(fetched[-1]) if fetched else None
    if backwards:
        has_prev, has_next = more, before is not None
    else:
        has_prev, has_next = after is not None, more
    return Page(columns, rows, first, last_key, has_next, has_prev, 0.0, sql)


def _offset_page(
    conn: sqlite3.Connection,
    info: TableInfo,
    size: int,
    sort: str | None,
    descending: bool,
    where: list[str],
    params: list[Any],
    after: Any,
    before: Any,
    last: bool,
) -> Page:
    where_sql = f" WHERE {' AND '.join(where)}" if where else ""
    order = f" ORDER BY {quote(sort)} {'DESC' if descending else 'ASC'}" if sort else ""
    if last:
        total = conn.execute(
            f"SELECT COUNT(*) FROM {quote(info.name)}{where_sql}", params
        ).fetchone()[0]
        offset = max(0, (total - 1) // size * size)
    elif after is not None:
        offset = int(after) + 1
    elif before is not None:
        offset = max(0, int(before) - size)
    else:
        offset = 0
    sql = f"SELECT * FROM {quote(info.name)}{where_sql}{order} LIMIT ? OFFSET ?"
    cur = conn.execute(sql, [*params, size + 1, offset])
    columns = [d[0] for d in cur.description]
    fetched = cur.fetchall()
    more = len(fetched) > size
    rows = fetched[:size]
    note = f"{info.name!r} has no rowid (a view or WITHOUT ROWID table): pages use OFFSET"
    return Page(
        columns,
        rows,
        offset if rows else None,
        offset + len(rows) - 1 if rows else None,
        more,
        offset > 0,
        0.0,
        sql,
        keyset=False,
        notes=[note],
    )


def count_rows(
    path: str | os.PathLike[str], table: str, filters: list[Filter] | None = None
) -> int:
    """The exact number of rows of ``table`` matching ``filters`` (a full scan: call it on request)."""
    info = table_info(path, table)
    where, params = _filter_sql(info, list(filters or []))
    where_sql = f" WHERE {' AND '.join(where)}" if where else ""
    conn = connect_readonly(path)
    try:
        return int(
            conn.execute(f"SELECT COUNT(*) FROM {quote(table)}{where_sql}", params).fetchone()[0]
        )
    finally:
        conn.close()


def read_columns(
    path: str | os.PathLike[str],
    table: str,
    columns: list[str],
    *,
    max_points: int = 20_000,
    filters: list[Filter] | None = None,
) -> dict[str, list[Any]]:
    """The values of ``columns`` of ``table`` in rowid order, thinned to about ``max_points`` rows.

    Large tables are thinned by taking every k-th rowid (``rowid % k = 0``, k from ``MAX(rowid)``), so plotting
    a million-row table reads ~``max_points`` rows instead of all of them.
    """
    info = table_info(path, table)
    for c in columns:
        if c not in info.column_names:
            raise ValueError(f"table {table!r} has no column {c!r}; it has {info.column_names}")
    where, params = _filter_sql(info, list(filters or []))
    order = ""
    if info.rowid is not None:
        order = f" ORDER BY {info.rowid}"
        stride = max(1, math.ceil((info.approx_rows or 0) / max_points))
        if stride > 1:
            where.append(f"{info.rowid} % ? = 0")
            params.append(stride)
    where_sql = f" WHERE {' AND '.join(where)}" if where else ""
    names = list(dict.fromkeys(columns))
    select = ", ".join(quote(c) for c in names) or "1"
    conn = connect_readonly(path)
    try:
        rows = conn.execute(
            f"SELECT {select} FROM {quote(table)}{where_sql}{order} LIMIT ?",
            [*params, max_points * 2],
        ).fetchall()
    finally:
        conn.close()
    return {c: [r[i] for r in rows] for i, c in enumerate(names)}
