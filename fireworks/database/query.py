"""DBSource: a query's results streamed as Messages, through server-side cursors."""

from __future__ import annotations

import contextlib
import functools
import gc
import operator
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
import pandas as pd
import sqlalchemy as sa
import torch

from fireworks.database.engines import MYSQL_DRIVERS, STREAM_CURSOR, dialect_name, get_engine
from fireworks.database.schema import ColumnSpec, from_python, load_specs, spec_from_sql_type
from fireworks.message import Message
from fireworks.sources.base import Source

OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "between", "like")
_IN_CHUNK = 500


def reflect(conn: sa.Connection, name: str) -> sa.Table:
    try:
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
    except sa.exc.NoSuchTableError as err:
        url = conn.engine.url.render_as_string(hide_password=True)
        raise KeyError(
            f"there is no table named {name!r} in {url}; check the name (it is case-sensitive), or pass "
            f"SQL as sqlalchemy.text('SELECT ...')"
        ) from err
    for col in table.columns:
        if isinstance(col.type, sa.Float) and col.type.asdecimal:
            col.type.asdecimal = (
                False  # MySQL's DOUBLE reflects as Decimal with 10 digits: keep floats
            )
    return table


def table_specs(conn: sa.Connection, table: sa.Table, dialect: str) -> dict[str, ColumnSpec]:
    """Specs of a table's columns: the ones Fireworks recorded, else from the SQL types."""
    saved = load_specs(conn, table.name)
    return {c.name: saved.get(c.name) or spec_from_sql_type(c.type, dialect) for c in table.columns}


class DBSource(Source):
    """Streams the rows of a table or query as Messages of up to ``batch_size`` rows.

    ``query_or_table`` is a table name, a ``sqlalchemy.Table``, a ``select()`` or a ``text()``. Iteration uses
    server-side cursors where the database has them (PostgreSQL, MariaDB; SQLite steps through its result
    lazily anyway), so memory stays flat however large the result. A table's rows come ordered by its
    primary key, which makes ``state_dict``/``load_state_dict`` resume exactly (by OFFSET); give a
    ``select()`` an ``order_by`` for the same guarantee.

    Positional random access is not offered (a database cursor only goes forward): wrap the source in
    ``LoopingSource``/``CachingSource`` for that, or look rows up by key with :meth:`get`.

    >>> import sqlalchemy as sa
    >>> from fireworks import DBSource, Message, TableSource
    >>> engine = sa.create_engine("sqlite://")
    >>> with TableSource("points", engine) as points:
    ...     points.insert(Message({"x": [1, 2, 3], "name": ["a", "b", "c"]}))
    >>> src = DBSource("points", engine, batch_size=2)
    >>> len(src), [len(m) for m in src]
    (3, [2, 1])
    >>> src.filter("x", ">=", 2).all()["name"].tolist()
    ['b', 'c']
    """

    _random_access = False
    _chunked = True
    _one_to_one = False

    def __init__(
        self,
        query_or_table: str | sa.Table | sa.Select | sa.TextClause,
        engine: str | sa.Engine,
        batch_size: int = 1024,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, but got {batch_size!r}")
        if not isinstance(
            query_or_table, str | sa.Table | sa.Select | sa.TextClause | sa.TextualSelect
        ):
            raise TypeError(
                "query_or_table must be a table name, a sqlalchemy Table, select() or text(), but got "
                f"{type(query_or_table).__name__}"
            )
        self.engine = get_engine(engine)
        self.dialect = dialect_name(self.engine)
        self.batch_size = batch_size
        self._query = query_or_table
        self._stmt: Any = None
        self._specs: dict[str, ColumnSpec] = {}
        self._key: str | None = None

    @classmethod
    def _derived(cls, parent: DBSource, stmt: Any) -> DBSource:
        child = cls(stmt, parent.engine, parent.batch_size)
        child._stmt, child._specs, child._key = stmt, dict(parent._specs), parent._key
        return child

    # ---- resolving the query -------------------------------------------------------------------------

    def _resolve(self) -> tuple[Any, dict[str, ColumnSpec]]:
        if self._stmt is not None:
            return self._stmt, self._specs
        q: Any = self._query
        with self.engine.connect() as conn:
            if isinstance(q, str | sa.Table):
                table = reflect(conn, q) if isinstance(q, str) else q
                self._specs = table_specs(conn, table, self.dialect)
                pk = list(table.primary_key.columns)
                self._key = pk[0].name if len(pk) == 1 else None
                self._stmt = sa.select(table).order_by(*pk)
            elif isinstance(q, sa.Select):
                self._stmt, self._specs = q, self._select_specs(conn, q)
            else:
                if isinstance(q, sa.TextClause):
                    probe: Any = sa.select(sa.literal_column("*")).select_from(
                        q.columns().subquery("fw_q")
                    )
                    names = list(conn.execute(probe.where(sa.false())).keys())
                    q = q.columns(*[sa.column(n) for n in names])
                self._stmt = q
                self._specs = {n: ColumnSpec("auto") for n in q.selected_columns.keys()}  # noqa: SIM118
        return self._stmt, self._specs

    def _select_specs(self, conn: sa.Connection, stmt: sa.Select) -> dict[str, ColumnSpec]:
        specs: dict[str, ColumnSpec] = {}
        saved: dict[str, dict[str, ColumnSpec]] = {}
        for key, col in stmt.selected_columns.items():
            table = getattr(col, "table", None)
            if isinstance(col, sa.Column) and isinstance(table, sa.Table):
                if table.name not in saved:
                    saved[table.name] = load_specs(conn, table.name)
                spec = saved[table.name].get(col.name)
                specs[key] = spec or spec_from_sql_type(col.type, self.dialect)
            elif isinstance(col.type, sa.types.NullType):
                specs[key] = ColumnSpec("auto")
            else:
                specs[key] = spec_from_sql_type(col.type, self.dialect)
        return specs

    @property
    def columns(self) -> list[str]:
        """Names of the result columns."""
        return list(self._resolve()[1])

    # ---- reading -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        stmt, _ = self._resolve()
        inner = stmt.order_by(None) if isinstance(stmt, sa.Select) else stmt
        count = sa.select(sa.func.count()).select_from(inner.subquery("fw_count"))
        with self.engine.connect() as conn:
            return int(conn.execute(count).scalar_one())

    def __getitem__(self, index: Any) -> Message:
        raise TypeError(
            f"{self.describe()} is forward-only: it streams a query and has no positional random "
            f"access; wrap it (LoopingSource(src) or src.cache()) for that, or look rows up by key with "
            f"src.get(keys)"
        )

    def _offset(self, stmt: Any, rows: int) -> Any:
        if not rows:
            return stmt
        if isinstance(stmt, sa.Select):
            return stmt.offset(rows)
        return sa.select(stmt.subquery("fw_q")).offset(rows)

    def _stream(self, start: int) -> Iterator[Message]:
        stmt, specs = self._resolve()
        stmt = self._offset(stmt, start * self.batch_size)
        conn = self.engine.connect()
        try:
            names, fetch = _execute(conn, stmt, self.batch_size, server_side=True)
            while True:
                try:
                    with _gc_paused():
                        rows = fetch(self.batch_size)
                        cols = _transpose(rows, len(names))
                except Exception:
                    # e.g. the server ended it: never hand it back to the pool
                    _drop_connection(conn)
                    raise
                if not rows:
                    return
                yield self._to_message(cols, names, specs)
        finally:
            conn.close()  # the pool's reset hook closes the driver cursor first (engines.STREAM_CURSOR)

    def _to_message(
        self, cols: list[Sequence[Any]], names: list[str], specs: Mapping[str, ColumnSpec]
    ) -> Message:
        return Message(
            {
                n: from_python(n, col, specs.get(n, ColumnSpec("auto")), self.dialect)
                for n, col in zip(names, cols)
            }
        )

    def all(self) -> Message:
        """Every row of the result as one Message (memory grows with the result, unlike iteration)."""
        stmt, specs = self._resolve()
        with self.engine.connect() as conn:
            names, fetch = _execute(conn, stmt, self.batch_size, server_side=False)
            with _gc_paused():
                cols = _transpose(fetch(None), len(names))
            return self._to_message(cols, names, specs)

    def get(self, keys: Any, column: str | None = None) -> Message:
        """Rows whose ``column`` (default: the table's primary key) equals ``keys``, in the order of ``keys``.

        Raises ``KeyError`` naming the keys that are not in the result.
        """
        stmt, specs = self._resolve()
        column = column or self._key
        if column is None:
            raise ValueError(
                "get needs a key column: this query comes from no table with a one-column primary key, "
                "so pass column='name_of_a_unique_column'"
            )
        self._check_column(column)
        wanted = _plain_list(keys)
        parts = []
        with self.engine.connect() as conn:
            for a in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[a : a + _IN_CHUNK]
                cond = functools.partial(_condition, op="in", values=chunk)
                names, fetch = _execute(conn, _where(stmt, column, cond), 0, server_side=False)
                parts.append(self._to_message(_transpose(fetch(None), len(names)), names, specs))
        found = Message.concat(parts) if parts else self.filter(column, "in", []).all()
        have = pd.Index(_plain_list(found[column]))
        if not have.is_unique:
            raise ValueError(f"column {column!r} is not unique in the result, so it is not a key")
        pos = have.get_indexer(pd.Index(wanted))
        if (pos < 0).any():
            missing = [wanted[i] for i in np.flatnonzero(pos < 0)[:10]]
            raise KeyError(f"no rows with {column} in {missing}")
        return found[pos]

    # ---- filtering ----------------------------------------------------------------------------------

    def _check_column(self, column: str) -> None:
        _, specs = self._resolve()
        if column not in specs:
            raise KeyError(f"unknown column {column!r}; the query has columns {list(specs)}")

    @overload  # type: ignore[override]
    def filter(self, column: str, op: str, *args: Any) -> DBSource: ...

    @overload
    def filter(self, column: Callable[[Message], Any], **kwargs: Any) -> Source: ...

    def filter(self, column: Any, op: str | None = None, *args: Any, **kwargs: Any) -> Source:
        """A new DBSource with the rows where ``column op args`` holds (values are bound parameters).

        ``op`` is one of ``==, !=, <, <=, >, >=, in, between, like``; ``in`` takes a list (or several
        values), ``between`` two bounds (inclusive), ``like`` a pattern. ``== None`` is ``IS NULL``.

        A callable instead of a column name is a predicate on each Message, as for every Source
        (``src.filter(lambda m: m["x"] > 1)`` is a :class:`~fireworks.sources.FilterSource`, run in Python).
        """
        if callable(column) and op is None and not args:
            return Source.filter(self, column, **kwargs)
        if op is None or kwargs:
            raise TypeError(
                f"filter takes a column name, an op and values (e.g. filter('x', '>', 1)) or one "
                f"predicate, but got column={column!r}, op={op!r}, keywords {sorted(kwargs)}"
            )
        if not isinstance(column, str):
            raise TypeError(f"filter's column must be a column name (str), but got {column!r}")
        if op not in OPS:
            raise ValueError(f"unknown filter op {op!r}; use one of {', '.join(OPS)}")
        stmt, _ = self._resolve()
        target, spec = self._filter_column(column)
        if op == "in" and len(args) == 1 and _is_listlike(args[0]):
            args = tuple(_plain_list(args[0]))
        values = [self._bind_value(v, spec) for v in args]
        if op == "between" and len(values) != 2:
            raise ValueError(
                f"'between' takes two bounds (low, high), but got {len(values)} values"
            )
        if op not in ("in", "between") and len(values) != 1:
            raise ValueError(f"{op!r} takes one value, but got {len(values)}: {list(args)!r}")
        if op == "like" and not isinstance(values[0], str):
            raise TypeError(f"'like' takes a string pattern, but got {values[0]!r}")
        if target is None:
            stmt = _where(stmt, column, lambda col: _condition(col, op, values))
        else:
            stmt = stmt.where(_condition(target, op, values))
        return DBSource._derived(self, stmt)

    def _filter_column(self, column: str) -> tuple[Any, ColumnSpec]:
        """``(None, spec)`` for a result column; ``(table column, spec)`` for a column of a table the
        ``select()`` reads from without selecting it (so ``query(["a"]).filter("b", ...)`` works)."""
        stmt, specs = self._resolve()
        if column in specs:
            return None, specs[column]
        if isinstance(stmt, sa.Select):
            for source in stmt.get_final_froms():
                if isinstance(source, sa.Table) and column in source.c:
                    with self.engine.connect() as conn:
                        spec = table_specs(conn, source, self.dialect)[column]
                    return source.c[column], spec
        raise KeyError(f"unknown column {column!r}; the query has columns {list(specs)}")

    def _bind_value(self, value: Any, spec: ColumnSpec) -> Any:
        if isinstance(value, torch.Tensor | np.ndarray | np.generic) and np.ndim(value) == 0:
            value = value.item()
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        aware = getattr(value, "tzinfo", None) is not None
        if spec.kind == "datetime" and aware and self.dialect != "postgresql":
            value = pd.Timestamp(value).tz_convert("UTC").tz_localize(None).to_pydatetime()
        return value

    # ---- state ----------------------------------------------------------------------------------------

    def _own_state(self) -> dict[str, Any]:
        return {"cursor": int(self._cursor), "rows": int(self._cursor) * self.batch_size}

    def __repr__(self) -> str:
        q = self._query if isinstance(self._query, str) else type(self._query).__name__
        return f"<DBSource {q!r} on {self.dialect}, batch_size={self.batch_size}>"


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while rows become columns: the many new tuples would trigger it over and over
    (tuples of numbers and strings hold no cycles), which costs more than the transpose itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drop_connection(conn: sa.Connection) -> None:
    """Discard ``conn`` after a failed fetch: close its streaming cursor quietly (an unbuffered MySQL result
    on a dead connection would otherwise fail again when garbage-collected) and invalidate it."""
    cur = conn.connection.info.pop(STREAM_CURSOR, None) if not conn.invalidated else None
    if cur is not None:
        with contextlib.suppress(Exception):
            cur.close()
        result = getattr(cur, "_result", None)
        if result is not None and hasattr(result, "unbuffered_active"):
            result.unbuffered_active = False  # pymysql: nothing left to read on a dead connection
        with contextlib.suppress(Exception):
            cur.connection = None
    with contextlib.suppress(Exception):
        conn.invalidate()


def _transpose(rows: Sequence[Any], width: int) -> list[Sequence[Any]]:
    return list(zip(*rows)) if rows else [() for _ in range(width)]


def _execute(
    conn: sa.Connection, stmt: Any, batch: int, server_side: bool
) -> tuple[list[str], Callable[[int | None], Sequence[Any]]]:
    """Run ``stmt`` on the driver's own cursor (server-side where asked and available) and return the
    column names and ``fetch(n)`` (None: all rows) giving plain tuples: no per-row SQLAlchemy objects."""
    driver = conn.dialect.driver
    if driver not in ("psycopg", "pysqlite", *MYSQL_DRIVERS):
        result = conn.execution_options(
            stream_results=server_side, max_row_buffer=batch or 1000
        ).execute(stmt)

        def fetch_rows(n: int | None) -> Sequence[Any]:
            rows = result.fetchall() if n is None else result.fetchmany(n)
            return [tuple(r) for r in rows]

        return list(result.keys()), fetch_rows
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.construct_params()
    procs = compiled._bind_processors
    params = {k: procs[k](v) if k in procs and v is not None else v for k, v in params.items()}
    if compiled.positional:
        params = tuple(params[k] for k in compiled.positiontup or ())
    raw: Any = conn.connection.driver_connection
    if driver == "psycopg" and server_side:
        cur = raw.cursor(name=f"fw_{uuid.uuid4().hex}")
        cur.itersize = max(batch, 100)
    elif driver == "pymysql" and server_side:
        import pymysql.cursors

        cur = raw.cursor(pymysql.cursors.SSCursor)
    elif driver == "mysqldb" and server_side:
        import MySQLdb.cursors

        cur = raw.cursor(MySQLdb.cursors.SSCursor)
    else:
        cur = raw.cursor()
    if driver in MYSQL_DRIVERS and server_side:
        conn.connection.info[STREAM_CURSOR] = cur
    cur.execute(str(compiled), params)
    names = [d[0] for d in cur.description]

    def fetch(n: int | None) -> Sequence[Any]:
        return cur.fetchall() if n is None else cur.fetchmany(n)

    return names, fetch


def _where(stmt: Any, column: str, make: Callable[[Any], Any]) -> Any:
    """``stmt`` restricted by ``make(column)``; a textual query is wrapped as a subquery first."""
    if isinstance(stmt, sa.Select):
        return stmt.where(make(stmt.selected_columns[column]))
    sub = stmt.subquery("fw_q")
    return sa.select(sub).where(make(sub.c[column]))


def _condition(col: Any, op: str, values: list[Any]) -> Any:
    if op == "in":
        return col.in_(values)
    if op == "between":
        return col.between(values[0], values[1])
    if op == "like":
        return col.like(values[0])
    v = values[0]
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "==": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }
    return ops[op](col, v)


def _is_listlike(value: Any) -> bool:
    return isinstance(value, list | tuple | set | range | np.ndarray | pd.Series | torch.Tensor)


def _plain_list(values: Any) -> list[Any]:
    if isinstance(values, torch.Tensor):
        return values.tolist()
    if isinstance(values, pd.Series | np.ndarray | pd.Index):
        return [v.item() if isinstance(v, np.generic) else v for v in pd.Series(values).tolist()]
    if isinstance(values, str | bytes) or (
        not _is_listlike(values) and not hasattr(values, "__iter__")
    ):
        return [values]
    return list(values)
