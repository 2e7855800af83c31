"""Adapters from plain data to Sources: a Message, an indexable of rows, an iterable; and the rules that turn
whatever is given as ``inputs`` into named input Sources."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fireworks.exceptions import PipelineError
from fireworks.sources.base import Source
from fireworks.sources.errors import message_type
from fireworks.sources.indexing import index_to_array, normalize_index

if TYPE_CHECKING:
    from fireworks.message import Message


class MessageSource(Source):
    """A Source over one in-memory Message (random access, no inputs)."""

    _random_access = True
    _fast_paths = frozenset({"blocks"})
    #: its rows are held in memory already (a shuffler gains nothing by copying them)
    _in_memory = True

    def __init__(self, message: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        message_type_ = message_type()
        self.message = message if isinstance(message, message_type_) else message_type_(message)

    def __len__(self) -> int:
        return len(self.message)

    def __getitem__(self, index: Any) -> Message:
        if isinstance(index, (int, np.integer)):
            index = normalize_index(index, len(self.message))
        return self.message[index]


def row_to_message(item: Any) -> Message:
    """One item of a dataset/iterable (Message, dict, tuple or scalar) as a Message."""
    message_type_ = message_type()
    if isinstance(item, message_type_):
        return item
    if isinstance(item, Mapping):
        return message_type_({str(k): _one_row(v) for k, v in item.items()})
    if isinstance(item, tuple):
        return message_type_({str(k): _one_row(v) for k, v in enumerate(item)})
    return message_type_({"value": _one_row(item)})


def _one_row(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.unsqueeze(0)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value[None]
    return [value]


class SequenceSource(Source):
    """A Source over an indexable with ``len`` whose items are rows (dicts, tuples, scalars or Messages)."""

    _random_access = True
    _fast_paths = frozenset({"blocks"})

    def __init__(self, data: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: Any) -> Message:
        idx = normalize_index(index, len(self.data))
        if isinstance(idx, int):
            return row_to_message(self.data[idx])
        rows = [row_to_message(self.data[int(i)]) for i in index_to_array(idx)]
        if not rows:
            return self._empty()
        return message_type().concat(rows)

    def _empty(self) -> Message:
        if len(self.data):
            return row_to_message(self.data[0])[0:0]
        return message_type()()


class IteratorSource(Source):
    """A forward-only Source over an iterable; a one-shot iterator can be read once."""

    _random_access = False

    def __init__(self, data: Iterable[Any], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.data = data
        self._opened = False

    def _can_reread(self) -> bool:
        return iter(self.data) is not self.data

    def _stream(self, start: int) -> Iterator[Message]:
        if iter(self.data) is self.data:
            if self._opened:
                raise PipelineError(
                    f"{self.describe()} wraps a one-shot iterator that was already read; pass a list, "
                    f"or wrap the Source in LoopingSource to keep its rows"
                )
            self._opened = True
        for item in itertools.islice(self.data, start, None):
            yield row_to_message(item)


def as_source(obj: Any) -> Source:
    """``obj`` as a Source: a Source as is; a Message/DataFrame/array/list of scalars as a MessageSource; an
    indexable with ``len`` as a SequenceSource; any other iterable as an IteratorSource."""
    if isinstance(obj, Source):
        return obj
    message_type_ = message_type()
    if isinstance(obj, message_type_):
        return MessageSource(obj)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(obj, pandas.DataFrame):
        return MessageSource(message_type_(obj))
    import torch

    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return MessageSource(message_type_({"value": obj}))
    if (
        isinstance(obj, (list, tuple))
        and obj
        and not any(isinstance(x, (Mapping, tuple, message_type_)) for x in obj)
    ):
        return MessageSource(message_type_({"value": list(obj)}))
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return SequenceSource(obj)
    if isinstance(obj, Iterable):
        return IteratorSource(obj)
    raise TypeError(
        f"a Source input must be a Source, Message, DataFrame, indexable or iterable, but got "
        f"{type(obj).__name__}"
    )


def _is_node_like(obj: Any) -> bool:
    if isinstance(obj, (Source, message_type(), Iterator)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def normalize_inputs(inputs: Any) -> dict[str, Source]:
    """``inputs`` (one input, a list of Sources, or a dict name→input) as named Sources."""
    if inputs is None:
        return {}
    if isinstance(inputs, Mapping):
        out = {}
        for key, value in inputs.items():
            if not isinstance(key, str):
                raise TypeError(f"input names must be str, but got {key!r}")
            out[key] = as_source(value)
        return out
    if isinstance(inputs, (list, tuple)) and inputs and all(_is_node_like(x) for x in inputs):
        return {f"input_{k}": as_source(x) for k, x in enumerate(inputs)}
    return {"input": as_source(inputs)}
