"""The toolbox of Sources that transform one input: map, filter, shuffle, batch, repeat, index-map, loop,
to-tensors, and ``train_test_split``.

Each works on whole Messages (rows or batches) with one vectorised call on its input per request.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from fireworks.sources.base import Source
from fireworks.sources.epochs import SeededEpochs, epoch_of, epoch_signature, pass_scratch
from fireworks.sources.errors import message_type as _message_type
from fireworks.sources.graph import walk
from fireworks.sources.indexing import index_to_array, normalize_index
from fireworks.sources.plan import sizes, take

MessageFn = Callable[[Any], Any]

# a shuffler's plan for reading its input in the current pass (see ShufflerSource)
_COPY_NEXT, _NO_COPY = "copy from the next window", "no copy"


def _only_input(src: Source) -> Source:
    ins = src.__dict__.get("_inputs", {})
    if len(ins) != 1:
        raise ValueError(
            f"{type(src).__name__} takes exactly one input, but got {len(ins)}: {list(ins)}"
        )
    return next(iter(ins.values()))


def _need_random_access(src: Source, inp: Source) -> None:
    if not inp.has_random_access():
        raise TypeError(
            f"{type(src).__name__} needs random access, but its input {inp.name} is forward-only "
            f"(it streams); wrap it first: LoopingSource(input) or input.loop()"
        )


class FunctionSource(Source):
    """Applies ``fn`` to every Message pulled through it (lazily, on rows or whole batches).

    ``fn`` takes a Message and returns a Message: write it with column operations and it runs once per
    request, vectorised. ``per_row=True`` (or ``src.map_rows(fn)``) calls ``fn(row_dict) -> dict`` per row
    instead — a convenience, correct but never the fast path.

    >>> from fireworks import FunctionSource, Message
    >>> double = FunctionSource(Message({"x": [1, 2, 3]}), lambda m: Message({"x": m["x"] * 2}))
    >>> double[0:2]["x"].tolist()
    [2, 4]
    """

    # fn may depend on the whole batch (padding, batch statistics): no windows, one batch per call
    _fast_paths = frozenset({"blocks", "stream", "chunks"})

    def __init__(
        self, inputs: Any, fn: MessageFn, *, per_row: bool = False, name: str | None = None
    ):
        if not callable(fn):
            raise TypeError(f"FunctionSource needs a callable fn, but got {type(fn).__name__}")
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.fn = fn
        self.per_row = per_row

    def _apply(self, message: Any) -> Any:
        out = _apply_rows(self.fn, message) if self.per_row else self.fn(message)
        if not isinstance(out, _message_type()):
            raise TypeError(
                f"fn must return a Message, but {getattr(self.fn, '__name__', self.fn)!r} returned "
                f"{type(out).__name__}; wrap columns as Message({{...}})"
            )
        return out

    def __getitem__(self, index: Any) -> Any:
        return self._apply(take(self._input, index))

    def __len__(self) -> int:
        return len(self._input)

    def _stream(self, start: int) -> Iterator[Any]:
        for message in self._input._items(start):
            yield self._apply(message)


class _Row(Mapping):
    """One row of a Message as a read-only mapping; a column becomes a Python list on its first use."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: _RowColumns, i: int) -> None:
        self._columns = columns
        self._i = i

    def __getitem__(self, name: str) -> Any:
        return self._columns.get(name)[self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns.names)

    def __len__(self) -> int:
        return len(self._columns.names)

    def __repr__(self) -> str:
        return repr(dict(self))


class _RowColumns:
    __slots__ = ("_lists", "message", "names")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.names = message.columns
        self._lists: dict[str, list[Any]] = {}

    def get(self, name: str) -> list[Any]:
        values = self._lists.get(name)
        if values is None:
            import torch

            col = self.message[name]
            values = list(col.unbind(0)) if isinstance(col, torch.Tensor) else col.tolist()
            self._lists[name] = values
        return values


def _apply_rows(fn: MessageFn, message: Any) -> Any:
    import torch

    message_type = _message_type()
    columns = _RowColumns(message)
    rows = [fn(_Row(columns, i)) for i in range(len(message))]
    if not rows:
        return message[0:0]
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return message_type(out)


def _as_mask(predicate: MessageFn, message: Any) -> np.ndarray:
    raw = predicate(message)
    if hasattr(raw, "detach"):
        raw = raw.detach().cpu().numpy()
    elif hasattr(raw, "to_numpy"):
        raw = raw.to_numpy()
    mask = np.asarray(raw)
    if mask.dtype != bool or mask.shape != (len(message),):
        raise ValueError(
            f"a filter predicate must return a boolean mask with one value per row, but got dtype "
            f"{mask.dtype} and shape {mask.shape} for {len(message)} rows"
        )
    return mask


class FilterSource(Source):
    """Keeps the rows for which ``predicate(message)`` (a boolean mask, vectorised) is True.

    Random access needs to know which rows survive: the first ``f[i]`` or ``len(f)`` runs the predicate
    over the input in chunks of ``chunk_size`` rows and keeps the surviving positions (an int array). Over a
    ``BatchingSource`` the filter applies inside each batch instead (``len`` counts batches).

    >>> from fireworks import FilterSource, Message
    >>> odd = FilterSource(Message({"x": [1, 2, 3, 4, 5]}), lambda m: m["x"] % 2 == 1)
    >>> len(odd), odd[-1]["x"].tolist()
    (3, [5])
    """

    def __init__(
        self, inputs: Any, predicate: MessageFn, *, chunk_size: int = 65536, name: str | None = None
    ):
        if not callable(predicate):
            raise TypeError(
                f"FilterSource needs a callable predicate, but got {type(predicate).__name__}"
            )
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.predicate = predicate
        self.chunk_size = int(chunk_size)
        self._index: np.ndarray | None = None
        self._index_key: tuple[int, ...] = ()

    _one_to_one = False
    _fast_paths = frozenset({"scan", "blocks"})

    def _positions(self) -> np.ndarray:
        key = epoch_signature(self._input)
        if self._index is None or self._index_key != key:
            n = len(self._input)
            parts = [np.empty(0, dtype=np.int64)]
            for a in range(0, n, self.chunk_size):
                chunk = take(self._input, slice(a, min(a + self.chunk_size, n)))
                parts.append(np.flatnonzero(_as_mask(self.predicate, chunk)) + a)
            self._index = np.concatenate(parts)
            self._index_key = key
        return self._index

    def __len__(self) -> int:
        self._check_random_access()
        if self._input._is_batched():
            return len(self._input)
        return int(self._positions().shape[0])

    def __getitem__(self, index: Any) -> Any:
        self._check_random_access()
        if self._input._is_batched():
            batch = take(self._input, index)
            return batch[_as_mask(self.predicate, batch)]
        pos = self._positions()
        idx = normalize_index(index, pos.shape[0])
        if isinstance(idx, int):
            return self._input[int(pos[idx])]
        return take(self._input, pos[idx])

    def _hint(self, index: np.ndarray) -> None:
        if self._index is not None and not self._input._is_batched():
            self._input._hint(self._index[index])

    def _scan(self) -> Iterator[Any]:
        # rows of a whole pass, the predicate run once per block (no positions needed)
        n = len(self._input)
        step = sizes.block_rows
        for a in range(0, n, step):
            block = take(self._input, slice(a, min(a + step, n)))
            kept = block[_as_mask(self.predicate, block)]
            for j in range(len(kept)):
                yield kept[j]

    def _stream(self, start: int) -> Iterator[Any]:
        produced = 0
        for message in self._input._items(0):
            kept = message[_as_mask(self.predicate, message)]
            if len(kept) == 0:
                continue
            if produced >= start:
                yield kept
            produced += 1


class LoopingSource(Source):
    """Random access (and ``len``) over a forward-only input, by reading it once and keeping its rows.

    Rows are read as far as needed: ``l[10]`` reads until row 10 exists; ``len`` and negative indices read
    everything.

    >>> from fireworks import LoopingSource, Message
    >>> stream = iter([{"x": 1}, {"x": 2}, {"x": 3}])
    >>> looped = LoopingSource(stream)
    >>> looped[1]["x"].tolist(), len(looped)
    ([2], 3)
    """

    _random_access = True
    _one_to_one = False
    _fast_paths = frozenset({"blocks", "scan", "stream"})

    def __init__(self, inputs: Any, *, name: str | None = None) -> None:
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self._chunks: list[Any] = []
        self._offsets: list[int] = []
        self._rows = 0
        self._stream_it: Iterator[Any] | None = None
        self._complete = False
        self._all: Any = None

    def _read_until(self, rows: int | None) -> None:
        if self._complete:
            return
        if self._stream_it is None:
            self._stream_it = self._input._items(0)
        while rows is None or self._rows < rows:
            try:
                chunk = next(self._stream_it)
            except StopIteration:
                self._complete = True
                self._stream_it = None
                return
            except BaseException:
                # the input failed part-way: forget what was read, so that the next access reads it again
                # from the start instead of taking a dead stream for a complete one
                self._stream_it = None
                self._chunks, self._offsets, self._rows, self._all = [], [], 0, None
                raise
            if len(chunk):
                self._chunks.append(chunk)
                self._offsets.append(self._rows)
                self._rows += len(chunk)

    def _everything(self) -> Any:
        if self._all is None or len(self._all) != self._rows:
            self._read_until(None)
            self._all = _message_type().concat(self._chunks) if self._chunks else _message_type()()
            self._chunks = [self._all] if self._chunks else []
            self._offsets = [0] if self._chunks else []
        return self._all

    def __len__(self) -> int:
        self._read_until(None)
        return self._rows

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)) and index >= 0:
            self._read_until(int(index) + 1)
            if index >= self._rows:
                normalize_index(int(index), self._rows)  # raises the out-of-range error
            k = bisect.bisect_right(self._offsets, int(index)) - 1
            return self._chunks[k][int(index) - self._offsets[k]]
        everything = self._everything()
        return everything[normalize_index(index, len(everything))]

    def _stream(self, start: int) -> Iterator[Any]:
        # rows as they are read: the first row comes before the input is read to its end
        i = start
        while True:
            self._read_until(i + 1)
            if i >= self._rows:
                return
            yield self[i]
            i += 1

    def _scan(self) -> Iterator[Any]:
        return self._stream(0)

    def reset(self) -> LoopingSource:
        """Rewind the cursor; the rows read so far are kept (the input is not read again)."""
        self._cursor = 0
        self._drop_own_iter()
        return self


def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Permutation ``epoch`` of ``range(n)`` for ``seed`` (int32 positions below 2**31 rows: half the
    memory, and drawn about twice as fast; the rows a request asks for become int64)."""
    import torch

    generator = torch.Generator()
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0]
    generator.manual_seed(int(state))
    dtype = torch.int32 if n < 2**31 else torch.int64
    from fireworks._columns import empty_tensor

    out = empty_tensor((n,), dtype, torch.device("cpu"))  # huge pages for a large permutation
    return torch.randperm(n, generator=generator, dtype=dtype, out=out).numpy()


def _in_memory(node: Source) -> bool:
    # rows held in memory already (a Message, a whole decoded file), or a plain Source passing (merging)
    # its inputs through: a shuffler gains nothing by copying them
    return type(node) is Source or bool(getattr(node, "_in_memory", False))


class ShufflerSource(SeededEpochs, Source):
    """Rows in a random order: ``s[i]`` is ``input[perm[i]]``, with a new permutation every epoch.

    An epoch is one pass: each fresh ``iter(s)`` after the first, and each ``reset()``, draws the next
    permutation. Permutation ``e`` is ``torch.randperm`` seeded from ``numpy.random.SeedSequence([seed,
    e])`` (several times faster than numpy's on large inputs), so a seed makes every epoch reproducible and
    ``state_dict`` stays a few integers. Shuffling starts with the very first pass.
    While serving ``s[a:b]`` it tells its input which rows come next (for ``CachingSource`` prefetch).

    **Copying the input for a pass** (``copy_input``). Gathering random rows through a transform runs the
    transform once per window of scattered rows, and reads every input column at scattered places. When a
    pass has asked for more than one window, the shuffler instead reads its input once, in order, in
    calls of up to ``plan.sizes.copy_rows`` rows (65,536), keeps that copy for the rest of the pass (it is
    dropped with the pass) and gathers from it — what one writes by hand: transform everything, then
    index. The law
    that makes this the same rows: the input is granted ``"blocks"`` (``input[a:b][j] == input[a + j]``:
    its rows do not depend on how they are grouped into calls). Each row is still read once per pass
    (the first window's rows twice). ``copy_input=None`` (the default) copies when the input computes its
    rows (not a Message in memory, nor a cache, which the user sized) and the copy, estimated from the
    first window, takes at most ``plan.sizes.copy_bytes`` (1 GiB); ``True`` copies whenever the input
    allows it, ``False`` never.

    >>> from fireworks import Message, ShufflerSource
    >>> s = ShufflerSource(Message({"x": list(range(5))}), seed=0)
    >>> sorted(s[:]["x"].tolist())
    [0, 1, 2, 3, 4]
    """

    _one_to_one = False
    _fast_paths = frozenset({"blocks"})

    def __init__(
        self,
        inputs: Any,
        seed: int | None = None,
        *,
        hint_window: int = 8192,
        copy_input: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        _need_random_access(self, self._input)
        self._init_epochs(seed)
        self.hint_window = int(hint_window)
        self.copy_input = copy_input
        self._perms: dict[tuple[int, int], np.ndarray] = {}
        self._hinted = 0

    def permutation(self) -> np.ndarray:
        """The permutation of the epoch served now (a pass's own epoch; computed on first use)."""
        n = len(self._input)
        key = (epoch_of(self), n)
        perm = self._perms.get(key)
        if perm is None:
            perm = _permutation(n, self.seed, key[0])
            if len(self._perms) >= 2:  # two passes in flight at once keep theirs
                self._perms.pop(next(iter(self._perms)))
            self._perms[key] = perm
            self._hinted = 0
        return perm

    def __len__(self) -> int:
        return len(self._input)

    def __getitem__(self, index: Any) -> Any:
        perm = self.permutation()
        idx = normalize_index(index, perm.shape[0])
        if isinstance(idx, int):
            return self._input[int(perm[idx])]
        rows = perm[idx].astype(np.int64, copy=False)
        scratch = pass_scratch()
        copy = None if scratch is None else scratch.get(self._copy_key)
        if isinstance(copy, _message_type()) and len(copy) == perm.shape[0]:
            return copy[rows]
        if copy is _COPY_NEXT:
            copy = scratch[self._copy_key] = self._read_copy()  # type: ignore[index]
            return copy[rows]
        if isinstance(idx, slice) and self._wants_hints():
            self._hint_after(idx.stop, idx.stop - idx.start)
        out = take(self._input, rows)
        if scratch is not None and not isinstance(
            copy, str
        ):  # not decided yet, or the input changed
            scratch[self._copy_key] = _COPY_NEXT if self._worth_copying(out) else _NO_COPY
        return out

    @property
    def _copy_key(self) -> tuple[int, str]:
        return (id(self), "input copy")

    def _worth_copying(self, first: Any) -> bool:
        """Whether this pass reads its input through a copy (decided on its first window, ``first``)."""
        inp = self._input
        if (
            self.copy_input is False
            or "blocks" not in type(inp)._fast
            or inp._is_batched()
            or not 0 < len(first) < len(inp)  # a single window: nothing to gain
        ):
            return False
        if self.copy_input:
            return True
        if self._wants_hints() or all(_in_memory(n) for n in walk(inp)):
            return False
        return first.nbytes * len(inp) <= sizes.copy_bytes * max(1, len(first))

    def _read_copy(self) -> Any:
        inp = self._input
        n = len(inp)
        step = max(1, sizes.copy_rows)
        if n <= step:
            return take(inp, slice(0, n))
        # each block is copied into columns allocated once, then freed for the next to reuse
        blocks = (take(inp, slice(a, min(a + step, n))) for a in range(0, n, step))
        return _message_type()._join(blocks, n)

    def _hint_after(self, stop: int, width: int) -> None:
        perm = self.permutation()
        end = min(perm.shape[0], stop + max(self.hint_window, 4 * width))
        begin = max(stop, self._hinted)
        if begin < end:
            self._input._hint(perm[begin:end].astype(np.int64))
            self._hinted = end

    def _hint(self, index: np.ndarray) -> None:
        self._input._hint(self.permutation()[index].astype(np.int64))

    _hint_passes = True

    def _new_pass(self) -> None:
        super()._new_pass()
        if self._wants_hints():
            self._hinted = 0
            self._hint_after(0, 0)


class BatchingSource(Source):
    """Groups rows into Messages of ``batch_size`` rows; the partial last batch is kept unless ``drop_last``.

    ``len`` counts batches and ``b[i]`` is the i-th batch, gathered with one call on the input
    (``input[start:stop]``). Over a forward-only input it re-chunks the stream into batches.

    >>> from fireworks import BatchingSource, Message
    >>> b = BatchingSource(Message({"x": list(range(10))}), batch_size=4)
    >>> len(b), [len(m) for m in b]
    (3, [4, 4, 2])
    """

    _one_to_one = False
    _fast_paths = frozenset({"blocks", "windows", "stream"})

    def __init__(
        self,
        inputs: Any,
        batch_size: int,
        drop_last: bool = False,
        *,
        window_rows: int | None = None,
        name: str | None = None,
    ):
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int, but got {batch_size!r}")
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.window_rows = None if window_rows is None else int(window_rows)

    def _windows(self, start: int) -> Iterator[tuple[Any, list[tuple[int, int]]]] | None:
        # a pass fetches several batches' rows with one call and slices them; row-wise nodes between
        # here and the consumer then run once per window, not once per batch. Over batches the input's
        # items are not rows, so there are no windows to cut.
        if not self._input.has_random_access() or self._input._is_batched():
            return None
        return self._window_iter(start)

    def _window_iter(self, start: int) -> Iterator[tuple[Any, list[tuple[int, int]]]]:
        n_rows = len(self._input)
        bs = self.batch_size
        n = n_rows // bs if self.drop_last else -(-n_rows // bs)
        per = max(1, (self.window_rows or sizes.window_rows) // bs)
        hints = self._wants_hints()
        for b0 in range(start, n, per):
            b1 = min(n, b0 + per)
            r0, r1 = b0 * bs, min(b1 * bs, n_rows)
            if hints and r1 < n_rows:
                self._input._hint(np.arange(r1, min(r1 + (r1 - r0), n_rows), dtype=np.int64))
            window = take(self._input, slice(r0, r1))
            bounds = [(k * bs - r0, min(k * bs + bs, n_rows) - r0) for k in range(b0, b1)]
            yield window, bounds

    def _is_batched(self) -> bool:
        return True

    def __len__(self) -> int:
        self._check_random_access()
        n = len(self._input)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __getitem__(self, index: Any) -> Any:
        self._check_random_access()
        n_rows = len(self._input)
        bs = self.batch_size
        n = n_rows // bs if self.drop_last else -(-n_rows // bs)
        idx = normalize_index(index, n)
        if isinstance(idx, int):
            start, stop = idx * bs, min(idx * bs + bs, n_rows)
            if stop < n_rows and self._wants_hints():
                self._input._hint(np.arange(stop, min(stop + bs, n_rows), dtype=np.int64))
            return take(self._input, slice(start, stop))
        batches = index_to_array(idx)
        starts = batches * bs
        lengths = np.minimum(starts + bs, n_rows) - starts
        rows = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return take(self._input, rows)

    def _hint(self, index: np.ndarray) -> None:
        if self._input.has_random_access() and index.size:
            n_rows = len(self._input)
            bs = self.batch_size
            rows = (index[:, None] * bs + np.arange(bs)).reshape(-1)
            self._input._hint(rows[rows < n_rows])

    _hint_passes = True

    def _stream(self, start: int) -> Iterator[Any]:
        message_type = _message_type()
        bs = self.batch_size
        if self._input._is_batched():  # batches of batches: bs input items per batch, as b[i] has
            group: list[Any] = []
            for item in self._input._items(start * bs):
                group.append(item)
                if len(group) == bs:
                    yield message_type.concat(group)
                    group = []
            if group and not self.drop_last:
                yield message_type.concat(group)
            return
        pending: list[Any] = []
        have = 0
        produced = 0
        for chunk in self._input._items(0):
            pending.append(chunk)
            have += len(chunk)
            if have < bs:
                continue
            joined = message_type.concat(pending)
            full = (have // bs) * bs
            for a in range(0, full, bs):
                if produced >= start:
                    yield joined[a : a + bs]
                produced += 1
            pending = [joined[full:]] if full < have else []
            have -= full
        if have and not self.drop_last and produced >= start:
            yield message_type.concat(pending)


class RepeaterSource(Source):
    """The input ``repetitions`` times over: ``r[i]`` is ``input[i % len(input)]``.

    >>> from fireworks import Message, RepeaterSource
    >>> r = RepeaterSource(Message({"x": [1, 2]}), 3)
    >>> len(r), r[:]["x"].tolist()
    (6, [1, 2, 1, 2, 1, 2])
    """

    _one_to_one = False
    _fast_paths = frozenset({"blocks", "stream"})

    def __init__(self, inputs: Any, repetitions: int, *, name: str | None = None) -> None:
        if (
            isinstance(repetitions, bool)
            or not isinstance(repetitions, (int, np.integer))
            or repetitions < 0
        ):
            raise ValueError(f"repetitions must be an int >= 0, but got {repetitions!r}")
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.repetitions = int(repetitions)

    def __len__(self) -> int:
        self._check_random_access()
        return len(self._input) * self.repetitions

    def __getitem__(self, index: Any) -> Any:
        self._check_random_access()
        n = len(self._input)
        idx = normalize_index(index, n * self.repetitions)
        if isinstance(idx, int):
            return self._input[idx % n]
        if isinstance(idx, slice) and idx.stop > idx.start:
            base = (idx.start // n) * n
            if idx.stop <= base + n:
                return take(self._input, slice(idx.start - base, idx.stop - base))
        return take(self._input, index_to_array(idx) % n)

    def _hint(self, index: np.ndarray) -> None:
        if self._input.has_random_access():
            n = len(self._input)
            if n:
                self._input._hint(index % n)

    _hint_passes = True

    def _stream(self, start: int) -> Iterator[Any]:
        produced = 0
        for _ in range(self.repetitions):
            for item in self._input._items(0):
                if produced >= start:
                    yield item
                produced += 1


class IndexMapSource(Source):
    """A view through an index: ``s[i]`` is ``input[index[i]]`` (``index``: ints, a boolean mask or a slice).

    >>> from fireworks import IndexMapSource, Message
    >>> view = IndexMapSource(Message({"x": [10, 20, 30]}), [2, 0])
    >>> view[:]["x"].tolist()
    [30, 10]
    """

    _one_to_one = False
    _fast_paths = frozenset({"blocks"})

    def __init__(self, inputs: Any, index: Any, *, name: str | None = None) -> None:
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        _need_random_access(self, self._input)
        self._raw_index = index
        self._index: np.ndarray | None = None

    @property
    def index(self) -> np.ndarray:
        """The input rows this Source shows, as an int64 array (checked against the input on first use)."""
        if self._index is None:
            self._index = index_to_array(normalize_index(self._raw_index, len(self._input))).copy()
        return self._index

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, index: Any) -> Any:
        mapping = self.index
        idx = normalize_index(index, mapping.shape[0])
        if isinstance(idx, int):
            return self._input[int(mapping[idx])]
        return take(self._input, mapping[idx])

    def _hint(self, index: np.ndarray) -> None:
        self._input._hint(self.index[index])

    _hint_passes = True


def train_test_split(
    src: Any, test: float | int = 0.2, seed: int | None = None
) -> tuple[IndexMapSource, IndexMapSource]:
    """Split a random-access Source into disjoint ``(train, test)`` views, chosen at random.

    ``test`` is a fraction in (0, 1) or a row count. Each view keeps the input's row order.

    >>> from fireworks import Message, train_test_split
    >>> train, test = train_test_split(Message({"x": list(range(10))}), test=0.3, seed=0)
    >>> len(train), len(test)
    (7, 3)
    """
    source = src if isinstance(src, Source) else Source(src)
    _need_random_access(IndexMapSource.__new__(IndexMapSource), source)
    n = len(source)
    if isinstance(test, float):
        if not 0.0 < test < 1.0:
            raise ValueError(f"test must be a fraction in (0, 1) or a row count, but got {test}")
        n_test = round(n * test)
    elif isinstance(test, (int, np.integer)) and 0 <= test <= n:
        n_test = int(test)
    else:
        raise ValueError(
            f"test must be a fraction in (0, 1) or a row count in [0, {n}], but got {test!r}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    test_rows = np.sort(perm[:n_test])
    train_rows = np.sort(perm[n_test:])
    return IndexMapSource(source, train_rows), IndexMapSource(source, test_rows)


class ToTensorSource(Source):
    """Converts ``columns`` (default: every numeric/bool vector column) to tensors, on ``device``.

    >>> from fireworks import Message, ToTensorSource
    >>> t = ToTensorSource(Message({"x": [1.0, 2.0], "s": ["a", "b"]}))
    >>> t[:].tensor_columns
    ['x']
    """

    # converting columns commutes with slicing rows: windows of batches pass through
    _fast_paths = frozenset({"blocks", "windows", "stream", "chunks"})

    def __init__(
        self,
        inputs: Any,
        columns: list[str] | str | None = None,
        device: Any = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.columns = [columns] if isinstance(columns, str) else columns
        self.device = device

    def _convert(self, message: Any, copy: bool = True) -> Any:
        out = message._with_tensors(self.columns, copy=copy)
        if self.device is None:
            return out
        # pinned memory and a non_blocking copy on a side stream on CUDA
        from fireworks.sources.device import DeviceCopier

        return DeviceCopier(self.device)(out)

    def _window_transform(self, window: Any) -> Any:
        # a window is the pass's own (see fastpaths.split_windows): its columns need no copy
        return self._convert(window, copy=False)

    def __getitem__(self, index: Any) -> Any:
        return self._convert(take(self._input, index))

    def __len__(self) -> int:
        return len(self._input)

    def _stream(self, start: int) -> Iterator[Any]:
        for message in self._input._items(start):
            yield self._convert(message)
