"""Message caches: rows addressed by *virtual* index, stored in pre-allocated columnar slots.

A :class:`MessageCache` lets a bounded part of a huge dataset sit in memory while the whole dataset stays
addressable by its row numbers. Storage is a set of columns (``torch.Tensor`` or numpy arrays) allocated once
and grown geometrically; a dict maps each virtual index to its slot and a free list hands out slots, so
inserting, updating, reading or deleting ``k`` rows costs ``O(k)`` however large the cache is. Eviction policies
keep their own ``O(1)`` bookkeeping (an ordered dict for LRU, frequency buckets for LFU).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["LFUCache", "LRUCache", "MessageCache", "UnlimitedCache"]

_MIN_CAPACITY = 64


def _message_cls() -> Any:
    from fireworks.message import Message

    return Message


def _as_keys(indices: Any) -> list[int]:
    """Normalise an index argument (int, slice, sequence, ndarray, tensor) to a list of Python ints."""
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, (bool, np.bool_)):
        return [int(indices)]
    if isinstance(indices, slice):
        if indices.stop is None:
            raise ValueError(
                f"a slice of cache indices needs an explicit stop (virtual indices are unbounded), "
                f"but got {indices!r}; pass e.g. slice(0, 10)"
            )
        return list(range(*indices.indices(max(indices.stop, indices.start or 0))))
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    if isinstance(indices, pd.Series):
        indices = indices.to_numpy()
    if isinstance(indices, np.ndarray):
        if indices.ndim != 1 and indices.size != 1:
            raise ValueError(
                f"cache indices must be one-dimensional, but got shape {indices.shape}"
            )
        if indices.dtype.kind not in "iu":
            raise TypeError(
                f"cache indices must be integers, but got an array of dtype {indices.dtype}; "
                "convert it with .astype(np.int64)"
            )
        return indices.reshape(-1).tolist()
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise TypeError(
            f"cache indices must be an int, a slice or a sequence of ints, but got {type(indices).__name__}"
        )
    keys = list(indices)
    for key in keys:
        if not isinstance(key, (int, np.integer)) or isinstance(key, (bool, np.bool_)):
            raise TypeError(
                f"cache indices must be integers, but got {key!r} ({type(key).__name__}) in {keys[:10]!r}"
            )
    return [int(k) for k in keys]


def _describe(keys: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(k) for k in keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}] ({len(keys)} in all)"


def _last_occurrence(keys: list[int]) -> tuple[list[int], list[int] | None]:
    """Distinct keys ordered by their last occurrence, and the position of that occurrence (None: all distinct)."""
    if len(set(keys)) == len(keys):
        return keys, None
    last: dict[int, int] = {}
    for pos, key in enumerate(keys):
        last.pop(key, None)
        last[key] = pos
    return list(last), list(last.values())


class _Columns:
    """Pre-allocated column storage: one tensor or numpy array per column, ``capacity`` rows each."""

    def __init__(self, columns: dict[str, Any], capacity: int) -> None:
        self.names = list(columns)
        self.tensors: dict[str, torch.Tensor] = {}
        self.views: dict[
            str, np.ndarray | None
        ] = {}  # numpy views of CPU tensors: fast small gathers
        self.vectors: dict[str, np.ndarray] = {}
        self.extension_dtypes: dict[
            str, Any
        ] = {}  # vector columns that were pandas ExtensionArrays
        self.capacity = 0
        for name, col in columns.items():
            if isinstance(col, torch.Tensor):
                shape = (0, *col.shape[1:])
                self.tensors[name] = torch.empty(shape, dtype=col.dtype, device=col.device)
            elif isinstance(col, np.ndarray):
                self.vectors[name] = np.empty((0, *col.shape[1:]), dtype=col.dtype)
            else:
                self.vectors[name] = np.empty(0, dtype=object)
                self.extension_dtypes[name] = col.dtype
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        old = self.capacity
        for name, t in self.tensors.items():
            new = torch.empty((capacity, *t.shape[1:]), dtype=t.dtype, device=t.device)
            new[:old] = t[:old]
            self.tensors[name] = new
            try:
                self.views[name] = new.numpy() if new.device.type == "cpu" else None
            except (TypeError, RuntimeError):  # dtypes numpy lacks (bfloat16, ...)
                self.views[name] = None
        for name, v in self.vectors.items():
            new_v = np.empty((capacity, *v.shape[1:]), dtype=v.dtype)
            if v.dtype == object:
                new_v[old:] = None
            new_v[:old] = v[:old]
            self.vectors[name] = new_v
        self.capacity = capacity

    def check(self, columns: dict[str, Any]) -> None:
        if list(columns) != self.names and set(columns) != set(self.names):
            raise ValueError(
                f"rows written to a cache must have the cached columns {self.names}, but got "
                f"{list(columns)}; write Messages with the same columns (or clear() the cache first)"
            )
        for name, col in columns.items():
            if name in self.tensors:
                t = self.tensors[name]
                if not isinstance(col, torch.Tensor):
                    raise ValueError(
                        f"column {name!r} is cached as a tensor column but the rows written hold a vector; "
                        "convert it with Message.to_tensors()"
                    )
                if tuple(col.shape[1:]) != tuple(t.shape[1:]):
                    raise ValueError(
                        f"tensor column {name!r} must have rows of shape {tuple(t.shape[1:])}, "
                        f"but got {tuple(col.shape[1:])}"
                    )
            elif isinstance(col, torch.Tensor):
                raise ValueError(
                    f"column {name!r} is cached as a vector column but the rows written hold a tensor; "
                    "convert it with Message.to_vectors()"
                )

    def prepare(self, columns: dict[str, Any], rows: np.ndarray | None) -> dict[str, Any]:
        """Select ``rows`` and convert each column to its cached dtype and device, before anything changes."""
        out: dict[str, Any] = {}
        for name, col in columns.items():
            if name in self.tensors:
                dst = self.tensors[name]
                src = col.detach()
                if src.dtype != dst.dtype and not torch.can_cast(src.dtype, dst.dtype):
                    raise ValueError(
                        f"tensor column {name!r} is cached as {dst.dtype} and cannot safely hold "
                        f"{src.dtype} values; convert the column to {dst.dtype} first"
                    )
                if rows is not None:
                    src = src[torch.from_numpy(rows).to(src.device)]
                view = self.views.get(name)
                if view is not None:
                    out[name] = src.to(dtype=dst.dtype).cpu().numpy()
                else:
                    out[name] = src.to(device=dst.device, dtype=dst.dtype)
            else:
                dst_v = self.vectors[name]
                src_v = col if rows is None else col[rows]
                if not isinstance(src_v, np.ndarray):
                    src_v = src_v.to_numpy(dtype=object)
                elif src_v.shape[1:] != dst_v.shape[1:]:
                    raise ValueError(
                        f"vector column {name!r} must have rows of shape {dst_v.shape[1:]}, "
                        f"but got {src_v.shape[1:]}"
                    )
                if (
                    dst_v.dtype != object
                    and src_v.dtype != dst_v.dtype
                    and not np.can_cast(src_v.dtype, dst_v.dtype, casting="same_kind")
                ):
                    raise ValueError(
                        f"vector column {name!r} is cached as {dst_v.dtype} and cannot safely hold "
                        f"{src_v.dtype} values; convert the column to {dst_v.dtype} first"
                    )
                out[name] = src_v
        return out

    def write(self, slots: np.ndarray, prepared: dict[str, Any]) -> None:
        for name, col in prepared.items():
            if name in self.tensors:
                view = self.views.get(name)
                if view is not None:
                    view[slots] = col
                else:
                    self.tensors[name][torch.from_numpy(slots).to(col.device)] = col
            else:
                self.vectors[name][slots] = col

    def read(self, slots: np.ndarray) -> Any:
        out: dict[str, Any] = {}
        for name in self.names:
            if name in self.tensors:
                view = self.views.get(name)
                if view is not None:
                    out[name] = torch.from_numpy(view[slots])
                else:
                    t = self.tensors[name]
                    out[name] = t[torch.from_numpy(slots).to(t.device)]
            else:
                vec = self.vectors[name][slots]
                ext = self.extension_dtypes.get(name)
                out[name] = vec if ext is None else pd.array(vec, dtype=ext)
        return _wrap(out, len(slots))

    def clear(self, slots: np.ndarray) -> None:
        for vec in self.vectors.values():
            if vec.dtype == object:
                vec[slots] = None  # drop references to evicted Python objects


def _wrap(columns: dict[str, Any], n: int) -> Any:
    """A Message owning ``columns`` (fresh arrays no one else holds): no copy when Message allows it."""
    Message = _message_cls()
    from_columns = getattr(Message, "_from_columns", None)
    if from_columns is not None:
        return from_columns(columns, n)
    return Message(columns)  # pragma: no cover - older Message


def _columns_of(message: Any) -> tuple[dict[str, Any], int]:
    """The columns of a Message (or anything Message accepts) as tensors, numpy or extension arrays."""
    Message = _message_cls()
    if not isinstance(message, Message):
        message = Message(message)
    data = getattr(message, "_data", None)  # the columns themselves: no Series round trip
    if isinstance(data, dict):
        return dict(data), len(message)
    cols: dict[str, Any] = {}  # pragma: no cover - public (slower) path
    for name in message.columns:
        col = message[name]
        cols[name] = col if isinstance(col, torch.Tensor) else pd.Series(col).array
    return cols, len(message)


class MessageCache:
    """A cache of Message rows addressed by virtual index (the contract every policy fulfils).

    ``cache[indices] = message`` stores the rows of ``message`` under ``indices`` (row count must equal index
    count; a repeated index keeps its last row). ``cache[indices]`` returns the rows in the requested order,
    repeats included, and raises ``KeyError`` naming the missing indices. ``del cache[indices]`` removes rows
    (absent indices are ignored). ``i in cache`` and ``len(cache)`` behave like a dict's.

    A bounded cache never holds more than ``max_size`` rows. Inserting ``k`` new rows into a cache that would
    overflow first evicts the least valuable rows until ``len + k <= max(max_size - buffer_size, k)``, so a
    ``buffer_size`` makes evictions rarer and larger. An insert larger than ``max_size`` keeps its last
    ``max_size`` rows; an insert or a read counts as a use (once per distinct index per call); updating a cached
    index never evicts; rows of the current insert are never evicted by it. Every operation on ``k`` rows costs
    ``O(k)``.

    Subclasses choose what "least valuable" means by implementing ``_record`` / ``_forget`` / ``_victims`` /
    ``_order``.

    >>> from fireworks import LRUCache, Message
    >>> cache = LRUCache(max_size=2)
    >>> cache[[10, 20]] = Message({"x": [1, 2]})
    >>> cache[[30]] = Message({"x": [3]})  # evicts 10, the least recently used
    >>> 10 in cache, cache[[30, 20, 30]]["x"].tolist()
    (False, [3, 2, 3])
    """

    def __init__(self, max_size: int | None = None, buffer_size: int = 0) -> None:
        if max_size is not None:
            if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)):
                raise TypeError(f"max_size must be an int or None, but got {max_size!r}")
            if max_size < 1:
                raise ValueError(f"max_size must be at least 1, but got {max_size}")
            max_size = int(max_size)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)):
            raise TypeError(f"buffer_size must be an int, but got {buffer_size!r}")
        if buffer_size < 0 or (max_size is not None and buffer_size >= max_size):
            raise ValueError(
                f"buffer_size must satisfy 0 <= buffer_size < max_size, but got buffer_size={buffer_size}, "
                f"max_size={max_size}"
            )
        self.max_size = max_size
        self.buffer_size = int(buffer_size)
        self._reset_storage()

    def _reset_storage(self) -> None:
        self._slots: dict[int, int] = {}
        self._free = np.empty(0, dtype=np.int64)  # a stack of free slot ids; the top is at _top - 1
        self._top = 0
        self._storage: _Columns | None = None

    # ----------------------------------------------------------------- policy hooks (subclasses override)
    def _record(self, keys: list[int]) -> None:
        """Note a use of ``keys`` (distinct, in order of use); keys not yet known are being added."""

    def _forget(self, keys: list[int]) -> None:
        """Drop ``keys`` from the policy's bookkeeping."""

    def _victims(self, n: int, protect: set[int]) -> list[int]:
        """The ``n`` least valuable keys, never one in ``protect``."""
        raise NotImplementedError(f"{type(self).__name__} never evicts")

    def _order(self) -> list[int]:
        """Every cached key, least valuable first."""
        return list(self._slots)

    # ----------------------------------------------------------------- public API
    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, index: object) -> bool:
        return index in self._slots

    def contains(self, indices: Any) -> np.ndarray:
        """A boolean array: which of ``indices`` are cached (does not count as a use)."""
        slots = self._slots
        keys = _as_keys(indices)
        return np.fromiter((k in slots for k in keys), dtype=bool, count=len(keys))

    def keys(self) -> np.ndarray:
        """The cached virtual indices, least valuable (next to be evicted) first."""
        return np.asarray(self._order(), dtype=np.int64)

    @property
    def columns(self) -> list[str]:
        """The cached column names (empty before the first insert)."""
        return [] if self._storage is None else list(self._storage.names)

    def __getitem__(self, indices: Any) -> Any:
        keys = _as_keys(indices)
        slots = self._slots
        try:
            slot_list = [slots[k] for k in keys]
        except KeyError:
            missing = list(dict.fromkeys(k for k in keys if k not in slots))
            raise KeyError(
                f"indices not in the cache: {_describe(missing)}; check `index in cache` first or "
                "insert the rows"
            ) from None
        if self._storage is None:
            return _message_cls()()
        distinct, _ = _last_occurrence(keys)
        self._record(distinct)
        return self._storage.read(np.asarray(slot_list, dtype=np.int64))

    def __setitem__(self, indices: Any, message: Any) -> None:
        keys = _as_keys(indices)
        columns, n_rows = _columns_of(message)
        if n_rows != len(keys):
            raise ValueError(
                f"the number of rows must equal the number of indices, but got {n_rows} rows for "
                f"{len(keys)} indices"
            )
        if not keys:
            return
        if self._storage is not None:
            self._storage.check(columns)
        self._insert(keys, columns)

    def __delitem__(self, indices: Any) -> None:
        self._discard(_as_keys(indices))

    def clear(self) -> None:
        """Remove every row (and forget the column schema)."""
        self._forget(list(self._slots))
        self._reset_storage()

    def __repr__(self) -> str:
        size = "unbounded" if self.max_size is None else f"max_size={self.max_size}"
        return f"{type(self).__name__}({len(self)} rows, {size}, buffer_size={self.buffer_size})"

    # ----------------------------------------------------------------- internals
    def _insert(self, keys: list[int], columns: dict[str, Any]) -> None:
        keys, positions = _last_occurrence(keys)
        if self.max_size is not None and len(keys) > self.max_size:
            if positions is None:
                positions = list(range(len(keys) - self.max_size, len(keys)))
            else:
                positions = positions[-self.max_size :]
            keys = keys[-self.max_size :]
        storage = self._storage if self._storage is not None else _Columns(columns, 0)
        rows = None if positions is None else np.asarray(positions, dtype=np.int64)
        prepared = storage.prepare(columns, rows)  # may raise: nothing has changed yet
        self._storage = storage
        slots = self._slots
        existing = [k for k in keys if k in slots]
        n_new = len(keys) - len(existing)
        if self.max_size is not None and len(slots) + n_new > self.max_size:
            target = max(self.max_size - self.buffer_size, len(keys))
            self._discard(self._victims(len(slots) + n_new - target, set(existing)))
        self._reserve(n_new)
        fresh = self._free[self._top - n_new : self._top][::-1].tolist()
        self._top -= n_new
        slot_list = []
        it = iter(fresh)
        for k in keys:
            s = slots.get(k)
            if s is None:
                s = slots[k] = next(it)
            slot_list.append(s)
        self._record(keys)
        self._storage.write(np.asarray(slot_list, dtype=np.int64), prepared)

    def _reserve(self, n: int) -> None:
        """Make sure at least ``n`` free slots exist, growing storage geometrically (capped at max_size)."""
        if self._top >= n:
            return
        assert self._storage is not None
        old = self._storage.capacity
        needed = len(self._slots) + n
        capacity = max(needed, 2 * old, _MIN_CAPACITY)
        if self.max_size is not None:
            capacity = min(capacity, self.max_size)
        self._storage.grow(capacity)
        added = np.arange(
            capacity - 1, old - 1, -1, dtype=np.int64
        )  # low slots on top of the stack
        free = np.empty(capacity, dtype=np.int64)
        free[: len(added)] = added
        free[len(added) : len(added) + self._top] = self._free[: self._top]
        self._free = free
        self._top += len(added)

    def _discard(self, keys: list[int]) -> None:
        slots = self._slots
        gone = []
        freed = []
        for k in keys:
            s = slots.pop(k, None)
            if s is not None:
                gone.append(k)
                freed.append(s)
        if not gone:
            return
        self._forget(gone)
        arr = np.asarray(freed, dtype=np.int64)
        if self._storage is not None:
            self._storage.clear(arr)
        self._free[self._top : self._top + len(arr)] = arr
        self._top += len(arr)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The policy, its order and the cached rows, as JSON scalars, numpy arrays and tensors (no pickle)."""
        order = self._order()
        state: dict[str, Any] = {
            "policy": type(self).__name__,
            "max_size": self.max_size,
            "buffer_size": self.buffer_size,
            "keys": np.asarray(order, dtype=np.int64),
            "tensor_columns": {},
            "vector_columns": {},
            "extension_dtypes": {},
            "column_order": self.columns,
        }
        counts = self._counts(order)
        if counts is not None:
            state["counts"] = counts
        if self._storage is not None:
            slots = np.asarray([self._slots[k] for k in order], dtype=np.int64)
            for name, t in self._storage.tensors.items():
                state["tensor_columns"][name] = t[torch.from_numpy(slots).to(t.device)].cpu()
            for name, v in self._storage.vectors.items():
                rows = v[slots]
                if rows.dtype == object:  # strings and other Python values: a JSON list, NA as None
                    series = pd.Series(rows, dtype=object)
                    state["vector_columns"][name] = series.where(series.notna(), None).tolist()
                else:
                    state["vector_columns"][name] = rows
            for name, dtype in self._storage.extension_dtypes.items():
                state["extension_dtypes"][name] = str(dtype)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore rows and policy order saved by :meth:`state_dict` (replaces the current content)."""
        if state.get("policy") != type(self).__name__:
            raise ValueError(
                f"this state_dict was saved by a {state.get('policy')}, not a {type(self).__name__}; "
                f"load it into a {state.get('policy')}"
            )
        keys = np.asarray(state["keys"], dtype=np.int64).tolist()
        if self.max_size is not None and len(keys) > self.max_size:
            raise ValueError(
                f"the state_dict holds {len(keys)} rows but this cache has max_size={self.max_size}; "
                f"create the cache with max_size >= {len(keys)}"
            )
        self.clear()
        if not keys and not state.get("column_order"):
            return
        columns: dict[str, Any] = {}
        for name in state["column_order"]:
            if name in state["tensor_columns"]:
                columns[name] = torch.as_tensor(state["tensor_columns"][name])
            else:
                vals = state["vector_columns"][name]
                ext = state.get("extension_dtypes", {}).get(name)
                if ext is not None:
                    columns[name] = pd.array(vals, dtype=pd.api.types.pandas_dtype(ext))
                elif isinstance(vals, np.ndarray):
                    columns[name] = vals
                else:
                    columns[name] = np.array(vals, dtype=object)
        self._storage = _Columns(columns, 0)
        if keys:
            self._reserve(len(keys))
            fresh = self._free[self._top - len(keys) : self._top][::-1]
            self._top -= len(keys)
            self._slots = dict(zip(keys, fresh.tolist()))
            self._storage.write(fresh, self._storage.prepare(columns, None))
            self._restore_order(keys, state)

    def _counts(self, order: list[int]) -> np.ndarray | None:
        return None

    def _restore_order(self, keys: list[int], state: Mapping[str, Any]) -> None:
        self._record(keys)


class UnlimitedCache(MessageCache):
    """A cache that never evicts: storage grows geometrically as rows arrive.

    >>> from fireworks import Message, UnlimitedCache
    >>> cache = UnlimitedCache()
    >>> cache[range(3)] = Message({"x": [1.0, 2.0, 3.0]})
    >>> len(cache), cache[[2, 0]]["x"].tolist()
    (3, [3.0, 1.0])
    """

    def __init__(self) -> None:
        super().__init__(max_size=None, buffer_size=0)


class LRUCache(MessageCache):
    """A bounded cache that evicts the least recently used rows (an insert or a read is a use).

    >>> from fireworks import LRUCache, Message
    >>> cache = LRUCache(max_size=3, buffer_size=1)
    >>> cache[[0, 1, 2]] = Message({"x": [0, 1, 2]})
    >>> _ = cache[[0]]            # 0 is now the most recently used
    >>> cache[[3]] = Message({"x": [3]})  # full: frees down to max_size - buffer_size = 2, then inserts
    >>> sorted(cache.keys().tolist())
    [0, 3]
    """

    def __init__(self, max_size: int, buffer_size: int = 0) -> None:
        super().__init__(max_size=max_size, buffer_size=buffer_size)

    def _reset_storage(self) -> None:
        super()._reset_storage()
        self._recency: OrderedDict[int, None] = OrderedDict()

    def _record(self, keys: list[int]) -> None:
        od = self._recency
        move = od.move_to_end
        for k in keys:
            if k in od:
                move(k)
            else:
                od[k] = None

    def _forget(self, keys: list[int]) -> None:
        od = self._recency
        for k in keys:
            del od[k]

    def _victims(self, n: int, protect: set[int]) -> list[int]:
        out: list[int] = []
        if n <= 0:
            return out
        for k in self._recency:
            if k not in protect:
                out.append(k)
                if len(out) == n:
                    break
        return out

    def _order(self) -> list[int]:
        return list(self._recency)


class _Bucket:
    """The keys used exactly ``freq`` times, oldest use first; a node of a doubly linked list by freq."""

    __slots__ = ("freq", "keys", "next", "prev")

    def __init__(self, freq: int) -> None:
        self.freq = freq
        self.keys: OrderedDict[int, None] = OrderedDict()
        self.prev: _Bucket = self
        self.next: _Bucket = self

    def insert_after(self, freq: int) -> _Bucket:
        node = _Bucket(freq)
        node.prev, node.next = self, self.next
        self.next.prev = node
        self.next = node
        return node

    def unlink(self) -> None:
        self.prev.next = self.next
        self.next.prev = self.prev


class LFUCache(MessageCache):
    """A bounded cache that evicts the least frequently used rows; ties go to the least recently used.

    Frequencies live in a linked list of buckets (one per use count), so a use, an insert and an eviction
    are ``O(1)`` each.

    >>> from fireworks import LFUCache, Message
    >>> cache = LFUCache(max_size=2)
    >>> cache[[0, 1]] = Message({"x": [0, 1]})
    >>> _ = cache[[0]]; _ = cache[[0]]   # 0 used three times, 1 once
    >>> cache[[2]] = Message({"x": [2]})  # evicts 1
    >>> sorted(cache.keys().tolist())
    [0, 2]
    """

    def __init__(self, max_size: int, buffer_size: int = 0) -> None:
        super().__init__(max_size=max_size, buffer_size=buffer_size)

    def _reset_storage(self) -> None:
        super()._reset_storage()
        self._head = _Bucket(0)  # sentinel; _head.next is the least frequent bucket
        self._bucket_of: dict[int, _Bucket] = {}

    def _record(self, keys: list[int]) -> None:
        bucket_of = self._bucket_of
        head = self._head
        for k in keys:
            node = bucket_of.get(k)
            if node is None:
                nxt = head.next
                if nxt.freq != 1:
                    nxt = head.insert_after(1)
            else:
                nxt = node.next
                if nxt.freq != node.freq + 1:
                    nxt = node.insert_after(node.freq + 1)
                del node.keys[k]
                if not node.keys:
                    node.unlink()
            nxt.keys[k] = None
            bucket_of[k] = nxt

    def _forget(self, keys: list[int]) -> None:
        bucket_of = self._bucket_of
        for k in keys:
            node = bucket_of.pop(k)
            del node.keys[k]
            if not node.keys:
                node.unlink()

    def _victims(self, n: int, protect: set[int]) -> list[int]:
        out: list[int] = []
        node = self._head.next
        while len(out) < n and node is not self._head:
            for k in node.keys:
                if k not in protect:
                    out.append(k)
                    if len(out) == n:
                        break
            node = node.next
        return out

    def _order(self) -> list[int]:
        out: list[int] = []
        node = self._head.next
        while node is not self._head:
            out.extend(node.keys)
            node = node.next
        return out

    def _counts(self, order: list[int]) -> np.ndarray:
        return np.asarray([self._bucket_of[k].freq for k in order], dtype=np.int64)

    def _restore_order(self, keys: list[int], state: Mapping[str, Any]) -> None:
        counts = np.asarray(state.get("counts", np.ones(len(keys))), dtype=np.int64).tolist()
        if len(counts) != len(keys):
            raise ValueError(f"state_dict has {len(keys)} keys but {len(counts)} counts")
        tail = self._head
        for k, c in zip(keys, counts):
            if c < 1 or c < tail.freq:
                raise ValueError(
                    f"state_dict counts must be positive and ascending in key order, but got {c} after "
                    f"{tail.freq}"
                )
            if tail.freq != c:
                tail = tail.insert_after(int(c))
            tail.keys[k] = None
            self._bucket_of[k] = tail
