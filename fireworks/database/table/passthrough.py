"""Writing through: a TableSource with inputs writes each item that flows through it exactly once.

The unit is the item *position* of the TableSource: position ``k`` is written the first time item ``k`` is
served, by whatever path serves it (iteration, ``next()`` after ``reset()``, ``src[k]``, a slice or an array
of positions, a batch of a batched input, a prefetch or cache downstream, a DataLoader), and never again:
reading it a second time, a second epoch, or a resume from a ``state_dict`` serves it without writing. Each
write is committed at once (one transaction per item or per block of rows served together), so what was
served is in the table. A row is written no later than it is served: a pass that reads its input a block of
items at a time writes that block when it reads it, and a prefetch downstream reads ahead by its depth, so a
pass stopped early may have written a few items it did not hand out (still each once).

Where the input is random access, positions are its indices (``len`` and ``src[i]`` work); where it is
forward-only, they count the items of a pass. Over an input whose items change between epochs (a shuffler),
the table holds each position as it was first served, which is every row once after one full epoch.

The positions written so far are part of ``state_dict``; ``load_state_dict`` adds them to the ones this
process wrote (it never forgets a write: those rows are in the table). A pipeline restored in a new process
writes the positions after its checkpoint, so rows committed between that checkpoint and a crash are written
again: take checkpoints after the writes you want to count (exactly once across processes would need the
checkpoint and the rows in one transaction, which a Source's state cannot give).

The record of written positions lives in the process: DataLoader worker processes each keep their own. Over
``as_iterable_dataset`` every worker streams a forward-only input whole, so worker ``w`` of ``W`` writes only
the positions ``k`` with ``k % W == w``; random-access inputs are sharded by index, so each worker writes
what it serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from fireworks.message import Message


class Ledger:
    """The item positions written so far (a growable bitmap), safe to share between threads.

    >>> ledger = Ledger()
    >>> ledger.todo(np.array([2, 0, 2])).tolist()
    [2, 0]
    >>> ledger.mark(np.array([2])); ledger.todo(np.array([0, 1, 2])).tolist()
    [0, 1]
    """

    def __init__(self) -> None:
        self._done = np.zeros(0, dtype=bool)
        self.lock = threading.RLock()

    def __len__(self) -> int:
        """How many positions are written."""
        return int(self._done.sum())

    def todo(self, positions: np.ndarray) -> np.ndarray:
        """The positions of ``positions`` not written yet, each once, in order of first appearance."""
        if positions.size == 0:
            return positions.astype(np.int64)
        uniq, first = np.unique(positions, return_index=True)
        uniq = uniq[np.argsort(first, kind="stable")]
        written = np.zeros(uniq.shape, dtype=bool)
        inside = uniq < self._done.shape[0]
        written[inside] = self._done[uniq[inside]]
        return uniq[~written].astype(np.int64)

    def mark(self, positions: np.ndarray) -> None:
        if positions.size == 0:
            return
        top = int(positions.max()) + 1
        if top > self._done.shape[0]:
            grown = np.zeros(max(top, 2 * self._done.shape[0]), dtype=bool)
            grown[: self._done.shape[0]] = self._done
            self._done = grown
        self._done[positions] = True

    def __getstate__(self) -> dict[str, Any]:
        return {"done": self._done}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._done = state["done"]
        self.lock = threading.RLock()

    def state(self) -> dict[str, Any]:
        return {"written": np.packbits(self._done), "size": int(self._done.shape[0])}

    def load(self, state: Mapping[str, Any]) -> None:
        """Add the positions a :meth:`state` records as written (a load never forgets a write of this
        process: the rows are in the table)."""
        size = int(state.get("size", 0))
        packed = np.asarray(state.get("written", np.zeros(0, np.uint8)), dtype=np.uint8)
        if size:
            self.mark(np.flatnonzero(np.unpackbits(packed, count=size)))


def positions_of(index: Any, n: int) -> np.ndarray:
    """The positions an index selects among ``n`` items (an int, slice, bool mask or array of ints)."""
    if isinstance(index, torch.Tensor):
        index = index.cpu().numpy()
    if isinstance(index, slice):
        return np.arange(n, dtype=np.int64)[index]
    arr = np.asarray(index)
    if arr.dtype == bool:
        return np.flatnonzero(arr).astype(np.int64)
    arr = arr.astype(np.int64).reshape(-1)
    return np.where(arr < 0, arr + n, arr)


def worker_share() -> tuple[int, int]:
    """``(worker, workers)`` of the DataLoader worker process this runs in, ``(0, 1)`` outside one."""
    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def merged(parts: list[Message]) -> Message:
    """Items pulled from several inputs at once, merged column-wise (one input: the item itself)."""
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


class PassThrough:
    """The writing-through half of a TableSource (see the module docstring for the rule).

    The host class gives ``insert``/``commit`` (the table), ``inputs`` (the Sources written through) and
    ``_upstream_item``/``_upstream_len`` (the inputs' items merged row-wise, by index).
    """

    _ledger: Ledger
    _pass_pos: int

    def _init_pass_through(self) -> None:
        self._ledger = Ledger()
        self._pass_pos = 0

    # ---- the one place that writes ---------------------------------------------------------------

    def _write_once(self, positions: np.ndarray, served: Message, fetch: Any) -> None:
        """Write the items at ``positions`` that are not written yet. ``served`` holds the rows of exactly
        ``positions`` in order; ``fetch(todo)`` reads the rows of a subset of them."""
        with self._ledger.lock:
            todo = self._ledger.todo(positions)
            if todo.size == 0:
                return
            same = todo.size == positions.size and np.array_equal(todo, positions)
            rows = served if same else fetch(todo)
            if len(rows):
                self.insert(rows)  # type: ignore[attr-defined]
                self.commit()  # type: ignore[attr-defined]
            self._ledger.mark(todo)

    # ---- random access: position k is index k ----------------------------------------------------

    def _pass_getitem(self, index: Any) -> Message:
        out = self._upstream_item(index)  # type: ignore[attr-defined]
        n = self._upstream_len()  # type: ignore[attr-defined]
        positions = positions_of(index, n)
        single = positions.size == 1 and np.ndim(np.asarray(index)) == 0
        self._write_once(
            positions,
            out,
            lambda todo: self._upstream_item(int(todo[0]) if single else todo),  # type: ignore[attr-defined]
        )
        return out

    # ---- forward-only: position k is the k-th item of a pass -------------------------------------

    def _pass_next(self, random_access: bool) -> Message:
        k = self._pass_pos
        if random_access:
            if k >= self._upstream_len():  # type: ignore[attr-defined]
                raise StopIteration
            item = self._pass_getitem(k)
        else:
            item = merged([next(inp) for inp in self.inputs.values()])  # type: ignore[attr-defined]
            self._write_streamed(k, item)
        self._pass_pos = k + 1
        return item

    def _write_streamed(self, k: int, item: Message) -> None:
        worker, workers = worker_share()
        if k % workers == worker:
            self._write_once(np.array([k], dtype=np.int64), item, None)

    def _pass_stream(self, items: Iterator[Message], start: int) -> Iterator[Message]:
        """``items`` (a pass of the inputs from item ``start``), written through as they stream."""
        for k, item in enumerate(items, start):
            self._write_streamed(k, item)
            yield item

    # ---- state ---------------------------------------------------------------------------------------

    def _pass_state(self) -> dict[str, Any]:
        return {"position": int(self._pass_pos), **self._ledger.state()}

    def _load_pass_state(self, state: Mapping[str, Any]) -> None:
        self._pass_pos = int(state.get("position", 0))
        self._ledger.load(state)
