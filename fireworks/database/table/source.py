"""TableSource: a database table as a Source, written to directly or mid-pipeline."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from fireworks.database.table.passthrough import PassThrough
from fireworks.database.table.reading import TableReading
from fireworks.database.table.writing import TableWriting
from fireworks.message import Message
from fireworks.sources.base import Source


class TableSource(PassThrough, TableWriting, TableReading, Source):
    """A database table as a Source: ``insert``, ``upsert``, ``update`` and ``delete`` Messages, then ``commit``.

    ``engine`` is an Engine or a URL. The table is created when missing, from ``columns`` (name → SQLAlchemy
    type, ``sa.Column``, or numpy/Python type) or else from the first Message written; it gets an
    autoincrement integer ``id`` primary key unless ``columns`` names a key (``sa.Column(..., primary_key=True)``).

    Writes are pending until :meth:`commit` (or :meth:`rollback`); a ``with`` block commits on success and
    rolls back on error. Each call is one unit: if any row fails, none of that call's rows is written, the error
    names the offending row, and the TableSource stays usable.

    Without ``inputs`` it is a reader: iterating it streams the table's committed rows (as :meth:`query`
    does), and reading never writes. With ``inputs`` it writes through: each item that flows through is
    inserted and committed (one transaction per item or block served), exactly once however the pipeline is
    consumed — iterated, drained with ``next()``, indexed (``t[k]`` twice writes item ``k`` once), batched,
    prefetched, cached, handed to a DataLoader or resumed from a ``state_dict`` — then passed on unchanged
    (see :mod:`fireworks.database.table.passthrough` for the rule).

    >>> import sqlalchemy as sa
    >>> from fireworks import Message, TableSource
    >>> engine = sa.create_engine("sqlite://")
    >>> people = TableSource("people", engine, columns={"name": sa.Column(sa.String(64), primary_key=True)})
    >>> people.insert(Message({"name": ["ada", "alan"], "age": [36, 41]}))
    >>> people.upsert(Message({"name": ["ada"], "age": [37]}), key="name")
    >>> people.commit()
    >>> people.query().all()["age"].tolist()
    [37, 41]
    >>> log = TableSource("log", engine, inputs=Message({"x": [1, 2, 3]}))
    >>> log[0]["x"].tolist(), log[0]["x"].tolist(), len(log.query())
    ([1], [1], 1)
    """

    # it owns the meaning its fast paths serve: a block read or its stream writes each item once
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
        self._init_schema(table, columns)
        self._init_connection(engine)
        self._init_pass_through()

    def _writes_through(self) -> bool:
        return bool(self.inputs)

    # ---- the Source protocol: reading without inputs, writing through with them -------------------

    def has_random_access(self) -> bool:
        return self._writes_through() and all(i.has_random_access() for i in self.inputs.values())

    def __len__(self) -> int:
        if not self._writes_through():
            return self._read_len()
        return self._upstream_len()

    def __getitem__(self, index: Any) -> Message:
        if not self._writes_through():
            raise self._read_refused(self.describe())
        return self._pass_getitem(index)

    def __next__(self) -> Message:
        if not self._writes_through():
            return self._read_next()
        return self._pass_next(self.has_random_access())

    def reset(self) -> Any:
        """Rewind: the next ``next()`` starts a new pass (already written items are not written again)."""
        Source.reset(self)
        self._pass_pos = 0
        self._read_reset()
        return self

    def _upstream_item(self, index: Any) -> Message:
        return Source.__getitem__(self, index)

    def _upstream_len(self) -> int:
        return Source.__len__(self)

    def _own_state(self) -> dict[str, Any]:
        state = super()._own_state()
        state.update(self._pass_state() if self._writes_through() else self._read_state())
        return state

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        super()._load_own_state(state)
        if self._writes_through():
            self._load_pass_state(state)
        else:
            self._load_read_state(state)

    # ---- today's pass planner: route every pass through the methods above -------------------------

    def _iterates_chunks(self) -> bool:
        if not self._writes_through():
            return True
        return not self.has_random_access() and super()._iterates_chunks()

    def _windows(self, start: int) -> Any:
        return None  # windows of batches would skip __getitem__, and with it the writes

    def _stream(self, start: int) -> Iterator[Message]:
        if not self._writes_through():
            return self._read_stream(start)
        return self._pass_stream(Source._stream(self, start), start)

    # ---- pickling (DataLoader workers, process executors) ------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = Source.__getstate__(self)
        state.pop("_reader", None)
        return self._connection_state(state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        Source.__setstate__(self, self._restore_connection_state(state))

    def __repr__(self) -> str:
        return f"<TableSource {self.table_name!r} on {self.dialect}>"
