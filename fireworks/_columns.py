"""Column-level helpers for :class:`fireworks.Message`: conversion, row selection, concatenation, equality.

A column is stored as one of three things, always owned by exactly one Message:

- ``torch.Tensor`` (a *tensor column*; first dimension = rows),
- ``numpy.ndarray`` (a *vector column* with a native numpy dtype; may be multi-dimensional),
- a pandas ``ExtensionArray`` (a *vector column*: strings, categoricals, nullable ints, tz-aware datetimes …).

Storing arrays rather than ``pandas.Series`` keeps row access free of pandas' indexing overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import torch
from pandas.api.extensions import ExtensionArray
from pandas.arrays import NumpyExtensionArray

Vector: TypeAlias = "np.ndarray | ExtensionArray"
Column: TypeAlias = "torch.Tensor | np.ndarray | ExtensionArray"
Rows: TypeAlias = "int | slice | np.ndarray"

# Tensor dtypes by name ("float32", "bfloat16", ...): the ones the safe file formats (Message.save,
# checkpoints) store as raw bytes and read back with ``torch.frombuffer``.
TORCH_DTYPES: dict[str, torch.dtype] = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint16,
        torch.uint32,
        torch.uint64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
    )
}

#: Tensor dtypes whose memory numpy can allocate (see :func:`empty_tensor`).
_NUMPY_DTYPES: dict[torch.dtype, np.dtype] = {
    d: np.dtype(str(d).removeprefix("torch.").replace("bool", "bool_"))
    for d in TORCH_DTYPES.values()
    if d not in (torch.bfloat16, torch.uint16, torch.uint32, torch.uint64)
}
#: From this size on a new CPU tensor is allocated by numpy, which asks the kernel for transparent huge
#: pages (``madvise``) for arrays of 4 MiB and more: filling it then takes one page fault per 2 MiB instead
#: of one per 4 KiB (torch's allocator asks for nothing, and every large tensor it frees goes back to the
#: system, so the next one faults again).
HUGE_BYTES = 1 << 22


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` → ``"float32"`` (the key of :data:`TORCH_DTYPES`)."""
    return str(dtype).removeprefix("torch.")


def is_scalar(value: Any) -> bool:
    """True for values that broadcast over rows (numbers, strings, None, 0-d arrays/tensors)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim == 0
    return isinstance(value, (str, bytes)) or value is None or np.ndim(value) == 0


def column_length(col: Column) -> int:
    return int(col.shape[0]) if isinstance(col, (torch.Tensor, np.ndarray)) else len(col)


def as_tensor(value: Any, name: str, copy: bool = True) -> torch.Tensor:
    """A tensor from a tensor, array, Series or sequence: a new one, never sharing memory with ``value``,
    unless ``copy=False`` (then a tensor or a numeric array is used as it is)."""
    if isinstance(value, torch.Tensor):
        return value.clone() if copy else value
    if isinstance(value, (pd.Series, pd.Index, ExtensionArray)):
        series = pd.Series(value, copy=False)
        if series.isna().any():
            bad = np.flatnonzero(series.isna().to_numpy())[:5].tolist()
            raise ValueError(
                f"column {name!r} has missing values at rows {bad}; a tensor cannot hold NA, "
                f"fill them first (e.g. series.fillna(0))"
            )
        value = series.to_numpy(dtype=_numpy_dtype_of(series.dtype))
    arr = np.array(value, copy=True) if copy else np.asarray(value)
    if not arr.flags.writeable:  # torch needs memory it may write to
        arr = arr.copy()
    if arr.dtype.kind not in "biufc":
        raise TypeError(
            f"column {name!r} of dtype {arr.dtype} cannot become a tensor; only bool and numeric "
            f"columns can, so keep it a vector column or encode it first"
        )
    return torch.from_numpy(arr)


def _numpy_dtype_of(dtype: Any) -> Any:
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None:
        return numpy_dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _numpy_dtype_of(dtype.categories.dtype)
    return None


def as_vector(value: Any, name: str, copy: bool = True) -> Vector:
    """A new vector column (numpy array or ExtensionArray) that shares no memory with ``value``; with
    ``copy=False`` an array (or a Series' array) is used as it is."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise ValueError(f"column {name!r} must have one entry per row, but got a 0-d array")
        return value.copy() if copy else value
    if isinstance(value, torch.Tensor):
        return tensor_to_numpy(value)
    if type(value).__module__.startswith("pyarrow"):
        value = value.to_pandas()
    if isinstance(value, (pd.Series, pd.Index)):
        arr: Any = value.array
    elif isinstance(value, ExtensionArray):
        arr = value
    elif isinstance(value, pd.DataFrame):
        raise TypeError(f"column {name!r} must be one-dimensional, but got a DataFrame")
    else:
        if isinstance(value, dict) or not hasattr(value, "__iter__"):
            raise TypeError(
                f"column {name!r} must be a tensor, array, Series or sequence, "
                f"but got {type(value).__name__}"
            )
        arr = pd.Series(value if isinstance(value, (list, tuple)) else list(value)).array
    if isinstance(arr, NumpyExtensionArray):
        return arr.to_numpy(copy=copy)
    return arr.copy() if copy else arr


def tensor_to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy of a tensor (bfloat16, which numpy lacks, becomes float32 exactly)."""
    t = tensor.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.cpu().numpy().copy()


def row_index(
    key: Any, n: int, what: str = "Message", error: type[IndexError] = IndexError
) -> Rows:
    """Normalise a row key to an int in ``[0, n)``, a slice from ``slice.indices`` or an int64 array.

    Python semantics throughout: negative positions count from the end, slices clip, boolean masks must have
    one entry per row. Out-of-range positions raise ``error`` (an ``IndexError``) naming them and the ``what``
    (Message, Source) being indexed.
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        i = int(key)
        if i < -n or i >= n:
            raise error(
                f"row index {i} is out of range for a {what} of {n} rows (valid: {-n}..{n - 1})"
            )
        return i + n if i < 0 else i
    if isinstance(key, slice):
        return slice(*key.indices(n))
    if isinstance(key, torch.Tensor):
        if key.ndim == 0 and key.dtype != torch.bool:
            return row_index(int(key.item()), n, what, error)
        arr = key.detach().cpu().numpy()
    elif isinstance(key, np.ndarray):
        arr = key
    elif isinstance(key, (pd.Series, pd.Index, ExtensionArray)):
        if key.dtype == "boolean" and pd.isna(key).any():
            raise ValueError(
                "a boolean row mask must not contain NA; fill it first (mask.fillna(False))"
            )
        arr = np.asarray(key, dtype=bool if pd.api.types.is_bool_dtype(key.dtype) else None)
    elif isinstance(key, (list, tuple, range)):
        arr = np.asarray(key)
        if arr.size == 0:
            arr = arr.astype(np.int64)
    else:
        raise TypeError(
            f"rows must be an int, slice, int list/array/tensor or boolean mask, but got "
            f"{type(key).__name__}; rows are selected by int position, not by label"
        )
    if arr.size == 0 and arr.ndim == 1:
        arr = arr.astype(np.int64)
    if arr.dtype == np.bool_:
        if arr.ndim != 1 or arr.shape[0] != n:
            raise error(
                f"a boolean row mask needs one entry per row ({n}), but got shape {tuple(arr.shape)}"
            )
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"row positions must be integers or booleans, but got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise error(f"row positions must be one-dimensional, but got shape {tuple(arr.shape)}")
    idx = arr.astype(np.int64, copy=False)
    if idx.size and int(idx.view(np.uint64).max()) >= n:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -n or hi >= n:
            bad = idx[(idx < -n) | (idx >= n)][:5].tolist()
            raise error(
                f"rows {bad} are out of range for a {what} of {n} rows (valid: {-n}..{n - 1})"
            )
        if lo < 0:
            idx = np.where(idx < 0, idx + n, idx)
    return idx


def rows_count(rows: Rows) -> int:
    if isinstance(rows, int):
        return 1
    if isinstance(rows, slice):
        return len(range(rows.start, rows.stop, rows.step))
    return int(rows.shape[0])


def rows_as_array(rows: Rows) -> np.ndarray:
    if isinstance(rows, int):
        return np.array([rows], dtype=np.int64)
    if isinstance(rows, slice):
        return np.arange(rows.start, rows.stop, rows.step, dtype=np.int64)
    return rows


def take_slice(col: Column, start: int, stop: int) -> Column:
    """A copy of rows ``start:stop`` of one column."""
    if isinstance(col, torch.Tensor):
        return col[start:stop].clone()
    return col[start:stop].copy()


def empty_tensor(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.empty(shape, dtype, device)``; large CPU tensors in numpy's memory (see ``HUGE_BYTES``)."""
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if (
        device.type == "cpu"
        and np_dtype is not None
        and np_dtype.itemsize * int(np.prod(shape)) >= HUGE_BYTES
    ):
        return torch.from_numpy(np.empty(shape, np_dtype))
    return torch.empty(shape, dtype=dtype, device=device)


def empty_rows(col: Column, rows: int) -> Column | None:
    """A new, unfilled column of ``rows`` rows with ``col``'s kind, dtype, row shape and device; None for
    kinds without fixed-width rows to fill in place (extension arrays)."""
    if isinstance(col, torch.Tensor):
        return empty_tensor((rows, *col.shape[1:]), col.dtype, col.device)
    if type(col) is np.ndarray:
        return np.empty((rows, *col.shape[1:]), col.dtype)
    return None


def same_layout(a: Column, b: Column) -> bool:
    """Whether rows of ``b`` can be written into ``a`` as they are (same kind, dtype, row shape, device)."""
    if type(a) is not type(b) or a.dtype != b.dtype or a.shape[1:] != b.shape[1:]:
        return False
    return not isinstance(a, torch.Tensor) or a.device == b.device  # type: ignore[union-attr]


def concat(name: str, parts: Sequence[Column]) -> Column:
    """One column from several of the same kind, in a single pass (linear in the total size)."""
    kinds = set(map(type, parts))
    if torch.Tensor in kinds or any(issubclass(k, torch.Tensor) for k in kinds):
        if not all(issubclass(k, torch.Tensor) for k in kinds):
            raise ValueError(
                f"column {name!r} is a tensor in some Messages and a vector in others; "
                f"convert with to_tensors() or to_vectors() first"
            )
        tensors: list[torch.Tensor] = list(parts)  # type: ignore[arg-type]
        first_t = tensors[0]
        if (
            first_t.is_cpu
            and not any(t.requires_grad for t in tensors)  # cat(out=) does not record autograd
            and all(same_layout(first_t, t) for t in tensors)
        ):
            rows = sum(int(t.shape[0]) for t in tensors)
            out = empty_tensor((rows, *first_t.shape[1:]), first_t.dtype, first_t.device)
            return torch.cat(tensors, out=out)
        try:
            return torch.cat(tensors)
        except RuntimeError as err:
            shapes = sorted({tuple(p.shape[1:]) for p in tensors})
            if len(shapes) > 1:
                raise ValueError(
                    f"tensor column {name!r} has different row shapes {shapes}; they must match"
                ) from err
            devices = {p.device for p in tensors}
            if len(devices) > 1:
                return torch.cat([p.to(tensors[0].device) for p in tensors])
            raise
    dtypes = set(map(attrgetter("dtype"), parts))
    if kinds == {np.ndarray}:
        if len(dtypes) == 1 or {d.kind for d in dtypes} <= set("biuf"):
            return np.concatenate(parts)  # type: ignore[arg-type]
    elif len(kinds) == 1 and len(dtypes) == 1:
        first: Any = parts[0]
        return _one_chunk(type(first)._concat_same_type(parts))
    if any(isinstance(p, np.ndarray) and p.ndim > 1 for p in parts):
        raise ValueError(f"multi-dimensional column {name!r} cannot be joined with other dtypes")
    series = pd.concat([pd.Series(p, copy=False) for p in parts], ignore_index=True)
    return as_vector(series, name)


def _one_chunk(arr: Any) -> Any:
    """An Arrow-backed array as one chunk: joining Arrow arrays chains their chunks, and pyarrow joins the
    chunks again on every later gather from them (``take`` on 16 chunks costs 5x one chunk's)."""
    dtype = arr.dtype
    if not isinstance(dtype, pd.ArrowDtype) and not (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    ):
        return arr
    data = arr.__arrow_array__()
    if getattr(data, "num_chunks", 1) <= 1:
        return arr
    return pd.array(data.combine_chunks(), dtype=dtype)


def nbytes(col: Column) -> int:
    """The memory a column holds, roughly: its buffers, plus 64 bytes a row for Python objects."""
    if isinstance(col, torch.Tensor):
        return col.element_size() * col.numel()
    size = int(getattr(col, "nbytes", 0))
    if isinstance(col, np.ndarray) and col.dtype.kind == "O":
        size += 64 * len(col)
    return size


def to_series(col: Vector, name: str) -> pd.Series:
    """A pandas Series copy of a vector column (multi-dimensional arrays become objects per row)."""
    if isinstance(col, np.ndarray) and col.ndim > 1:
        cells = np.empty(col.shape[0], dtype=object)
        for i in range(col.shape[0]):
            cells[i] = col[i].copy()
        return pd.Series(cells, name=name)
    return pd.Series(col, name=name, copy=True)


def _tensor_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    a, b = a.detach().cpu(), b.detach().cpu()
    if a.dtype != b.dtype:
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype), b.to(dtype)
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return bool(torch.equal(a, b))


def columns_equal(a: Column, b: Column) -> bool:
    """Value equality of two columns of the same kind; NaN/NA equals NaN/NA, dtype width is ignored."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        return _tensor_equal(a, b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
            return bool(np.array_equal(a, b, equal_nan=True))
        if a.ndim > 1:
            return bool(np.array_equal(a, b))
    if column_length(a) != column_length(b):
        return False
    if (isinstance(a, np.ndarray) and a.ndim > 1) or (isinstance(b, np.ndarray) and b.ndim > 1):
        return False
    na_a = np.asarray(pd.isna(a), dtype=bool)
    na_b = np.asarray(pd.isna(b), dtype=bool)
    if not np.array_equal(na_a, na_b):
        return False
    keep = ~na_a
    va = np.asarray(a, dtype=object)[keep]
    vb = np.asarray(b, dtype=object)[keep]
    return bool(np.all(va == vb))


def set_rows(name: str, col: Column, rows: Rows, values: Column) -> Column:
    """Write ``values`` into rows of ``col`` and return the column (the same object when done in place).

    The column's dtype widens when the values need it (e.g. floats into an int column); an impossible write
    raises before anything is changed.
    """
    if isinstance(col, torch.Tensor):
        vals = values if isinstance(values, torch.Tensor) else as_tensor(values, name)
        if tuple(vals.shape[1:]) != tuple(col.shape[1:]):
            raise ValueError(
                f"tensor column {name!r} has rows of shape {tuple(col.shape[1:])}, "
                f"but the new values have rows of shape {tuple(vals.shape[1:])}"
            )
        dtype = torch.promote_types(col.dtype, vals.dtype)
        if dtype != col.dtype:
            col = col.to(dtype)
        vals = vals.to(device=col.device, dtype=dtype)
        if isinstance(rows, slice) and rows.step > 0:
            col[rows] = vals
        else:
            col[torch.from_numpy(rows_as_array(rows)).to(col.device)] = vals
        return col
    if isinstance(values, torch.Tensor):
        values = tensor_to_numpy(values)
    key = rows_as_array(rows) if isinstance(rows, int) else rows
    if isinstance(col, np.ndarray) and isinstance(values, np.ndarray):
        if values.shape[1:] != col.shape[1:]:
            raise ValueError(
                f"column {name!r} has rows of shape {col.shape[1:]}, "
                f"but the new values have rows of shape {values.shape[1:]}"
            )
        np_dtype = np.result_type(col.dtype, values.dtype)
        if col.dtype.kind in "biufc" and values.dtype.kind not in "biufc":
            np_dtype = np.dtype(object)
        if np_dtype != col.dtype:
            col = col.astype(np_dtype)
        col[key] = values
        return col
    if isinstance(values, ExtensionArray) and values.dtype == col.dtype:
        try:
            col[key] = values
            return col
        except (TypeError, ValueError):
            pass
    try:
        new = pd.Series(col, copy=True)
        new.iloc[key] = pd.Series(values, copy=False).to_numpy(dtype=object)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"cannot write values of dtype {getattr(values, 'dtype', type(values).__name__)} into "
            f"column {name!r} of dtype {col.dtype}: {err}; convert the column or the values first"
        ) from err
    return as_vector(new, name)
