"""Caching Sources: random access through a :class:`~fireworks.cache.MessageCache`, with hinted prefetch,
and a bounded-window shuffle for datasets larger than memory.

``CachingSource`` serves hits from its cache and fetches all misses of one request from upstream in one call.
When a downstream Source knows what it will ask for next (a ``ShufflerSource`` knows its permutation, a
``BatchingSource`` its next batch) it calls ``_hint``; the CachingSource then fetches those rows in a single
background thread into a bounded staging area, so prefetching never evicts cached rows and a pipeline without
hints behaves exactly as before.

``WindowShuffleSource`` streams a dataset in blocks (Parquet row groups) read in random order and shuffles rows
within a bounded window, so a shuffled pass over a file several times larger than memory needs memory set by
the window, not by the file.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fireworks.cache import LFUCache, LRUCache, MessageCache, UnlimitedCache
from fireworks.sources.base import Source
from fireworks.sources.epochs import SeededEpochs, epoch_of, epoch_signature
from fireworks.sources.indexing import index_to_array, normalize_index
from fireworks.sources.plan import take
from fireworks.sources.transforms import LoopingSource, _only_input

__all__ = ["CachingSource", "WindowShuffleSource"]

_POLICIES = ("lru", "lfu", "unlimited")
_DEFAULT_UNBOUNDED_PREFETCH = 65536


def _message_type() -> Any:
    from fireworks.message import Message

    return Message


def _make_cache(cache_size: int | None, policy: str, buffer_size: int) -> MessageCache:
    if policy not in _POLICIES:
        raise ValueError(f"policy must be one of {list(_POLICIES)}, but got {policy!r}")
    if cache_size is None or policy == "unlimited":
        if policy == "unlimited" and cache_size is not None:
            raise ValueError(
                f"policy='unlimited' takes no cache_size, but got cache_size={cache_size}; "
                "pass cache_size=None, or policy='lru'/'lfu' for a bounded cache"
            )
        return UnlimitedCache()
    if isinstance(cache_size, bool) or not isinstance(cache_size, (int, np.integer)):
        raise TypeError(f"cache_size must be an int or None, but got {cache_size!r}")
    if cache_size < 1:
        raise ValueError(
            f"cache_size must be at least 1 (or None: unbounded), but got {cache_size}"
        )
    cls = LRUCache if policy == "lru" else LFUCache
    return cls(int(cache_size), buffer_size)


class _Prefetcher:
    """One background worker fetching hinted rows from upstream into a bounded staging area.

    Shared state is guarded by ``cond`` (the owning CachingSource's condition). The worker holds no reference
    to the CachingSource, so the CachingSource can be garbage-collected; a finalizer then closes the worker.
    """

    def __init__(
        self,
        fetch: Callable[[np.ndarray], Any],
        cache: MessageCache,
        cond: threading.Condition,
        upstream_lock: threading.Lock,
        budget: int,
        chunk: int,
    ) -> None:
        self.fetch = fetch
        self.cache = cache
        self.cond = cond
        self.upstream_lock = upstream_lock
        self.budget = budget
        self.chunk = chunk
        self.hints: deque[list[int]] = deque()
        # rows fetched or asked for in this pass: a hint for one of them again is stale (its row has been
        # used, and may have left the cache since), so it is never fetched a second time
        self.done: np.ndarray = np.zeros(0, dtype=bool)
        self.staged: OrderedDict[int, tuple[Any, int]] = OrderedDict()
        self.inflight: set[int] = set()
        self.errors: dict[int, BaseException] = {}
        self.closed = False
        self.thread: threading.Thread | None = None
        self.prefetched = 0
        self.calls = 0

    # --- called with cond held ------------------------------------------------------------------
    def add(self, index: np.ndarray) -> None:
        if self.closed:
            return
        if index.size and int(index.max()) >= self.done.shape[0]:
            grown = np.zeros(int(index.max()) + 1, dtype=bool)
            grown[: self.done.shape[0]] = self.done
            self.done = grown
        self.hints.append(index.tolist())
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(
                target=self._run, name="fireworks-cache-prefetch", daemon=True
            )
            self.thread.start()
        self.cond.notify_all()

    def asked(self, rows: np.ndarray) -> None:
        """The consumer asked for ``rows``: hints for them from now on are stale."""
        self.done[rows[rows < self.done.shape[0]]] = True

    def clear(self) -> None:
        self.hints.clear()
        self.done[:] = False
        self.staged.clear()
        self.errors.clear()
        self.cond.notify_all()

    def _next_chunk(self) -> list[int]:
        room = self.budget - len(self.staged) - len(self.inflight)
        want = min(self.chunk, room)
        out: list[int] = []
        seen: set[int] = set()
        cache, staged, inflight, errors = self.cache, self.staged, self.inflight, self.errors
        done = self.done
        while self.hints and len(out) < want:
            head = self.hints[0]
            take = 0
            for k in head:
                take += 1
                if (
                    done[k]
                    or k in seen
                    or k in cache
                    or k in staged
                    or k in inflight
                    or k in errors
                ):
                    continue
                seen.add(k)
                done[k] = True
                out.append(k)
                if len(out) == want:
                    break
            if take == len(head):
                self.hints.popleft()
            else:
                self.hints[0] = head[take:]
        return out

    # --- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        cond = self.cond
        while True:
            with cond:
                while not self.closed and (
                    not self.hints or len(self.staged) + len(self.inflight) >= self.budget
                ):
                    cond.wait()
                if self.closed:
                    return
                keys = self._next_chunk()
                if not keys:
                    continue
                keys.sort()  # upstream locality (row groups, index order)
                self.inflight.update(keys)
            rows: Any = None
            error: BaseException | None = None
            try:
                with self.upstream_lock:
                    rows = self.fetch(np.asarray(keys, dtype=np.int64))
            except BaseException as err:  # surfaces on the foreground access that needs these rows
                error = err
            with cond:
                self.inflight.difference_update(keys)
                self.calls += 1
                if error is not None:
                    for k in keys:
                        self.errors[k] = error
                elif not self.closed:
                    for pos, k in enumerate(keys):
                        self.staged[k] = (rows, pos)
                    self.prefetched += len(keys)
                cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.clear()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.thread = None


class CachingSource(Source):
    """Random access to its input through a :class:`~fireworks.cache.MessageCache`.

    ``cache_size=None`` is unbounded; otherwise ``policy`` (``"lru"`` or ``"lfu"``) chooses what to evict.
    Hits are served from the cache; all misses of one request are fetched from upstream in ONE call
    (deduplicated and sorted, for upstream locality) and inserted. ``len`` is the input's. A forward-only
    input is wrapped in :class:`LoopingSource` (which keeps what it has read) to get random access.

    Prefetch: when a Source downstream announces the rows it will request next (``ShufflerSource`` and
    ``BatchingSource`` do), a background thread fetches the ones not cached, in chunks of ``prefetch_chunk``
    rows per upstream call, into a staging area of at most ``prefetch_rows`` rows (default: the cache size).
    Staged rows enter the cache when they are requested, so prefetching never evicts a cached row. An
    upstream error during a prefetch is raised by the request that needs those rows. ``prefetch_rows=0``
    turns prefetching off. The worker stops on :meth:`close`, :meth:`reset` and garbage collection.

    ``stats`` counts ``hits``, ``misses`` (rows fetched in the foreground), ``prefetched`` rows and
    ``upstream_calls``. ``state_dict`` holds the cursor, not the cached rows (the cache only saves time);
    ``src.message_cache.state_dict()`` saves those when wanted.

    >>> from fireworks import CachingSource, Message
    >>> src = CachingSource(Message({"x": list(range(100))}), cache_size=10)
    >>> src[[5, 1, 5]]["x"].tolist(), src[[1]]["x"].tolist(), src.stats["hits"], src.stats["misses"]
    ([5, 1, 5], [1], 1, 2)
    """

    _random_access = True
    _fast_paths = frozenset({"blocks"})

    def __init__(
        self,
        inputs: Any,
        cache_size: int | None = None,
        policy: str = "lru",
        *,
        buffer_size: int = 0,
        prefetch_rows: int | None = None,
        prefetch_chunk: int = 4096,
        name: str | None = None,
    ) -> None:
        self.message_cache = _make_cache(cache_size, policy, buffer_size)
        self.policy = policy
        self.cache_size = None if cache_size is None else int(cache_size)
        if prefetch_rows is None:
            prefetch_rows = (
                self.cache_size if self.cache_size is not None else _DEFAULT_UNBOUNDED_PREFETCH
            )
        if prefetch_rows < 0 or prefetch_chunk < 1:
            raise ValueError(
                f"prefetch_rows must be >= 0 and prefetch_chunk >= 1, but got "
                f"prefetch_rows={prefetch_rows}, prefetch_chunk={prefetch_chunk}"
            )
        self.prefetch_rows = int(prefetch_rows)
        self.prefetch_chunk = int(prefetch_chunk)
        inner = inputs if isinstance(inputs, Source) else Source(inputs)
        if not inner.has_random_access():
            inner = LoopingSource(inner)
        super().__init__(inner, name=name)
        self._input = _only_input(self)
        self._cond = threading.Condition()
        self._upstream_lock = threading.Lock()
        self._prefetcher: _Prefetcher | None = None
        self._finalizer: Any = None
        self._counts = {"hits": 0, "misses": 0, "upstream_calls": 0}
        self._epochs: tuple[int, ...] = ()
        self._batches: OrderedDict[int, Any] = OrderedDict()

    @property
    def stats(self) -> dict[str, int]:
        """Rows served from the cache (``hits``), fetched on demand (``misses``) or ahead (``prefetched``),
        and the number of upstream calls."""
        pf = self._prefetcher
        out = dict(self._counts)
        out["prefetched"] = pf.prefetched if pf is not None else 0
        out["upstream_calls"] += pf.calls if pf is not None else 0
        return out

    def __len__(self) -> int:
        return len(self._input)

    def __getitem__(self, index: Any) -> Any:
        idx = normalize_index(index, len(self))
        self._check_epoch()
        if self._input._is_batched():
            return self._fetch_batches(idx)
        if isinstance(idx, int):
            rows = np.array([idx], dtype=np.int64)
        elif isinstance(idx, slice):
            rows = np.arange(idx.start, idx.stop, dtype=np.int64)
        else:
            rows = idx
        return self._fetch(rows)

    def _check_epoch(self) -> None:
        # the input's items change with the epoch of a shuffler upstream: a new epoch starts afresh
        key = epoch_signature(self._input)
        if key != self._epochs:
            self._epochs = key
            self.close()
            with self._cond:
                self.message_cache.clear()
                self._batches.clear()

    def _fetch_batches(self, idx: int | slice | np.ndarray) -> Any:
        # over a batched input an item is a whole batch: cache batches, at most cache_size of them
        out = []
        for k in index_to_array(idx).tolist():
            batch = self._batches.get(k)
            if batch is None:
                self._counts["misses"] += 1
                self._counts["upstream_calls"] += 1
                batch = self._input[k]
                self._batches[k] = batch
                if self.cache_size is not None and len(self._batches) > self.cache_size:
                    self._batches.popitem(last=False)
            else:
                self._counts["hits"] += 1
                self._batches.move_to_end(k)
            out.append(batch)
        if isinstance(idx, int):
            return out[0]
        if not out:
            return self._input[0][0:0] if len(self._input) else _message_type()()
        return out[0] if len(out) == 1 else _message_type().concat(out)

    def _fetch(self, rows: np.ndarray) -> Any:
        cache = self.message_cache
        if rows.size == 0:
            return take(self._input, rows)
        uniq = np.unique(rows)
        pf = self._prefetcher
        with self._cond:
            if pf is not None:
                pf.asked(uniq)
            while True:
                present = cache.contains(uniq)
                if pf is None or present.all():
                    break
                need = uniq[~present].tolist()
                if not any(k in pf.inflight for k in need):
                    break
                self._cond.wait()
            if present.all():
                self._counts["hits"] += len(uniq)
                return cache[rows]
            hit_keys = uniq[present]
            need_arr = uniq[~present]
            staged_keys: list[int] = []
            staged_msg = None
            if pf is not None:
                failed = [k for k in need_arr.tolist() if k in pf.errors]
                if failed:
                    error = pf.errors[failed[0]]
                    for k in failed:
                        del pf.errors[k]
                    raise error
                if pf.staged:
                    staged_keys, staged_msg = _take_staged(pf.staged, need_arr)
                    self._cond.notify_all()
            hit_msg = cache[hit_keys] if hit_keys.size else None
            if staged_keys:
                cache[staged_keys] = staged_msg
                miss_keys = np.setdiff1d(need_arr, np.asarray(staged_keys), assume_unique=True)
            else:
                miss_keys = need_arr
            if pf is not None and miss_keys.size:
                pf.inflight.update(miss_keys.tolist())
            self._counts["hits"] += int(hit_keys.size) + len(staged_keys)
            self._counts["misses"] += int(miss_keys.size)
        miss_msg = None
        if miss_keys.size:
            try:
                with self._upstream_lock:
                    self._counts["upstream_calls"] += 1
                    miss_msg = take(self._input, miss_keys)
            finally:
                if pf is not None:
                    with self._cond:
                        pf.inflight.difference_update(miss_keys.tolist())
                        self._cond.notify_all()
            with self._cond:
                cache[miss_keys] = miss_msg
        keys = [a for a in (hit_keys, np.asarray(staged_keys, dtype=np.int64), miss_keys) if a.size]
        parts = [m for m in (hit_msg, staged_msg, miss_msg) if m is not None]
        joined = parts[0] if len(parts) == 1 else _message_type().concat(parts)
        all_keys = np.concatenate(keys)
        order = np.argsort(
            all_keys, kind="stable"
        )  # rows of `joined` sorted by key, i.e. aligned to uniq
        return joined[order[np.searchsorted(uniq, rows)]]

    # --- prefetch ---------------------------------------------------------------------------------
    def _hint(self, index: np.ndarray) -> None:
        if self.prefetch_rows == 0 or index.size == 0 or self._input._is_batched():
            return
        self._check_epoch()
        n = len(self)
        index = np.asarray(index, dtype=np.int64)
        index = index[(index >= 0) & (index < n)]
        with self._cond:
            if self._prefetcher is None or self._prefetcher.closed:
                inp = self._input
                self._prefetcher = _Prefetcher(
                    lambda rows: take(inp, rows),
                    self.message_cache,
                    self._cond,
                    self._upstream_lock,
                    self.prefetch_rows,
                    self.prefetch_chunk,
                )
                self._finalizer = weakref.finalize(self, self._prefetcher.close)
            self._prefetcher.add(index)

    def close(self) -> None:
        """Stop the prefetch worker and drop staged rows (the cache keeps its rows)."""
        pf = self._prefetcher
        if pf is not None:
            pf.close()
            self._prefetcher = None
            self._finalizer.detach()

    def _new_pass(self) -> None:
        # hints of an earlier pass are stale; the Sources downstream hint again after this
        pf = self._prefetcher
        if pf is not None:
            with self._cond:
                pf.clear()

    def reset(self) -> CachingSource:
        self.close()
        super().reset()
        return self

    def clear_cache(self) -> None:
        """Empty the cache (and any prefetched rows)."""
        self.close()
        with self._cond:
            self.message_cache.clear()
            self._batches.clear()

    def __repr__(self) -> str:
        return f"CachingSource({self.message_cache!r}, policy={self.policy!r})"


def _take_staged(
    staged: OrderedDict[int, tuple[Any, int]], need: np.ndarray
) -> tuple[list[int], Any]:
    """Pop the staged rows among ``need``; return their keys and one Message of their rows, aligned."""
    by_chunk: dict[int, tuple[Any, list[int], list[int]]] = {}
    for k in need.tolist():
        entry = staged.pop(k, None)
        if entry is None:
            continue
        msg, pos = entry
        group = by_chunk.get(id(msg))
        if group is None:
            group = by_chunk[id(msg)] = (msg, [], [])
        group[1].append(k)
        group[2].append(pos)
    if not by_chunk:
        return [], None
    keys = [k for _, ks, _ in by_chunk.values() for k in ks]
    parts = [msg[np.asarray(pos, dtype=np.int64)] for msg, _, pos in by_chunk.values()]
    return keys, parts[0] if len(parts) == 1 else _message_type().concat(parts)


class WindowShuffleSource(SeededEpochs, Source):
    """A shuffled pass in bounded memory: blocks read in random order, rows shuffled within a window.

    Over a random-access input (``ParquetSource``: blocks are its row groups) the blocks of each pass are read
    in a random order; over a forward-only input they arrive in stream order. Rows gather in a buffer of up to
    ``window`` rows; when it is full, a random ``window // 2`` rows stay and the rest are yielded, shuffled. So
    memory holds about ``window`` rows plus one block however big the dataset is. Each pass (``iter``) is a new
    epoch drawn from ``numpy.random.default_rng([seed, epoch])``. A pass yields Messages of several rows (like a
    reader yields chunks); batch them with ``.batch(n)``.

    For a Parquet file larger than memory, open it with a small row-group cache:
    ``ParquetSource(path, cache_row_groups=1)``.

    >>> from fireworks import Message
    >>> from fireworks import WindowShuffleSource
    >>> src = WindowShuffleSource(Message({"x": list(range(100))}), window=16, block_rows=8, seed=0)
    >>> rows = [x for chunk in src for x in chunk["x"].tolist()]
    >>> sorted(rows) == list(range(100)), rows[:10] != list(range(10))
    (True, True)
    """

    _random_access = False
    _chunked = True
    _one_to_one = False
    _fast_paths = frozenset[str]()

    def __init__(
        self,
        inputs: Any,
        window: int = 65536,
        seed: int | None = None,
        *,
        block_rows: int | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
            raise ValueError(f"window must be an int >= 2, but got {window!r}")
        if block_rows is not None and block_rows < 1:
            raise ValueError(f"block_rows must be >= 1 (or None), but got {block_rows}")
        super().__init__(inputs, name=name)
        self._input = _only_input(self)
        self.window = int(window)
        self.block_rows = block_rows
        self._init_epochs(seed)

    def __len__(self) -> int:
        if not self._input.has_random_access():
            raise TypeError(
                f"{self.describe()} streams a forward-only input, so its length is unknown; "
                "iterate it, or give it a random-access input"
            )
        return len(self._input)

    def _bounds(self) -> np.ndarray:
        """Block boundaries over the input: Parquet row groups when the input has them."""
        n = len(self._input)
        if self.block_rows is None:
            starts = _row_group_starts(self._input)
            if starts is not None and int(starts[-1]) == n:
                return starts
        step = self.block_rows or max(1, self.window // 8)
        return np.append(np.arange(0, n, step, dtype=np.int64), n)

    def _blocks(self, rng: np.random.Generator) -> Iterator[Any]:
        if not self._input.has_random_access():
            yield from self._input._items(0)
            return
        bounds = self._bounds()
        for k in rng.permutation(len(bounds) - 1):
            a, b = int(bounds[k]), int(bounds[k + 1])
            if b > a:
                yield take(self._input, slice(a, b))

    def _shuffled(self, epoch: int) -> Iterator[Any]:
        Message = _message_type()
        rng = np.random.default_rng([self.seed, epoch])
        keep = self.window // 2
        pending: list[Any] = []
        have = 0
        for block in self._blocks(rng):
            if not len(block):
                continue
            pending.append(block)
            have += len(block)
            if have < self.window:
                continue
            buffer = pending[0] if len(pending) == 1 else Message.concat(pending)
            perm = rng.permutation(have)
            yield buffer[perm[: have - keep]]
            pending, have = [buffer[perm[have - keep :]]], keep
        if have:
            buffer = pending[0] if len(pending) == 1 else Message.concat(pending)
            yield buffer[rng.permutation(have)]

    def _stream(self, start: int) -> Iterator[Any]:
        it = self._shuffled(epoch_of(self))
        for _ in range(start):
            next(it, None)
        yield from it


def _row_group_starts(src: Source) -> np.ndarray | None:
    """Row-group start offsets of a Parquet input (found through attribute forwarding), else None."""
    try:
        path = src.path
        n_groups = src.num_row_groups
    except AttributeError:
        return None
    if not isinstance(n_groups, int):
        return None
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
