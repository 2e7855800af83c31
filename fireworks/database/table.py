"""TableSource: write Messages into a table of any SQLAlchemy database, alone or mid-pipeline."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fireworks._sqlite import immediate
from fireworks.database.bulk import (
    bulk_insert,
    copy_binary,
    insert_python,
    qualified,
    quote,
    raw_execute,
)
from fireworks.database.engines import dialect_name, get_engine, has_mysql_fast_path
from fireworks.database.query import DBSource, reflect, table_specs
from fireworks.database.schema import (
    ColumnSpec,
    DatabaseError,
    SchemaError,
    check_compatible,
    check_length,
    columns_of,
    save_specs,
    spec_from_python_type,
    spec_from_sql_type,
    spec_of,
    sql_type,
    to_python,
)
from fireworks.message import Message
from fireworks.sources.base import Source

_OPEN: weakref.WeakSet[TableSource] = weakref.WeakSet()  # TableSources with a transaction open
_ORPHANS: list[
    Any
] = []  # connections inherited over fork: never touched, never closed in the child
_tmp_ids = itertools.count()
_DELETE_CHUNK = 500


class TableSource(Source):
    """A database table as a Source: ``insert``, ``upsert``, ``update`` and ``delete`` Messages, then ``commit``.

    ``engine`` is an Engine or a URL. The table is created when missing, from ``columns`` (name → SQLAlchemy
    type, ``sa.Column``, or numpy/Python type) or else from the first Message written; it gets an
    autoincrement integer ``id`` primary key unless ``columns`` names a key (``sa.Column(..., primary_key=True)``).

    Writes are pending until :meth:`commit` (or :meth:`rollback`); a ``with`` block commits on success and
    rolls back on error. Each call is one unit: if any row fails, none of that call's rows is written, the error
    names the offending row, and the TableSource stays usable. Reads (:meth:`query`, iteration) see committed
    rows. With ``inputs``, every Message pulled through the TableSource is inserted and committed (one
    transaction per batch), then passed on unchanged.

    >>> import sqlalchemy as sa
    >>> from fireworks import Message, TableSource
    >>> engine = sa.create_engine("sqlite://")
    >>> people = TableSource("people", engine, columns={"name": sa.Column(sa.String(64), primary_key=True)})
    >>> people.insert(Message({"name": ["ada", "alan"], "age": [36, 41]}))
    >>> people.upsert(Message({"name": ["ada"], "age": [37]}), key="name")
    >>> people.commit()
    >>> people.query().all()["age"].tolist()
    [37, 41]
    """

    _one_to_one = True
    # its own meaning (reads write through): a block read or its stream writes each item once
    _fast_paths = frozenset({"blocks", "stream", "chunks"})

    def __init__(
        self,
        table: str | sa.Table,
        engine: str | sa.Engine,
        columns: Mapping[str, Any] | None = None,
        inputs: Any = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(inputs, name=name)
        if not isinstance(table, str | sa.Table):
            raise TypeError(f"table must be a table name or a sqlalchemy Table, but got {table!r}")
        if isinstance(table, str) and not table:
            raise ValueError("table name must not be empty")
        if columns is not None and not isinstance(columns, Mapping):
            raise TypeError(
                f"columns must map column names to types, but got {type(columns).__name__}"
            )
        self.engine = get_engine(engine)
        self.dialect = dialect_name(self.engine)
        self.table_name = table if isinstance(table, str) else table.name
        self._declared = table if isinstance(table, sa.Table) else None
        self._columns = dict(columns) if columns is not None else None
        self._table: sa.Table | None = None
        self._specs: dict[str, ColumnSpec] = {}
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None
        self._pid = os.getpid()

    # ---- schema ------------------------------------------------------------------------------------

    @property
    def table(self) -> sa.Table | None:
        """The ``sqlalchemy.Table`` (reflected or created), or None while the table does not exist yet."""
        if self._table is None:
            with self._reading() as conn:
                if sa.inspect(conn).has_table(self.table_name):
                    self._table = reflect(conn, self.table_name)
                    self._specs = table_specs(conn, self._table, self.dialect)
        return self._table

    @property
    def specs(self) -> dict[str, ColumnSpec]:
        """Column name → :class:`ColumnSpec` of the table (empty while it does not exist)."""
        self.table  # noqa: B018 - reflects
        return dict(self._specs)

    def _ensure(self, first: Mapping[str, ColumnSpec] | None = None) -> sa.Table:
        if self._table is not None or self.dialect != "mysql":
            return self._ensure_unlocked(first)
        # MariaDB commits CREATE TABLE before the column specs are saved: a named lock keeps another
        # process from reflecting the new table in between (it would misread tensor columns)
        key = "fireworks:" + hashlib.sha1(self.table_name.encode()).hexdigest()
        with self.engine.connect() as lock:
            lock.execute(sa.text("SELECT GET_LOCK(:key, 60)"), {"key": key})
            try:
                return self._ensure_unlocked(first)
            finally:
                lock.execute(sa.text("SELECT RELEASE_LOCK(:key)"), {"key": key})

    def _ensure_unlocked(self, first: Mapping[str, ColumnSpec] | None) -> sa.Table:
        table = self.table
        if table is not None:
            return table
        if self._declared is None and self._columns is None and not first:
            raise ValueError(
                f"table {self.table_name!r} does not exist and there is nothing to create it from; pass "
                f"columns={{name: type}} or write a Message first"
            )
        specs: dict[str, ColumnSpec] = {}
        cols: list[sa.Column] = []
        if self._declared is not None:
            cols = [c._copy() for c in self._declared.columns]
            specs = {c.name: spec_from_sql_type(c.type, self.dialect) for c in cols}
        else:
            for cname, tp in (self._columns or {}).items():
                col, spec = self._declared_column(cname, tp)
                cols.append(col)
                specs[cname] = spec
            known = {c.name for c in cols}
            for cname, spec in (first or {}).items():
                if cname not in known:
                    cols.append(sa.Column(cname, sql_type(spec, self.dialect), nullable=True))
                    specs[cname] = spec
            if not any(c.primary_key for c in cols):
                if "id" in known or (first and "id" in first):
                    raise SchemaError(
                        f"table {self.table_name!r} would get an autoincrement 'id' primary key, but "
                        f"the data already has a column 'id'; declare it as the key with "
                        f"columns={{'id': sa.Column(sa.BigInteger, primary_key=True)}}"
                    )
                pk = sa.Column(
                    "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
                )
                cols.insert(0, pk)
                specs = {"id": ColumnSpec("int", "int64", nullable=False), **specs}
        new = sa.Table(self.table_name, sa.MetaData(), *cols)
        try:
            if self._open() and self.dialect != "mysql":
                # transactional DDL, in the pending transaction; a savepoint so that losing a race to
                # create the table rolls back only the attempt
                with self._conn.begin_nested():  # type: ignore[union-attr]
                    new.create(self._conn, checkfirst=True)  # type: ignore[arg-type]
                    save_specs(self._conn, self.table_name, specs)  # type: ignore[arg-type]
            else:
                with self.engine.connect() as conn:
                    immediate(conn)
                    with conn.begin():
                        new.create(conn, checkfirst=True)
                        save_specs(conn, self.table_name, specs)
        except sa.exc.DBAPIError:
            with self._reading() as conn:  # another process created it first: use theirs
                if not sa.inspect(conn).has_table(self.table_name):
                    raise
        self._table = None
        table = self.table
        assert table is not None
        return table

    def _declared_column(self, cname: str, tp: Any) -> tuple[sa.Column, ColumnSpec]:
        if isinstance(tp, sa.Column):
            col = tp._copy()
            col.name = col.key = cname
            return col, spec_from_sql_type(col.type, self.dialect)
        if isinstance(tp, sa.types.TypeEngine) or (
            isinstance(tp, type) and issubclass(tp, sa.types.TypeEngine)
        ):
            sqlt = tp() if isinstance(tp, type) else tp
            return sa.Column(cname, sqlt), spec_from_sql_type(sqlt, self.dialect)
        spec = spec_from_python_type(cname, tp)
        return sa.Column(cname, sql_type(spec, self.dialect)), spec

    def _prepare(
        self, msg: Any, what: str
    ) -> tuple[sa.Table, dict[str, Any], dict[str, ColumnSpec], int]:
        cols = columns_of(msg)
        n = len(next(iter(cols.values()))) if cols else 0
        specs = {c: spec_of(c, v) for c, v in cols.items()}
        table = self._ensure(specs)
        extra = [c for c in cols if c not in table.c]
        if extra:
            raise SchemaError(
                f"cannot {what} columns {extra}: table {self.table_name!r} has no such columns (it has "
                f"{list(table.c.keys())}); drop them from the Message or write to a new table"
            )
        for c, v in cols.items():
            check_compatible(self.table_name, c, v, specs[c], self._specs[c], table.c[c].type)
            length = getattr(table.c[c].type, "length", None)
            if specs[c].kind == "str" and length:
                check_length(c, pd.Series(v), length)
            if specs[c].kind == "datetime" and (specs[c].tz is None) != (self._specs[c].tz is None):
                raise SchemaError(
                    f"column {c!r} of table {self.table_name!r} holds "
                    f"{'tz-aware' if self._specs[c].tz else 'naive'} datetimes, but the Message column "
                    f"is {'tz-aware' if specs[c].tz else 'naive'}; use .dt.tz_localize/.dt.tz_convert first"
                )
        return table, cols, specs, n

    # ---- connection and transactions ------------------------------------------------------------

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

    def __enter__(self) -> TableSource:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._finish(commit=exc_type is None)

    def __del__(self) -> None:
        try:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
        except Exception:
            pass

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
            bad = self._locate(conn, write, n, errors)
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

    @staticmethod
    def _locate(
        conn: sa.Connection, write: Callable[[sa.Connection, int, int], Any], n: int, errors: Any
    ) -> int:
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

    # ---- writing ---------------------------------------------------------------------------------

    def insert(self, msg: Any) -> None:
        """Insert the rows of ``msg`` (a Message, DataFrame or dict of columns), all or none of them."""
        table, cols, specs, n = self._prepare(msg, "insert")
        if n == 0:
            return

        def write(conn: sa.Connection, a: int, b: int) -> None:
            bulk_insert(conn, table, _slice(cols, a, b), specs, self.dialect)

        self._atomic("insert", n, cols, write)

    def upsert(self, msg: Any, key: str | Sequence[str]) -> None:
        """Insert the rows of ``msg``, updating the rows whose ``key`` already exists (key must be unique)."""
        table, cols, specs, n = self._prepare(msg, "upsert")
        keys = [key] if isinstance(key, str) else list(key)
        self._check_unique_key(table, keys, cols)
        if n == 0:
            return
        names = list(cols)
        rest = [c for c in names if c not in keys]
        q = self._quoter()
        d = self.dialect
        if d == "postgresql" or d == "sqlite":
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in rest)
            suffix = f" ON CONFLICT ({', '.join(q(k) for k in keys)}) " + (
                f"DO UPDATE SET {sets}" if rest else "DO NOTHING"
            )
        elif d == "mysql":
            sets = ", ".join(f"{q(c)} = VALUES({q(c)})" for c in rest or keys[:1])
            suffix = f" ON DUPLICATE KEY UPDATE {sets}"
        else:
            raise NotImplementedError(
                f"upsert supports PostgreSQL, SQLite and MariaDB/MySQL, but this engine is {d!r}; "
                f"delete the keys and insert instead"
            )

        def write(conn: sa.Connection, a: int, b: int) -> None:
            part = _slice(cols, a, b)
            if d == "postgresql" and conn.dialect.driver == "psycopg":
                tmp = self._temp_copy(conn, table, part, specs)
                cl = ", ".join(q(c) for c in names)
                raw_execute(
                    conn,
                    f"INSERT INTO {qualified(conn, table)} ({cl}) SELECT {cl} FROM {q(tmp)}{suffix}",
                )
                raw_execute(conn, f"DROP TABLE {q(tmp)}")
                return
            py = [to_python(c, part[c], specs[c], d, table.c[c].type) for c in names]
            insert_python(conn, table, names, py, d, suffix=suffix)

        self._atomic("upsert", n, cols, write)

    def update(self, column: str, msg: Any) -> None:
        """Set the other columns of ``msg`` on the rows whose ``column`` equals ``msg[column]``."""
        table, cols, specs, n = self._prepare(msg, "update")
        if column not in cols:
            raise KeyError(
                f"update matches rows on {column!r}, but the Message has no such column ({list(cols)})"
            )
        _check_no_duplicates(column, cols, [column], "update")
        rest = [c for c in cols if c != column]
        if n == 0 or not rest:
            return
        q = self._quoter()
        d = self.dialect

        def write(conn: sa.Connection, a: int, b: int) -> None:
            part = _slice(cols, a, b)
            target = qualified(conn, table)
            if d == "postgresql" and conn.dialect.driver == "psycopg":
                tmp = self._temp_copy(conn, table, part, specs)
                sets = ", ".join(f"{q(c)} = s.{q(c)}" for c in rest)
                raw_execute(
                    conn,
                    f"UPDATE {target} AS t SET {sets} FROM {q(tmp)} AS s "
                    f"WHERE t.{q(column)} = s.{q(column)}",
                )
                raw_execute(conn, f"DROP TABLE {q(tmp)}")
                return
            if has_mysql_fast_path(conn):
                tmp = self._temp_copy(conn, table, part, specs, index=column)
                sets = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in rest)
                raw_execute(
                    conn,
                    f"UPDATE {target} AS t JOIN {q(tmp)} AS s ON t.{q(column)} = s.{q(column)} "
                    f"SET {sets}",
                )
                raw_execute(conn, f"DROP TEMPORARY TABLE {q(tmp)}")
                return
            stmt = (
                sa.update(table)
                .where(table.c[column] == sa.bindparam("fw_key"))
                .values({c: sa.bindparam(f"fw_{i}") for i, c in enumerate(rest)})
            )
            py = {c: to_python(c, part[c], specs[c], d, table.c[c].type) for c in cols}
            params = [
                {"fw_key": k, **{f"fw_{i}": v for i, v in enumerate(vals)}}
                for k, *vals in zip(py[column], *(py[c] for c in rest))
            ]
            conn.execute(stmt, params)

        self._atomic("update", n, cols, write)

    def delete(self, column: str, values: Any) -> int:
        """Delete the rows whose ``column`` is in ``values``; returns how many were deleted."""
        table = self._ensure()
        if column not in table.c:
            raise KeyError(
                f"table {self.table_name!r} has no column {column!r} (it has {list(table.c.keys())})"
            )
        from fireworks.database.query import _plain_list

        keys = _plain_list(values)

        def write(conn: sa.Connection, a: int, b: int) -> int:
            count = 0
            for i in range(a, b, _DELETE_CHUNK):
                chunk = keys[i : min(b, i + _DELETE_CHUNK)]
                count += conn.execute(table.delete().where(table.c[column].in_(chunk))).rowcount
            return count

        return int(self._atomic("delete", len(keys), {column: keys}, write) or 0)

    def _quoter(self) -> Callable[[str], str]:
        return functools.partial(quote, self.engine)

    def _temp_copy(
        self,
        conn: sa.Connection,
        table: sa.Table,
        part: Mapping[str, Any],
        specs: Mapping[str, ColumnSpec],
        index: str | None = None,
    ) -> str:
        """COPY ``part`` into a new temporary table shaped like ``table``'s columns; returns its name.

        ``index`` names a column to index (MariaDB joins on it row by row without one)."""
        tmp = f"fw_tmp_{os.getpid()}_{next(_tmp_ids)}"
        names = list(part)
        cl = ", ".join(quote(conn, c) for c in names)
        source = f"SELECT {cl} FROM {qualified(conn, table)}"
        # a temporary table does not end the transaction on MariaDB/MySQL (other DDL would)
        if self.dialect == "mysql":
            idx = ""
            if index is not None:
                unbounded = isinstance(
                    table.c[index].type, sa.Text | sa.LargeBinary
                ) or not getattr(table.c[index].type, "length", 1)
                idx = f"(INDEX ({quote(conn, index)}{'(191)' if unbounded else ''})) "
            raw_execute(conn, f"CREATE TEMPORARY TABLE {quote(conn, tmp)} {idx}AS {source} LIMIT 0")
        else:
            raw_execute(conn, f"CREATE TEMP TABLE {quote(conn, tmp)} AS {source} WITH NO DATA")
        shadow = sa.Table(tmp, sa.MetaData(), *[sa.Column(c, table.c[c].type) for c in names])
        n = len(next(iter(part.values())))
        from fireworks.database.bulk import _pg_kind

        kinds = {c: _pg_kind(table.c[c].type) for c in names}
        if self.dialect == "postgresql" and all(k is not None for k in kinds.values()):
            copy_binary(conn, shadow, {c: (part[c], specs[c], kinds[c]) for c in names}, n)  # type: ignore[misc]
        else:
            py = [to_python(c, part[c], specs[c], self.dialect, table.c[c].type) for c in names]
            insert_python(conn, shadow, names, py, self.dialect)
        return tmp

    def _check_unique_key(self, table: sa.Table, keys: list[str], cols: Mapping[str, Any]) -> None:
        missing = [k for k in keys if k not in cols]
        if missing:
            raise KeyError(
                f"upsert key {missing} is not a column of the Message (it has {list(cols)})"
            )
        with self._reading() as conn:
            insp = sa.inspect(conn)
            uniques: list[set[Any]] = [
                set(insp.get_pk_constraint(self.table_name)["constrained_columns"])
            ]
            uniques += [
                set(u["column_names"]) for u in insp.get_unique_constraints(self.table_name)
            ]
            uniques += [
                set(i["column_names"]) for i in insp.get_indexes(self.table_name) if i.get("unique")
            ]
        if set(keys) not in uniques:
            raise ValueError(
                f"upsert key {keys} is not unique in table {self.table_name!r} (no primary key or unique "
                f"constraint on exactly those columns); declare it, e.g. "
                f"columns={{{keys[0]!r}: sa.Column(sa.String(255), primary_key=True)}}, or add a unique index"
            )
        _check_no_duplicates(", ".join(keys), cols, keys, "upsert")

    # ---- reading -------------------------------------------------------------------------------------

    def query(self, columns: Sequence[str] | None = None, *, batch_size: int = 1024) -> DBSource:
        """A :class:`DBSource` over the table's committed rows (all columns, or ``columns``), by primary key."""
        table = self._ensure()
        if columns is None:
            return DBSource(table, self.engine, batch_size)
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise KeyError(
                f"unknown columns {unknown}; table {self.table_name!r} has {list(table.c.keys())}"
            )
        stmt = sa.select(*[table.c[c] for c in columns]).order_by(*table.primary_key.columns)
        return DBSource(stmt, self.engine, batch_size)

    # ---- as a Source -----------------------------------------------------------------------------

    def has_random_access(self) -> bool:
        return bool(self.inputs) and super().has_random_access()

    def _iterates_chunks(self) -> bool:
        return not self.inputs or super()._iterates_chunks()

    def __len__(self) -> int:
        if not self.inputs:
            return len(self.query())
        return super().__len__()

    def __getitem__(self, index: Any) -> Message:
        if not self.inputs:
            raise TypeError(
                f"{self.describe()} without inputs reads its table as a stream; use query() (and "
                f"LoopingSource/CachingSource or DBSource.get for random access)"
            )
        msg = super().__getitem__(index)
        self._write_through(msg)
        return msg

    def _stream(self, start: int) -> Iterator[Message]:
        if not self.inputs:
            yield from self.query()._stream(start)
            return
        for msg in super()._stream(start):
            self._write_through(msg)
            yield msg

    def _write_through(self, msg: Message) -> None:
        if len(msg):
            self.insert(msg)
            self.commit()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["engine"] = self.engine.url.render_as_string(hide_password=False)
        state["_conn"] = state["_tx"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["engine"] = get_engine(state["engine"])
        state["_pid"] = os.getpid()
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<TableSource {self.table_name!r} on {self.dialect}>"


def _slice(cols: Mapping[str, Any], a: int, b: int) -> dict[str, Any]:
    out = {}
    for c, v in cols.items():
        out[c] = v.iloc[a:b] if isinstance(v, pd.Series) else v[a:b]
    return out


def _show(values: Any, i: int) -> Any:
    v = values.iloc[i] if isinstance(values, pd.Series) else values[i]
    if hasattr(v, "tolist") and np.ndim(v) > 0:
        v = v.tolist()
        return v if len(str(v)) < 80 else f"{str(v)[:77]}..."
    return v.item() if isinstance(v, np.generic) or (hasattr(v, "item") and np.ndim(v) == 0) else v


def _check_no_duplicates(label: str, cols: Mapping[str, Any], keys: list[str], what: str) -> None:
    frame = pd.DataFrame({k: pd.Series(cols[k]).reset_index(drop=True) for k in keys})
    dup = frame.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"{what} key ({label}) must be unique within the Message, but row {i} repeats "
            f"{frame.iloc[i].tolist()}; drop the duplicates first"
        )
