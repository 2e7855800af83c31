"""One regression test per bug class of issue 12: each failed on the core before the pass planner.

Every consumption path (iteration, ``next()``, indexing, fan-out, caching) must give the items of the one
reference meaning, or raise a clear error that names the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from fireworks import Message, PipelineError
from fireworks.sources import (
    BatchingSource,
    ShufflerSource,
    Source,
)


def xs(items: list[Message]) -> list[list[int]]:
    return [m["x"].tolist() for m in items]


def drain(src: Source) -> list[Message]:
    src.reset()
    out = []
    while True:
        try:
            out.append(next(src))
        except StopIteration:
            return out


class AddZ(Source):
    """The documented way to write a Source: override ``__getitem__`` and call ``super()``."""

    def __getitem__(self, i):
        m = super().__getitem__(i)
        m["z"] = m["x"] * 10
        return m


def test_a_subclass_getitem_is_honoured_by_every_path() -> None:
    src = AddZ(BatchingSource(Message({"x": list(range(10))}), 4))
    assert src[0].columns == ["x", "z"]
    assert next(iter(src)).columns == ["x", "z"]
    assert [m.columns for m in src] == [["x", "z"]] * 3
    assert [m.columns for m in drain(src)] == [["x", "z"]] * 3
    assert xs(list(src)) == xs([src[k] for k in range(len(src))])


def test_a_subclass_getitem_over_rows_is_honoured_by_iteration() -> None:
    src = AddZ(Message({"x": list(range(5))}))
    assert [m["z"].tolist() for m in src] == [[0], [10], [20], [30], [40]]


def test_a_subclass_len_bounds_its_iteration() -> None:
    class FirstThree(Source):
        def __len__(self) -> int:
            return 3

    src = FirstThree(Message({"x": list(range(10))}))
    assert len(src) == 3
    assert xs(list(src)) == [[0], [1], [2]]
    assert xs(drain(src)) == [[0], [1], [2]]

    batched = FirstThree(BatchingSource(Message({"x": list(range(10))}), 2))
    assert xs(list(batched)) == [[0, 1], [2, 3], [4, 5]]


def test_batch_of_batches_gives_the_same_batches_by_index_and_by_iteration() -> None:
    src = BatchingSource(BatchingSource(Message({"x": list(range(10))}), 2), 3)
    by_index = xs([src[k] for k in range(len(src))])
    assert by_index == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9]]
    assert xs(list(src)) == by_index
    assert xs(drain(src)) == by_index


def test_batch_of_batches_over_a_stream_groups_batches() -> None:
    stream = BatchingSource(iter([{"x": i} for i in range(10)]), 2)
    src = BatchingSource(stream, 3)
    assert xs(list(src)) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9]]


def test_a_cache_over_a_shuffler_serves_each_epoch_its_own_order() -> None:
    src = ShufflerSource(Message({"x": list(range(20))}), seed=0).cache()
    epochs = [[v for m in src for v in m["x"].tolist()] for _ in range(3)]
    assert all(sorted(e) == list(range(20)) for e in epochs)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]
    plain = ShufflerSource(Message({"x": list(range(20))}), seed=0)
    assert epochs == [[v for m in plain for v in m["x"].tolist()] for _ in range(3)]


def test_a_cache_over_batches_caches_whole_batches() -> None:
    src = BatchingSource(Message({"x": list(range(10))}), 4).cache()
    assert len(src) == 3
    assert src[1]["x"].tolist() == [4, 5, 6, 7]
    assert xs(list(src)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert xs(drain(src)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert src[[2, 0]]["x"].tolist() == [8, 9, 0, 1, 2, 3]


def test_merging_forward_only_inputs_of_unequal_length_is_an_error() -> None:
    merged = Source({"a": iter([{"x": 1}, {"x": 2}, {"x": 3}]), "b": iter([{"y": 1}, {"y": 2}])})
    with pytest.raises(ValueError, match="equal length"):
        list(merged)


class Counter(Source):
    """A single-cursor user Source: only ``__next__`` and ``reset``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.i = 0

    def __next__(self) -> Message:
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return Message({"x": [self.i - 1]})

    def reset(self) -> Counter:
        super().reset()
        self.i = 0
        return self


def test_a_second_pass_over_a_single_cursor_source_is_a_clear_error() -> None:
    src = Counter(40)
    first = iter(src)
    assert [next(first)["x"].item() for _ in range(20)] == list(range(20))
    with pytest.raises(PipelineError, match=r"single cursor.*LoopingSource"):
        list(iter(src))
    assert [m["x"].item() for m in first] == list(range(20, 40))


def test_passes_that_start_together_share_a_single_cursor() -> None:
    src = Counter(30)
    a, b = iter(src), iter(src)
    got_a = [next(a)["x"].item() for _ in range(3)]
    assert [m["x"].item() for m in b] == list(range(30))
    assert got_a + [m["x"].item() for m in a] == list(range(30))


def test_a_single_cursor_source_serves_passes_one_after_another() -> None:
    src = Counter(4)
    assert xs(list(src)) == [[0], [1], [2], [3]]
    assert xs(list(src)) == [[0], [1], [2], [3]]


def test_a_lagging_fan_out_reader_of_a_single_cursor_source_loses_no_rows() -> None:
    src = Counter(40)
    fast, slow = iter(src), iter(src)
    got_fast = [next(fast)["x"].item() for _ in range(30)]
    got_slow = [m["x"].item() for m in slow]
    got_fast += [m["x"].item() for m in fast]
    assert got_fast == list(range(40))
    assert got_slow == list(range(40))


def test_two_passes_over_one_shuffler_each_see_a_whole_permutation() -> None:
    n = 10_000  # more rows than one block read, so that the first pass is still reading
    src = ShufflerSource(Message({"x": list(range(n))}), seed=1)
    a = iter(src)
    first = [next(a)["x"].item() for _ in range(5)]
    b = [m["x"].item() for m in iter(src)]
    rest = [m["x"].item() for m in a]
    assert sorted(first + rest) == list(range(n))
    assert sorted(b) == list(range(n))
    assert first + rest != b


def test_two_passes_over_batches_of_a_shuffler_each_see_a_whole_permutation() -> None:
    src = ShufflerSource(Message({"x": list(range(30))}), seed=1).batch(4, window_rows=8)
    a = iter(src)
    first = [v for _ in range(2) for v in next(a)["x"].tolist()]
    b = [v for m in iter(src) for v in m["x"].tolist()]
    rest = [v for m in a for v in m["x"].tolist()]
    assert sorted(first + rest) == list(range(30))
    assert sorted(b) == list(range(30))


def test_a_dict_of_columns_from_getitem_becomes_a_message() -> None:
    class Squares(Source):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i):
            rows = np.arange(4)[i]
            return {"x": np.atleast_1d(rows), "sq": np.atleast_1d(rows) ** 2}

    src = Squares()
    assert isinstance(src[1], Message) and src[1]["sq"].tolist() == [1]
    assert [m["sq"].item() for m in src] == [0, 1, 4, 9]
    assert src[1:3]["sq"].tolist() == [1, 4]


def test_a_dict_of_scalars_from_next_becomes_a_one_row_message() -> None:
    class Ticks(Source):
        def __init__(self) -> None:
            super().__init__()
            self.i = 0

        def __next__(self):
            if self.i >= 3:
                raise StopIteration
            self.i += 1
            return {"t": self.i}

        def reset(self):
            super().reset()
            self.i = 0
            return self

    assert [m["t"].tolist() for m in Ticks()] == [[1], [2], [3]]


def test_a_non_message_item_is_a_clear_error() -> None:
    class Bad(Source):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i):
            return 42

    with pytest.raises(TypeError, match="must return a Message"):
        Bad()[0]


def test_state_attributes_are_saved_and_restored() -> None:
    class Ticks(Source):
        state_attributes = ("count",)

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def __next__(self) -> Message:
            if self.count >= 5:
                raise StopIteration
            self.count += 1
            return Message({"t": [self.count]})

        def reset(self):
            super().reset()
            self.count = 0
            return self

    src = Ticks()
    next(src)
    next(src)
    state = src.state_dict()
    assert state["count"] == 2
    fresh = Ticks()
    fresh.load_state_dict(state)
    assert fresh.count == 2
    assert next(fresh)["t"].tolist() == [3]


def test_reset_returns_the_source() -> None:
    src = BatchingSource(Message({"x": list(range(5))}), 2)
    assert src.reset() is src
    assert xs(list(src.reset())) == [[0, 1], [2, 3], [4]]
    assert ShufflerSource(Message({"x": [1]}), seed=0).reset() is not None


def test_a_pass_through_table_over_batches_writes_what_flows_through(tmp_path) -> None:
    import sqlalchemy as sa

    from fireworks import TableSource

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sink.sqlite'}")
    sink = TableSource("rows", engine, inputs=BatchingSource(Message({"x": list(range(10))}), 4))
    assert xs(list(sink)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sorted(sink.query().all()["x"].tolist()) == list(range(10))


def test_writing_to_a_batch_of_a_windowed_pass_changes_nothing_else() -> None:
    import torch

    data = Message({"x": torch.arange(10), "v": np.arange(10)})
    batches = list(Source(data).batch(3).to_tensors())
    for b in batches:
        b["x"][:] = -1
        b["v"][:] = -1
    assert data["x"].tolist() == list(range(10)) and data["v"].tolist() == list(range(10))
    again = list(Source(data).batch(3))
    assert [m["x"].tolist() for m in again] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_an_empty_index_of_a_junction_keeps_the_columns() -> None:
    from fireworks import AggregatorSource

    a = AggregatorSource([Message({"x": [1]}), Message({"x": [2]})], mode="concat")
    assert a[1:1].columns == ["x"] and len(a[1:1]) == 0
    assert a.map(lambda m: Message({"y": m["x"] * 2}))[1:1].columns == ["y"]
