"""Source base: laziness, forwarding, graph walking and pictures, cycles, error naming, hints."""

from __future__ import annotations

import numpy as np
import pytest

from fireworks import CycleError, Message, PipelineError
from fireworks.sources import (
    BatchingSource,
    FunctionSource,
    LoopingSource,
    ShufflerSource,
    Source,
    walk,
)


class Counting(Source):
    """Random access over a Message, counting every pull."""

    def __init__(self, n: int = 20, **kw) -> None:
        super().__init__(**kw)
        self.message = Message({"x": np.arange(n)})
        self.pulls: list = []

    def __getitem__(self, index):
        self.pulls.append(index)
        return self.message[index]

    def __len__(self) -> int:
        return len(self.message)

    @property
    def broken(self):
        return self.message.no_such_thing  # AttributeError raised *inside* a property

    def greet(self) -> str:
        return "hello"


class HintSink(Source):
    """Records the prefetch hints it receives (a stand-in for a CachingSource's interest)."""

    def __init__(self, inputs) -> None:
        super().__init__(inputs)
        self.hints: list[np.ndarray] = []

    def _hint(self, index: np.ndarray) -> None:
        self.hints.append(np.asarray(index).copy())


def test_building_a_deep_pipeline_pulls_nothing() -> None:
    src = Counting()
    pipe = (
        src.map(lambda m: m)
        .filter(lambda m: m["x"] >= 0)
        .shuffle(seed=0)
        .batch(4)
        .repeat(2)
        .to_tensors()
        .prefetch(2)
    )
    assert src.pulls == []
    assert len(pipe.nodes()) == 8
    assert src.pulls == []  # walking the graph reads nothing either
    first = next(iter(pipe))
    assert len(first) == 4 and src.pulls


def test_attributes_are_forwarded_depth_first_and_private_names_never() -> None:
    src = Counting(name="root")
    pipe = src.map(lambda m: m).shuffle(seed=1).batch(3)
    assert pipe.greet() == "hello"
    assert pipe.message is src.message
    with pytest.raises(AttributeError, match="private names are never"):
        pipe._private_thing  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pipe.nope  # noqa: B018
    assert not hasattr(pipe, "nope")


def test_attribute_error_inside_an_upstream_property_is_not_missing() -> None:
    pipe = Counting(name="root").map(lambda m: m)
    with pytest.raises(PipelineError, match=r"attribute 'broken' of Counting 'root'") as info:
        pipe.broken  # noqa: B018
    assert isinstance(info.value.__cause__, AttributeError)
    with pytest.raises(PipelineError, match="attribute 'broken'"):
        Counting(name="own").broken  # noqa: B018


def test_forwarding_is_linear_in_depth() -> None:
    src: Source = Counting()
    for _ in range(300):
        src = Source(src)
    assert src.greet() == "hello"  # a naive recursive lookup would blow the stack or go quadratic


def test_inputs_outputs_and_names() -> None:
    a, b = Counting(name="a"), Counting(name="b")
    merged = Source({"left": a, "right": b}, name="merged")
    assert merged.inputs == {"left": a, "right": b}
    assert a.outputs == [merged] and b.outputs == [merged]
    assert Source(a).name.startswith("Source_")
    assert [n.name for n in walk(merged)] == ["a", "b", "merged"]
    assert merged.position() == "a -> merged"


def test_merging_inputs_of_different_length_fails_clearly() -> None:
    merged = Source({"a": Counting(3), "b": Counting(4)})
    with pytest.raises(ValueError, match="equal length, but got a=3, b=4"):
        len(merged)


def test_walk_visits_a_diamond_once_in_topological_order() -> None:
    root = Counting(name="root")
    left, right = (
        FunctionSource(root, lambda m: m, name="l"),
        FunctionSource(root, lambda m: m, name="r"),
    )
    top = Source({"l": left, "r": right}, name="top")
    order = [n.name for n in walk(top)]
    assert order.count("root") == 1 and order[0] == "root" and order[-1] == "top"


def test_connect_refuses_cycles_and_walk_detects_them() -> None:
    a = Counting(name="a")
    b = Source(a, name="b")
    c = Source(b, name="c")
    with pytest.raises(CycleError, match="would create a cycle"):
        a.connect(c)
    a.__dict__["_inputs"] = {"back": c}  # forced by hand: walking must still refuse
    with pytest.raises(CycleError, match=r"has a cycle: c <- b <- a <- c"):
        list(walk(c))


def test_pictures_name_every_node() -> None:
    root = Counting(name="reader")
    pipe = Source({"x": root.map(lambda m: m, name="clean"), "y": root}, name="joined")
    mermaid, dot = pipe.to_mermaid(), pipe.to_dot()
    for name in ("reader", "clean", "joined"):
        assert name in mermaid and name in dot
    assert mermaid.startswith("flowchart LR") and "-->|x|" in mermaid
    assert dot.startswith("digraph") and '[label="y"]' in dot


def test_error_names_the_failing_node_once_with_its_position() -> None:
    def bad(m: Message) -> Message:
        raise KeyError("col")

    pipe = Counting(name="src").map(bad, name="bad").shuffle(seed=0).batch(2)
    with pytest.raises(PipelineError, match=r"FunctionSource 'bad' at src -> bad failed") as info:
        pipe[0]
    assert isinstance(info.value, KeyError)  # still catchable as what it was
    assert str(info.value).count("failed while pulling") == 1
    assert info.value.node == "bad"


def test_out_of_range_is_a_plain_index_error() -> None:
    with pytest.raises(
        IndexError, match="row index 20 is out of range for a Source of 20 rows"
    ) as info:
        ShufflerSource(Counting(), seed=0)[20]
    assert not isinstance(info.value, PipelineError)
    with pytest.raises(IndexError, match="out of range"):  # a user's own IndexError stays one
        Counting()[20]
    with pytest.raises(TypeError, match="rows are selected by int"):
        ShufflerSource(Counting(), seed=0)[1.5]


def test_user_forward_only_subclass_gets_iteration_and_looping() -> None:
    class Countdown(Source):
        def __init__(self) -> None:
            super().__init__()
            self.left = 3

        def __next__(self) -> Message:
            if self.left == 0:
                raise StopIteration
            self.left -= 1
            return Message({"x": [self.left]})

        def reset(self) -> None:
            self.left = 3

    src = Countdown()
    assert [m["x"].tolist() for m in src] == [[2], [1], [0]]
    looped = src.loop()
    assert looped[2]["x"].tolist() == [0] and len(looped) == 3


def test_shuffler_hints_the_rows_it_will_ask_for() -> None:
    sink = HintSink(Counting(100))
    shuffled = ShufflerSource(sink, seed=0, hint_window=10)
    it = iter(shuffled.batch(5, window_rows=5))
    perm = shuffled.permutation()
    assert np.array_equal(sink.hints[0], perm[:10])  # the first window, at the start of the epoch
    next(it)
    assert np.array_equal(np.concatenate(sink.hints)[: len(perm[:30])][:10], perm[:10])
    seen = np.concatenate(sink.hints)
    assert set(seen.tolist()) <= set(range(100))


def test_batcher_hints_the_next_batch_on_random_access() -> None:
    sink = HintSink(Counting(10))
    b = BatchingSource(sink, 4)
    b[0]
    assert np.array_equal(sink.hints[-1], [4, 5, 6, 7])
    b[1]
    assert np.array_equal(sink.hints[-1], [8, 9])


def test_no_hints_are_computed_without_a_listener() -> None:
    b = BatchingSource(ShufflerSource(Counting(10), seed=0), 4)
    assert not b._wants_hints()
    assert HintSink(Counting(3)).map(lambda m: m)._wants_hints()


def test_a_pipeline_pickles_for_worker_processes(tmp_path) -> None:
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fireworks.sources import ParquetSource

    pq.write_table(pa.table({"x": list(range(10))}), tmp_path / "d.parquet")
    pipe = ParquetSource(tmp_path / "d.parquet").shuffle(seed=0).batch(3)
    pipe[0]  # opens the file
    clone = pickle.loads(pickle.dumps(pipe))
    assert next(iter(clone)) == next(iter(pipe))
    assert clone.inputs["input"].outputs == [clone]


def test_reset_and_load_state_close_the_dropped_stream_at_once() -> None:
    closed: list[int] = []

    class Stream(Source):
        def _stream(self, start: int):
            try:
                for i in range(start, 10):
                    yield Message({"i": [i]})
            finally:
                closed.append(start)

    src = Stream()
    assert next(src)["i"].tolist() == [0]
    src.reset()  # the open stream is closed now, not whenever the garbage collector finds it
    assert closed == [0]
    next(src)
    state = src.state_dict()
    next(src)
    src.load_state_dict(state)
    assert closed == [0, 0]
    assert next(src)["i"].tolist() == [1]

    class Resets(Source):
        def _stream(self, start: int):
            yield Message({"i": [0]})
            self.reset()  # from inside its own stream: nothing to close yet, and no error
            yield Message({"i": [1]})

    inner = Resets()
    assert next(inner)["i"].tolist() == [0]
    assert next(inner)["i"].tolist() == [1]


def test_a_failed_stream_never_looks_finished_and_the_next_pass_reads_it_again() -> None:
    failures = [1]  # fail once, at the third chunk

    class Flaky(Source):
        def _stream(self, start: int):
            for i in range(start, 5):
                if i == 2 and failures:
                    failures.pop()
                    raise OSError("connection reset")
                yield Message({"i": [i, i]})

    src = Flaky()
    assert next(src)["i"].tolist() == [0, 0]
    next(src)
    with pytest.raises(PipelineError, match="connection reset"):
        next(src)
    with pytest.raises(PipelineError, match="connection reset"):
        next(src)  # still the error: not StopIteration, which would end the epoch short
    assert [len(m) for m in src] == [2] * 5  # a fresh pass starts afresh

    failures.append(1)
    looped = LoopingSource(Flaky())
    with pytest.raises(PipelineError, match="connection reset"):
        len(looped)
    assert len(looped) == 10  # read again, not 4 rows taken for the whole input
    assert looped[:]["i"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
