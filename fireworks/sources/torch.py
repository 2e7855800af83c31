"""Adapters both ways between Sources and ``torch.utils.data``.

``as_dataset(src)`` / ``as_iterable_dataset(src)`` let a ``DataLoader`` read a Source (items are dicts
column→value, so the default collate works); ``DatasetSource(dataset)`` turns a torch Dataset into a Source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from fireworks.sources import plan
from fireworks.sources.adapters import IteratorSource, SequenceSource, row_to_message
from fireworks.sources.base import Source
from fireworks.sources.errors import message_type as _message_type
from fireworks.sources.indexing import index_to_array, normalize_index


def _rows_as_dicts(message: Any) -> list[dict[str, Any]]:
    """A Message's rows as dicts (tensor columns give 0-d/row tensors, vectors give Python/numpy values)."""
    names = message.columns
    cols = []
    for name in names:
        col = message[name]
        cols.append(list(col.unbind(0)) if isinstance(col, torch.Tensor) else col.to_numpy())
    return [dict(zip(names, values)) for values in zip(*cols)]


def _as_dict(message: Any) -> dict[str, Any]:
    """A whole Message (a batch) as one dict column→tensor/array."""
    out = {}
    for name in message.columns:
        col = message[name]
        if isinstance(col, torch.Tensor):
            out[name] = col
        else:
            values = col.to_numpy()
            out[name] = values.tolist() if values.dtype == object else values.copy()
    return out


class SourceDataset(Dataset):
    """A map-style Dataset over a random-access Source; ``__getitems__`` fetches a whole batch at once."""

    def __init__(self, source: Source) -> None:
        source._check_random_access()
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.source[index]
        if self.source._is_batched():
            return _as_dict(item)
        return _rows_as_dicts(item)[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        if self.source._is_batched():
            return [self[i] for i in indices]
        return _rows_as_dicts(plan.take(self.source, np.asarray(indices, dtype=np.int64)))


class SourceIterableDataset(IterableDataset):
    """An IterableDataset over a Source; with DataLoader workers, each worker reads a disjoint shard."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        src = self.source
        batched = src._is_batched()
        for item in plan.shard(src, worker, workers):
            if batched:
                yield _as_dict(item)
            else:
                yield from _rows_as_dicts(item)


def as_dataset(source: Source) -> SourceDataset:
    """A map-style ``torch.utils.data.Dataset`` whose items are dicts column→value.

    Items of a batched Source are whole batches (use ``DataLoader(..., batch_size=None)``).
    """
    return SourceDataset(source)


def as_iterable_dataset(source: Source) -> SourceIterableDataset:
    """A ``torch.utils.data.IterableDataset`` of row dicts, sharded across DataLoader workers."""
    return SourceIterableDataset(source)


class DatasetSource(SequenceSource):
    """A Source over a torch Dataset whose items are dicts or tuples (tuples give columns "0", "1", ...).

    Map-style datasets give random access (a batch is fetched with the dataset's ``__getitems__`` when it
    has one); an ``IterableDataset`` gives a forward-only Source.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from fireworks import DatasetSource
    >>> src = DatasetSource(TensorDataset(torch.arange(4.0), torch.arange(4)))
    >>> src[1:3].columns, src[1:3]["0"].tolist()
    (['0', '1'], [1.0, 2.0])
    """

    _fast_paths = frozenset({"blocks"})

    def __init__(self, dataset: Any, *, name: str | None = None) -> None:
        if not hasattr(dataset, "__getitem__") and not hasattr(dataset, "__iter__"):
            raise TypeError(
                f"DatasetSource needs a torch Dataset, but got {type(dataset).__name__}"
            )
        super().__init__(dataset, name=name)
        self._iterable = isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__")
        self._stream_source = IteratorSource(dataset) if self._iterable else None

    def has_random_access(self) -> bool:
        return not self._iterable

    def __len__(self) -> int:
        self._check_random_access()
        return len(self.data)

    def __getitem__(self, index: Any) -> Any:
        self._check_random_access()
        getitems = getattr(self.data, "__getitems__", None)
        idx = normalize_index(index, len(self.data))
        if getitems is None or isinstance(idx, int):
            return SequenceSource.__getitem__(self, idx)
        rows = [row_to_message(r) for r in getitems(index_to_array(idx).tolist())]
        return _message_type().concat(rows) if rows else self._empty()

    def _stream(self, start: int) -> Iterator[Any]:
        assert self._stream_source is not None
        for k, item in enumerate(iter(self.data)):
            if k >= start:
                yield row_to_message(item)
