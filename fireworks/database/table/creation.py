"""A TableSource's schema: reflect the table, or create it from declared columns or the first Message."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fireworks._sqlite import immediate
from fireworks.database.query import reflect, table_specs
from fireworks.database.schema import (
    ColumnSpec,
    SchemaError,
    check_compatible,
    check_length,
    columns_of,
    load_specs,
    save_specs,
    spec_from_python_type,
    spec_from_sql_type,
    spec_of,
    sql_type,
)
from fireworks.database.table.connection import TableConnection

_CREATE_TRIES = 8


class TableCreation(TableConnection):
    """Finds the table (reflected once), creates it when missing, and checks Messages against it.

    The table comes from ``columns`` (name → SQLAlchemy type, ``sa.Column`` or numpy/Python type), a declared
    ``sa.Table``, or else the first Message written; it gets an autoincrement integer ``id`` primary key unless
    a key is declared.
    """

    def _init_schema(self, table: str | sa.Table, columns: Mapping[str, Any] | None) -> None:
        if not isinstance(table, str | sa.Table):
            raise TypeError(f"table must be a table name or a sqlalchemy Table, but got {table!r}")
        if isinstance(table, str) and not table:
            raise ValueError("table name must not be empty")
        if columns is not None and not isinstance(columns, Mapping):
            raise TypeError(
                f"columns must map column names to types, but got {type(columns).__name__}"
            )
        self.table_name = table if isinstance(table, str) else table.name
        self._declared = table if isinstance(table, sa.Table) else None
        self._columns = dict(columns) if columns is not None else None
        self._table: sa.Table | None = None
        self._specs: dict[str, ColumnSpec] = {}

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
        table = self.table
        if table is not None:
            return table
        if self._declared is None and self._columns is None and not first:
            raise ValueError(
                f"table {self.table_name!r} does not exist and there is nothing to create it from; pass "
                f"columns={{name: type}} or write a Message first"
            )
        cols, specs = self._new_columns(first or {})
        new = sa.Table(self.table_name, sa.MetaData(), *cols)
        if self._open() and self.dialect != "mysql":
            # transactional DDL, in the pending transaction; a savepoint so that losing a race to create
            # the table rolls back only the attempt
            try:
                with self._conn.begin_nested():  # type: ignore[union-attr]
                    new.create(self._conn, checkfirst=True)  # type: ignore[arg-type]
                    save_specs(self._conn, self.table_name, specs)  # type: ignore[arg-type]
            except sa.exc.DBAPIError:
                if not sa.inspect(self._conn).has_table(self.table_name):  # type: ignore[arg-type]
                    raise  # not a lost race: another process did not create it first
        else:
            self._create_apart(new, specs)
        self._table = None
        table = self.table
        assert table is not None
        return table

    def _create_apart(self, new: sa.Table, specs: Mapping[str, ColumnSpec]) -> None:
        """Create ``new`` and record its specs in a transaction of its own. Another process may be creating
        the same table at this moment (DataLoader workers writing through one TableSource): when that makes
        this one fail, wait until the table and its specs are there, and use them."""
        for attempt in range(_CREATE_TRIES):
            try:
                with self.engine.connect() as conn:
                    immediate(conn)
                    with conn.begin():
                        # specs first: MariaDB commits before DDL, so a table is never seen without its specs
                        save_specs(conn, self.table_name, specs)
                        new.create(conn, checkfirst=True)
                return
            except sa.exc.DBAPIError:
                if attempt == _CREATE_TRIES - 1:
                    raise
                time.sleep(0.02 * 2**attempt)
                with self.engine.connect() as conn:
                    if sa.inspect(conn).has_table(self.table_name) and load_specs(
                        conn, self.table_name
                    ):
                        return

    def _new_columns(
        self, first: Mapping[str, ColumnSpec]
    ) -> tuple[list[sa.Column], dict[str, ColumnSpec]]:
        if self._declared is not None:
            cols = [c._copy() for c in self._declared.columns]
            return cols, {c.name: spec_from_sql_type(c.type, self.dialect) for c in cols}
        cols = []
        specs: dict[str, ColumnSpec] = {}
        for cname, tp in (self._columns or {}).items():
            col, spec = self._declared_column(cname, tp)
            cols.append(col)
            specs[cname] = spec
        known = {c.name for c in cols}
        for cname, spec in first.items():
            if cname not in known:
                cols.append(sa.Column(cname, sql_type(spec, self.dialect), nullable=True))
                specs[cname] = spec
        if any(c.primary_key for c in cols):
            return cols, specs
        if "id" in known or "id" in first:
            raise SchemaError(
                f"table {self.table_name!r} would get an autoincrement 'id' primary key, but "
                f"the data already has a column 'id'; declare it as the key with "
                f"columns={{'id': sa.Column(sa.BigInteger, primary_key=True)}}"
            )
        pk = sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
        return [pk, *cols], {"id": ColumnSpec("int", "int64", nullable=False), **specs}

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
        """``msg``'s columns checked against the table (created from them when missing): (table, columns,
        their specs, row count)."""
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
