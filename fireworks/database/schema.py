"""Mapping between Message columns and table columns, both ways.

Every column is described by a :class:`ColumnSpec` (kind, dtype, per-row shape, time zone). Specs of the
tables TableSource creates are kept in a small metadata table (``fireworks_columns``), so reading gives back
exactly what was written: tensor columns with their dtype and per-row shape, bools (which MariaDB and SQLite
store as integers), tz-aware datetimes in their zone. Columns of other tables are read by their SQL types.

Tensor columns are stored as native arrays on PostgreSQL (``REAL[]``, ``BIGINT[][]``, …) and as raw bytes
(``BLOB``/``BYTEA``) elsewhere, one row per value; a tensor with one value per row is a plain column. What
cannot be stored faithfully is refused with an error saying why: never a silent NULL, never narrowing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
import torch
from sqlalchemy.dialects import mysql, postgresql

from fireworks.exceptions import FireworksError

METADATA_TABLE = "fireworks_columns"
INT64_MAX = np.iinfo(np.int64).max


class DatabaseError(FireworksError):
    """A database operation failed; the message names the table, the rows involved and the cause."""


class SchemaError(DatabaseError, ValueError):
    """A column cannot be stored faithfully in (or does not fit) the table."""


@dataclass(frozen=True)
class ColumnSpec:
    """What a column holds: ``kind`` is int, float, bool, str, bytes, datetime, tensor or object."""

    kind: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    tz: str | None = None
    nullable: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> ColumnSpec:
        d = json.loads(text)
        d["shape"] = tuple(d.get("shape", ()))
        return ColumnSpec(**d)


_TORCH_NAMES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.int16: "int16",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.bool: "bool",
    torch.complex64: "complex64",
    torch.complex128: "complex128",
}
_TORCH_BY_NAME = {v: k for k, v in _TORCH_NAMES.items()}
# tensor dtype -> numpy dtype PostgreSQL arrays hold exactly (others are stored as bytes)
PG_ARRAY_DTYPE = {
    "float16": "float32",
    "bfloat16": "float32",
    "float32": "float32",
    "float64": "float64",
    "int8": "int16",
    "uint8": "int16",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
}


def torch_dtype(name: str) -> torch.dtype:
    return _TORCH_BY_NAME[name]


# --- Message columns -> specs ----------------------------------------------------------------------


def columns_of(data: Any) -> dict[str, Any]:
    """Name → column (tensor, numpy array or pandas Series) of a Message, DataFrame or dict of columns."""
    from fireworks.message import Message

    if isinstance(data, Message):
        return {name: data[name] for name in data.columns}
    if isinstance(data, pd.DataFrame):
        return {str(k): data[k] for k in data.columns}
    if isinstance(data, Mapping):
        return columns_of(Message(dict(data)))
    raise TypeError(
        f"expected a Message, a DataFrame or a dict of columns, but got {type(data).__name__}"
    )


def spec_of(name: str, values: Any) -> ColumnSpec:
    """The spec of one column, or :class:`SchemaError` when it cannot be stored faithfully."""
    if isinstance(values, torch.Tensor):
        dt = _TORCH_NAMES.get(values.dtype)
        if dt is None:
            raise SchemaError(
                f"column {name!r} is a tensor of dtype {values.dtype}, which cannot be stored; "
                f"convert it to a float, int, bool or complex dtype"
            )
        return ColumnSpec("tensor", dt, tuple(int(s) for s in values.shape[1:]), nullable=False)
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if s.ndim != 1 or (isinstance(values, np.ndarray) and values.ndim != 1):
        raise SchemaError(
            f"column {name!r} has {np.ndim(values)} dimensions; store multi-dimensional data as a "
            f"tensor column (torch.as_tensor) so its shape is kept"
        )
    dtype = s.dtype
    nullable = bool(s.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        return spec_of(name, s.astype(dtype.categories.dtype))
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnSpec("bool", "bool", nullable=nullable)
    if pd.api.types.is_integer_dtype(dtype):
        dt = str(getattr(dtype, "numpy_dtype", dtype))
        if dt == "uint64" and len(s) and s.max() > INT64_MAX:
            bad = int(np.flatnonzero(s.to_numpy(dtype="uint64", na_value=0) > INT64_MAX)[0])
            raise SchemaError(
                f"column {name!r} holds {s.iloc[bad]} at row {bad}, above the largest integer a "
                f"database column holds ({INT64_MAX}); store it as a string or float instead"
            )
        return ColumnSpec("int", dt, nullable=nullable)
    if pd.api.types.is_float_dtype(dtype):
        return ColumnSpec("float", str(getattr(dtype, "numpy_dtype", dtype)), nullable=nullable)
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        _check_microseconds(name, s)
        tz = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else None
        return ColumnSpec("datetime", "datetime64[us]", tz=tz, nullable=nullable)
    if pd.api.types.is_string_dtype(dtype) or dtype is np.dtype(object):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("string", "empty"):
            return ColumnSpec("str", "str", nullable=nullable)
        if inferred == "bytes":
            return ColumnSpec("bytes", "bytes", nullable=nullable)
        if inferred in ("datetime", "datetime64"):
            return spec_of(name, pd.to_datetime(s))
        if inferred in ("integer", "floating", "boolean", "mixed-integer-float"):
            return spec_of(name, pd.Series(s.tolist()))
        raise SchemaError(
            f"column {name!r} holds {inferred!r} values (e.g. {s.dropna().iloc[0]!r}), which cannot be "
            f"stored in a database column; convert them to str, numbers or a tensor first"
        )
    raise SchemaError(
        f"column {name!r} has dtype {dtype}, which cannot be stored faithfully; convert it to "
        f"int, float, bool, str, bytes, datetime or a tensor first"
    )


def _check_microseconds(name: str, s: pd.Series) -> None:
    ns = s.dt.nanosecond.fillna(0).to_numpy() if len(s) else np.zeros(0)
    if ns.any():
        bad = int(np.flatnonzero(ns)[0])
        raise SchemaError(
            f"column {name!r} has sub-microsecond precision at row {bad} ({s.iloc[bad]}), which "
            f"databases do not store; round it first with .dt.floor('us')"
        )


def spec_from_python_type(name: str, tp: Any) -> ColumnSpec:
    """Spec for a numpy/Python type given in ``columns`` (``int``, ``np.float32``, ``str``, …)."""
    if tp is bool or tp is np.bool_:
        return ColumnSpec("bool", "bool")
    if tp is int:
        return ColumnSpec("int", "int64")
    if tp is float:
        return ColumnSpec("float", "float64")
    if tp is str:
        return ColumnSpec("str", "str")
    if tp is bytes:
        return ColumnSpec("bytes", "bytes")
    if tp in (pd.Timestamp,) or getattr(tp, "__name__", "") == "datetime":
        return ColumnSpec("datetime", "datetime64[us]")
    try:
        dt = np.dtype(tp)
    except TypeError as err:
        raise TypeError(
            f"columns[{name!r}] must be a SQLAlchemy type, a sa.Column, or a numpy/Python type, "
            f"but got {tp!r}"
        ) from err
    if dt.kind == "b":
        return ColumnSpec("bool", "bool")
    if dt.kind in "iu":
        return ColumnSpec("int", dt.name)
    if dt.kind == "f":
        return ColumnSpec("float", dt.name)
    if dt.kind == "M":
        return ColumnSpec("datetime", "datetime64[us]")
    if dt.kind in "US":
        return ColumnSpec("str" if dt.kind == "U" else "bytes", dt.kind)
    raise TypeError(f"columns[{name!r}]: numpy dtype {dt} has no database column type")


def spec_from_sql_type(tp: Any, dialect: str = "") -> ColumnSpec:
    """Spec for a reflected or declared SQL type (how a column of a foreign table is read)."""
    if isinstance(tp, sa.Boolean):
        return ColumnSpec("bool", "bool")
    if isinstance(tp, sa.Integer):
        if isinstance(tp, sa.SmallInteger):
            return ColumnSpec("int", "int16")
        if isinstance(tp, sa.BigInteger) or dialect == "sqlite":
            return ColumnSpec("int", "int64")
        if dialect == "mysql" and tp.__visit_name__.upper() == "TINYINT":
            return ColumnSpec("int", "int8")
        return ColumnSpec("int", "int32")
    if isinstance(tp, sa.Float):
        single = isinstance(tp, sa.REAL) or (tp.precision is not None and tp.precision <= 24)
        return ColumnSpec("float", "float32" if single and dialect != "sqlite" else "float64")
    if isinstance(tp, sa.DateTime):
        return ColumnSpec("datetime", "datetime64[us]", tz="UTC" if tp.timezone else None)
    if isinstance(tp, sa.String):
        return ColumnSpec("str", "str")
    if isinstance(tp, sa.LargeBinary | sa.types._Binary):
        return ColumnSpec("bytes", "bytes")
    return ColumnSpec("object", "object")


# --- specs -> SQL types ----------------------------------------------------------------------------


def _int_type(dtype: str) -> Any:
    if dtype in ("int8", "uint8", "int16"):
        return sa.SmallInteger()
    if dtype in ("int32", "uint16"):
        return sa.Integer()
    return sa.BigInteger()


def sql_type(spec: ColumnSpec, dialect: str) -> Any:
    """The SQLAlchemy type that holds ``spec`` exactly on ``dialect``."""
    kind = spec.kind
    if kind == "tensor":
        if spec.shape == () and spec.dtype in PG_ARRAY_DTYPE:
            return sql_type(_scalar_spec(spec.dtype), dialect)
        if dialect == "postgresql" and spec.dtype in PG_ARRAY_DTYPE and 0 not in spec.shape:
            base = sql_type(_scalar_spec(PG_ARRAY_DTYPE[spec.dtype]), dialect)
            return postgresql.ARRAY(base, dimensions=len(spec.shape))
        return _binary(dialect)
    if kind == "int":
        return _int_type(spec.dtype)
    if kind == "float":
        if spec.dtype in ("float16", "float32"):
            return sa.REAL()
        return sa.Double()
    if kind == "bool":
        return sa.Boolean()
    if kind == "str":
        return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    if kind == "bytes":
        return _binary(dialect)
    if kind == "datetime":
        return sa.DateTime(timezone=spec.tz is not None).with_variant(
            mysql.DATETIME(fsp=6), "mysql", "mariadb"
        )
    raise SchemaError(f"no database column type for values of kind {kind!r}")


def _binary(dialect: str) -> Any:
    return sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def _scalar_spec(dtype: str) -> ColumnSpec:
    if dtype == "bool":
        return ColumnSpec("bool", "bool")
    if dtype.startswith(("int", "uint")):
        return ColumnSpec("int", "int16" if dtype == "uint8" else dtype)
    return ColumnSpec("float", "float32" if dtype in ("float16", "bfloat16") else dtype)


def tensor_is_native_array(spec: ColumnSpec, dialect: str) -> bool:
    return (
        spec.kind == "tensor"
        and spec.shape != ()
        and dialect == "postgresql"
        and spec.dtype in PG_ARRAY_DTYPE
        and 0 not in spec.shape
    )


def tensor_is_binary(spec: ColumnSpec, dialect: str) -> bool:
    if spec.kind != "tensor":
        return False
    if spec.shape == () and spec.dtype in PG_ARRAY_DTYPE:
        return False
    return not tensor_is_native_array(spec, dialect)


# --- metadata table ------------------------------------------------------------------------------


def metadata_table(meta: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        METADATA_TABLE,
        meta if meta is not None else sa.MetaData(),
        sa.Column("table_name", sa.String(190), primary_key=True),
        sa.Column("column_name", sa.String(190), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
    )


def save_specs(conn: sa.Connection, table: str, specs: Mapping[str, ColumnSpec]) -> None:
    meta = metadata_table()
    meta.create(conn, checkfirst=True)
    conn.execute(meta.delete().where(meta.c.table_name == table))
    if specs:
        conn.execute(
            meta.insert(),
            [
                {"table_name": table, "column_name": c, "spec": s.to_json()}
                for c, s in specs.items()
            ],
        )


def load_specs(conn: sa.Connection, table: str) -> dict[str, ColumnSpec]:
    if not sa.inspect(conn).has_table(METADATA_TABLE):
        return {}
    meta = metadata_table()
    rows = conn.execute(
        sa.select(meta.c.column_name, meta.c.spec).where(meta.c.table_name == table)
    ).all()
    return {name: ColumnSpec.from_json(spec) for name, spec in rows}


def drop_specs(conn: sa.Connection, table: str) -> None:
    if sa.inspect(conn).has_table(METADATA_TABLE):
        meta = metadata_table()
        conn.execute(meta.delete().where(meta.c.table_name == table))


# --- compatibility of a Message column with an existing table column -------------------------------


def check_compatible(
    table: str, name: str, values: Any, spec: ColumnSpec, target: ColumnSpec, sql: Any
) -> None:
    """Refuse writing ``values`` (described by ``spec``) into a ``target`` column that would change them."""
    if target.kind == "object":
        return
    ok = spec.kind == target.kind
    detail = ""
    if spec.kind == "tensor" and ok:
        ok = spec.shape == target.shape and spec.dtype == target.dtype
    elif (spec.kind == "bool" and target.kind == "int") or (
        spec.kind == "int" and target.kind == "float"
    ):
        ok = True
    elif spec.kind == target.kind == "int" and target.dtype:
        info = np.iinfo(np.dtype(target.dtype))
        s = pd.Series(values).dropna()
        if len(s) and (s.min() < info.min or s.max() > info.max):
            bad = int(np.flatnonzero((s < info.min) | (s > info.max))[0])
            ok, detail = False, f" (row {bad} holds {s.iloc[bad]}, outside {info.min}..{info.max})"
    elif (
        spec.kind == target.kind == "float"
        and target.dtype == "float32"
        and spec.dtype == "float64"
    ):
        x = pd.Series(values).to_numpy(dtype=np.float64)
        lost = ~((x.astype(np.float32).astype(np.float64) == x) | np.isnan(x))
        if lost.any():
            bad = int(np.flatnonzero(lost)[0])
            ok, detail = False, f" (row {bad} holds {float(x[bad])!r}, which float32 rounds)"
    if not ok:
        raise SchemaError(
            f"column {name!r} of table {table!r} holds {_describe(target)} ({sql}), but the Message "
            f"column is {_describe(spec)}{detail}; writing it would change the values. Convert the "
            f"column first (e.g. m[{name!r}] = m[{name!r}].astype(...)) or write to a new table"
        )


def _describe(spec: ColumnSpec) -> str:
    if spec.kind == "tensor":
        return f"a {spec.dtype} tensor with rows of shape {list(spec.shape)}"
    return f"{spec.kind} ({spec.dtype})"


# --- encoding values for drivers -------------------------------------------------------------------


def to_python(name: str, values: Any, spec: ColumnSpec, dialect: str, sql: Any = None) -> list[Any]:
    """One column as a list of driver-ready Python values (None for NULL)."""
    if spec.kind == "tensor":
        return tensor_to_python(values, spec, dialect)
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if spec.kind == "datetime":
        dt = pd.to_datetime(s)
        if dt.dt.tz is not None:
            dt = dt.dt.tz_convert("UTC")
            if dialect != "postgresql":
                dt = dt.dt.tz_localize(None)
        if dialect == "sqlite":  # SQLAlchemy's storage format, so comparisons in SQL agree
            text = dt.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
            return text.astype(object).where(dt.notna(), None).tolist()
        out = dt.astype(object).where(dt.notna(), None).tolist()
        return [None if v is None else v.to_pydatetime() for v in out]
    if spec.kind == "float" and dialect == "mysql" and np.isinf(s.to_numpy(dtype=float)).any():
        bad = int(np.flatnonzero(np.isinf(s.to_numpy(dtype=float)))[0])
        raise SchemaError(
            f"column {name!r} holds {s.iloc[bad]} at row {bad}; MariaDB/MySQL cannot store infinity, "
            f"replace it (e.g. with a large finite value) or use PostgreSQL/SQLite"
        )
    if s.hasnans if s.dtype == object else s.isna().any():
        return s.astype(object).where(s.notna(), None).tolist()
    if spec.kind == "int" and s.dtype == "uint64":
        return s.astype("int64").tolist()
    return s.tolist()


def check_length(name: str, s: pd.Series, length: int) -> None:
    lengths = pa.compute.utf8_length(pa.array(s, type=pa.large_string())).to_numpy(
        zero_copy_only=False
    )
    too_long = np.flatnonzero(np.nan_to_num(lengths.astype(float), nan=0) > length)
    if too_long.size:
        bad = int(too_long[0])
        raise SchemaError(
            f"column {name!r} holds a string of {int(lengths[bad])} characters at row {bad}, longer "
            f"than the column's VARCHAR({length}); shorten it or widen the column"
        )


def tensor_rows_numpy(values: torch.Tensor, spec: ColumnSpec) -> np.ndarray:
    t = values.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy()


def tensor_to_python(values: torch.Tensor, spec: ColumnSpec, dialect: str) -> list[Any]:
    if (spec.shape == () and spec.dtype in PG_ARRAY_DTYPE) or tensor_is_native_array(spec, dialect):
        # stored as numbers (a plain column, or a PostgreSQL array): values, not bit patterns; bfloat16
        # widens to float32 exactly (tensor_rows_numpy's int16 view is for byte blobs only)
        t = values.detach().cpu()
        t = t.float() if t.dtype == torch.bfloat16 else t
        return t.numpy().astype(PG_ARRAY_DTYPE[spec.dtype]).tolist()
    arr = tensor_rows_numpy(values, spec)
    n = arr.shape[0]
    flat = np.ascontiguousarray(arr).reshape(n, -1).view(np.uint8).reshape(n, -1)
    width = flat.shape[1]
    if width == 0:
        return [b""] * n
    return flat.view(f"V{width}").ravel().tolist()


# --- decoding rows read back ---------------------------------------------------------------------


def from_python(name: str, values: Sequence[Any], spec: ColumnSpec, dialect: str) -> Any:
    """A list of driver values read back → a tensor, numpy array or pandas array."""
    n = len(values)
    kind = spec.kind
    if kind == "auto":
        return from_python(name, values, _infer(values), dialect)
    if kind == "tensor":
        return _tensor_from_python(name, values, spec, dialect)
    if kind in ("int", "float", "bool"):
        arrow = pa.array(values, from_pandas=True)
        if arrow.null_count == 0 and kind != "float":
            out = arrow.to_numpy(zero_copy_only=False)
            if kind == "bool":
                return out.astype(bool)
            return out.astype(spec.dtype if spec.dtype not in ("", "uint64") else "int64")
        if kind == "float":
            out = np.asarray(arrow.to_numpy(zero_copy_only=False), dtype=np.float64)
            return out.astype(spec.dtype or "float64", copy=False)
        if kind == "bool":
            return pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
        nullable: Any = pd.Int64Dtype()
        return nullable.__from_arrow__(arrow.cast(pa.int64()))
    if kind == "str":
        return pd.array(values, dtype="str")
    if kind == "datetime":
        dt: Any
        if n == 0:
            dt = pd.Series(np.empty(0, "datetime64[us]"))
        elif isinstance(next((v for v in values if v is not None), None), str):
            dt = pd.Series(pd.to_datetime(pd.Series(values), format="ISO8601"))
        else:
            dt = pd.Series(pd.to_datetime(list(values), utc=spec.tz is not None))
        if spec.tz is not None:
            if dt.dt.tz is None:
                dt = dt.dt.tz_localize("UTC")
            dt = dt.dt.tz_convert(spec.tz)
        elif dt.dt.tz is not None:
            dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
        return dt.astype(dt.dtype if dt.dtype == object else _us(dt.dtype)).array
    if kind == "bytes":
        return np.array([None if v is None else bytes(v) for v in values], dtype=object)
    arr = np.empty(n, dtype=object)
    arr[:] = list(values)
    return arr


def _infer(values: Sequence[Any]) -> ColumnSpec:
    """Spec of values read from a column of unknown type (a textual query), by Arrow's inference."""
    try:
        t = pa.array(values, from_pandas=True).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return ColumnSpec("object", "object")
    if pa.types.is_boolean(t):
        return ColumnSpec("bool", "bool")
    if pa.types.is_integer(t):
        return ColumnSpec("int", "int64")
    if pa.types.is_floating(t):
        return ColumnSpec("float", "float64")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ColumnSpec("str", "str")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return ColumnSpec("bytes", "bytes")
    if pa.types.is_timestamp(t):
        return ColumnSpec("datetime", "datetime64[us]", tz="UTC" if t.tz else None)
    return ColumnSpec("object", "object")


def _us(dtype: Any) -> Any:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.DatetimeTZDtype("us", dtype.tz)
    return "datetime64[us]"


def _tensor_from_python(
    name: str, values: Sequence[Any], spec: ColumnSpec, dialect: str
) -> torch.Tensor:
    n = len(values)
    if any(v is None for v in values):
        bad = next(i for i, v in enumerate(values) if v is None)
        raise DatabaseError(
            f"column {name!r} is a tensor column but row {bad} is NULL; a tensor cannot hold NULL. "
            f"Select rows without NULLs (filter({name!r}, '!=', None)) or read it as a vector"
        )
    tdt = torch_dtype(spec.dtype)
    if tensor_is_binary(spec, dialect):
        np_dtype = np.int16 if spec.dtype == "bfloat16" else torch.empty(0, dtype=tdt).numpy().dtype
        width = int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(np_dtype).itemsize
        blob = b"".join(bytes(v) for v in values)
        if len(blob) != n * width:
            raise DatabaseError(
                f"column {name!r} holds {len(blob)} bytes for {n} rows, but rows of shape "
                f"{list(spec.shape)} and dtype {spec.dtype} need {width} bytes each; the column "
                f"was not written by Fireworks or its metadata is stale"
            )
        arr = np.frombuffer(blob, dtype=np_dtype).reshape((n, *spec.shape)).copy()
        t = torch.from_numpy(arr)
        return t.view(torch.bfloat16) if spec.dtype == "bfloat16" else t
    base = PG_ARRAY_DTYPE.get(spec.dtype, spec.dtype)
    arr = np.array(values, dtype=base) if n else np.empty((0, *spec.shape), dtype=base)
    return torch.from_numpy(arr.reshape((n, *spec.shape))).to(tdt)
