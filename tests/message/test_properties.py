"""Property tests: Message row operations agree with pandas as the model.

Each generated Message has a twin DataFrame (a tensor column of shape (n, k) is k model columns). Every
operation is applied to both, and the Message result, mapped to the model form, must equal pandas' result.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import torch
from hypothesis import given
from hypothesis import strategies as st

from fireworks import Message

KINDS = ["int", "float", "bool", "str", "tensor_f32", "tensor_i64_2d"]


@st.composite
def columns_of(draw, n: int, kinds: list[str]) -> dict:
    data: dict = {}
    for k, kind in enumerate(kinds):
        name = f"c{k}_{kind}"
        if kind == "int":
            data[name] = np.array(
                draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)), dtype=np.int64
            )
        elif kind == "float":
            values = st.floats(allow_nan=True, allow_infinity=False, width=64)
            data[name] = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
        elif kind == "bool":
            data[name] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        elif kind == "str":
            strings = draw(st.lists(st.text("abcxyz é", max_size=4), min_size=n, max_size=n))
            data[name] = pd.Series(strings, dtype="str")
        elif kind == "tensor_f32":
            values = st.floats(-1e6, 1e6, width=32)
            data[name] = torch.tensor(
                draw(st.lists(values, min_size=n, max_size=n)), dtype=torch.float32
            )
        else:
            flat = draw(st.lists(st.integers(-1000, 1000), min_size=3 * n, max_size=3 * n))
            data[name] = torch.tensor(flat, dtype=torch.int64).reshape(n, 3)
    return data


@st.composite
def schemas(draw) -> list[str]:
    return draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4))


@st.composite
def messages(draw, n=None, kinds=None) -> tuple[Message, pd.DataFrame]:
    n = draw(st.integers(0, 12)) if n is None else n
    kinds = draw(schemas()) if kinds is None else kinds
    data = draw(columns_of(n, kinds))
    return Message(data), model_of(data)


def model_of(data: dict) -> pd.DataFrame:
    cols: dict = {}
    for name, col in data.items():
        if isinstance(col, torch.Tensor) and col.ndim == 2:
            for j in range(col.shape[1]):
                cols[f"{name}#{j}"] = col[:, j].numpy().copy()
        elif isinstance(col, torch.Tensor):
            cols[name] = col.numpy().copy()
        else:
            cols[name] = pd.Series(col)
    return pd.DataFrame(cols)


def as_model(m: Message) -> pd.DataFrame:
    data = {}
    for name in m.columns:
        col = m[name]
        data[name] = (
            col if isinstance(col, torch.Tensor) else col.to_numpy() if col.dtype != "str" else col
        )
    return model_of(data)


def assert_matches(m: Message, model: pd.DataFrame) -> None:
    assert len(m) == len(model)
    pd.testing.assert_frame_equal(as_model(m), model.reset_index(drop=True), check_dtype=True)


@st.composite
def row_keys(draw, n: int):
    forms = ["list", "array", "tensor", "mask", "slice"]
    if n:
        forms.append("int")
    form = draw(st.sampled_from(forms))
    if form == "int":
        return draw(st.integers(-n, n - 1))
    if form == "slice":
        bound = st.none() | st.integers(-n - 3, n + 3)
        step = st.none() | st.integers(-4, 4).filter(lambda s: s != 0)
        return slice(draw(bound), draw(bound), draw(step))
    if form == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    positions = draw(st.lists(st.integers(-n, n - 1), max_size=15)) if n else []
    if form == "array":
        return np.array(positions, dtype=np.int64)
    if form == "tensor":
        return torch.tensor(positions, dtype=torch.int64)
    return positions


def model_rows(key, n: int):
    if isinstance(key, int):
        return [key]
    if isinstance(key, torch.Tensor):
        return key.numpy()
    return key


@given(data=st.data())
def test_indexing_matches_pandas(data):
    m, model = data.draw(messages())
    key = data.draw(row_keys(len(m)))
    assert_matches(m[key], model.iloc[model_rows(key, len(m))])


@given(data=st.data())
def test_deletion_matches_pandas(data):
    m, model = data.draw(messages())
    key = data.draw(row_keys(len(m)))
    positions = np.arange(len(m))[model_rows(key, len(m))]
    del m[key]
    assert_matches(m, model.drop(index=model.index[np.unique(positions)]))


@given(data=st.data())
def test_concat_and_append_match_pandas(data):
    kinds = data.draw(schemas())
    parts = [data.draw(messages(kinds=kinds)) for _ in range(data.draw(st.integers(1, 4)))]
    out = Message.concat([Message()] + [m for m, _ in parts])
    expected = pd.concat([f for _, f in parts], ignore_index=True)
    assert_matches(out, expected)
    assert_matches(parts[0][0].append(parts[-1][0]), pd.concat([parts[0][1], parts[-1][1]]))


@given(data=st.data())
def test_permute_matches_pandas(data):
    m, model = data.draw(messages())
    perm = data.draw(st.permutations(range(len(m))))
    assert_matches(m.permute(perm), model.iloc[list(perm)])


@given(data=st.data())
def test_row_assignment_matches_pandas(data):
    kinds = data.draw(schemas())
    m, model = data.draw(messages(kinds=kinds))
    n = len(m)
    positions = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n)) if n else []
    new, new_model = data.draw(messages(n=len(positions), kinds=kinds))
    m[np.array(positions, dtype=np.int64)] = new
    expected = model.copy()
    for col in expected.columns:
        values = expected[col].to_numpy(copy=True).astype(object)
        values[positions] = new_model[col].to_numpy().astype(object)
        expected[col] = pd.Series(values, dtype=model[col].dtype)
    assert_matches(m, expected)


@given(data=st.data())
def test_save_load_and_pickle_round_trip(data):
    m, _ = data.draw(messages())
    buf = io.BytesIO()
    m.save(buf)
    buf.seek(0)
    loaded = Message.load(buf)
    assert loaded == m and loaded.dtypes == m.dtypes and loaded.columns == m.columns
    assert pickle.loads(pickle.dumps(m)) == m
    assert Message.from_arrow(m.to_arrow()) == m
    assert Message.from_pandas(m.to_pandas()) == m
