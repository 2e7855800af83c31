"""PrefetchSource: a background thread runs ahead, errors surface named, abandoned passes stop it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fireworks import Message, PipelineError
from fireworks.sources import BatchingSource, PrefetchSource, Source


def test_prefetch_runs_ahead_in_order() -> None:
    src = BatchingSource(Message({"x": np.arange(100)}), 10).prefetch(3)
    assert isinstance(src, PrefetchSource)
    assert Message.concat(list(src))["x"].tolist() == list(range(100))


def test_errors_in_the_background_name_the_node() -> None:
    def bad(m: Message) -> Message:
        raise RuntimeError("no")

    pipe = Source(Message({"x": np.arange(10)})).batch(5).map(bad, name="bad").prefetch(2)
    with pytest.raises(PipelineError, match="FunctionSource 'bad'"):
        list(pipe)


def test_an_abandoned_pass_stops_its_thread() -> None:
    pipe = BatchingSource(Message({"x": np.arange(1000)}), 1).prefetch(2)
    it = iter(pipe)
    next(it)
    it.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        t.name.startswith("fireworks-prefetch") for t in threading.enumerate()
    ):
        time.sleep(0.02)
    assert not any(t.name.startswith("fireworks-prefetch") for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="prefetch depth must be a positive int, but got 0"):
        Source(Message({"x": [1]})).prefetch(0)


def test_a_pass_closed_in_its_own_producer_thread_does_not_join_itself(monkeypatch) -> None:
    # garbage collection can finalize an abandoned pass in any thread, its own producer thread too (seen
    # as "Exception ignored ... RuntimeError: cannot join current thread" in the differential harness)
    from fireworks.sources.prefetch import _background

    unraisable: list[BaseException | None] = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: unraisable.append(u.exc_value))
    holder: list = []
    handed_out = threading.Event()

    def items():
        yield Message({"x": [1]})
        handed_out.wait(5)
        holder.clear()  # in the producer thread: the last reference to the pass goes, so it is closed here
        yield Message({"x": [2]})

    holder.append(_background(items(), 1, "own-thread"))
    assert next(holder[0])["x"].tolist() == [1]
    handed_out.set()
    for t in [t for t in threading.enumerate() if t.name == "fireworks-prefetch-own-thread"]:
        t.join(5)
        assert not t.is_alive()
    assert unraisable == []
