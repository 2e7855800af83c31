"""Message: a dictionary of vectors and tensors that behaves like a DataFrame."""

from __future__ import annotations

import gc
import io
import itertools
import os
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from pandas.api.extensions import ExtensionArray

from fireworks import _columns as C
from fireworks._columns import Column

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Message"]

_REPR_ROWS = 10
_INT64 = np.dtype(np.int64)
_DATA = attrgetter("_data")
# Parts per block in Message.concat: a block of one-row Messages (about 1.5 KB each) fits in a core's L2 cache.
_CONCAT_BLOCK = 512
#: Row slices of at least this many rows share the Message's memory (copy on write, see ``Message``);
#: shorter ones are copied, which costs less than tracking them. ``fireworks.testing.small_sizes`` lowers it.
VIEW_ROWS = 64


class Message:
    """A columnar table whose columns are ``torch.Tensor`` (*tensor columns*) or vectors (*vector columns*).

    Tensor columns hold anything with a first "rows" dimension (labels, embeddings, images, sequences); vector
    columns hold what pandas holds (numbers, strings, categoricals, nullable ints, datetimes). Rows are indexed
    like Python sequences, columns like a dict, and every operation returns a new Message except item
    assignment/deletion, which change it in place. A Message owns its storage: it copies what it is given, and
    results of operations never write through to their source.

    Copy on write: row slices (of ``VIEW_ROWS`` rows or more), column selections (``m[["a", "b"]]``) and
    ``Message(m)`` share ``m``'s memory instead of copying it, which is the same as a copy as far as anyone
    can tell: before a Message writes rows in place (``m[rows] = ...``) it copies the columns it shares
    and has every Message still sharing its own columns copy theirs. (As with numpy views, a small slice kept
    alive keeps the whole column's memory alive; ``Message.concat([part])`` makes a compact copy.)

    ``Message(data, copy=False)`` takes tensors, arrays and Series as they are instead of copying them: for
    columns made just now and handed over, such as what a map returns. The Message still copies them
    before it writes to them itself, but a change made later through the caller's own references would
    show in it, so hand over only what nothing else will change.

    Example:
        >>> import torch
        >>> from fireworks import Message
        >>> m = Message({"x": torch.arange(4.0), "label": ["a", "b", "c", "d"]})
        >>> len(m), m.columns, m.tensor_columns
        (4, ['x', 'label'], ['x'])
        >>> m[1:3]["label"].tolist()
        ['b', 'c']
        >>> m[[3, 0]]["x"]
        tensor([3., 0.])
        >>> Message.concat([m, m[-1]])["x"].shape
        torch.Size([5])

    Equality (``==``) compares column names (in any order), kind (tensor vs vector) and values, ignoring dtype
    width; NaN and NA equal themselves, so a Message with missing values equals its own copy.
    """

    # ``_shared``: the columns this Message shares with another, each mapped to a weak reference to the
    # Message that owns that memory (None: owner gone), or None. ``_views``: id -> weak reference of the
    # Messages sharing this one's own columns, or None. See ``_own``.
    __slots__ = ("__weakref__", "_data", "_len", "_shared", "_views")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: Any = None, *, copy: bool = True) -> None:
        self._data: dict[str, Column] = {}
        self._len = 0
        self._shared: dict[str, weakref.ref[Message] | None] | None = None
        self._views: dict[int, weakref.ref[Message]] | None = None
        if data is None:
            return
        if isinstance(data, Message):
            self._data = dict(data._data)
            self._len = data._len
            data._share_with(self)
            return
        if isinstance(data, pd.DataFrame):
            built = Message.from_pandas(data)
            self._data, self._len = built._data, built._len
            return
        if type(data).__module__.startswith("pyarrow"):
            built = Message.from_arrow(data)
            self._data, self._len = built._data, built._len
            return
        if not isinstance(data, Mapping):
            raise TypeError(
                f"a Message is built from a dict of columns, a DataFrame or a Message, "
                f"but got {type(data).__name__}"
            )
        for name in data:
            if not isinstance(name, str):
                raise TypeError(f"column names must be str, but got {name!r}; rename it to str")
        lengths = {n: _length_of(v) for n, v in data.items() if not C.is_scalar(v)}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{n}={k}" for n, k in lengths.items())
            raise ValueError(f"columns must have equal length, but got {listed}")
        n = next(iter(lengths.values())) if lengths else (1 if data else 0)
        self._data = {name: _build_column(name, value, n, copy) for name, value in data.items()}
        self._len = n
        if not copy:  # what may be the caller's memory is copied before the Message writes to it
            self._shared = {k: None for k, v in data.items() if _may_share(v)}

    @classmethod
    def _from_columns(cls, data: dict[str, Column], n: int) -> Message:
        """Wrap columns that this Message may own outright (no copy, no checks)."""
        m = object.__new__(cls)
        m._data = data
        m._len = n if data else 0
        m._shared = m._views = None
        return m

    # --- copy on write ---------------------------------------------------------------------------------

    def _view(self, data: dict[str, Column], n: int) -> Message:
        """A Message over ``data``: views of this Message's same-named columns (copy on write)."""
        out = Message._from_columns(data, n)
        self._share_with(out)
        return out

    def _share_with(self, other: Message) -> None:
        """Record that ``other``'s columns are views of this Message's same-named columns."""
        shared = self._shared or {}
        mine: weakref.ref[Message] | None = None
        owners: dict[str, weakref.ref[Message] | None] = {}
        for k in other._data:
            if k in shared:  # memory this Message shares in turn: the owner is the same
                owners[k] = shared[k]
            else:
                owners[k] = mine = mine or weakref.ref(self)
        other._shared = owners
        other._register()

    def _sharing(self, data: dict[str, Column], n: int) -> Message:
        """A Message over ``data``, columns made from this Message's same-named columns without a copy, where
        this Message is private to the caller (a pass's window) and never written: the new Message shares
        only what this one shares."""
        out = Message._from_columns(data, n)
        if self._shared:
            owners = {k: self._shared[k] for k in data if k in self._shared}
            if owners:
                out._shared = owners
                out._register()
        return out

    def _register(self) -> None:
        """Have the live owners of this Message's shared columns know of it."""
        assert self._shared is not None
        seen: set[int] = set()
        for ref in self._shared.values():
            owner = None if ref is None else ref()
            if owner is None or id(owner) in seen:
                continue
            seen.add(id(owner))
            views = owner._views
            if views is None:
                views = owner._views = {}
            key = id(self)

            def gone(r: weakref.ref[Message], views: dict = views, key: int = key) -> None:
                if views.get(key) is r:
                    del views[key]

            views[key] = weakref.ref(self, gone)

    def _own(self) -> None:
        """Before an in-place write: copy the columns this Message shares, and have every live Message that
        shares this one's columns copy them, so that the write shows nowhere else."""
        self._unshare()
        views, self._views = self._views, None
        if views:
            for ref in views.copy().values():  # (a view dying now removes itself from ``views``)
                view = ref()
                if view is not None:
                    view._unshare()

    def _unshare(self) -> None:
        shared, self._shared = self._shared, None
        if shared:
            for k in shared:
                if k in self._data:
                    self._data[k] = _copy(self._data[k])

    def _owned(self, names: Iterable[str]) -> None:
        """Columns ``names`` were just replaced by memory this Message owns."""
        if self._shared:
            for k in names:
                self._shared.pop(k, None)

    # --- shape and columns -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    @property
    def columns(self) -> list[str]:
        """Column names in insertion order."""
        return list(self._data)

    @property
    def tensor_columns(self) -> list[str]:
        """Names of the tensor columns, in insertion order."""
        return [k for k, v in self._data.items() if isinstance(v, torch.Tensor)]

    @property
    def vector_columns(self) -> list[str]:
        """Names of the vector (non-tensor) columns, in insertion order."""
        return [k for k, v in self._data.items() if not isinstance(v, torch.Tensor)]

    @property
    def dtypes(self) -> dict[str, Any]:
        """Column name → dtype (a ``torch.dtype``, numpy dtype or pandas extension dtype)."""
        return {k: v.dtype for k, v in self._data.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def _check_columns(self, names: Iterable[str]) -> None:
        missing = [n for n in names if n not in self._data]
        if missing:
            raise KeyError(
                f"unknown column(s) {missing}; the Message has columns {list(self._data)}"
            )

    # --- indexing ------------------------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        if type(key) is int:
            i = C.row_index(key, self._len)
            assert isinstance(i, int)
            return self._slice(i, i + 1)
        if type(key) is np.ndarray and key.dtype is _INT64 and key.ndim == 1:
            try:  # fast path; negative or out-of-range positions fail here and are handled below
                return self._take(key, checked=False)
            except (IndexError, RuntimeError):
                pass
        if isinstance(key, str):
            col = self._data.get(key)
            if col is None:
                self._check_columns([key])
            return _column_value(key, col)  # type: ignore[arg-type]
        if _is_names(key):
            self._check_columns(key)
            return self._view({k: self._data[k] for k in key}, self._len)
        rows = C.row_index(key, self._len)
        if isinstance(rows, int):
            return self._slice(rows, rows + 1)
        if isinstance(rows, slice):
            if rows.step == 1:
                return self._slice(rows.start, max(rows.start, rows.stop))
            rows = C.rows_as_array(rows)
        return self._take(rows)

    def _slice(self, start: int, stop: int) -> Message:
        if stop - start >= VIEW_ROWS:
            return self._view({k: v[start:stop] for k, v in self._data.items()}, stop - start)
        return Message._from_columns(
            {k: C.take_slice(v, start, stop) for k, v in self._data.items()}, stop - start
        )

    def _take(self, idx: np.ndarray, checked: bool = True) -> Message:
        """Rows ``idx`` (int64) of every column; the gather hot path.

        Unless ``checked``, positions are unvalidated: CPU columns raise on out-of-range and tensors on
        negative positions, so the caller retries with normalised positions; accelerators are checked first.
        """
        out: dict[str, Column] = {}
        idx_cpu: torch.Tensor | None = None
        on_device: dict[torch.device, torch.Tensor] = {}
        for k, v in self._data.items():
            if type(v) is np.ndarray:
                out[k] = v[idx]
            elif isinstance(v, torch.Tensor):
                if v.is_cpu:
                    if idx_cpu is None:
                        idx_cpu = torch.from_numpy(idx)
                    out[k] = v.index_select(0, idx_cpu)
                    continue
                if not checked:
                    idx = C.rows_as_array(C.row_index(idx, self._len))
                    checked = True
                    idx_cpu = None
                t = on_device.get(v.device)
                if t is None:
                    t = on_device[v.device] = torch.from_numpy(idx).to(v.device)
                out[k] = v.index_select(0, t)
            else:
                out[k] = v.take(idx)
        return Message._from_columns(out, int(idx.shape[0]))

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str):
            self._set_column(key, value)
            return
        if _is_names(key):
            other = value if isinstance(value, Message) else Message(value)
            if sorted(other.columns) != sorted(key):
                raise ValueError(
                    f"assigning columns {list(key)} needs values for exactly those columns, "
                    f"but got {other.columns}"
                )
            if self._data and other._len != self._len:
                raise ValueError(
                    f"new columns must have {self._len} rows like the Message, but got {other._len}"
                )
            fresh = (
                other._data if other is not value else {k: _copy(v) for k, v in other._data.items()}
            )
            self._data.update(fresh)
            self._owned(fresh)
            self._len = other._len
            return
        self._set_rows(key, value)

    def _set_column(self, name: str, value: Any) -> None:
        if C.is_scalar(value):
            col = _build_column(name, value, self._len if self._data else 1)
        else:
            n = _length_of(value)
            if self._data and not (len(self._data) == 1 and name in self._data) and n != self._len:
                raise ValueError(
                    f"column {name!r} must have {self._len} rows like the Message, but got {n}"
                )
            col = _build_column(name, value, n)
        self._data[name] = col
        self._owned([name])
        self._len = C.column_length(col)

    def _set_rows(self, key: Any, value: Any) -> None:
        rows = C.row_index(key, self._len)
        other = value if isinstance(value, Message) else Message(value)
        count = C.rows_count(rows)
        if len(other) != count:
            raise ValueError(
                f"row assignment needs one row per target row: {count} target rows, "
                f"but the values have {len(other)} rows"
            )
        unknown = [c for c in other._data if c not in self._data]
        if unknown:
            raise ValueError(
                f"cannot assign rows with unknown column(s) {unknown}; the Message has columns "
                f"{list(self._data)} (add the column first with m[name] = values)"
            )
        if isinstance(rows, int):
            rows = slice(rows, rows + 1, 1)
        elif isinstance(rows, slice) and rows.step < 0:
            rows = C.rows_as_array(rows)
        self._own()  # the writes below may be in place
        if self._write_same_kind(rows, other):
            return
        updated: dict[str, Column] = {}
        for name, values in other._data.items():
            col = self._data[name]
            if isinstance(col, torch.Tensor) and isinstance(values, torch.Tensor):
                if tuple(values.shape[1:]) != tuple(col.shape[1:]):
                    raise ValueError(
                        f"tensor column {name!r} has rows of shape {tuple(col.shape[1:])}, "
                        f"but the new values have rows of shape {tuple(values.shape[1:])}"
                    )
            elif isinstance(col, torch.Tensor):
                updated[name] = C.as_tensor(values, name)
        # validated: now write; only non-in-place (widening/extension) writes may still fail, on copies
        new_cols = dict(self._data)
        order = sorted(
            other._data, key=lambda k: isinstance(self._data[k], (torch.Tensor, np.ndarray))
        )
        for name in order:
            values = other._data[name]
            vals = updated.get(name, values)
            new_cols[name] = C.set_rows(name, self._data[name], rows, vals)
        self._data = new_cols

    def _write_same_kind(self, rows: slice | np.ndarray, other: Message) -> bool:
        """In-place row write when every column of ``other`` matches its target's kind, dtype and row shape
        (the slot-cache hot path); False, having changed nothing, when some column needs conversion."""
        if not all(C.same_layout(self._data[name], vals) for name, vals in other._data.items()):
            return False
        idx_t: torch.Tensor | None = None
        for name, vals in other._data.items():
            col = self._data[name]
            if isinstance(col, torch.Tensor) and isinstance(rows, np.ndarray):
                if idx_t is None or idx_t.device != col.device:
                    idx_t = torch.from_numpy(rows).to(col.device)
                col.index_copy_(0, idx_t, vals)  # type: ignore[arg-type]
            else:
                col[rows] = vals  # type: ignore[index,assignment]
        return True

    def __delitem__(self, key: Any) -> None:
        if isinstance(key, str) or _is_names(key):
            names = [key] if isinstance(key, str) else list(key)
            self._check_columns(names)
            for n in names:
                del self._data[n]
            self._owned(names)
            if not self._data:
                self._len = 0
            return
        rows = C.row_index(key, self._len)
        keep = np.ones(self._len, dtype=bool)
        # through an array: a normalised negative-step slice may stop at -1, meaning "before row 0"
        keep[C.rows_as_array(rows)] = False
        kept = self._take(np.flatnonzero(keep))
        self._data, self._len = kept._data, kept._len
        self._shared = None

    # --- combining -------------------------------------------------------------------------------------

    def append(self, other: Message | Mapping[str, Any] | pd.DataFrame) -> Message:
        """A new Message with ``other``'s rows after this one's (columns must match; kinds must match)."""
        return Message.concat([self, other if isinstance(other, Message) else Message(other)])

    @staticmethod
    def concat(messages: Iterable[Message]) -> Message:
        """Join Messages row-wise in one pass (linear in the total size). Empty Messages (``Message()``) are skipped."""
        parts = messages if isinstance(messages, (list, tuple)) else list(messages)
        if not all(map(Message.__instancecheck__, parts)):
            bad = next(p for p in parts if not isinstance(p, Message))
            raise TypeError(f"Message.concat takes Messages, but got {type(bad).__name__}")
        datas = [d for d in map(_DATA, parts) if d]
        if not datas:
            return Message()
        if len(datas) == 1:
            only = datas[0]
            return Message._from_columns({k: _copy(v) for k, v in only.items()}, _rows_of(only))
        names = tuple(datas[0])
        # Work through the parts in blocks small enough to stay in the CPU cache: every column of a block is
        # joined while its parts are still cached, instead of streaming all parts from memory once per column
        # (with many small parts, memory traffic rather than arithmetic is what concat costs).
        # Collecting many small parts allocates many containers, which can trigger the cyclic garbage
        # collector again and again (quadratic in the number of parts); none of them form cycles.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            blocks = [
                _concat_block(names, datas[start : start + _CONCAT_BLOCK])
                for start in range(0, len(datas), _CONCAT_BLOCK)
            ]
        finally:
            if gc_was_enabled:
                gc.enable()
        if any(b is None for b in blocks):
            wanted = set(names)
            i, bad = next(
                (i, p) for i, p in enumerate(parts) if p._data and p._data.keys() != wanted
            )
            raise ValueError(
                f"concatenated Messages must have the same columns, but Message {i} has "
                f"{bad.columns} and the first non-empty one has {list(names)}"
            )
        joined = [b for b in blocks if b is not None]
        if len(joined) == 1:
            data = dict(zip(names, joined[0]))
        else:
            data = {name: C.concat(name, [b[j] for b in joined]) for j, name in enumerate(names)}
        return Message._from_columns(data, _rows_of(data))

    @staticmethod
    def _join(parts: Iterable[Message], rows: int) -> Message:
        """``Message.concat(list(parts))`` for parts expected to hold ``rows`` rows in all, made as they come.

        Each fixed-width column (tensor, numpy array) is allocated once and each part copied into it as soon
        as it arrives, so a part's memory is free for the next one (instead of all parts living until the
        end, then a second copy); other columns (strings, extension arrays) are joined at the end. Anything
        ``concat`` would treat otherwise (a part whose columns or dtypes differ, more rows than expected)
        hands the rest to ``concat``, which gives the same result.
        """
        it = iter(parts)
        skipped: list[Message] = []  # parts without columns before the first with some
        first: Message | None = None
        for part in it:
            if part._data:
                first = part
                break
            skipped.append(part)
        if first is None or first._len > rows:
            return Message.concat([*skipped, *([first] if first else []), *it])
        names = list(first._data)
        filled_cols: dict[str, Any] = {}  # filled in place
        pieces: dict[str, list[Any]] = {}  # joined at the end
        for k, v in first._data.items():
            buf = C.empty_rows(v, rows)
            if buf is None:
                pieces[k] = []
            else:
                filled_cols[k] = buf
        filled = 0

        def so_far() -> Message:
            data = {
                k: filled_cols[k][:filled]
                if k in filled_cols
                else C.concat(k, pieces[k] or [first._data[k][:0]])
                for k in names
            }
            return Message._from_columns(data, filled)

        for part in itertools.chain([first], it):
            data = part._data
            if not data:
                continue
            n = part._len
            if (
                data.keys() != first._data.keys()
                or filled + n > rows
                or not all(C.same_layout(filled_cols[k], data[k]) for k in filled_cols)
                or not all(C.same_layout(first._data[k], data[k]) for k in pieces)
            ):
                return Message.concat([so_far(), part, *it])
            for k, buf in filled_cols.items():
                buf[filled : filled + n] = data[k]
            for k, got in pieces.items():
                got.append(data[k])
            filled += n
        if filled < rows or pieces:
            return so_far()
        return Message._from_columns(filled_cols, rows)

    def merge(self, other: Message | Mapping[str, Any] | pd.DataFrame) -> Message:
        """Column union of two Messages of equal length; ``other``'s columns win on name clashes."""
        other = other if isinstance(other, Message) else Message(other)
        if self._data and other._data and len(self) != len(other):
            raise ValueError(
                f"merged Messages must have the same number of rows, but got {len(self)} and "
                f"{len(other)}"
            )
        data = {k: _copy(other._data.get(k, v)) for k, v in self._data.items()}
        data.update({k: _copy(v) for k, v in other._data.items() if k not in data})
        return Message._from_columns(data, len(other) if other._data else len(self))

    def permute(self, index: Any) -> Message:
        """A new Message with rows reordered so that row ``i`` is this Message's row ``index[i]``.

        ``index`` must be a permutation of ``range(len(self))``; use ``m[index]`` for any other gather.
        """
        rows = C.rows_as_array(C.row_index(index, self._len))
        if rows.shape[0] != self._len or np.bincount(rows, minlength=self._len).max(initial=1) != 1:
            raise ValueError(
                f"permute needs a permutation of range({self._len}), but got {len(rows)} positions "
                f"{rows[:10].tolist()}{'...' if len(rows) > 10 else ''}; use m[index] to select rows"
            )
        return self._take(rows)

    # --- conversion ------------------------------------------------------------------------------------

    def to_tensors(
        self, columns: str | Sequence[str] | None = None, device: str | torch.device | None = None
    ) -> Message:
        """A new Message with ``columns`` (default: every numeric or bool vector column) as tensors.

        Naming a column that cannot become a tensor (strings, NA values) raises; with the default the
        non-numeric columns simply stay vectors. ``device`` also moves every tensor column there.
        """
        out = self._with_tensors(columns, copy=True)
        return out if device is None else out.to(device)

    def _with_tensors(self, columns: str | Sequence[str] | None, copy: bool) -> Message:
        # to_tensors; ``copy=False`` (for a Message nobody else holds) reuses the columns that need no
        # conversion, and numeric arrays' memory, instead of copying them
        explicit = columns is not None
        names = self._names(columns)
        data: dict[str, Column] = {}
        for k, v in self._data.items():
            if (
                k in names
                and not isinstance(v, torch.Tensor)
                and (explicit or not _never_tensor(v))
            ):
                try:
                    data[k] = C.as_tensor(v, k, copy=copy)
                    continue
                except (TypeError, ValueError):
                    if explicit:
                        raise
            data[k] = _copy(v) if copy else v
        return (
            self._sharing(data, self._len) if not copy else Message._from_columns(data, self._len)
        )

    @property
    def nbytes(self) -> int:
        """The memory the columns hold, roughly (Python objects in vector columns count 64 bytes each)."""
        return sum(C.nbytes(v) for v in self._data.values())

    def stack(self, columns: Sequence[str], dtype: torch.dtype | None = None) -> torch.Tensor:
        """The one-number-per-row ``columns`` side by side, as one new tensor of shape ``[rows, len(columns)]``
        (``torch.stack(..., dim=1)`` of the columns, without copying each column first): the usual way to make
        a feature matrix. ``dtype`` defaults to the columns' common type; a column with missing values or
        that is not numeric raises.

        >>> from fireworks import Message
        >>> Message({"a": [1.0, 2.0], "b": [3, 4]}).stack(["a", "b"])
        tensor([[1., 3.],
                [2., 4.]], dtype=torch.float64)
        """
        names = [columns] if isinstance(columns, str) else list(columns)
        self._check_columns(names)
        parts: list[Any] = []
        for name in names:
            raw = self._data[name]
            col: Any = raw
            if type(raw) is np.ndarray and raw.dtype.kind in "biuf":
                col = _NumpyColumn(raw)  # read in place (it may be a read-only Arrow buffer)
            elif not isinstance(raw, torch.Tensor):
                col = C.as_tensor(raw, name, copy=False)
            if col.ndim != 1:
                raise ValueError(
                    f"stack takes columns of one number per row, but {name!r} has rows of shape "
                    f"{tuple(col.shape[1:])}; read it on its own (m[name]) instead"
                )
            parts.append(col)
        if not parts:
            raise ValueError("stack needs at least one column name")
        devices = {p.device for p in parts}
        if len(devices) > 1:
            raise ValueError(
                f"stack needs its columns on one device, but they are on {sorted(map(str, devices))}; "
                f"move the Message first (m.to(device))"
            )
        if dtype is None:
            dtype = parts[0].dtype
            for p in parts[1:]:
                dtype = torch.promote_types(dtype, p.dtype)
        out = C.empty_tensor((self._len, len(parts)), dtype, parts[0].device)
        for j, p in enumerate(parts):
            if isinstance(p, _NumpyColumn) and dtype != torch.bfloat16:
                out.numpy()[:, j] = p.array
            else:
                out[:, j] = p.tensor() if isinstance(p, _NumpyColumn) else p
        return out

    def to_vectors(self, columns: str | Sequence[str] | None = None) -> Message:
        """A new Message with ``columns`` (default: all) as numpy vector columns; bfloat16 becomes float32."""
        names = self._names(columns)
        data = {
            k: C.tensor_to_numpy(v) if k in names and isinstance(v, torch.Tensor) else _copy(v)
            for k, v in self._data.items()
        }
        return Message._from_columns(data, self._len)

    def _names(self, columns: str | Sequence[str] | None) -> set[str]:
        if columns is None:
            return set(self._data)
        names = [columns] if isinstance(columns, str) else list(columns)
        self._check_columns(names)
        return set(names)

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame copy. Tensor columns become numpy columns (one array per row if multi-dimensional);
        ``df.attrs["fireworks_tensors"]`` remembers them so ``Message.from_pandas`` restores them."""
        from fireworks._message_io import to_pandas

        return to_pandas(self)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame) -> Message:
        """A Message from a DataFrame (its index is dropped); columns recorded by ``to_pandas`` become tensors."""
        from fireworks._message_io import from_pandas

        return from_pandas(df)

    def to_arrow(self) -> pa.Table:
        """A ``pyarrow.Table``; multi-dimensional tensors become fixed-shape tensor columns. The schema
        metadata records kinds and dtypes so ``Message.from_arrow`` restores the Message exactly."""
        from fireworks._message_io import to_arrow

        return to_arrow(self)

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Message:
        """A Message from an Arrow table; fixed-shape tensor and fixed-size-list columns become tensors."""
        from fireworks._message_io import from_arrow

        return from_arrow(table)

    def save(self, file: str | os.PathLike[str] | IO[bytes]) -> None:
        """Write the Message as an Arrow IPC stream to a path (atomically) or a binary file object.

        The format holds data only, so loading it never executes code.
        """
        from fireworks._message_io import save

        save(self, file)

    @classmethod
    def load(cls, file: str | os.PathLike[str] | IO[bytes]) -> Message:
        """Read a Message written by :meth:`save` (from a file object's current position)."""
        from fireworks._message_io import load

        return load(file)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        buffer = io.BytesIO()
        self.save(buffer)
        return (_from_bytes, (buffer.getvalue(),))

    # --- devices ---------------------------------------------------------------------------------------

    def to(self, device: str | torch.device) -> Message:
        """A new Message with every tensor column on ``device`` (vector columns stay on the host)."""
        device = torch.device(device)
        data: dict[str, Column] = {}
        for k, v in self._data.items():
            if isinstance(v, torch.Tensor):
                moved = v.to(device)
                data[k] = moved.clone() if moved is v else moved
            else:
                data[k] = _copy(v)
        return Message._from_columns(data, self._len)

    def cpu(self) -> Message:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Message:
        if device is None:
            return self.to("cuda")
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    # --- comparison, iteration, display ------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        if len(self) != len(other) or self._data.keys() != other._data.keys():
            return False
        return all(C.columns_equal(v, other._data[k]) for k, v in self._data.items())

    def __iter__(self) -> Iterator[Message]:
        for i in range(self._len):
            yield self._slice(i, i + 1)

    def __repr__(self) -> str:
        from fireworks._message_io import render

        return render(self, _REPR_ROWS)


def _from_bytes(data: bytes) -> Message:
    return Message.load(io.BytesIO(data))


def _concat_block(names: tuple[str, ...], datas: list[dict[str, Column]]) -> list[Column] | None:
    """Each column of ``datas`` (non-empty Message data) joined, one per name; None if some part's columns
    are not exactly ``names``."""
    getter = itemgetter(*names)
    try:
        rows = list(map(getter, datas))
    except KeyError:
        return None
    if not all(len(d) == len(names) for d in datas):
        return None
    if len(names) == 1:
        return [C.concat(names[0], rows)]
    return [C.concat(name, col) for name, col in zip(names, zip(*rows))]


def _never_tensor(col: Column) -> bool:
    """Whether converting ``col`` to a tensor is sure to fail (strings, objects, dates): the default
    ``to_tensors`` skips it without trying (a window's string column cost a conversion to objects)."""
    if isinstance(col, np.ndarray):
        return col.dtype.kind not in "biufc"
    return isinstance(col, ExtensionArray) and pd.api.types.is_string_dtype(col.dtype)


def _rows_of(data: dict[str, Column]) -> int:
    return C.column_length(next(iter(data.values())))


def _is_names(key: Any) -> bool:
    return isinstance(key, (list, tuple)) and len(key) > 0 and all(isinstance(k, str) for k in key)


def _length_of(value: Any) -> int:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return int(value.shape[0])
    try:
        return len(value)
    except TypeError as err:
        raise TypeError(
            f"a column must be a tensor, array, Series or sequence, but got {type(value).__name__}"
        ) from err


class _NumpyColumn:
    """A numeric numpy column as ``Message.stack`` reads it: in place, with torch's view of its type."""

    __slots__ = ("array", "dtype", "ndim", "shape")
    device = torch.device("cpu")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.dtype = torch.from_numpy(np.empty(0, array.dtype)).dtype
        self.ndim, self.shape = array.ndim, array.shape

    def tensor(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.array))


def _build_column(name: str, value: Any, n: int, copy: bool = True) -> Column:
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return value.expand(n).clone()
        return value.clone() if copy else value
    if C.is_scalar(value):
        if isinstance(value, np.ndarray):
            value = value.item()
        return C.as_vector(pd.Series([value] * n), name)
    return C.as_vector(value, name, copy=copy)


def _may_share(value: Any) -> bool:
    """Whether ``Message(..., copy=False)`` may keep ``value``'s memory as a column."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim > 0
    return isinstance(value, (pd.Series, pd.Index, ExtensionArray)) or type(
        value
    ).__module__.startswith("pyarrow")


def _copy(col: Column) -> Column:
    return col.clone() if isinstance(col, torch.Tensor) else col.copy()


def _column_value(name: str, col: Column) -> Any:
    if isinstance(col, torch.Tensor):
        return col.clone()
    return C.to_series(col, name)
