"""Conversions of a Message to and from pandas and Arrow, its file format, and its ``repr``.

The file format is an Arrow IPC stream: data only, so reading one never executes code. Tensor columns with
more than one dimension become Arrow fixed-shape tensor columns; the schema metadata key ``fireworks`` records,
per column, its kind (tensor/vector), its dtype and row shape, so a round trip is exact.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from fireworks import _columns as C
from fireworks._columns import Column
from fireworks.exceptions import CorruptFileError
from fireworks.message import Message

META_KEY = b"fireworks"
ATTRS_KEY = "fireworks_tensors"
ARRAYS_KEY = "fireworks_arrays"
FORMAT_VERSION = 1
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # what an Arrow IPC stream writer writes when it closes


def _torch_dtype(name: str) -> torch.dtype:
    try:
        return C.TORCH_DTYPES[name]
    except KeyError as err:
        raise ValueError(f"unknown tensor dtype {name!r} in Message metadata") from err


# --- pandas ------------------------------------------------------------------------------------------------


def to_pandas(m: Message) -> pd.DataFrame:
    series: dict[str, Any] = {}
    tensors: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, Any]] = {}
    for name, col in m._data.items():
        if isinstance(col, torch.Tensor):
            tensors[name] = {"dtype": C.dtype_name(col.dtype), "shape": list(col.shape[1:])}
            series[name] = C.to_series(C.tensor_to_numpy(col), name)
        else:
            if isinstance(col, np.ndarray) and col.ndim > 1:
                arrays[name] = {"dtype": str(col.dtype), "shape": list(col.shape[1:])}
            series[name] = C.to_series(col, name)
    df = pd.DataFrame(series, index=pd.RangeIndex(len(m))) if series else pd.DataFrame()
    if tensors:
        df.attrs[ATTRS_KEY] = tensors
    if arrays:
        df.attrs[ARRAYS_KEY] = arrays
    return df


def from_pandas(df: pd.DataFrame) -> Message:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"from_pandas takes a DataFrame, but got {type(df).__name__}")
    names = list(df.columns)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(
            f"column names must be str, but got {bad}; rename them (df.columns = df.columns.astype(str))"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"column names must be unique, but {dupes} appear more than once")
    tensors = df.attrs.get(ATTRS_KEY)
    tensors = tensors if isinstance(tensors, dict) else {}
    arrays = df.attrs.get(ARRAYS_KEY)
    arrays = arrays if isinstance(arrays, dict) else {}
    data: dict[str, Column] = {}
    for i, name in enumerate(names):
        series = df.iloc[:, i]
        if name in tensors:
            data[name] = _tensor_from_series(series, name, tensors[name])
        elif name in arrays and series.dtype == object:
            data[name] = _stack(series, arrays[name]).astype(arrays[name]["dtype"])
        else:
            data[name] = C.as_vector(series, name)
    return Message._from_columns(data, len(df))


def _stack(series: pd.Series, info: dict[str, Any]) -> np.ndarray:
    """One array from an object column holding an equally shaped array per row."""
    shape = tuple(info.get("shape", ()))
    cells = [np.asarray(v) for v in series.tolist()]
    bad = [i for i, c in enumerate(cells) if c.shape != shape][:5]
    if bad:
        raise ValueError(
            f"column {series.name!r} needs an array of shape {shape} in every row, but rows {bad} differ"
        )
    return np.stack(cells) if cells else np.empty((0, *shape))


def _tensor_from_series(series: pd.Series, name: str, info: dict[str, Any]) -> torch.Tensor:
    arr = _stack(series, info) if info.get("shape") else series.to_numpy()
    tensor = C.as_tensor(arr, name)
    return tensor.to(_torch_dtype(info["dtype"]))


# --- Arrow -------------------------------------------------------------------------------------------------


def _numpy_to_arrow(arr: np.ndarray, name: str) -> pa.Array:
    arr = np.ascontiguousarray(arr)
    try:
        if arr.ndim > 1:
            values = pa.array(arr.reshape(-1))
            storage = pa.FixedSizeListArray.from_arrays(values, int(np.prod(arr.shape[1:])))
            tensor_type = pa.fixed_shape_tensor(values.type, list(arr.shape[1:]))
            return pa.ExtensionArray.from_storage(tensor_type, storage)
        return pa.array(arr)
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise TypeError(
            f"column {name!r} of dtype {arr.dtype} cannot be stored in Arrow: {err}; convert it to a "
            f"supported type (numbers, bool, str, datetime, categorical) first"
        ) from err


def to_arrow(m: Message) -> pa.Table:
    arrays: list[pa.Array] = []
    meta: dict[str, Any] = {}
    for name, col in m._data.items():
        if isinstance(col, torch.Tensor):
            t = col.detach().cpu()
            if t.is_complex():
                raise TypeError(
                    f"tensor column {name!r} is complex ({t.dtype}), which Arrow cannot store; "
                    f"store torch.view_as_real(t) instead"
                )
            if t.dtype == torch.bfloat16:
                t = t.view(torch.int16)
            arrays.append(_numpy_to_arrow(t.numpy(), name))
            meta[name] = {
                "kind": "tensor",
                "dtype": C.dtype_name(col.dtype),
                "shape": list(col.shape[1:]),
            }
        elif isinstance(col, np.ndarray):
            arrays.append(_numpy_to_arrow(col, name))
            meta[name] = {"kind": "vector", "dtype": str(col.dtype), "shape": list(col.shape[1:])}
        else:
            try:
                arrays.append(pa.array(col))
            except (pa.ArrowException, TypeError, ValueError) as err:
                raise TypeError(
                    f"column {name!r} of dtype {col.dtype} cannot be stored in Arrow: {err}"
                ) from err
            meta[name] = {"kind": "vector", "dtype": str(col.dtype), "shape": []}
    payload = json.dumps({"version": FORMAT_VERSION, "rows": len(m), "columns": meta})
    schema = pa.schema(
        [pa.field(n, a.type) for n, a in zip(m._data, arrays)], metadata={META_KEY: payload}
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def _arrow_to_numpy(col: pa.ChunkedArray, name: str, copy: bool = True) -> np.ndarray:
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if arr.null_count:
        raise ValueError(
            f"column {name!r} has {arr.null_count} nulls, which a tensor cannot hold; fill them first"
        )
    if isinstance(arr.type, pa.FixedShapeTensorType):
        shape = tuple(arr.type.shape)
        flat = arr.storage.flatten().to_numpy(zero_copy_only=False)
        return np.array(flat, copy=True).reshape(-1, *shape)
    if pa.types.is_fixed_size_list(arr.type):
        dims = []
        while pa.types.is_fixed_size_list(arr.type):
            dims.append(arr.type.list_size)
            arr = arr.flatten()
        return np.array(arr.to_numpy(zero_copy_only=False), copy=True).reshape(-1, *dims)
    return np.array(arr.to_numpy(zero_copy_only=False), copy=copy)


def _is_plain_number(col: pa.ChunkedArray, dtype: str | None) -> bool:
    # a column numpy holds as it is: numbers or bools without nulls, kept at their Arrow type
    t = col.type
    plain = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    return (
        plain and col.null_count == 0 and (dtype is None or dtype == t.to_pandas_dtype().__name__)
    )


def _is_tensor_type(t: pa.DataType) -> bool:
    return isinstance(t, pa.FixedShapeTensorType) or pa.types.is_fixed_size_list(t)


def from_arrow(table: pa.Table | pa.RecordBatch, copy: bool = True) -> Message:
    """``Message.from_arrow``; ``copy=False`` (for a Message its maker keeps to itself and never changes)
    leaves number columns in Arrow's read-only buffers instead of copying them."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(
            f"from_arrow takes a pyarrow Table or RecordBatch, but got {type(table).__name__}"
        )
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"column names must be unique, but {dupes} appear more than once")
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta: dict[str, Any] = json.loads(raw)["columns"] if raw else {}
    data: dict[str, Column] = {}
    for name, col in zip(names, table.columns):
        info = meta.get(name)
        if info is None:
            kind = "tensor" if _is_tensor_type(col.type) else "vector"
            info = {"kind": kind, "shape": [], "dtype": None}
        if info["kind"] == "tensor":
            arr = _arrow_to_numpy(col, name)
            tensor = torch.from_numpy(arr)
            if info["dtype"] == "bfloat16":
                tensor = tensor.view(torch.bfloat16)
            elif info["dtype"] is not None:
                tensor = tensor.to(_torch_dtype(info["dtype"]))
            data[name] = tensor
        elif info["shape"] or _is_tensor_type(col.type):
            data[name] = _arrow_to_numpy(col, name).astype(info["dtype"] or None, copy=False)
        elif _is_plain_number(col, info["dtype"]):
            data[name] = _arrow_to_numpy(col, name, copy=copy)
        elif pa.types.is_dictionary(col.type):
            arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            categories = pd.Index(arr.dictionary.to_pandas())
            if info["dtype"] == "category" or info["dtype"] is None:
                data[name] = pd.Categorical.from_codes(codes, categories, ordered=col.type.ordered)
            else:
                data[name] = C.as_vector(
                    pd.Series(categories.take(codes)).astype(info["dtype"]), name
                )
        else:
            series = col.to_pandas()
            if info["dtype"] is not None and str(series.dtype) != info["dtype"]:
                series = series.astype(info["dtype"])
            data[name] = C.as_vector(series, name)
    return Message._from_columns(data, table.num_rows)


# --- files -------------------------------------------------------------------------------------------------


def _write(table: pa.Table, sink: Any) -> None:
    batches = table.to_batches()
    if not batches:  # keep one (empty) batch so dictionaries, i.e. categories, survive zero rows
        empty = [c.chunk(0) if c.num_chunks else pa.array([], type=c.type) for c in table.columns]
        batches = [pa.RecordBatch.from_arrays(empty, schema=table.schema)]
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def save(m: Message, file: str | os.PathLike[str] | IO[bytes]) -> None:
    table = to_arrow(m)
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".message-", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            with pa.OSFile(tmp, "wb") as sink:
                _write(table, sink)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    sink = pa.BufferOutputStream()
    _write(table, sink)
    file.write(sink.getvalue().to_pybytes())


def _name_of(file: Any) -> str:
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    name = getattr(file, "name", None)
    return (
        str(name) if isinstance(name, (str, os.PathLike)) else f"the {type(file).__name__} stream"
    )


def load(file: str | os.PathLike[str] | IO[bytes]) -> Message:
    """Read a Message saved by :func:`save`; a damaged file raises CorruptFileError naming it.

    Damage is detected by Arrow (a stream cut inside a batch, bytes that are no Arrow stream, buffers that do
    not fit their arrays: ``validate(full=True)``) and by the row count the file records in its metadata (a
    stream cut between batches, or right after its schema, would otherwise read as fewer rows).
    """
    name = _name_of(file)
    fix = "load an earlier copy, or save the Message again"
    try:
        if isinstance(file, (str, os.PathLike)):
            with pa.OSFile(os.fspath(file), "rb") as source:
                table = pa.ipc.open_stream(source).read_all()
                size = source.size()
                ending = source.read_at(len(_EOS), size - len(_EOS)) if size >= len(_EOS) else b""
            if ending != _EOS:
                raise CorruptFileError(
                    name,
                    "it ends without Arrow's end-of-stream marker (the file was cut short)",
                    fix,
                )
        else:
            table = pa.ipc.open_stream(file).read_all()
        table.validate(full=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise CorruptFileError(
            name,
            f"it is not a saved Message or it was cut short (expected an Arrow IPC stream: {err})",
            fix,
        ) from err
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is not None:
        try:
            rows = json.loads(raw).get("rows")
        except (ValueError, AttributeError) as err:
            raise CorruptFileError(
                name, f"its Message metadata is not valid JSON ({err})", fix
            ) from err
        if isinstance(rows, int) and rows != table.num_rows:
            raise CorruptFileError(
                name,
                f"it holds {table.num_rows} of the {rows} rows it was saved with (the file was cut short)",
                fix,
            )
    try:
        return from_arrow(table)
    except CorruptFileError:
        raise
    except (pa.ArrowException, ValueError, TypeError, KeyError, AttributeError) as err:
        raise CorruptFileError(
            name,
            f"its columns do not match its Message metadata ({type(err).__name__}: {err})",
            fix,
        ) from err


# --- repr --------------------------------------------------------------------------------------------------


def _shape_text(shape: tuple[int, ...], dtype: torch.dtype) -> str:
    return f"tensor[{'x'.join(map(str, shape))} {C.dtype_name(dtype)}]"


def render(m: Message, max_rows: int) -> str:
    n = len(m)
    tensors = [
        f"{k}: {_shape_text(tuple(v.shape), v.dtype)}"
        + (f" on {v.device}" if v.device.type != "cpu" else "")
        for k, v in m._data.items()
        if isinstance(v, torch.Tensor)
    ]
    head = f"Message: {n} rows x {len(m._data)} columns"
    if tensors:
        head += "\n  tensors: " + ", ".join(tensors)
    if not m._data:
        return head
    if n > max_rows:
        rows = np.r_[0 : max_rows // 2, n - max_rows // 2 : n]
    else:
        rows = np.arange(n)
    part = m._take(rows)
    shown: dict[str, Any] = {}
    for k, v in part._data.items():
        if isinstance(v, torch.Tensor):
            if v.ndim == 1:
                shown[k] = C.tensor_to_numpy(v)
            else:
                cell = _shape_text(tuple(v.shape[1:]), v.dtype)
                shown[k] = [cell] * len(part)
        elif isinstance(v, np.ndarray) and v.ndim > 1:
            shown[k] = [f"array[{'x'.join(map(str, v.shape[1:]))} {v.dtype}]"] * len(part)
        else:
            shown[k] = pd.Series(v, copy=False)
    df = pd.DataFrame(
        {k: pd.Series(np.asarray(s) if isinstance(s, list) else s) for k, s in shown.items()}
    )
    df.index = rows
    lines = df.to_string().splitlines()
    if n > max_rows:
        lines.insert(1 + max_rows // 2, "...")
    return head + "\n" + "\n".join(lines)
