"""A TableSource's writes: ``insert``, ``upsert``, ``update`` and ``delete``, each all-or-nothing."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fireworks.database.bulk import (
    _pg_kind,
    bulk_insert,
    copy_binary,
    insert_python,
    qualified,
    quote,
    raw_execute,
)
from fireworks.database.engines import has_mysql_fast_path
from fireworks.database.query import _plain_list
from fireworks.database.schema import ColumnSpec, to_python
from fireworks.database.table.creation import TableCreation

_tmp_ids = itertools.count()
_DELETE_CHUNK = 500


class TableWriting(TableCreation):
    """Writes Messages (or DataFrames, or dicts of columns) into the table, in the pending transaction.

    Each call is one unit: if any row fails, none of that call's rows is written, the error names the
    offending row, and the TableSource stays usable.
    """

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


def _slice(cols: Mapping[str, Any], a: int, b: int) -> dict[str, Any]:
    out = {}
    for c, v in cols.items():
        out[c] = v.iloc[a:b] if isinstance(v, pd.Series) else v[a:b]
    return out


def _check_no_duplicates(label: str, cols: Mapping[str, Any], keys: list[str], what: str) -> None:
    frame = pd.DataFrame({k: pd.Series(cols[k]).reset_index(drop=True) for k in keys})
    dup = frame.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"{what} key ({label}) must be unique within the Message, but row {i} repeats "
            f"{frame.iloc[i].tolist()}; drop the duplicates first"
        )
