"""Round trips of every column kind through save/load, pickle, Arrow and pandas."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from fireworks import Message

TENSOR_DTYPES = [
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
]


def rich(n: int = 4) -> Message:
    data = {
        "f32": torch.linspace(0, 1, n),
        "img": torch.arange(n * 3 * 4 * 5, dtype=torch.float32).reshape(n, 3, 4, 5),
        "seq": torch.arange(n * 7).reshape(n, 7),
        "half": torch.ones(n, 2, dtype=torch.bfloat16) / 3,
        "mask": torch.arange(n) % 2 == 0,
        "i64": np.arange(n, dtype=np.int64) * 2**40,
        "i32": np.arange(n, dtype=np.int32),
        "flag": np.arange(n) % 3 == 0,
        "f": np.linspace(0, 1, n),
        "nan": np.array([np.nan] + [1.0] * (n - 1)),
        "s": [f"row {k}" if k else None for k in range(n)],
        "cat": pd.Categorical(["a", "b"] * (n // 2), categories=["b", "a", "z"], ordered=True),
        "nint": pd.array([1, None, *range(n - 2)], dtype="Int64"),
        "nbool": pd.array([True, None] + [False] * (n - 2), dtype="boolean"),
        "when": pd.date_range("2021-03-04", periods=n, freq="h"),
        "when_tz": pd.date_range("2021-03-04", periods=n, freq="D", tz="Europe/Paris"),
        "delta": pd.to_timedelta(np.arange(n), unit="s"),
        "grid": np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2),
    }
    return Message(data)


def assert_identical(a: Message, b: Message) -> None:
    assert a.columns == b.columns
    assert a.tensor_columns == b.tensor_columns
    assert a.dtypes == b.dtypes, (a.dtypes, b.dtypes)
    assert a == b


def test_save_load_path(tmp_path):
    m = rich()
    path = tmp_path / "m.arrow"
    m.save(path)
    assert_identical(Message.load(path), m)
    m.save(str(path))  # overwrite atomically
    assert_identical(Message.load(str(path)), m)
    assert [p.name for p in tmp_path.iterdir()] == ["m.arrow"]  # no temp files left


def test_save_load_file_object_from_current_position():
    m1, m2 = rich(4), rich(6)[::2]
    buf = io.BytesIO()
    buf.write(b"header")
    m1.save(buf)
    second = buf.tell()
    m2.save(buf)
    buf.seek(len(b"header"))
    assert_identical(Message.load(buf), m1)
    buf.seek(second)
    assert_identical(Message.load(buf), m2)


def test_pickle_round_trip():
    m = rich()
    assert_identical(pickle.loads(pickle.dumps(m)), m)
    assert_identical(pickle.loads(pickle.dumps(Message())), Message())


def test_arrow_round_trip_and_types():
    m = rich()
    table = m.to_arrow()
    assert isinstance(table, pa.Table)
    assert isinstance(table.schema.field("img").type, pa.FixedShapeTensorType)
    assert list(table.schema.field("img").type.shape) == [3, 4, 5]
    assert table.schema.field("i64").type == pa.int64()
    assert_identical(Message.from_arrow(table), m)
    assert_identical(Message.from_arrow(table.to_batches()[0]), m)


@pytest.mark.parametrize("dtype", TENSOR_DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(5,), (5, 3), (5, 2, 3)], ids=str)
def test_tensor_dtypes_round_trip(dtype, shape, tmp_path):
    t = (torch.arange(int(np.prod(shape))).reshape(shape) % 7).to(dtype)
    m = Message({"t": t})
    for back in (
        Message.from_arrow(m.to_arrow()),
        Message.from_pandas(m.to_pandas()),
        pickle.loads(pickle.dumps(m)),
    ):
        assert back.tensor_columns == ["t"]
        assert back["t"].dtype == dtype and back["t"].shape == shape
        assert torch.equal(back["t"], t)


def test_empty_and_zero_row_round_trip(tmp_path):
    zero = rich()[[]]
    assert len(zero) == 0
    for m in (Message(), zero):
        path = tmp_path / "z.arrow"
        m.save(path)
        assert_identical(Message.load(path), m)
        assert_identical(Message.from_arrow(m.to_arrow()), m)


def test_pandas_round_trip_keeps_dtypes():
    m = rich()
    df = m.to_pandas()
    assert df["i64"].dtype == np.int64 and df["flag"].dtype == bool
    assert df["nint"].dtype == "Int64" and isinstance(df["cat"].dtype, pd.CategoricalDtype)
    assert str(df["when_tz"].dtype).endswith("Europe/Paris]")
    assert df["img"].iloc[0].shape == (3, 4, 5)
    assert_identical(Message.from_pandas(df), m)
    plain = pd.DataFrame({"a": [1, 2]})
    assert Message.from_pandas(plain).vector_columns == ["a"]


def test_foreign_arrow_tables():
    table = pa.table(
        {
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 3),
            "name": pa.array(["x", None]),
            "n": pa.array([1, None], type=pa.int32()),
        }
    )
    m = Message.from_arrow(table)
    assert m.tensor_columns == ["vec"]
    assert m["vec"].shape == (2, 3) and m["vec"].dtype == torch.float32
    assert m["name"].tolist()[0] == "x" and pd.isna(m["name"][1])
    assert pd.isna(m["n"][1])


def test_unsupported_columns_raise_clearly():
    with pytest.raises(TypeError, match="complex"):
        Message({"c": torch.zeros(2, dtype=torch.complex64)}).to_arrow()
    with pytest.raises(TypeError, match=r"column 'o' .* cannot be stored in Arrow"):
        Message({"o": np.array([object(), object()], dtype=object)}).to_arrow()


def test_load_never_unpickles(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled code ran",))

    path = tmp_path / "evil.arrow"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="not a saved Message"):
        Message.load(path)
    saved = io.BytesIO()
    rich().save(saved)
    assert b"\x80\x04\x95" not in saved.getvalue()[:2]  # an Arrow stream, not a pickle


def test_failed_save_keeps_old_file(tmp_path):
    path = tmp_path / "m.arrow"
    rich().save(path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="complex"):
        Message({"c": torch.zeros(2, dtype=torch.complex64)}).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.arrow"]


def test_rich_message_operations_keep_dtypes():
    m = rich(6)
    for part in (
        m[1:4],
        m[[5, 0, 0]],
        m[np.arange(6) % 2 == 0],
        m[2],
        Message.concat([m[:2], m[2:]]),
    ):
        assert part.dtypes == m.dtypes
    assert Message.concat([m[:3], m[3:]]) == m
    del m[[0, 1]]
    assert m.dtypes == rich(6).dtypes and len(m) == 4
    m[[0]] = rich(6)[[5]]
    assert m[0] == rich(6)[5]
