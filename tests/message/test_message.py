"""Message behaviour: construction, indexing, assignment, deletion, combining, conversion, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import fireworks.message as message_module
from fireworks import Message


def make(n: int = 5) -> Message:
    return Message(
        {
            "x": torch.arange(n, dtype=torch.float32),
            "img": torch.arange(n * 6).reshape(n, 2, 3),
            "i": np.arange(n, dtype=np.int64) * 10,
            "s": [f"r{k}" for k in range(n)],
        }
    )


# --- construction ------------------------------------------------------------------------------------------


def test_construction_kinds_and_order():
    m = make()
    assert len(m) == 5
    assert m.columns == ["x", "img", "i", "s"]
    assert m.tensor_columns == ["x", "img"]
    assert m.vector_columns == ["i", "s"]
    assert "x" in m and "nope" not in m
    assert isinstance(m["x"], torch.Tensor)
    assert isinstance(m["i"], pd.Series) and m["i"].dtype == np.int64
    assert m["s"].tolist() == ["r0", "r1", "r2", "r3", "r4"]


def test_construction_from_dataframe_and_message():
    df = pd.DataFrame({"a": [1, 2, 3], "b": [True, False, True]}, index=[7, 8, 9])
    m = Message(df)
    assert m.columns == ["a", "b"] and m.vector_columns == ["a", "b"]
    assert m["b"].dtype == bool and m["a"].dtype == np.int64
    assert m["a"].index.tolist() == [0, 1, 2]
    assert Message(m) == m
    assert Message(df) == Message.from_pandas(df)


def test_parameter_becomes_tensor_column():
    p = torch.nn.Parameter(torch.ones(3))
    m = Message({"p": p})
    assert m.tensor_columns == ["p"]
    assert torch.equal(m["p"].detach(), torch.ones(3))


def test_empty_message():
    m = Message()
    assert len(m) == 0 and m.columns == []
    assert Message({}) == m


def test_scalars_broadcast():
    m = Message({"a": [1, 2, 3], "b": 7, "c": "k"})
    assert m["b"].tolist() == [7, 7, 7] and m["c"].tolist() == ["k"] * 3
    assert len(Message({"a": 1, "b": 2.0})) == 1


def test_unequal_lengths_named():
    with pytest.raises(ValueError, match=r"equal length.*a=3, b=2"):
        Message({"a": [1, 2, 3], "b": [1, 2]})


def test_bad_data_type():
    with pytest.raises(TypeError, match="dict of columns"):
        Message([1, 2, 3])
    with pytest.raises(TypeError, match="column names must be str"):
        Message({1: [1, 2]})


def test_no_aliasing_of_caller_objects():
    arr = np.arange(3)
    t = torch.arange(3)
    s = pd.Series([1.0, 2.0, 3.0])
    m = Message({"a": arr, "t": t, "s": s})
    m[0] = {"a": 100, "t": torch.tensor([100]), "s": 100.0}
    assert arr[0] == 0 and t[0] == 0 and s[0] == 1.0
    arr[1] = -1
    t[1] = -1
    assert m["a"][1] == 1 and m["t"][1] == 1


def test_results_never_write_through():
    m = make()
    for part in (m[1:3], m[[1, 2]], m[1], m[["x", "img"]], m.to("cpu"), m.merge(Message())):
        part["x"][0] = 999.0  # modifies only the returned copy
        part[0] = {"x": torch.tensor([999.0])}
    col = m["x"]
    col[0] = 123.0
    assert m["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    series = m["i"]
    series.iloc[0] = -5
    assert m["i"][0] == 0


# --- row indexing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [
        (0, [0]),
        (-1, [4]),
        (np.int64(2), [2]),
        (torch.tensor(3), [3]),
        (slice(1, 4), [1, 2, 3]),
        (slice(None, None, -1), [4, 3, 2, 1, 0]),
        (slice(None, None, 2), [0, 2, 4]),
        (slice(-2, None), [3, 4]),
        (slice(10, 20), []),
        (slice(4, 1, -2), [4, 2]),
        ([3, 0, 0], [3, 0, 0]),
        ([-1, -5], [4, 0]),
        (np.array([2, 1]), [2, 1]),
        (torch.tensor([4, 4, 1]), [4, 4, 1]),
        ([], []),
        ([True, False, True, False, False], [0, 2]),
        (np.array([False] * 4 + [True]), [4]),
        (torch.tensor([True, True, False, False, False]), [0, 1]),
        (pd.Series([False, True, False, True, False]), [1, 3]),
        (range(1, 3), [1, 2]),
    ],
)
def test_row_index_forms(key, expected):
    m = make()
    got = m[key]
    assert isinstance(got, Message)
    assert len(got) == len(expected)
    assert got["i"].tolist() == [10 * e for e in expected]
    assert got["x"].tolist() == [float(e) for e in expected]
    assert got["s"].tolist() == [f"r{e}" for e in expected]
    assert got["img"].shape == (len(expected), 2, 3)


@pytest.mark.parametrize("key", [5, -6, [0, 5], np.array([-6]), torch.tensor([7])])
def test_out_of_range_rows(key):
    with pytest.raises(IndexError, match="out of range for a Message of 5 rows"):
        make()[key]


def test_bad_row_keys():
    m = make()
    with pytest.raises(IndexError, match="boolean row mask needs one entry per row"):
        m[[True, False]]
    with pytest.raises(TypeError, match="integers or booleans"):
        m[np.array([0.5])]
    with pytest.raises(TypeError, match="rows must be"):
        m[1.5]


def test_column_subset_and_unknown_column():
    m = make()
    sub = m[["s", "x"]]
    assert sub.columns == ["s", "x"] and len(sub) == 5
    with pytest.raises(
        KeyError, match=r"unknown column\(s\) \['nope'\].*columns \['x', 'img', 'i', 's'\]"
    ):
        m["nope"]
    with pytest.raises(KeyError, match="nope"):
        m[["x", "nope"]]


# --- assignment and deletion -----------------------------------------------------------------------------


def test_set_column_and_replace():
    m = make()
    m["y"] = np.ones(5)
    m["x"] = torch.zeros(5)
    assert m.columns == ["x", "img", "i", "s", "y"]
    assert m["x"].sum() == 0
    with pytest.raises(ValueError, match="column 'z' must have 5 rows like the Message, but got 2"):
        m["z"] = [1, 2]
    assert "z" not in m


def test_set_rows_in_place_storage():
    m = make()
    storage = m._data["x"]
    istorage = m._data["i"]
    m[np.array([4, 0])] = Message(
        {
            "x": torch.tensor([40.0, 0.5]),
            "i": [7, 8],
            "s": ["a", "b"],
            "img": torch.zeros(2, 2, 3, dtype=torch.int64),
        }
    )
    assert m._data["x"] is storage and m._data["i"] is istorage
    assert m["x"].tolist() == [0.5, 1.0, 2.0, 3.0, 40.0]
    assert m["i"].tolist() == [8, 10, 20, 30, 7]
    assert m["s"].tolist() == ["b", "r1", "r2", "r3", "a"]
    m[1:3] = {"i": [1, 2]}
    assert m["i"].tolist() == [8, 1, 2, 30, 7]
    m[::-1] = {"i": [0, 1, 2, 3, 4]}
    assert m["i"].tolist() == [4, 3, 2, 1, 0]
    m[[True, False, False, False, True]] = {"x": [9.0, 9.0]}
    assert m["x"].tolist() == [9.0, 1.0, 2.0, 3.0, 9.0]


def test_set_rows_widens_dtype():
    m = Message({"a": np.arange(3)})
    m[0] = {"a": [0.5]}
    assert m["a"].tolist() == [0.5, 1.0, 2.0]


def test_failed_row_assignment_leaves_message_unchanged():
    m = make()
    before = Message(m)
    with pytest.raises(ValueError, match="3 target rows, but the values have 2 rows"):
        m[[0, 1, 2]] = {"i": [1, 2]}
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['zz'\]"):
        m[[0]] = {"i": [1], "zz": [2]}
    with pytest.raises(ValueError, match="rows of shape"):
        m[[0]] = {"i": [5], "img": torch.zeros(1, 3, 3)}
    with pytest.raises(IndexError, match="out of range"):
        m[[9]] = {"i": [1]}
    assert m == before


def test_delete_columns_and_rows():
    m = make()
    del m["img"]
    assert m.columns == ["x", "i", "s"]
    del m[["x", "s"]]
    assert m.columns == ["i"]
    m = make()
    del m[[0, -1, 0]]
    assert m["i"].tolist() == [10, 20, 30]
    del m[1:]
    assert m["s"].tolist() == ["r1"]
    m = make()
    del m[np.array([True, False, True, False, True])]
    assert m["x"].tolist() == [1.0, 3.0]
    with pytest.raises(KeyError, match="unknown column"):
        del m[["i", "nope"]]
    assert m.columns == ["x", "img", "i", "s"]


# --- combining ------------------------------------------------------------------------------------------


def test_append_and_concat():
    m = make(3)
    both = m.append(make(2))
    assert len(both) == 5 and both["i"].tolist() == [0, 10, 20, 0, 10]
    assert both["img"].shape == (5, 2, 3)
    assert Message().append(m) == m and m.append(Message()) == m
    rows = [make(4)[i] for i in range(4)]
    assert Message.concat(rows) == make(4)
    assert Message.concat([]) == Message()
    with pytest.raises(ValueError, match="same columns"):
        m.append(Message({"x": [1.0]}))
    with pytest.raises(ValueError, match="tensor in some Messages and a vector"):
        m.append(make(1).to_vectors(["x"]))


def test_concat_mixed_dtypes():
    a = Message({"v": np.array([1, 2]), "s": ["a", "b"], "c": pd.Categorical(["x", "y"])})
    b = Message({"v": np.array([0.5]), "s": ["c"], "c": pd.Categorical(["z"])})
    out = Message.concat([a, b])
    assert out["v"].tolist() == [1.0, 2.0, 0.5]
    assert out["s"].tolist() == ["a", "b", "c"]
    assert out["c"].tolist() == ["x", "y", "z"]


def test_concat_across_blocks_matches_pandas():
    # concat works through its parts in cache-sized blocks; kinds, dtypes and column checks must not depend on
    # where the block boundaries fall.
    n = 3 * message_module._CONCAT_BLOCK + 7
    frames = [
        pd.DataFrame(
            {
                "v": np.array([k], dtype=np.int32 if k < n // 2 else np.float64),
                "s": [f"s{k}"],
                "c": pd.Categorical(["x" if k % 2 else "y"]),
                "n": pd.array([None if k % 5 == 0 else k], dtype="Int64"),
            }
        )
        for k in range(n)
    ]
    parts = [Message(f) for f in frames]
    parts.insert(600, Message())
    out = Message.concat(parts)
    expected = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(out.to_pandas(), expected, check_dtype=False)
    assert out["v"].dtype == np.float64

    tensors = [Message({"x": torch.full((1, 2), float(k))}) for k in range(n)]
    assert torch.equal(Message.concat(tensors)["x"][:, 0], torch.arange(n, dtype=torch.float32))
    tensors[-1] = Message({"x": np.array([[1.0, 2.0]])})
    with pytest.raises(ValueError, match="tensor in some Messages and a vector"):
        Message.concat(tensors)
    late = [*parts[:-1], Message({"v": [1.0], "s": ["a"], "c": ["x"], "other": [1]})]
    with pytest.raises(
        ValueError, match=r"same columns, but Message 1543 has \['v', 's', 'c', 'other'\]"
    ):
        Message.concat(late)
    with pytest.raises(TypeError, match="takes Messages, but got dict"):
        Message.concat([*parts[:700], {"v": [1]}])


def test_merge():
    m = Message({"a": [1, 2], "b": [3, 4]})
    out = m.merge({"b": [5, 6], "c": torch.tensor([7, 8])})
    assert out.columns == ["a", "b", "c"]
    assert out["b"].tolist() == [5, 6]
    assert Message().merge(m) == m and m.merge(Message()) == m
    with pytest.raises(ValueError, match="same number of rows, but got 2 and 3"):
        m.merge({"z": [1, 2, 3]})


def test_permute():
    m = make(4)
    p = m.permute([2, 0, 3, 1])
    assert p["i"].tolist() == [20, 0, 30, 10]
    with pytest.raises(ValueError, match="permutation of range"):
        m.permute([0, 0, 1, 2])
    with pytest.raises(ValueError, match="permutation of range"):
        m.permute([0, 1])


# --- conversion, equality, iteration -----------------------------------------------------------------


def test_to_tensors_and_vectors():
    m = Message({"a": np.arange(3), "b": [True, False, True], "s": ["x", "y", "z"]})
    t = m.to_tensors()
    assert (
        t.tensor_columns == ["a", "b"]
        and t["a"].dtype == torch.int64
        and t["b"].dtype == torch.bool
    )
    with pytest.raises(TypeError, match=r"column 's' of dtype .* cannot become a tensor"):
        m.to_tensors(["s"])
    v = t.to_vectors()
    assert v.tensor_columns == [] and v["a"].dtype == np.int64 and v["b"].dtype == bool
    assert v == m.to_vectors() and t != m
    na = Message({"n": pd.array([1, None], dtype="Int64")})
    with pytest.raises(ValueError, match="missing values at rows \\[1\\]"):
        na.to_tensors("n")


def test_equality_semantics():
    a = Message({"x": torch.tensor([1.0, float("nan")]), "y": [1, 2]})
    b = Message(
        {
            "y": np.array([1, 2], dtype=np.int32),
            "x": torch.tensor([1.0, float("nan")], dtype=torch.float64),
        }
    )
    assert a == b
    assert a != Message({"x": np.array([1.0, np.nan]), "y": [1, 2]})  # kind differs
    assert a != Message({"x": torch.tensor([1.0, 2.0]), "y": [1, 2]})
    assert a != {"x": 1}


def test_iteration_is_independent():
    m = make(3)
    it1, it2 = iter(m), iter(m)
    assert next(it1)["i"].tolist() == [0]
    assert next(it1)["i"].tolist() == [10]
    assert next(it2)["i"].tolist() == [0]
    assert [r["s"].tolist()[0] for r in m] == ["r0", "r1", "r2"]


def test_repr_is_readable_and_truncated():
    m = Message({"img": torch.zeros(30, 28, 28), "label": np.arange(30)})
    text = repr(m)
    assert "30 rows x 2 columns" in text
    assert "tensor[30x28x28 float32]" in text and "tensor[28x28 float32]" in text
    assert "..." in text and len(text.splitlines()) < 20
    assert "0 rows" in repr(Message())


def test_devices_cpu():
    m = make()
    moved = m.to("cpu")
    assert moved == m and moved._data["x"] is not m._data["x"]
    assert m.cpu() == m


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_devices_cuda():
    m = make()
    g = m.cuda()
    assert g["x"].device.type == "cuda"
    assert g[np.array([1, 2])]["x"].device.type == "cuda"
    assert g.cpu() == m


def test_assign_several_columns_and_arrow_inputs():
    import pyarrow as pa

    m = make(3)
    m[["a", "b"]] = {"a": [1, 2, 3], "b": torch.zeros(3)}
    assert m.columns[-2:] == ["a", "b"] and m.tensor_columns[-1] == "b"
    with pytest.raises(ValueError, match="exactly those columns"):
        m[["a", "c"]] = {"a": [1, 2, 3]}
    table = pa.table({"n": [1, 2, 3]})
    assert Message(table) == Message({"n": [1, 2, 3]})
    assert Message({"n": table.column("n")})["n"].tolist() == [1, 2, 3]
    assert len(m[np.array([], dtype=np.float64)]) == 0
    assert m.to_tensors(device="cpu")["a"].dtype == torch.int64


def test_docstring_examples_run():
    import doctest

    import fireworks.message

    result = doctest.testmod(fireworks.message)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("key", [slice(None, None, -1), slice(1, None, -1), slice(None, 0, -2)])
def test_delete_rows_by_negative_step_slice_matches_python(key) -> None:
    m = Message({"a": [0, 1, 2, 3], "t": torch.arange(4)})
    expected = [0, 1, 2, 3]
    del expected[key]
    del m[key]
    assert m["a"].tolist() == expected
    assert m["t"].tolist() == expected
