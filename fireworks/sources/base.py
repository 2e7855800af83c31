"""``Source``: a node in a lazy graph of data flow.

A Source has named inputs (other Sources) and knows the Sources that consume it (``outputs``). It pulls from
its inputs only when a Message is asked of it, so building a pipeline reads nothing. Three ways to pull:

- ``src[index]``: random access (int, slice, int array/list/tensor, boolean mask), where the graph allows it;
- ``iter(src)``: a fresh, independent pass (its own cursor: several consumers can iterate one Source);
- ``next(src)``: the Source's own cursor, which ``reset()`` rewinds and ``state_dict()`` captures.

Unknown public attributes are looked up on the inputs (depth-first, first match). Errors raised inside a node
while pulling data come out once as :class:`~fireworks.exceptions.PipelineError` naming the node.
"""

from __future__ import annotations

import functools
import itertools
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fireworks import _columns as C
from fireworks.exceptions import CycleError, PipelineError

if TYPE_CHECKING:
    from fireworks.message import Message

_ids = itertools.count()
BLOCK_ROWS = 4096  # rows fetched per call when a row-level Source is iterated


def _message_type() -> type[Message]:
    from fireworks.message import Message

    return Message


# --------------------------------------------------------------------------------------------------
# index handling


class SourceIndexError(IndexError):
    """An index out of range for a Source (a bad argument, never wrapped as a PipelineError)."""


def normalize_index(index: Any, n: int) -> int | slice | np.ndarray:
    """Turn any supported row index into an ``int`` (non-negative), a step-1 ``slice`` or an int64 array.

    The rules are the Message's (:func:`fireworks._columns.row_index`); bounds are checked there, so the error
    (a :class:`SourceIndexError`) names the bad value and the length. Stepped slices become arrays.
    """
    rows = C.row_index(index, n, "Source", SourceIndexError)
    if isinstance(rows, slice):
        start, stop, step = rows.start, rows.stop, rows.step
        if step == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, step, dtype=np.int64)
    return rows


def index_to_array(index: int | slice | np.ndarray) -> np.ndarray:
    """A normalized index as an int64 array."""
    if isinstance(index, slice):
        return np.arange(index.start, index.stop, dtype=np.int64)
    if isinstance(index, int):
        return np.array([index], dtype=np.int64)
    return index


# --------------------------------------------------------------------------------------------------
# error naming

_PASSTHROUGH = (StopIteration, GeneratorExit, PipelineError, SourceIndexError)
_mixed_errors: dict[type, type] = {}


def _pipeline_error(node: Source, err: BaseException) -> PipelineError:
    """A PipelineError naming ``node``; it is also an instance of ``type(err)`` when that is a builtin."""
    msg = f"{node.describe()} failed while pulling data: {type(err).__name__}: {err}"
    kind = type(err)
    cls: type = PipelineError
    if kind.__module__ == "builtins" and kind is not AttributeError:
        cls = _mixed_errors.get(kind) or _mixed_errors.setdefault(
            kind,
            type(f"Pipeline{kind.__name__}", (PipelineError, kind), {"__str__": Exception.__str__}),
        )
    try:
        error = cls(msg)
    except Exception:  # exotic constructor signatures (UnicodeError & co)
        error = PipelineError(msg)
    error.node = node.name  # type: ignore[attr-defined]
    error.position = node.position()  # type: ignore[attr-defined]
    return error


def _guard(fn: Callable) -> Callable:
    """Re-raise errors from a pulling method once, as a PipelineError naming the node."""
    if getattr(fn, "_fw_guarded", False):
        return fn

    @functools.wraps(fn)
    def guarded(self: Source, *args: Any) -> Any:
        try:
            return fn(self, *args)
        except _PASSTHROUGH:
            raise
        except Exception as err:
            raise _pipeline_error(self, err) from err

    guarded._fw_guarded = True  # type: ignore[attr-defined]
    return guarded


def _split_windows(windows: Iterator[tuple[Message, list[tuple[int, int]]]]) -> Iterator[Message]:
    for window, bounds in windows:
        for a, b in bounds:
            yield window[a:b]


def _guard_iter(node: Source, it: Iterator[Message]) -> Iterator[Message]:
    try:
        yield from it
    except _PASSTHROUGH:
        raise
    except Exception as err:
        raise _pipeline_error(node, err) from err


# --------------------------------------------------------------------------------------------------
# the graph


def walk(src: Source) -> Iterator[Source]:
    """Every node upstream of ``src`` (``src`` included) once, inputs before their consumers.

    Raises :class:`~fireworks.exceptions.CycleError` naming the cycle if the graph has one.
    """
    done: set[int] = set()
    on_path: dict[int, int] = {}
    path: list[Source] = []
    order: list[Source] = []
    stack: list[tuple[Source, Iterator[Source]]] = [(src, iter(_inputs_of(src).values()))]
    on_path[id(src)] = 0
    path.append(src)
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            path.pop()
            del on_path[id(node)]
            done.add(id(node))
            order.append(node)
            continue
        if id(child) in done:
            continue
        if id(child) in on_path:
            cycle = [*path[on_path[id(child)] :], child]
            raise CycleError(
                "the Source graph has a cycle: "
                + " <- ".join(n.name for n in cycle)
                + "; a Source cannot (indirectly) be its own input"
            )
        on_path[id(child)] = len(path)
        path.append(child)
        stack.append((child, iter(_inputs_of(child).values())))
    yield from order


def _inputs_of(src: Source) -> dict[str, Source]:
    return src.__dict__.get("_inputs", {}) if hasattr(src, "__dict__") else {}


def _statically_has(obj: object, name: str) -> bool:
    if name in getattr(obj, "__dict__", ()):
        return True
    return any(name in vars(klass) for klass in type(obj).__mro__)


# --------------------------------------------------------------------------------------------------
# fan-out of forward-only streams


class _Hub:
    """One upstream pass shared by the passes that start together (fan-out without re-reading).

    Items are buffered from the slowest live reader on; a reader that falls more than ``max_lag`` items
    behind is detached and re-reads privately, so memory stays bounded.
    """

    def __init__(self, source: Source, max_lag: int) -> None:
        self.source = source
        self.max_lag = max_lag
        self.gen: Iterator[Message] | None = None
        self.buffer: deque[Message] = deque()
        self.base = 0
        self.done = False
        self.error: BaseException | None = None
        self.readers: weakref.WeakSet[_HubReader] = weakref.WeakSet()

    def joinable(self) -> bool:
        return self.base == 0

    def reader(self) -> _HubReader:
        r = _HubReader(self)
        self.readers.add(r)
        return r

    def get(self, pos: int) -> Message:
        k = pos - self.base
        if k < len(self.buffer):
            item = self.buffer[k]
        else:
            if self.done:
                raise StopIteration
            if self.error is not None:
                raise self.error  # the shared stream failed: every reader sees that, never a short pass
            if self.gen is None:
                self.gen = _guard_iter(self.source, self.source._stream(0))
            try:
                item = next(self.gen)
            except StopIteration:
                self.done = True
                raise
            except BaseException as err:
                # a generator that raised is finished: a later next() would say StopIteration and make
                # the pass look complete. Remember the error, and let the next pass start afresh.
                self.error = err
                if self.source._hub is self:
                    self.source._hub = None
                raise
            self.buffer.append(item)
        return item

    def close(self) -> None:
        """End this shared pass early (its last reader left): close the upstream stream now and detach from
        the source, so that the next pass starts a fresh hub instead of joining a closed one."""
        gen, self.gen = self.gen, None
        self.done = True
        self.buffer.clear()
        if self.source._hub is self:
            self.source._hub = None
        if gen is not None and not getattr(gen, "gi_running", False):
            gen.close()  # type: ignore[attr-defined]

    def trim(self) -> None:
        end = self.base + len(self.buffer)
        if self.base == 0 and len(self.buffer) <= self.max_lag:
            return  # the head stays while late joiners can still share this pass
        live = [r.pos for r in self.readers if r.private is None]
        low = max(min(live) if live else end, end - self.max_lag)
        while self.base < low and self.buffer:
            self.buffer.popleft()
            self.base += 1


class _HubReader(Iterator["Message"]):
    def __init__(self, hub: _Hub) -> None:
        self.hub = hub
        self.pos = 0
        self.private: Iterator[Message] | None = None
        self.error: BaseException | None = None

    def __next__(self) -> Message:
        if self.error is not None:
            raise self.error
        if self.private is not None:
            try:
                item = next(self.private)
            except StopIteration:
                raise
            except BaseException as err:
                self.error = err  # as in _Hub.get: a failed stream must not later look finished
                raise
        elif self.pos < self.hub.base:
            self.private = _guard_iter(self.hub.source, self.hub.source._stream(self.pos))
            item = next(self.private)
        else:
            try:
                item = self.hub.get(self.pos)
            except StopIteration:
                self.hub.readers.discard(self)
                raise
        self.pos += 1
        if self.private is None:
            self.hub.trim()
        return item

    def close(self) -> None:
        """Stop reading: close a private re-read now; the shared pass closes when its last reader leaves."""
        private, self.private = self.private, None
        if private is not None and not getattr(private, "gi_running", False):
            private.close()  # type: ignore[attr-defined]
        self.hub.readers.discard(self)
        if not self.hub.readers:
            self.hub.close()


# --------------------------------------------------------------------------------------------------
# Source


class Source:
    """A node in a lazy graph of data flow: pulls Messages from its inputs only when asked.

    ``inputs`` is a Source, a Message, a DataFrame, an indexable (list, array, torch Dataset) or an iterable,
    a list of Sources (several inputs) or a dict name→input. A plain Source passes its single input through;
    over several inputs, ``src[i]`` merges their rows column-wise. Subclass it and define ``__getitem__`` and
    ``__len__`` (random access; iteration comes for free), or ``__next__`` and ``reset`` (forward-only).

    >>> from fireworks import Message, Source
    >>> src = Source(Message({"x": [1, 2, 3]}))
    >>> len(src), src[1]["x"].tolist(), [len(m) for m in src]
    (3, [2], [1, 1, 1])
    """

    #: rows map 1:1 onto each input (hints and forward-only passes go straight through)
    _one_to_one: ClassVar[bool] = True
    #: this class's ``_hint`` only forwards/translates hints (nothing upstream wants them otherwise)
    _hint_passes: ClassVar[bool] = True
    #: False: forward-only (streams); True: random access; None: decided by the inputs
    _random_access: ClassVar[bool | None] = None
    #: a pass yields chunks of rows (readers), even where rows have random access
    _chunked: ClassVar[bool] = False
    #: this node's transform commutes with slicing rows (windows of batches may pass through it)
    _row_wise: ClassVar[bool] = True

    _inputs: dict[str, Source]
    _name: str | None = None
    _cursor: int = 0
    _own_iter: Iterator[Message] | None = None
    _hub: _Hub | None = None
    _max_lag: int = 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("__getitem__", "__next__"):
            if method in cls.__dict__:
                setattr(cls, method, _guard(cls.__dict__[method]))
        if (
            "_random_access" not in cls.__dict__
            and "__next__" in cls.__dict__
            and cls.__getitem__ is Source.__getitem__
        ):
            cls._random_access = False
            if "_stream" not in cls.__dict__ and cls._stream is Source._stream:
                cls._stream = Source._stream_from_next  # type: ignore[method-assign]

    def __init__(self, inputs: Any = None, *, name: str | None = None) -> None:
        self._inputs = {}
        self._name = name
        self._id = next(_ids)
        for key, inp in _normalize_inputs(inputs).items():
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
        source = _as_source(inp)
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
        self.__dict__.pop("_hint_cache", None)

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
        drop = {"_outputs", "_hub", "_own_iter", "_hint_cache", *type(self)._transient}
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in drop and (isinstance(v, Source) or not isinstance(v, (Iterator, _Hub)))
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for inp in _inputs_of(self).values():
            inp.__dict__.setdefault("_outputs", []).append(weakref.ref(self))

    # ---- attribute forwarding ----------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r} (private names are never "
                f"looked up on inputs)"
            )
        # depth-first from this node (a property of its own that raises is reported, not skipped)
        seen: set[int] = set()
        stack: list[Source] = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if _statically_has(node, name):
                try:
                    return type(node).__getattribute__(node, name)
                except AttributeError as err:
                    raise PipelineError(
                        f"attribute {name!r} of {node.describe()} raised AttributeError: {err}"
                    ) from err
            stack.extend(reversed(_inputs_of(node).values()))
        raise AttributeError(
            f"{type(self).__name__} {self.name!r} has no attribute {name!r}, and none of its inputs "
            f"has one either"
        )

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
        if len(ins) == 1:
            return ins[0][index]
        idx = normalize_index(index, len(self))
        out = ins[0][idx]
        for inp in ins[1:]:
            out = out.merge(inp[idx])
        return out

    # ---- iteration ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Message]:
        self._start_pass()
        return _guard_iter(self, self._items(0))

    def _start_pass(self) -> None:
        for node in walk(self):
            node._new_pass()

    def _new_pass(self) -> None:
        """Called on every node upstream when a fresh pass starts (ShufflerSource draws an epoch)."""

    def _iterates_chunks(self) -> bool:
        """True when a pass yields chunks (a reader's blocks) rather than rows or batches."""
        if type(self)._chunked:
            return True
        ins = _inputs_of(self)
        return (
            type(self)._one_to_one and bool(ins) and any(i._iterates_chunks() for i in ins.values())
        )

    def _items(self, start: int) -> Iterator[Message]:
        """The items of one pass from position ``start`` (rows, batches or chunks)."""
        if self.has_random_access() and not self._iterates_chunks():
            if self._is_batched():
                windows = self._windows(start)
                if windows is not None:
                    return _split_windows(windows)
            return self._items_random(start)
        if start == 0:
            if self._hub is None or not self._hub.joinable():
                self._hub = _Hub(self, self._max_lag)
            return self._hub.reader()
        return _guard_iter(self, self._stream(start))

    def _items_random(self, start: int) -> Iterator[Message]:
        n = len(self)
        if self._is_batched():
            for i in range(start, n):
                yield self[i]
            return
        for a in range(start, n, BLOCK_ROWS):
            block = self[slice(a, min(a + BLOCK_ROWS, n))]
            for j in range(len(block)):
                yield block[j]

    def _windows(self, start: int) -> Iterator[tuple[Message, list[tuple[int, int]]]] | None:
        """Batches from ``start`` fetched several at a time: ``(window, [(a, b), ...])`` where batch k is
        ``window[a:b]``; None when this node cannot. Only transforms that commute with slicing rows
        (``_row_wise``) pass windows through, so per-batch functions still see exactly one batch."""
        ins = _inputs_of(self)
        if len(ins) != 1 or not type(self)._one_to_one or not type(self)._row_wise:
            return None
        inner = next(iter(ins.values()))._windows(start)
        if inner is None:
            return None
        return self._transform_windows(inner)

    def _transform_windows(
        self, inner: Iterator[tuple[Message, list[tuple[int, int]]]]
    ) -> Iterator[tuple[Message, list[tuple[int, int]]]]:
        for window, bounds in inner:
            try:
                out = self._window_transform(window)
            except _PASSTHROUGH:
                raise
            except Exception as err:
                raise _pipeline_error(self, err) from err
            yield out, bounds

    def _window_transform(self, window: Message) -> Message:
        return window

    def _stream(self, start: int) -> Iterator[Message]:
        """A fresh forward-only pass from item ``start`` (forward-only Sources override this)."""
        ins = list(_inputs_of(self).values())
        if not ins:
            raise TypeError(
                f"{self.describe()} has no inputs and defines neither __getitem__ nor _stream"
            )
        if len(ins) == 1:
            return ins[0]._items(start)
        return self._merge_streams(ins, start)

    @staticmethod
    def _merge_streams(ins: list[Source], start: int) -> Iterator[Message]:
        for parts in zip(*(i._items(start) for i in ins)):
            out = parts[0]
            for p in parts[1:]:
                out = out.merge(p)
            yield out

    def _stream_from_next(self, start: int) -> Iterator[Message]:
        # a user subclass with only __next__/reset: a pass is a reset followed by its own cursor
        self.reset()
        for _ in range(start):
            next(self)
        while True:
            try:
                yield next(self)
            except StopIteration:
                return

    def _is_batched(self) -> bool:
        """True when items are batches (BatchingSource or a 1:1 Source downstream of one)."""
        return any(i._is_batched() for i in _inputs_of(self).values())

    def __next__(self) -> Message:
        if self.has_random_access():
            i = self._cursor
            if i >= len(self):
                raise StopIteration
            item = self[i]
            self._cursor = i + 1
            return item
        if self._own_iter is None:
            self._own_iter = self._items(self._cursor)
        item = next(self._own_iter)
        self._cursor += 1
        return item

    def reset(self) -> None:
        """Rewind this Source's own cursor (``next``), and every Source upstream."""
        self._cursor = 0
        self._drop_own_iter()
        for inp in _inputs_of(self).values():
            inp.reset()

    # ---- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """This node's position (and RNG/epoch where it has them), with its inputs' states nested by name.

        Values are JSON-compatible scalars/lists/dicts, numpy arrays or tensors only (no pickle needed).
        """
        state = self._own_state()
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


Source.__getitem__ = _guard(Source.__getitem__)  # type: ignore[method-assign]
Source.__next__ = _guard(Source.__next__)  # type: ignore[method-assign]


class SeededEpochs:
    """Mixin for a Source whose order is drawn anew every epoch from ``numpy``/``random`` seeded by ``(seed,
    epoch)``: ``class ShufflerSource(SeededEpochs, Source)``.

    It keeps ``seed``, ``epoch`` and whether the current epoch has been read from; a fresh pass after one
    that was read, and every ``reset()``, move to the next epoch. Its state is those three numbers and the
    cursor, so a saved pipeline resumes the same order. Subclasses call :meth:`_init_epochs` in ``__init__``.
    It is not itself a Source, so that defining ``__next__`` here does not make its subclasses forward-only
    (see ``Source.__init_subclass__``).
    """

    _epochal = True
    seed: int
    epoch: int

    def _init_epochs(self, seed: int | None) -> None:
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)  # type: ignore[arg-type]
        self.epoch = 0
        self._used = False

    def _new_pass(self) -> None:
        if self._used:
            self.epoch += 1
        self._used = True

    def __next__(self) -> Message:
        self._used = True
        return super().__next__()  # type: ignore[misc]

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.epoch += 1
        self._used = False

    def _own_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super()._own_state()  # type: ignore[misc]
        return {**state, "seed": self.seed, "epoch": self.epoch, "used": self._used}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        super()._load_own_state(state)  # type: ignore[misc]
        self.seed = int(state.get("seed", self.seed))
        self.epoch = int(state.get("epoch", 0))
        self._used = bool(state.get("used", False))


# --------------------------------------------------------------------------------------------------
# wrapping plain data


class MessageSource(Source):
    """A Source over one in-memory Message (random access, no inputs)."""

    _random_access = True

    def __init__(self, message: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        message_type = _message_type()
        self.message = message if isinstance(message, message_type) else message_type(message)

    def __len__(self) -> int:
        return len(self.message)

    def __getitem__(self, index: Any) -> Message:
        if isinstance(index, (int, np.integer)):
            index = normalize_index(index, len(self.message))
        return self.message[index]

    def _stream(self, start: int) -> Iterator[Message]:  # pragma: no cover - random access
        return self._items_random(start)


def row_to_message(item: Any) -> Message:
    """One item of a dataset/iterable (Message, dict, tuple or scalar) as a Message."""
    message_type = _message_type()
    if isinstance(item, message_type):
        return item
    if isinstance(item, Mapping):
        return message_type({str(k): _one_row(v) for k, v in item.items()})
    if isinstance(item, tuple):
        return message_type({str(k): _one_row(v) for k, v in enumerate(item)})
    return message_type({"value": _one_row(item)})


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
        return _message_type().concat(rows)

    def _empty(self) -> Message:
        if len(self.data):
            return row_to_message(self.data[0])[0:0]
        return _message_type()()


class IteratorSource(Source):
    """A forward-only Source over an iterable; a one-shot iterator can be read once."""

    _random_access = False

    def __init__(self, data: Iterable[Any], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.data = data
        self._opened = False

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


def _as_source(obj: Any) -> Source:
    if isinstance(obj, Source):
        return obj
    message_type = _message_type()
    if isinstance(obj, message_type):
        return MessageSource(obj)
    try:
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return MessageSource(message_type(obj))
    except ImportError:  # pragma: no cover
        pass
    import torch

    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return MessageSource(message_type({"value": obj}))
    if (
        isinstance(obj, (list, tuple))
        and obj
        and not any(isinstance(x, (Mapping, tuple, message_type)) for x in obj)
    ):
        return MessageSource(message_type({"value": list(obj)}))
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return SequenceSource(obj)
    if isinstance(obj, Iterable):
        return IteratorSource(obj)
    raise TypeError(
        f"a Source input must be a Source, Message, DataFrame, indexable or iterable, but got "
        f"{type(obj).__name__}"
    )


def _is_node_like(obj: Any) -> bool:
    if isinstance(obj, (Source, _message_type(), Iterator)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def _normalize_inputs(inputs: Any) -> dict[str, Source]:
    if inputs is None:
        return {}
    if isinstance(inputs, Mapping):
        out = {}
        for key, value in inputs.items():
            if not isinstance(key, str):
                raise TypeError(f"input names must be str, but got {key!r}")
            out[key] = _as_source(value)
        return out
    if isinstance(inputs, (list, tuple)) and inputs and all(_is_node_like(x) for x in inputs):
        return {f"input_{k}": _as_source(x) for k, x in enumerate(inputs)}
    return {"input": _as_source(inputs)}
