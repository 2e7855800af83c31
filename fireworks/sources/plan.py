"""Pass planning: the ONE place that chooses how a pass over a Source reads its items.

The reference meaning of a node (what every path must give):

- a random-access node: item ``k`` is ``node[k]``, for ``k`` in ``range(len(node))``;
- a forward-only node: its stream (``node._stream(0)``; for a user class with ``__next__``/``reset``,
  ``reset()`` then ``next()`` until ``StopIteration``);
- a reader (``_chunked``, e.g. ``ParquetSource``) and a node that passes a reader's chunks through: its stream
  of chunks (the same rows as ``node[:]``).

Every other path is a fast path (see :mod:`fireworks.sources.fastpaths`) that a class declares for itself in
``_fast_paths``; :func:`fast_paths` grants it only while that class also owns the meaning it speeds up.
:func:`items` picks the path; :class:`Pass` runs it, owning its cursor and its epochs.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from fireworks.sources.epochs import PASS_EPOCHS, PassEpochs, epochal_nodes
from fireworks.sources.errors import guard_iter, message_type
from fireworks.sources.graph import walk
from fireworks.sources.indexing import index_to_array, normalize_index

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.base import Source

#: internal sizes: rows per block read, rows per window of batches, items a fan-out reader may lag.
#: Tests set them small (``fireworks.testing.small_sizes``) so that boundaries show on a few rows.
#: A shuffler copies its input for a pass when the copy would take at most ``copy_bytes``, reading it
#: ``copy_rows`` rows per call (see ``ShufflerSource``): calls that small keep a transform's temporaries
#: in cache and its peak memory low.
sizes = SimpleNamespace(
    block_rows=4096, window_rows=16384, max_lag=8, copy_bytes=1 << 30, copy_rows=1 << 16
)

#: the methods that define what a node's items are; a fast path holds only while they are the declaring
#: class's own (or its bases')
MEANING = ("__getitem__", "__len__", "__next__", "_stream", "has_random_access", "_is_batched")

#: the fast paths a class may declare in ``_fast_paths``
FAST_PATHS = frozenset({"blocks", "windows", "stream", "chunks", "scan"})


def _owner(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def resolve_fast_paths(cls: type) -> frozenset[str]:
    """The fast paths instances of ``cls`` may take: those declared (``_fast_paths``) by the nearest class
    that declares any, provided no class below it redefines a meaning method (:data:`MEANING`)."""
    declaring = _owner(cls, "_fast_paths")
    if declaring is None:
        return frozenset()
    declared = frozenset(vars(declaring)["_fast_paths"])
    unknown = declared - FAST_PATHS
    if unknown:
        raise ValueError(
            f"{cls.__name__}._fast_paths names unknown fast paths {sorted(unknown)}; the known ones "
            f"are {sorted(FAST_PATHS)}"
        )
    allowed = declaring.__mro__
    for method in MEANING:
        owner = _owner(cls, method)
        if owner is not None and owner not in allowed:
            return frozenset()
    return declared


def fast_paths(node: Source) -> frozenset[str]:
    """The fast paths granted to ``node`` (resolved once per class)."""
    return type(node)._fast  # type: ignore[no-any-return]


# ---- choosing the path ------------------------------------------------------------------------------


def items(node: Source, start: int = 0) -> Iterator[Message]:
    """The items of one pass over ``node`` from position ``start``, by the fastest path it is granted."""
    from fireworks.sources import fastpaths

    if not node.has_random_access() or node._iterates_chunks():
        return stream(node, start)
    fast = type(node)._fast
    if node._is_batched():
        if "windows" in fast:
            windows = node._windows(start)
            if windows is not None:
                return fastpaths.split_windows(windows)
        if "stream" in fast:
            return guard_iter(node, node._stream(start))
        return by_index(node, start)
    if "scan" in fast and start == 0:
        return node._scan()
    if "blocks" in fast:
        return fastpaths.blocks(node, start)
    if "stream" in fast:
        return guard_iter(node, node._stream(start))
    return by_index(node, start)


def by_index(node: Source, start: int) -> Iterator[Message]:
    """The reference pass of a random-access node: ``node[k]`` for each ``k`` from ``start``."""
    n = len(node)
    for k in range(start, n):
        yield node[k]


def stream(node: Source, start: int) -> Iterator[Message]:
    """A forward pass over a stream; passes that start together share one read (fan-out)."""
    from fireworks.sources.fanout import Hub

    if start == 0 or not node._can_reread():
        # a stream that cannot be opened twice is shared even by passes that resume part-way
        hub = node._hub
        if hub is None or not hub.joinable():
            hub = node._hub = Hub(node, sizes.max_lag if node._max_lag is None else node._max_lag)
        reader = hub.reader()
        return reader if start == 0 else _skip(reader, start)
    return guard_iter(node, node._stream(start))


def _skip(it: Iterator[Message], count: int) -> Iterator[Message]:
    for _ in range(count):
        if next(it, None) is None:
            return
    yield from it


def take(node: Source, index: Any) -> Message:
    """``node[index]`` for any index form, asking ``node`` only for what it owns: a node granted
    ``"blocks"`` takes slices and arrays itself; any other (a user ``__getitem__`` for ints only, say)
    is asked one int at a time and the items are concatenated."""
    if isinstance(index, (int, np.integer)) or "blocks" in type(node)._fast:
        return node[index]
    n = len(node)
    positions = index_to_array(normalize_index(index, n))
    parts = [node[int(k)] for k in positions]
    if parts:
        # a Message the caller may keep and change: never the one a user's __getitem__ returned
        return parts[0][:] if len(parts) == 1 else message_type().concat(parts)
    return node[0][0:0] if n else message_type()()


# ---- a pass -----------------------------------------------------------------------------------------


class Pass(Iterator["Message"]):
    """One pass over a Source (what ``iter(src)`` returns): its own cursor and its own epochs.

    ``position`` counts the items it has yielded; :meth:`state_dict` records that and the epochs, and
    ``src.resume(state)`` starts a pass that continues from there, so a ``for batch in src:`` loop can be
    checkpointed and resumed.
    """

    def __init__(self, source: Source, epochs: dict[int, int], position: int = 0) -> None:
        self.source = source
        self.epochs = PassEpochs(epochs)
        self.position = position
        self._error: BaseException | None = None
        token = PASS_EPOCHS.set(self.epochs)
        try:
            self._it: Iterator[Message] | None = guard_iter(source, items(source, position))
        finally:
            PASS_EPOCHS.reset(token)

    def __next__(self) -> Message:
        if self._it is None:
            if self._error is not None:
                raise self._error  # a failed pass never looks finished
            raise StopIteration
        token = PASS_EPOCHS.set(self.epochs)
        try:
            item = next(self._it)
        except StopIteration:
            self._it = None
            raise
        except BaseException as err:
            self._it, self._error = None, err
            raise
        finally:
            PASS_EPOCHS.reset(token)
        self.position += 1
        return item

    def state_dict(self) -> dict[str, Any]:
        """This pass's position and epochs (JSON-compatible)."""
        nodes = epochal_nodes(self.source)
        return {"position": self.position, "epochs": [self.epochs[id(n)] for n in nodes]}

    def close(self) -> None:
        """End the pass now, releasing what its upstream streams hold (files, cursors, threads)."""
        it, self._it = self._it, None
        close = getattr(it, "close", None)
        if close is not None and not getattr(it, "gi_running", False):
            close()


def start_pass(source: Source) -> Pass:
    """A fresh pass over ``source``: every node upstream is told (``_new_pass``: shufflers draw a new
    epoch), and the pass records the epochs it serves."""
    for node in walk(source):
        node._new_pass()
    return Pass(source, {id(n): int(n.epoch) for n in epochal_nodes(source)})  # type: ignore[attr-defined]


def resume_pass(source: Source, state: Any) -> Pass:
    """A pass that continues a :meth:`Pass.state_dict`."""
    if not isinstance(state, dict) or "position" not in state or "epochs" not in state:
        raise TypeError(
            f"resume needs the dict of a pass's state_dict() (keys 'position' and 'epochs'), but got "
            f"{state!r:.80}"
        )
    nodes = epochal_nodes(source)
    if len(state["epochs"]) != len(nodes):
        raise ValueError(
            f"this pass state has {len(state['epochs'])} epochs but the pipeline has {len(nodes)} "
            f"shuffling nodes; resume a pass of the same pipeline"
        )
    return Pass(
        source, {id(n): int(e) for n, e in zip(nodes, state["epochs"])}, int(state["position"])
    )


def shard(node: Source, worker: int, workers: int) -> Iterator[Message]:
    """Worker ``worker``'s share (of ``workers``) of one pass over ``node``: all shares together hold every
    item once. Random-access nodes are split by block (``"blocks"``) or by item, without reading the other
    shares; streams are read whole and every ``workers``-th item kept."""
    if not node.has_random_access() or node._iterates_chunks():
        for k, item in enumerate(start_pass(node)):
            if k % workers == worker:
                yield item
        return
    start_pass(node).close()  # a fresh epoch, as any pass has
    n = len(node)
    if "blocks" in type(node)._fast and not node._is_batched():
        step = sizes.block_rows
        for b, a in enumerate(range(0, n, step)):
            if b % workers == worker:
                yield node[slice(a, min(a + step, n))]
        return
    for k in range(worker, n, workers):
        yield node[k]
