"""``Source``: a node in a lazy graph of data flow, and the node protocol every Source speaks.

The Source class lives here; the concepts it builds on each have their own module: the graph and attribute
forwarding (:mod:`~fireworks.sources.graph`), index rules (:mod:`~fireworks.sources.indexing`), error naming
(:mod:`~fireworks.sources.errors`), pass planning (:mod:`~fireworks.sources.plan`), fast paths
(:mod:`~fireworks.sources.fastpaths`), fan-out (:mod:`~fireworks.sources.fanout`), epochs
(:mod:`~fireworks.sources.epochs`) and adapters from plain data (:mod:`~fireworks.sources.adapters`).
The names this module used to define are still importable from it.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fireworks.exceptions import CycleError, PipelineError
from fireworks.sources import plan
from fireworks.sources.epochs import PASS_EPOCHS, epochal_nodes
from fireworks.sources.errors import guard, guard_iter, message_type, pipeline_error
from fireworks.sources.graph import _inputs_of, find_attribute, walk
from fireworks.sources.indexing import SourceIndexError, index_to_array, normalize_index

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.fanout import Hub

#: rows fetched per call when a row-level Source is iterated (the live value is ``plan.sizes.block_rows``)
BLOCK_ROWS = plan.sizes.block_rows
_message_type = message_type
_guard_iter = guard_iter
_pipeline_error = pipeline_error
_ids = itertools.count()


class Source:
    """A node in a lazy graph of data flow: pulls Messages from its inputs only when asked.

    ``inputs`` is a Source, a Message, a DataFrame, an indexable (list, array, torch Dataset) or an iterable,
    a list of Sources (several inputs) or a dict name→input. A plain Source passes its single input through;
    over several inputs, ``src[i]`` merges their rows column-wise.

    **Writing your own Source** — implement ONE of these meanings; everything else follows from it:

    - random access: ``__getitem__(index)`` and ``__len__``. Item ``k`` of the Source is ``src[k]``
      (a 1-row Message, or a batch over a batched input). Iteration, ``next()``, ``as_dataset`` and
      ``as_iterable_dataset`` all read ``src[k]``. Call ``super().__getitem__(index)`` to read the
      (merged) input.
    - forward-only: ``__next__`` and ``reset`` (``reset`` calls ``super().reset()`` and returns ``self``).
      A pass is ``reset()`` then ``next()`` until ``StopIteration``. Such a Source has a single cursor:
      passes that start together share one read, but a pass that starts while another is half-way raises
      a PipelineError; read it once into ``src.loop()`` or ``src.cache()`` for more.

    Items may be Messages or dicts of columns (turned into Messages). ``state_attributes = ("count",)``
    names attributes that ``state_dict()``/``load_state_dict()`` save and restore with the cursor.

    **The node protocol** (what toolbox nodes, caches, junctions and database Sources use on their
    inputs, and what a Source class may implement):

    - ``has_random_access()``, ``len(src)``, ``src[index]`` (every index form of a Message's rows);
    - ``_items(start)``: a pass over the items from ``start``, by the path the planner chooses (call it,
      do not override it); ``_stream(start)``: a fresh forward pass (forward-only Sources and readers
      implement it);
    - ``_is_batched()``: items are batches; ``_iterates_chunks()``: a pass yields a reader's chunks;
    - ``_new_pass()``: a fresh pass starts (shufflers draw their next epoch); ``_hint(index)``: these rows
      are wanted next (caches prefetch them);
    - ``_own_state()``/``_load_own_state(state)``: this node's part of ``state_dict``;
    - ``_fast_paths``: the fast paths (:mod:`~fireworks.sources.fastpaths`) this class declares for itself.
      They hold only while this class owns its meaning: a subclass that overrides ``__getitem__``,
      ``__len__``, ``__next__`` or ``_stream`` is read through the reference path until it declares its
      own.

    >>> from fireworks import Message, Source
    >>> src = Source(Message({"x": [1, 2, 3]}))
    >>> len(src), src[1]["x"].tolist(), [len(m) for m in src]
    (3, [2], [1, 1, 1])
    """

    #: rows map 1:1 onto each input (hints go straight through)
    _one_to_one: ClassVar[bool] = True
    #: this class's ``_hint`` only forwards/translates hints (nothing upstream wants them otherwise)
    _hint_passes: ClassVar[bool] = True
    #: False: forward-only (streams); True: random access; None: decided by the inputs
    _random_access: ClassVar[bool | None] = None
    #: a reader: a pass yields chunks of rows (its stream), even where rows have random access
    _chunked: ClassVar[bool] = False
    #: the fast paths this class declares (see fireworks.sources.fastpaths); ``_fast`` is what is granted
    _fast_paths: ClassVar[frozenset[str]] = frozenset({"blocks", "windows", "stream", "chunks"})
    _fast: ClassVar[frozenset[str]] = frozenset()
    #: attributes saved by state_dict() and restored by load_state_dict()
    state_attributes: ClassVar[tuple[str, ...]] = ()

    _inputs: dict[str, Source]
    _name: str | None = None
    _cursor: int = 0
    _own_iter: Iterator[Message] | None = None
    _hub: Hub | None = None
    _max_lag: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("__getitem__", "__next__"):
            if method in cls.__dict__:
                setattr(cls, method, guard(cls.__dict__[method]))
        if (
            "_random_access" not in cls.__dict__
            and "__next__" in cls.__dict__
            and cls.__getitem__ is Source.__getitem__
        ):
            # a user Source with __next__/reset: forward-only, and a pass is reset() then next()
            cls._random_access = False
            if "_stream" not in cls.__dict__ and cls._stream is Source._stream:
                cls._stream = Source._stream_from_next  # type: ignore[method-assign]
        cls._fast = plan.resolve_fast_paths(cls)

    def __init__(self, inputs: Any = None, *, name: str | None = None) -> None:
        from fireworks.sources.adapters import normalize_inputs

        self._inputs = {}
        self._name = name
        self._id = next(_ids)
        for key, inp in normalize_inputs(inputs).items():
            self._attach(key, inp)

    # ---- graph -----------------------------------------------------------------------------------

    @property
    def inputs(self) -> dict[str, Source]:
        """The inputs of this Source, by name (plain data given as input is wrapped in a Source)."""
        return dict(_inputs_of(self))

    @property
    def outputs(self) -> list[Source]:
        """The Sources that consume this one (live ones only)."""
        refs = self.__dict__.get("_outputs", [])
        return [s for s in (r() for r in refs) if s is not None]

    @property
    def name(self) -> str:
        """A stable name for this node (``name=`` at construction, else ``f"{class}_{k}"``)."""
        if self._name:
            return self._name
        if "_id" not in self.__dict__:
            self.__dict__["_id"] = next(_ids)
        return f"{type(self).__name__}_{self.__dict__['_id']}"

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def connect(self, inp: Any, name: str | None = None) -> Source:
        """Add ``inp`` as an input named ``name`` (default ``input_k``); refuses to create a cycle."""
        from fireworks.sources.adapters import as_source

        source = as_source(inp)
        if any(node is self for node in walk(source)):
            raise CycleError(
                f"connecting {source.name} as an input of {self.name} would create a cycle, because "
                f"{self.name} is already upstream of {source.name}; build a new Source instead"
            )
        key = name or f"input_{len(_inputs_of(self))}"
        if key in _inputs_of(self):
            raise ValueError(f"{self.name} already has an input named {key!r}; pick another name")
        self._attach(key, source)
        return source

    def _attach(self, key: str, source: Source) -> None:
        if "_inputs" not in self.__dict__:
            self._inputs = {}
        self._inputs[key] = source
        source.__dict__.setdefault("_outputs", []).append(weakref.ref(self))
        for cache in ("_hint_cache", "_epochal_cache"):
            self.__dict__.pop(cache, None)

    def nodes(self) -> list[Source]:
        """Every node upstream of this one (itself included), inputs before consumers."""
        return list(walk(self))

    def position(self) -> str:
        """This node's position: the chain of first inputs from a root down to it."""
        chain = [self.name]
        node: Source = self
        seen = {id(self)}
        while _inputs_of(node):
            node = next(iter(_inputs_of(node).values()))
            if id(node) in seen:
                break
            seen.add(id(node))
            chain.append(node.name)
        return " -> ".join(reversed(chain))

    def describe(self) -> str:
        """``"<Class> '<name>' at <path>"``, used in error messages."""
        return f"{type(self).__name__} {self.name!r} at {self.position()}"

    def to_mermaid(self) -> str:
        """The graph upstream of this Source as Mermaid ``flowchart`` text."""
        from fireworks.sources.graph import to_mermaid

        return to_mermaid(self)

    def to_dot(self) -> str:
        """The graph upstream of this Source as Graphviz DOT text."""
        from fireworks.sources.graph import to_dot

        return to_dot(self)

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}={v.name}" for k, v in _inputs_of(self).items())
        return f"<{type(self).__name__} {self.name!r}({ins})>"

    # ---- pickling (DataLoader workers, process executors) --------------------------------------

    #: attributes that hold open files, threads or passes in flight: dropped when pickled
    _transient: ClassVar[tuple[str, ...]] = ()

    def __getstate__(self) -> dict[str, Any]:
        from fireworks.sources.fanout import Hub

        drop = {
            "_outputs",
            "_hub",
            "_own_iter",
            "_hint_cache",
            "_epochal_cache",
            "_cursor_busy",
            *type(self)._transient,
        }
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in drop and (isinstance(v, Source) or not isinstance(v, (Iterator, Hub)))
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for inp in _inputs_of(self).values():
            inp.__dict__.setdefault("_outputs", []).append(weakref.ref(self))

    # ---- attribute forwarding ----------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        return find_attribute(self, name)

    # ---- random access ------------------------------------------------------------------------

    def has_random_access(self) -> bool:
        """True when ``src[i]`` and ``len(src)`` work; False for forward-only (streaming) Sources."""
        flag = type(self)._random_access
        if flag is not None:
            return flag
        ins = _inputs_of(self)
        if not ins:
            return type(self).__getitem__ is not Source.__getitem__
        return all(i.has_random_access() for i in ins.values())

    def _check_random_access(self) -> None:
        if not self.has_random_access():
            raise TypeError(
                f"{self.describe()} is forward-only (it streams), so it has no random access or "
                f"len(); iterate it, or wrap it in LoopingSource for random access"
            )

    def __len__(self) -> int:
        self._check_random_access()
        ins = list(_inputs_of(self).values())
        if not ins:  # pragma: no cover - has_random_access() is False then
            raise TypeError(f"{self.describe()} has no inputs and does not define __len__")
        lengths = [len(i) for i in ins]
        if any(n != lengths[0] for n in lengths):
            detail = ", ".join(f"{k}={len(v)}" for k, v in _inputs_of(self).items())
            raise ValueError(f"inputs merged row-wise must have equal length, but got {detail}")
        return lengths[0]

    def __getitem__(self, index: Any) -> Message:
        self._check_random_access()
        ins = list(_inputs_of(self).values())
        idx = normalize_index(index, len(self))  # len(self): a subclass's __len__ bounds its items
        if len(ins) == 1:
            return plan.take(ins[0], idx)
        out = plan.take(ins[0], idx)
        for inp in ins[1:]:
            out = out.merge(plan.take(inp, idx))
        return out

    # ---- iteration ------------------------------------------------------------------------------

    def __iter__(self) -> plan.Pass:
        """A fresh pass with its own cursor and epochs (see :class:`~fireworks.sources.plan.Pass`)."""
        return plan.start_pass(self)

    def resume(self, state: Mapping[str, Any]) -> plan.Pass:
        """A pass that continues where the pass whose ``state_dict()`` is ``state`` stopped.

        >>> from fireworks import Message, Source
        >>> src = Source(Message({"x": [1, 2, 3]}))
        >>> it = iter(src); _ = next(it)
        >>> [m["x"].item() for m in src.resume(it.state_dict())]
        [2, 3]
        """
        return plan.resume_pass(self, dict(state))

    def _new_pass(self) -> None:
        """Called on every node upstream when a fresh pass starts (ShufflerSource draws an epoch)."""

    def _iterates_chunks(self) -> bool:
        """True when a pass yields chunks (a reader's blocks) rather than rows or batches."""
        if type(self)._chunked:
            return True
        ins = _inputs_of(self)
        return (
            "chunks" in type(self)._fast
            and bool(ins)
            and any(i._iterates_chunks() for i in ins.values())
        )

    def _items(self, start: int) -> Iterator[Message]:
        """The items of one pass from position ``start``, by the path the planner chooses."""
        return plan.items(self, start)

    def _can_reread(self) -> bool:
        """False when a second forward pass cannot be opened while one runs (a single cursor, a one-shot
        iterator); fan-out then buffers for lagging readers instead of re-reading."""
        if type(self)._stream is Source._stream_from_next:
            return False
        return all(i._can_reread() for i in _inputs_of(self).values())

    def _windows(self, start: int) -> Iterator[tuple[Message, list[tuple[int, int]]]] | None:
        """Batches from ``start`` fetched several at a time: ``(window, [(a, b), ...])`` where batch k is
        ``window[a:b]``; None when this node cannot. Only nodes granted the ``"windows"`` fast path pass
        windows through, so per-batch functions still see exactly one batch."""
        from fireworks.sources.fastpaths import windows_through

        return windows_through(self, start)

    def _window_transform(self, window: Message) -> Message:
        return window

    def _stream(self, start: int) -> Iterator[Message]:
        """A fresh forward-only pass from item ``start`` (forward-only Sources and readers override this)."""
        ins = list(_inputs_of(self).values())
        if not ins:
            raise TypeError(
                f"{self.describe()} has no inputs and defines neither __getitem__ nor _stream"
            )
        if len(ins) == 1:
            return ins[0]._items(start)
        return self._merge_streams(start)

    def _merge_streams(self, start: int) -> Iterator[Message]:
        named = list(_inputs_of(self).items())
        iters = [i._items(start) for _, i in named]
        count = start
        while True:
            parts = [next(it, None) for it in iters]
            ended = [k for (k, _), p in zip(named, parts) if p is None]
            if ended:
                if len(ended) != len(named):
                    going = [k for (k, _), p in zip(named, parts) if p is not None]
                    raise ValueError(
                        f"inputs merged row-wise must have equal length, but {ended} ended after "
                        f"{count} items while {going} had more; merge inputs of equal length, or "
                        f"give the shorter one rows for every row of the longer"
                    )
                return
            merged: Message = parts[0]  # type: ignore[assignment]
            for p in parts[1:]:
                merged = merged.merge(p)  # type: ignore[arg-type]
            count += 1
            yield merged

    def _stream_from_next(self, start: int) -> Iterator[Message]:
        # a user subclass with only __next__/reset: a pass is a reset followed by its own cursor
        if self.__dict__.get("_cursor_busy"):
            raise PipelineError(
                f"{self.describe()} has a single cursor (it defines __next__/reset), so it cannot "
                f"serve a second pass while one is under way; finish the first pass, or read it once "
                f"into LoopingSource(src) (src.loop()) or src.cache() and iterate that"
            )
        # the pass reads the epochs upstream as they are when it starts, although reset() may move them
        epochs = PASS_EPOCHS.get()
        if epochs is None:
            epochs = {id(n): int(n.epoch) for n in epochal_nodes(self)}  # type: ignore[attr-defined]
        self.__dict__["_cursor_busy"] = True
        try:
            token = PASS_EPOCHS.set(epochs)
            hub = self._hub
            kept = [
                (n, n.__dict__.get("epoch"), n.__dict__.get("_used")) for n in epochal_nodes(self)
            ]
            try:
                # the reset that starts a pass rewinds cursors only: it keeps the hub that shares this
                # pass, and the epochs upstream (a user's reset() is a new epoch; this one is not)
                self.reset()
                self._hub = hub
                for node, epoch, used in kept:
                    node.__dict__.update(epoch=epoch, _used=used)
                for _ in range(start):
                    next(self)
            finally:
                PASS_EPOCHS.reset(token)
            while True:
                token = PASS_EPOCHS.set(epochs)
                try:
                    item = next(self)
                except StopIteration:
                    return
                finally:
                    PASS_EPOCHS.reset(token)
                yield item
        finally:
            self.__dict__["_cursor_busy"] = False

    def _is_batched(self) -> bool:
        """True when items are batches (BatchingSource or a 1:1 Source downstream of one)."""
        return any(i._is_batched() for i in _inputs_of(self).values())

    def __next__(self) -> Message:
        if self.has_random_access() and not self._iterates_chunks():
            i = self._cursor
            if i >= len(self):
                raise StopIteration
            item = self[i]
            self._cursor = i + 1
            return item
        if self._own_iter is None:
            if type(self)._stream is Source._stream_from_next:
                # super().__next__() from a user __next__: the inputs' stream, never our own
                self._own_iter = Source._stream(self, self._cursor)
            else:
                self._own_iter = plan.items(self, self._cursor)
        item = next(self._own_iter)
        self._cursor += 1
        return item

    def reset(self) -> Source:
        """Rewind this Source's own cursor (``next``), and every Source upstream; returns the Source, so
        that ``for batch in src.reset():`` reads from the start."""
        self._cursor = 0
        self._drop_own_iter()
        self._hub = None  # passes after a reset read afresh (a new epoch), never a replay
        for inp in _inputs_of(self).values():
            inp.reset()
        return self

    # ---- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """This node's position (and RNG/epoch where it has them), with its inputs' states nested by name.

        Values are JSON-compatible scalars/lists/dicts, numpy arrays or tensors only (no pickle needed).
        """
        state = self._own_state()
        for attr in type(self).state_attributes:
            state[attr] = getattr(self, attr)
        state["inputs"] = {k: v.state_dict() for k, v in _inputs_of(self).items()}
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, so that ``next()`` continues exactly where it was saved."""
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict needs a dict from state_dict(), but got {type(state).__name__}"
            )
        nested = state.get("inputs", {})
        for key, inp in _inputs_of(self).items():
            if key in nested:
                inp.load_state_dict(nested[key])
        self._load_own_state(state)
        for attr in type(self).state_attributes:
            if attr in state:
                setattr(self, attr, state[attr])

    def _own_state(self) -> dict[str, Any]:
        return {"cursor": int(self._cursor)}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        self._cursor = int(state.get("cursor", 0))
        self._drop_own_iter()

    def _drop_own_iter(self) -> None:
        """Forget the stream behind ``next``, closing it now so that it releases what it holds (open files,
        database cursors) at once rather than whenever the garbage collector finds it."""
        it, self._own_iter = self._own_iter, None
        close = getattr(it, "close", None)
        if close is None or getattr(it, "gi_running", False):
            return  # a stream cannot close itself (reset() called from inside it): let it finish
        close()

    # ---- prefetch hints --------------------------------------------------------------------------

    def _hint(self, index: np.ndarray) -> None:
        """``index`` (rows of this Source) will be requested soon, in this order; pass it upstream."""
        if type(self)._one_to_one:
            for inp in _inputs_of(self).values():
                inp._hint(index)

    def _wants_hints(self) -> bool:
        """True when some node upstream does something with hints (so computing them is worth it)."""
        cached = self.__dict__.get("_hint_cache")
        if cached is None:
            cached = False
            for node in walk(self):
                for klass in type(node).__mro__:
                    if "_hint" in vars(klass):
                        if not vars(klass).get("_hint_passes", False):
                            cached = True
                        break
            self.__dict__["_hint_cache"] = cached
        return cached

    # ---- fluent forms --------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[[Message], Message],
        workers: int = 1,
        executor: Any = "process",
        **kwargs: Any,
    ) -> Source:
        """``FunctionSource(self, fn)``: ``fn`` takes a Message (rows or a batch) and returns one.

        With ``workers > 1``, a ``ParallelMapSource``: ``fn`` runs on that many workers of ``executor``
        (``"process"``, ``"thread"``, ``"ray"`` or an Executor), order kept, the same items."""
        if workers != 1:
            from fireworks.sources.parallel import ParallelMapSource

            return ParallelMapSource(self, fn, workers=workers, executor=executor, **kwargs)
        from fireworks.sources.transforms import FunctionSource

        return FunctionSource(self, fn, **kwargs)

    def map_rows(self, fn: Callable[[dict[str, Any]], dict[str, Any]], **kwargs: Any) -> Source:
        """Per-row convenience: ``fn`` takes one row as a dict and returns a dict (correct, not fast)."""
        from fireworks.sources.transforms import FunctionSource

        return FunctionSource(self, fn, per_row=True, **kwargs)

    def filter(self, predicate: Callable[[Message], Any], **kwargs: Any) -> Source:
        """``FilterSource(self, predicate)``: ``predicate`` returns a boolean mask of its Message's rows."""
        from fireworks.sources.transforms import FilterSource

        return FilterSource(self, predicate, **kwargs)

    def shuffle(self, seed: int | None = None, **kwargs: Any) -> Source:
        """``ShufflerSource(self, seed)``: a new permutation each epoch."""
        from fireworks.sources.transforms import ShufflerSource

        return ShufflerSource(self, seed=seed, **kwargs)

    def batch(self, batch_size: int, drop_last: bool = False, **kwargs: Any) -> Source:
        """``BatchingSource(self, batch_size, drop_last)``."""
        from fireworks.sources.transforms import BatchingSource

        return BatchingSource(self, batch_size, drop_last=drop_last, **kwargs)

    def repeat(self, repetitions: int, **kwargs: Any) -> Source:
        """``RepeaterSource(self, repetitions)``: the input ``repetitions`` times over."""
        from fireworks.sources.transforms import RepeaterSource

        return RepeaterSource(self, repetitions, **kwargs)

    def loop(self, **kwargs: Any) -> Source:
        """``LoopingSource(self)``: random access over a forward-only Source."""
        from fireworks.sources.transforms import LoopingSource

        return LoopingSource(self, **kwargs)

    def cache(self, size: int | None = None, policy: str = "lru", **kwargs: Any) -> Source:
        """``CachingSource(self, size, policy)``: random access through a bounded cache."""
        from fireworks.sources.caching import CachingSource

        return CachingSource(self, size, policy=policy, **kwargs)

    def prefetch(self, depth: int = 2, device: Any = None, **kwargs: Any) -> Source:
        """``PrefetchSource(self, depth)``: the next ``depth`` items are computed in a background thread;
        with ``device``, also moved there (pinned memory and a side stream on CUDA)."""
        if device is not None:
            from fireworks.sources.device import DevicePrefetchSource

            return DevicePrefetchSource(self, depth, device, **kwargs)
        from fireworks.sources.prefetch import PrefetchSource

        return PrefetchSource(self, depth, **kwargs)

    def to_tensors(
        self, columns: list[str] | None = None, device: Any = None, **kwargs: Any
    ) -> Source:
        """``ToTensorSource``: convert ``columns`` (default: every numeric one) to tensors on ``device``."""
        from fireworks.sources.transforms import ToTensorSource

        return ToTensorSource(self, columns=columns, device=device, **kwargs)

    def aiter(self) -> Any:
        """An async iterator over a fresh pass: ``async for m in src.aiter()`` (items pulled in a thread)."""
        from fireworks.sources.aio import aiter_source

        return aiter_source(self)

    def as_dataset(self) -> Any:
        """A map-style ``torch.utils.data.Dataset`` whose items are dicts column→value."""
        from fireworks.sources.torch import as_dataset

        return as_dataset(self)

    def as_iterable_dataset(self) -> Any:
        """A ``torch.utils.data.IterableDataset`` of dicts, sharded across DataLoader workers."""
        from fireworks.sources.torch import as_iterable_dataset

        return as_iterable_dataset(self)


Source.__getitem__ = guard(Source.__getitem__)  # type: ignore[method-assign]
Source.__next__ = guard(Source.__next__)  # type: ignore[method-assign]
Source._fast = plan.resolve_fast_paths(Source)


# names this module used to define, kept importable from here
from fireworks.sources.adapters import (  # noqa: E402
    IteratorSource,
    MessageSource,
    SequenceSource,
    as_source,
    normalize_inputs,
    row_to_message,
)
from fireworks.sources.epochs import SeededEpochs  # noqa: E402

_as_source = as_source
_normalize_inputs = normalize_inputs

__all__ = [
    "BLOCK_ROWS",
    "IteratorSource",
    "MessageSource",
    "SeededEpochs",
    "SequenceSource",
    "Source",
    "SourceIndexError",
    "index_to_array",
    "normalize_index",
    "row_to_message",
    "walk",
]
