"""Junctions: Sources with several inputs whose rows they interleave (``AggregatorSource``).

Column-wise merging of several inputs needs no class of its own: a plain ``Source({"a": x, "b": y})``
merges its inputs' rows column by column. Branching is fan-out: give one Source several consumers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from fireworks.sources.base import Source
from fireworks.sources.epochs import SeededEpochs, epoch_of
from fireworks.sources.errors import message_type as _message_type
from fireworks.sources.indexing import index_to_array, normalize_index
from fireworks.sources.plan import take

MODES = ("random", "round_robin", "concat")


class AggregatorSource(SeededEpochs, Source):
    """Interleaves the rows of several inputs with the same columns into one stream.

    ``mode="round_robin"`` takes one row from each input in turn (skipping exhausted ones);
    ``mode="random"`` picks the next input at random in proportion to the rows it has left (a new order each
    epoch, reproducible with ``seed``); ``mode="concat"`` plays the inputs one after the other. Each input's
    own row order is kept. With random-access inputs ``len`` is the sum of their lengths and ``a[i]``
    gathers from each input with one call; forward-only inputs are interleaved item by item.

    >>> from fireworks import AggregatorSource, Message
    >>> a = AggregatorSource([Message({"x": [1, 2, 3]}), Message({"x": [10, 20]})], mode="round_robin")
    >>> a[:]["x"].tolist()
    [1, 10, 2, 20, 3]
    """

    _one_to_one = False
    _fast_paths = frozenset({"blocks"})

    def __init__(
        self, inputs: Any, mode: str = "random", seed: int | None = None, *, name: str | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, but got {mode!r}")
        super().__init__(inputs, name=name)
        if not self._inputs:
            raise ValueError("AggregatorSource needs at least one input")
        self.mode = mode
        self._init_epochs(seed)
        self._plan: tuple[Any, np.ndarray, np.ndarray] | None = None

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        """(input number, row within that input) for every row of the current epoch."""
        ins = list(self._inputs.values())
        lengths = np.array([len(i) for i in ins], dtype=np.int64)
        epoch = epoch_of(self)
        key = (epoch, tuple(lengths.tolist()))
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1], self._plan[2]
        labels = np.repeat(np.arange(len(ins)), lengths)
        if self.mode == "round_robin":
            within = np.concatenate([np.arange(n) for n in lengths]) if len(ins) else labels
            order = np.lexsort((labels, within))
            labels = labels[order]
        elif self.mode == "random":
            np.random.default_rng([self.seed, epoch]).shuffle(labels)
        rows = np.empty(labels.shape[0], dtype=np.int64)
        for k in range(len(ins)):
            pos = labels == k
            rows[pos] = np.arange(int(pos.sum()))
        self._plan = (key, labels, rows)
        return labels, rows

    def has_random_access(self) -> bool:
        return all(i.has_random_access() for i in self._inputs.values())

    def __len__(self) -> int:
        self._check_random_access()
        return int(sum(len(i) for i in self._inputs.values()))

    def __getitem__(self, index: Any) -> Any:
        self._check_random_access()
        labels, rows = self._layout()
        ins = list(self._inputs.values())
        idx = normalize_index(index, labels.shape[0])
        if isinstance(idx, int):
            return ins[int(labels[idx])][int(rows[idx])]
        if self._is_batched():  # items are batches: reordering rows by item would cut them
            parts = [ins[int(labels[k])][int(rows[k])] for k in index_to_array(idx)]
            if not parts:
                return take(ins[0], np.empty(0, dtype=np.int64))
            return parts[0] if len(parts) == 1 else _message_type().concat(parts)
        want_labels, want_rows = labels[idx], rows[idx]
        if want_labels.size == 0:  # no rows, but the columns of the inputs
            return take(ins[0], np.empty(0, dtype=np.int64))
        present = np.unique(want_labels)
        if present.size == 1:
            return take(ins[int(present[0])], want_rows)
        order = np.argsort(want_labels, kind="stable")
        parts = [take(ins[int(k)], want_rows[want_labels == k]) for k in present]
        joined = _message_type().concat(parts)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.shape[0])
        return joined[inverse]

    def _hint(self, index: np.ndarray) -> None:
        if not self.has_random_access():
            return
        labels, rows = self._layout()
        ins = list(self._inputs.values())
        for k in np.unique(labels[index]):
            ins[int(k)]._hint(rows[index][labels[index] == k])

    _hint_passes = True

    def _stream(self, start: int) -> Iterator[Any]:
        iters = [i._items(0) for i in self._inputs.values()]
        rng = random.Random(f"{self.seed}-{epoch_of(self)}")
        produced = 0
        live = list(range(len(iters)))
        turn = 0
        while live:
            if self.mode == "random":
                k = rng.choice(live)
            elif self.mode == "round_robin":
                k = live[turn % len(live)]
            else:
                k = live[0]
            try:
                item = next(iters[k])
            except StopIteration:
                live.remove(k)
                continue
            turn += 1
            if produced >= start:
                yield item
            produced += 1
