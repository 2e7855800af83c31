"""File readers that stream in chunks with bounded memory: CSV, JSON Lines and Parquet.

CSV and JSON Lines are forward-only (wrap them in ``LoopingSource`` for random access); Parquet has ``len``
and random access from its row-group metadata. Opening a reader reads nothing: the file is touched on the
first pull.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fireworks._damage import check_text_ending, reading
from fireworks.sources.base import Source
from fireworks.sources.errors import message_type as _message_type
from fireworks.sources.indexing import normalize_index


def _check_path(path: str | os.PathLike[str], kind: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{kind} needs a file path, but got {type(path).__name__}")
    return Path(path)


def _check_chunk(chunk_size: int) -> int:
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive int, but got {chunk_size!r}")
    return int(chunk_size)


def _rechunk(batches: Iterator[Any], chunk_size: int, start: int) -> Iterator[Any]:
    """Arrow record batches of any size → Messages of exactly ``chunk_size`` rows (the last may be short)."""
    import pyarrow as pa

    from_arrow = _message_type().from_arrow
    pending: list[Any] = []
    have = 0
    produced = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        have += batch.num_rows
        if have < chunk_size:
            continue
        table = pa.Table.from_batches(pending)
        full = (have // chunk_size) * chunk_size
        for a in range(0, full, chunk_size):
            if produced >= start:
                yield from_arrow(table.slice(a, chunk_size))
            produced += 1
        rest = table.slice(full)
        pending = rest.to_batches() if rest.num_rows else []
        have -= full
    if have and produced >= start:
        yield from_arrow(pa.Table.from_batches(pending))


class CSVSource(Source):
    """Streams a CSV file as Messages of up to ``chunk_size`` rows (``pyarrow.csv.open_csv``).

    Types are inferred by Arrow; ``read_options``/``parse_options``/``convert_options`` pass through.

    >>> import pathlib, tempfile
    >>> from fireworks import CSVSource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = path.write_text("x,y\\n1,a\\n2,b\\n3,c\\n")
    >>> [len(m) for m in CSVSource(path, chunk_size=2)]
    [2, 1]
    """

    _random_access = False
    _chunked = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_size: int = 65536,
        *,
        read_options: Any = None,
        parse_options: Any = None,
        convert_options: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = _check_path(path, "CSVSource")
        self.chunk_size = _check_chunk(chunk_size)
        self.read_options = read_options
        self.parse_options = parse_options
        self.convert_options = convert_options

    def _stream(self, start: int) -> Iterator[Any]:
        from pyarrow import csv

        check_text_ending(self.path, "CSV")
        with reading(self.path, "CSV"):
            reader = csv.open_csv(
                self.path,
                read_options=self.read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            )
            try:
                yield from _rechunk(iter(reader), self.chunk_size, start)
            finally:
                reader.close()


class JSONLinesSource(Source):
    """Streams a JSON Lines file (one object per line) as Messages of up to ``chunk_size`` rows.

    >>> import pathlib, tempfile
    >>> from fireworks import JSONLinesSource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_text('{"x": 1}\\n{"x": 2}\\n')
    >>> next(iter(JSONLinesSource(path)))["x"].tolist()
    [1, 2]
    """

    _random_access = False
    _chunked = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_size: int = 65536,
        *,
        block_size: int = 1 << 20,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = _check_path(path, "JSONLinesSource")
        self.chunk_size = _check_chunk(chunk_size)
        self.block_size = int(block_size)

    def _stream(self, start: int) -> Iterator[Any]:
        from pyarrow import json

        options = json.ReadOptions(block_size=self.block_size)
        check_text_ending(self.path, "JSON Lines")
        with reading(self.path, "JSON Lines"):
            reader = json.open_json(self.path, read_options=options)
            try:
                yield from _rechunk(iter(reader), self.chunk_size, start)
            finally:
                reader.close()


class ParquetSource(Source):
    """A Parquet file: ``len`` and random access from the row-group metadata; a pass yields row groups.

    ``p[index]`` reads only the row groups it touches. ``cache_row_groups`` says how many decoded row
    groups stay in memory: an int bounds them (least recently used go first), for files that do not fit;
    ``None`` keeps them all, and a request spanning several groups loads the whole file once, so shuffled
    access costs one gather per request. The default ``"auto"`` picks ``None`` when the file's
    uncompressed size is at most ``AUTO_WHOLE_FILE_BYTES`` (512 MiB) and 8 row groups otherwise, so a
    file larger than memory streams with bounded memory without any setting.

    >>> import pathlib, tempfile
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from fireworks import ParquetSource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.parquet"
    >>> pq.write_table(pa.table({"x": list(range(10))}), path, row_group_size=4)
    >>> p = ParquetSource(path)
    >>> len(p), p[[9, 0]]["x"].tolist(), [len(m) for m in p]
    (10, [9, 0], [4, 4, 2])
    """

    _random_access = True
    _chunked = True
    _fast_paths = frozenset({"blocks"})
    _transient = ("_file",)
    AUTO_WHOLE_FILE_BYTES = 512 * 2**20
    AUTO_ROW_GROUPS = 8

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        cache_row_groups: int | Literal["auto"] | None = "auto",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = _check_path(path, "ParquetSource")
        self.columns = columns
        if cache_row_groups != "auto" and cache_row_groups is not None and cache_row_groups < 1:
            raise ValueError(
                f"cache_row_groups must be 'auto', None or >= 1, but got {cache_row_groups!r}"
            )
        self._cache_row_groups_setting = cache_row_groups
        self.cache_row_groups: int | None = None if cache_row_groups == "auto" else cache_row_groups
        self._file: Any = None
        self._starts: np.ndarray | None = None
        self._groups: OrderedDict[int, Any] = OrderedDict()
        self._whole: Any = None

    def _meta(self) -> tuple[Any, np.ndarray]:
        if self.__dict__.get("_file") is None:
            import pyarrow.parquet as pq

            with reading(self.path, "Parquet"):
                self._file = pq.ParquetFile(self.path)
            sizes = [
                self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)
            ]
            self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
            if self._cache_row_groups_setting == "auto":
                meta = self._file.metadata
                nbytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                self.cache_row_groups = (
                    None if nbytes <= self.AUTO_WHOLE_FILE_BYTES else self.AUTO_ROW_GROUPS
                )
        assert self._starts is not None
        return self._file, self._starts

    @property
    def _in_memory(self) -> bool:
        # every row group decoded is kept: a shuffler gains nothing by copying the rows (see ShufflerSource)
        self._meta()
        return self.cache_row_groups is None

    @property
    def num_row_groups(self) -> int:
        """How many row groups the file has (one item per row group when iterated)."""
        return int(self._meta()[1].shape[0] - 1)

    def __len__(self) -> int:
        return int(self._meta()[1][-1])

    def _read_group(self, k: int, copy: bool = True) -> Any:
        from fireworks._message_io import from_arrow

        file, _ = self._meta()
        with reading(self.path, "Parquet"):
            return from_arrow(file.read_row_group(k, columns=self.columns), copy=copy)

    # the row groups and the whole file kept here are never shown (indexing them makes new Messages), so
    # they stay in Arrow's buffers where they can
    def _group(self, k: int) -> Any:
        group = self._groups.get(k)
        if group is None:
            group = self._read_group(k, copy=False)
            self._groups[k] = group
            if self.cache_row_groups is not None:
                while len(self._groups) > self.cache_row_groups:
                    self._groups.popitem(last=False)
        else:
            self._groups.move_to_end(k)
        return group

    def _load_whole(self) -> Any:
        if self._whole is None:
            file, _ = self._meta()
            # one chunk per column: gathers on chunked Arrow arrays are many times slower
            with reading(self.path, "Parquet"):
                table = file.read(columns=self.columns).combine_chunks()
            from fireworks._message_io import from_arrow

            self._whole = from_arrow(table, copy=False)
            self._groups.clear()
        return self._whole

    def __getitem__(self, index: Any) -> Any:
        if self._whole is not None:
            if isinstance(index, (int, np.integer)):
                index = normalize_index(index, len(self._whole))
            return self._whole[index]
        _, starts = self._meta()
        n = int(starts[-1])
        idx = normalize_index(index, n)
        if isinstance(idx, int):
            k = int(np.searchsorted(starts, idx, side="right") - 1)
            return self._group(k)[idx - int(starts[k])]
        if isinstance(idx, slice):
            if idx.stop <= idx.start:
                return self._group(0)[0:0] if n else self._load_whole()[0:0]
            first = int(np.searchsorted(starts, idx.start, side="right") - 1)
            last = int(np.searchsorted(starts, idx.stop - 1, side="right") - 1)
            if first == last:
                return self._group(first)[
                    idx.start - int(starts[first]) : idx.stop - int(starts[first])
                ]
            idx = np.arange(idx.start, idx.stop, dtype=np.int64)
        if idx.size == 0:
            return self._group(0)[0:0] if n else self._load_whole()[0:0]
        groups = np.searchsorted(starts, idx, side="right") - 1
        present = np.unique(groups)
        if present.size == 1:
            k = int(present[0])
            return self._group(k)[idx - starts[k]]
        if self.cache_row_groups is None:
            return self._load_whole()[idx]
        order = np.argsort(groups, kind="stable")
        parts = []
        for k in present:
            rows = idx[groups == k] - starts[k]
            parts.append(self._group(int(k))[rows])
        joined = _message_type().concat(parts)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.shape[0])
        return joined[inverse]

    def _stream(self, start: int) -> Iterator[Any]:
        for k in range(start, self.num_row_groups):
            yield (
                self._whole[int(self._starts[k]) : int(self._starts[k + 1])]
                if (self._whole is not None and self._starts is not None)
                else self._read_group(k)
            )
