"""Semantics of the toolbox Sources beyond the shared contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fireworks import Message
from fireworks.sources import (
    AggregatorSource,
    BatchingSource,
    FilterSource,
    FunctionSource,
    IndexMapSource,
    RepeaterSource,
    ShufflerSource,
    Source,
    ToTensorSource,
    train_test_split,
)


def xs(n: int = 10) -> Message:
    return Message({"x": np.arange(n), "y": torch.arange(n) * 10})


class GatherCounter(Source):
    _fast_paths = frozenset({"blocks"})  # its __getitem__ takes every index form

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message
        self.calls = 0

    def __getitem__(self, index):
        self.calls += 1
        return self.message[index]

    def __len__(self) -> int:
        return len(self.message)


def test_shuffler_is_shuffled_from_the_first_pass_and_reproducible() -> None:
    s = ShufflerSource(xs(50), seed=3)
    first = Message.concat(list(s))["x"].tolist()
    assert sorted(first) == list(range(50)) and first != list(range(50))
    second = Message.concat(list(s))["x"].tolist()
    assert sorted(second) == list(range(50)) and second != first  # a new epoch, a new order
    again = ShufflerSource(xs(50), seed=3)
    assert Message.concat(list(again))["x"].tolist() == first
    assert Message.concat(list(again))["x"].tolist() == second


def test_shuffler_getitem_is_input_at_perm() -> None:
    s = ShufflerSource(xs(20), seed=0)
    perm = s.permutation()
    assert s[5]["x"].tolist() == [perm[5]]
    assert s[[1, 2]]["x"].tolist() == perm[[1, 2]].tolist()


def test_shuffler_without_seed_differs_between_instances() -> None:
    a = ShufflerSource(xs(100))[:]["x"].tolist()
    b = ShufflerSource(xs(100))[:]["x"].tolist()
    assert a != b


def test_shuffler_needs_random_access() -> None:
    with pytest.raises(TypeError, match="wrap it first: LoopingSource"):
        ShufflerSource(iter([{"x": 1}]))


def test_batching_keeps_or_drops_the_partial_batch_with_one_gather_per_batch() -> None:
    src = GatherCounter(xs(10))
    b = BatchingSource(src, 4)
    assert len(b) == 3
    assert [len(m) for m in b] == [4, 4, 2]
    src.calls = 0
    assert b[2]["x"].tolist() == [8, 9] and src.calls == 1
    assert b[[2, 0]]["x"].tolist() == [8, 9, 0, 1, 2, 3]
    dropped = BatchingSource(xs(10), 4, drop_last=True)
    assert len(dropped) == 2 and [len(m) for m in dropped] == [4, 4]
    with pytest.raises(ValueError, match="batch_size must be a positive int, but got 0"):
        BatchingSource(xs(), 0)


def test_a_pass_gathers_windows_not_batches_but_functions_see_single_batches() -> None:
    src = GatherCounter(xs(100))
    sizes: list[int] = []

    def record(m: Message) -> Message:
        sizes.append(len(m))
        return m

    batches = list(FunctionSource(BatchingSource(src, 10, window_rows=50), record))
    assert src.calls == 2  # 100 rows in windows of 50
    assert sizes == [10] * 10  # but a function after the batcher sees one batch at a time
    assert Message.concat(batches)["x"].tolist() == list(range(100))


def test_batching_a_stream_rebatches_chunks() -> None:
    stream = [Message({"x": np.arange(a, a + 3)}) for a in range(0, 9, 3)]
    b = BatchingSource(Source(iter(stream)).loop(), 4)
    assert [m["x"].tolist() for m in b] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]


def test_function_source_checks_its_result_and_map_rows_works() -> None:
    bad = FunctionSource(xs(), lambda m: m["x"])
    with pytest.raises(TypeError, match=r"fn must return a Message, but .* returned Series"):
        bad[0]
    rows = Source(xs(4)).map_rows(lambda r: {"z": r["x"] + int(r["y"]), "t": r["y"] * 2})
    out = rows[:]
    assert out["z"].tolist() == [0, 11, 22, 33]
    assert isinstance(out["t"], torch.Tensor) and out["t"].tolist() == [0, 20, 40, 60]


def test_filter_random_access_and_mask_errors() -> None:
    f = FilterSource(xs(10), lambda m: m["x"] > 6)
    assert len(f) == 3 and f[0]["x"].tolist() == [7] and f[-1]["x"].tolist() == [9]
    bad = FilterSource(xs(10), lambda m: m["x"])
    with pytest.raises(ValueError, match="boolean mask with one value per row"):
        bad[0]


def test_filter_over_batches_filters_inside_each_batch() -> None:
    f = FilterSource(BatchingSource(xs(10), 5), lambda m: m["x"] % 2 == 0)
    assert len(f) == 2 and [m["x"].tolist() for m in f] == [[0, 2, 4], [6, 8]]


def test_filter_after_shuffle_follows_the_epoch() -> None:
    s = ShufflerSource(xs(30), seed=1)
    f = FilterSource(s, lambda m: m["x"] < 10)
    a = Message.concat(list(f))["x"].tolist()
    b = Message.concat(list(f))["x"].tolist()
    assert sorted(a) == sorted(b) == list(range(10)) and a != b


def test_repeater_and_index_map() -> None:
    r = RepeaterSource(xs(3), 3)
    assert len(r) == 9 and r[4]["x"].tolist() == [1] and r[2:5]["x"].tolist() == [2, 0, 1]
    m = IndexMapSource(xs(5), np.array([True, False, True, False, True]))
    assert m[:]["x"].tolist() == [0, 2, 4]
    with pytest.raises(IndexError, match="out of range"):
        len(IndexMapSource(xs(5), [7]))


def test_train_test_split_is_a_disjoint_cover() -> None:
    train, test = train_test_split(xs(20), test=0.25, seed=0)
    a, b = set(train[:]["x"].tolist()), set(test[:]["x"].tolist())
    assert len(b) == 5 and not a & b and a | b == set(range(20))
    again = train_test_split(xs(20), test=0.25, seed=0)[1]
    assert set(again[:]["x"].tolist()) == b
    with pytest.raises(ValueError, match="test must be a fraction"):
        train_test_split(xs(), test=1.5)


def test_aggregator_modes() -> None:
    parts = [Message({"x": [1, 2, 3]}), Message({"x": [10, 20]})]
    assert AggregatorSource(parts, mode="concat")[:]["x"].tolist() == [1, 2, 3, 10, 20]
    assert AggregatorSource(parts, mode="round_robin")[:]["x"].tolist() == [1, 10, 2, 20, 3]
    rand = AggregatorSource(parts, mode="random", seed=0)
    out = rand[:]["x"].tolist()
    assert sorted(out) == [1, 2, 3, 10, 20]
    assert [v for v in out if v < 10] == [1, 2, 3]  # each input keeps its own order
    with pytest.raises(ValueError, match="mode must be one of"):
        AggregatorSource(parts, mode="zip")
    streams = AggregatorSource([iter([{"x": 1}, {"x": 2}]), iter([{"x": 9}])], mode="round_robin")
    assert [m["x"].tolist() for m in streams] == [[1], [9], [2]]


def test_to_tensors_converts_numeric_columns_only() -> None:
    m = Message({"a": [1.0, 2.0], "s": ["u", "v"]})
    out = ToTensorSource(m)[:]
    assert out.tensor_columns == ["a"] and out["s"].tolist() == ["u", "v"]
    assert Source(m).to_tensors(columns=["a"], device="cpu")[0]["a"].device.type == "cpu"
