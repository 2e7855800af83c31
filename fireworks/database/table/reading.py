"""Reading a TableSource: ``query()`` and, without inputs, the table's committed rows as a stream.

Reading never writes: a TableSource without inputs streams its table (``next()``/iteration give chunks of
``query()``); ``len`` counts the committed rows. Positional indexing is refused with a hint, since a database
cursor only goes forward.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from fireworks.database.query import DBSource
from fireworks.database.table.creation import TableCreation
from fireworks.message import Message


class TableReading(TableCreation):
    """Queries over the table's committed rows, and the table as a forward-only stream."""

    _reader: DBSource | None = None

    def query(
        self, columns: str | Sequence[str] | None = None, *, batch_size: int = 1024
    ) -> DBSource:
        """A :class:`DBSource` over the table's committed rows (all columns, or ``columns``), by primary key.

        ``columns`` is one column name or a list of them; the result can still be filtered on any column of
        the table, selected or not: ``t.query("name").filter("age", ">", 30)``.
        """
        table = self._ensure()
        if columns is None:
            return DBSource(table, self.engine, batch_size)
        names = [columns] if isinstance(columns, str) else list(columns)
        bad = [c for c in names if not isinstance(c, str)]
        if bad:
            raise TypeError(f"columns must be column names (str), but got {bad!r}")
        unknown = [c for c in names if c not in table.c]
        if unknown:
            raise KeyError(
                f"unknown columns {unknown}; table {self.table_name!r} has {list(table.c.keys())}"
            )
        stmt = sa.select(*[table.c[c] for c in names]).order_by(*table.primary_key.columns)
        return DBSource(stmt, self.engine, batch_size)

    # ---- the table as a stream (no inputs) --------------------------------------------------------

    def _read_len(self) -> int:
        return len(self.query())

    def _read_refused(self, what: str) -> TypeError:
        return TypeError(
            f"{what} without inputs reads its table as a stream; use query() (and "
            f"LoopingSource/CachingSource or DBSource.get for random access)"
        )

    def _read_next(self) -> Message:
        if self._reader is None:
            self._reader = self.query()
        return next(self._reader)

    def _read_reset(self) -> None:
        self._reader = None

    def _read_stream(self, start: int) -> Iterator[Message]:
        reader = self.query()
        return reader._stream(start)

    def _read_state(self) -> dict[str, Any]:
        return {"reader": self._reader.state_dict()} if self._reader is not None else {}

    def _load_read_state(self, state: Mapping[str, Any]) -> None:
        self._reader = None
        if "reader" in state:
            self._reader = self.query()
            self._reader.load_state_dict(state["reader"])
